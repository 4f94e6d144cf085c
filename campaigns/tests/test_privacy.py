"""The member's data export includes campaign data; erasure forgets what messages said."""

from __future__ import annotations

from campaigns.challenges import badge_award
from campaigns.messaging import message_send
from campaigns.models import MessageLog
from campaigns.models.challenges import Badge, MemberBadge
from members.services import member_erase, member_export


def test_export_lists_the_members_badges_and_messages(member):
    # given
    badge = Badge.objects.create(name="Explorer", description="Tried five drinks.")
    badge_award(member=member, badge=badge, source=MemberBadge.Source.STAFF, reason="Welcome")
    message_send(member=member, type_code="points_expiring", context={"expiring_points": 5})

    # when
    data = member_export(member=member)

    # then
    assert [b["badge"] for b in data["badges"]] == ["Explorer"]
    assert {m["type"] for m in data["messages"]} == {"badge_earned", "points_expiring"}
    assert data["referrals"] == [] and data["leaderboard"] is None


def test_erasure_keeps_that_a_message_went_out_but_not_what_it_said(member):
    # given
    message_send(member=member, type_code="points_expiring", context={"expiring_points": 5})
    assert MessageLog.objects.filter(member=member).exclude(body_text="").exists()

    # when
    member_erase(member=member)

    # then
    logs = MessageLog.objects.filter(member=member)
    assert logs.exists()
    assert not logs.exclude(body_text="", body_html="", subject="", recipient="").exists()
