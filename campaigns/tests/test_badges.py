"""Badges: given once, by milestones (visits, years of membership, points), staff and challenges."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns import challenges as svc
from campaigns.models import Badge, MemberBadge
from campaigns.tests.challenges_support import BadgeFactory
from loyalty import errors
from loyalty.models import Event
from loyalty.services import purchase_record, visit_record
from loyalty.tests.factories import manager
from members.models import Member
from members.tests.factories import MemberFactory
from rewards.tests.factories import give_points

M = Badge.Milestone


@pytest.fixture(autouse=True)
def sent(monkeypatch):
    calls = []

    def fake(**kwargs):
        calls.append(kwargs)
        return []

    monkeypatch.setattr("campaigns.messaging.message_send", fake)
    return calls


def badges_of(member):
    return list(MemberBadge.objects.filter(member=member).values_list("badge__name", flat=True))


def test_staff_gives_a_badge_with_a_reason_once(member, sent):
    badge = BadgeFactory(name="Helpful")
    staff = manager()

    first = svc.badge_award(
        member=member, badge=badge, source="staff", actor=staff, reason="Found a lost wallet"
    )
    second = svc.badge_award(member=member, badge=badge, source="staff", actor=staff, reason="x")

    assert first.newly_earned is True
    assert second.newly_earned is False
    assert second.pk == first.pk
    assert (first.actor, first.reason) == (staff, "Found a lost wallet")
    assert MemberBadge.objects.count() == 1
    assert [c["type_code"] for c in sent] == ["badge_earned"]
    assert sent[0]["context"]["badge"] == "Helpful"
    [event] = Event.objects.filter(member=member, type="badge.earned")
    assert (event.actor, event.payload["reason"]) == (staff, "Found a lost wallet")


def test_staff_must_give_a_reason(member):
    with pytest.raises(errors.ReasonRequired):
        svc.badge_award(member=member, badge=BadgeFactory(), source="staff", reason="  ")
    assert not MemberBadge.objects.exists()


def test_an_inactive_badge_is_not_given(member):
    with pytest.raises(svc.BadgeInactive):
        svc.badge_award(
            member=member, badge=BadgeFactory(is_active=False), source="staff", reason="Nice"
        )
    assert not MemberBadge.objects.exists()


def test_the_database_holds_each_badge_once_per_member(member):
    badge = BadgeFactory()
    MemberBadge.objects.create(member=member, badge=badge, source="staff")

    with pytest.raises(IntegrityError), transaction.atomic():
        MemberBadge.objects.create(member=member, badge=badge, source="milestone")


def test_the_nth_visit_gives_the_visit_badge(member, location, sent):
    BadgeFactory(name="Third visit", milestone=M.VISITS, milestone_value=3)
    purchase_record(member=member, location=location, total="5.00")
    visit_record(member=member, location=location, source="kiosk")
    assert badges_of(member) == []

    purchase_record(member=member, location=location, total="5.00")
    visit_record(member=member, location=location, source="kiosk")

    assert badges_of(member) == ["Third visit"]
    held = MemberBadge.objects.get(member=member)
    assert held.source == "milestone"
    assert [c["type_code"] for c in sent] == ["badge_earned"]


def test_lifetime_points_badge_in_the_purchase_hook(member, location):
    BadgeFactory(name="Hundred", milestone=M.LIFETIME_POINTS, milestone_value=100)
    purchase_record(member=member, location=location, total="99.00")
    assert badges_of(member) == []

    purchase_record(member=member, location=location, total="1.00")

    assert badges_of(member) == ["Hundred"]


def test_daily_job_gives_years_of_membership_points_and_visits_set_based(program, location):
    now = timezone.now()
    veteran = MemberFactory()
    Member.objects.filter(pk=veteran.pk).update(enrolled_at=now - timedelta(days=370))
    newcomer = MemberFactory()
    closed = MemberFactory()
    Member.objects.filter(pk=closed.pk).update(
        enrolled_at=now - timedelta(days=800), is_active=False
    )
    saver = MemberFactory()
    give_points(saver, 500)  # points from outside purchases: only the job sees them
    BadgeFactory(name="One year", milestone=M.MEMBERSHIP_YEARS, milestone_value=1)
    BadgeFactory(name="Saver", milestone=M.LIFETIME_POINTS, milestone_value=500)
    BadgeFactory(name="Twice", milestone=M.VISITS, milestone_value=2)
    visit_record(member=newcomer, location=location, source="kiosk")

    given = svc.badges_milestones_award(as_of=now)
    visit_record(member=newcomer, location=location, source="kiosk")  # now two: the hook
    again = svc.badges_milestones_award(as_of=now)

    assert given == 2
    assert again == 0
    assert Event.objects.filter(type="badge.earned").count() == 3
    assert badges_of(veteran) == ["One year"]
    assert badges_of(saver) == ["Saver"]
    assert badges_of(newcomer) == ["Twice"]
    assert badges_of(closed) == []


def test_daily_job_catches_up_visits_recorded_before_the_badge_existed(member, location):
    visit_record(member=member, location=location, source="kiosk")
    visit_record(member=member, location=location, source="kiosk")
    BadgeFactory(name="Twice", milestone=M.VISITS, milestone_value=2)

    assert svc.badges_milestones_award() == 1
    assert badges_of(member) == ["Twice"]


def test_daily_job_runs_as_a_task(member):
    from campaigns.tasks import badges_milestones_award

    Member.objects.filter(pk=member.pk).update(enrolled_at=timezone.now() - timedelta(days=800))
    BadgeFactory(name="Two years", milestone=M.MEMBERSHIP_YEARS, milestone_value=2)

    badges_milestones_award.delay()

    assert badges_of(member) == ["Two years"]


def test_milestone_badge_needs_its_value(db):
    from django.core.exceptions import ValidationError

    badge = Badge(name="Broken", milestone=M.VISITS)
    with pytest.raises(ValidationError) as raised:
        badge.full_clean()
    assert "milestone_value" in raised.value.message_dict


def test_schedule_is_defined():
    from loyalty.schedules import SCHEDULES

    assert any(s.task == "campaigns.badges_milestones_award" for s in SCHEDULES)
