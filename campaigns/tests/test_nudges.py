"""Scheduled messages and nudges: who is told what, and that running a job again tells no one
twice (the dedupe keys are what the messaging log is unique on)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns import messaging, nudges
from campaigns.models.nudges import CampaignAnnouncement, NudgeSettings, WinBackOffer
from campaigns.models.segments import Segment
from loyalty.models import EntryKind, LedgerEntry, PunchCardType, Tier
from loyalty.punch_cards import punch_card_stamp
from loyalty.services import points_credit, points_debit
from members.models import Member
from members.tests.factories import MemberFactory
from rewards.models import Voucher
from rewards.tests.factories import RewardFactory

pytestmark = pytest.mark.django_db

TZ = timezone.get_current_timezone()


def at(*args) -> datetime:
    return timezone.make_aware(datetime(*args), TZ)


@pytest.fixture
def sent(monkeypatch):
    """Record every message_send call as (member id, type code, dedupe key, context)."""
    calls: list[tuple[int, str, str, dict]] = []

    def fake_send(*, member, type_code, context=None, dedupe_key=None, **kwargs):
        calls.append((member.pk, type_code, dedupe_key, dict(context or {})))
        return []

    monkeypatch.setattr(messaging, "message_send", fake_send)
    return calls


def delivered(calls) -> set[tuple[int, str, str]]:
    """What a messaging log unique on (member, type, dedupe key) would have sent."""
    return {(m, t, k) for m, t, k, _c in calls}


def settings(**values) -> NudgeSettings:
    config = NudgeSettings.load()
    for name, value in values.items():
        setattr(config, name, value)
    config.save()
    return config


# --- points expiring -------------------------------------------------------------------------


def test_expiry_warning_goes_once_n_days_before_the_expiry_date(program, sent):
    # given 40 points expiring on 20 March at noon, warnings 14 days before
    settings(expiry_warning_days=14)
    member = MemberFactory()
    points_credit(member=member, points=40, reason="Gift", expires_at=at(2026, 3, 20, 12))

    # when the job runs daily from 15 to 5 days before
    nudges.points_expiring_warn(as_of=at(2026, 3, 5, 23))  # 15 days before: too early
    assert sent == []
    for day in range(6, 16):
        nudges.points_expiring_warn(as_of=at(2026, 3, day, 10))

    # then every run names the same expiry date: the member is told once
    assert delivered(sent) == {(member.pk, "points_expiring", "points_expiring:2026-03-20")}
    first = sent[0][3]
    assert first["points"] == 40
    assert first["expires_on"] == "2026-03-20"
    assert first["days_left"] == 14
    assert first["balance"] == 40


def test_expiry_warning_tells_of_each_expiry_date_and_skips_spent_and_switched_off(program, sent):
    settings(expiry_warning_days=30)
    member = MemberFactory()
    points_credit(member=member, points=10, reason="A", expires_at=at(2026, 5, 10, 12))
    points_credit(member=member, points=15, reason="B", expires_at=at(2026, 5, 10, 18))
    points_credit(member=member, points=20, reason="C", expires_at=at(2026, 5, 20, 12))
    spender = MemberFactory()
    points_credit(member=spender, points=10, reason="A", expires_at=at(2026, 5, 10, 12))
    points_debit(member=spender, points=10)

    nudges.points_expiring_warn(as_of=at(2026, 5, 1, 10))

    assert sorted((k, c["points"]) for _m, _t, k, c in sent) == [
        ("points_expiring:2026-05-10", 25),
        ("points_expiring:2026-05-20", 20),
    ]
    assert {m for m, *_ in sent} == {member.pk}

    sent.clear()
    settings(expiry_warning_days=0)
    assert nudges.points_expiring_warn(as_of=at(2026, 5, 1, 10)) == 0
    assert sent == []


# --- near a reward ---------------------------------------------------------------------------


def test_near_reward_nudges_members_close_to_their_next_reward_once_a_month(program, sent):
    settings(near_reward_points=50, near_card_stamps=0)
    cheap = RewardFactory(name="Coffee", points_cost=100)
    dear = RewardFactory(name="Lunch", points_cost=300)
    RewardFactory(name="Gold only", points_cost=90, min_tier=Tier.objects.create(
        rank=1, name="Gold", threshold=Decimal("100")
    ))  # fmt: skip
    RewardFactory(name="Retired", points_cost=80, is_active=False)
    balances = {"near_cheap": 60, "far": 40, "between": 120, "near_dear": 260, "exact": 100}
    members = {}
    for name, points in balances.items():
        members[name] = MemberFactory()
        points_credit(member=members[name], points=points, reason="Start")

    nudges.near_reward_nudge(as_of=at(2026, 6, 3, 11))
    nudges.near_reward_nudge(as_of=at(2026, 6, 4, 11))  # the next day: same month, same key

    assert delivered(sent) == {
        (members["near_cheap"].pk, "near_reward", f"near_reward:reward-{cheap.pk}:2026-06"),
        (members["near_dear"].pk, "near_reward", f"near_reward:reward-{dear.pk}:2026-06"),
    }
    context = next(c for m, _t, _k, c in sent if m == members["near_cheap"].pk)
    assert context["reward"] == "Coffee"
    assert context["points_missing"] == 40

    # a new month is a new nudge
    sent.clear()
    nudges.near_reward_nudge(as_of=at(2026, 7, 1, 11))
    assert {k for _m, _t, k, _c in sent} == {
        f"near_reward:reward-{cheap.pk}:2026-07",
        f"near_reward:reward-{dear.pk}:2026-07",
    }


def test_near_reward_nudges_a_card_one_stamp_from_full(program, sent):
    settings(near_reward_points=0, near_card_stamps=1)
    card_type = PunchCardType.objects.create(
        name="Coffee card", stamps_needed=10, reward=RewardFactory(points_cost=None)
    )
    almost, halfway = MemberFactory(), MemberFactory()
    card = punch_card_stamp(member=almost, card_type=card_type, count=9, reason="Test").card
    punch_card_stamp(member=halfway, card_type=card_type, count=5, reason="Test")

    nudges.near_reward_nudge(as_of=timezone.now())
    nudges.near_reward_nudge(as_of=timezone.now())

    month = timezone.localtime().strftime("%Y-%m")
    assert delivered(sent) == {(almost.pk, "near_reward", f"near_reward:card-{card.pk}:{month}")}
    assert sent[0][3]["stamps_missing"] == 1
    assert sent[0][3]["card"] == "Coffee card"


# --- win-back --------------------------------------------------------------------------------


@pytest.fixture
def winback(program):
    segment = Segment.objects.create(name="Inactive 30 days", inactive_days=30)
    reward = RewardFactory(name="Welcome back coffee", points_cost=None)
    settings(
        winback_segment=segment, winback_reward=reward, winback_points=25, winback_cooldown_days=90
    )
    return reward


def test_win_back_gives_the_offer_once_per_cooldown(winback, sent):
    # given a member who has not come for two months
    member = MemberFactory()
    Member.objects.filter(pk=member.pk).update(last_activity_at=at(2026, 1, 2, 12))
    day = at(2026, 3, 10, 11)

    # when the job runs twice that day
    assert nudges.win_back_offer(as_of=day) == 1
    assert nudges.win_back_offer(as_of=day) == 0

    # then one offer: a voucher, 25 points and one message
    offer = WinBackOffer.objects.get(member=member)
    assert offer.voucher.reward == winback
    assert offer.voucher.origin == Voucher.Origin.CAMPAIGN
    assert Voucher.objects.filter(member=member).count() == 1
    assert LedgerEntry.objects.get(member=member, kind=EntryKind.BONUS).points == 25
    assert delivered(sent) == {(member.pk, "win_back", f"win_back:{offer.pk}")}
    assert sent[0][3]["voucher_code"] == offer.voucher.code

    # inside the 90-day cooldown nothing more; after it, a new offer
    assert nudges.win_back_offer(as_of=day + timedelta(days=89)) == 0
    assert nudges.win_back_offer(as_of=day + timedelta(days=90)) == 1
    assert WinBackOffer.objects.filter(member=member).count() == 2


def test_win_back_skips_active_members_and_does_nothing_without_a_segment(winback, sent):
    active = MemberFactory()
    Member.objects.filter(pk=active.pk).update(last_activity_at=at(2026, 3, 1, 12))
    assert nudges.win_back_offer(as_of=at(2026, 3, 10, 11)) == 0
    settings(winback_segment=None)
    idle = MemberFactory()
    Member.objects.filter(pk=idle.pk).update(last_activity_at=at(2025, 1, 1, 12))
    assert nudges.win_back_offer(as_of=at(2026, 3, 10, 11)) == 0
    assert not WinBackOffer.objects.exists()
    assert sent == []


def test_the_database_refuses_a_second_win_back_offer_on_the_same_day(program):
    member = MemberFactory()
    WinBackOffer.objects.create(member=member, offered_on=at(2026, 3, 10).date())
    with pytest.raises(IntegrityError), transaction.atomic():
        WinBackOffer.objects.create(member=member, offered_on=at(2026, 3, 10).date())


# --- monthly statement -----------------------------------------------------------------------


def test_monthly_statement_sums_last_month_once(program, sent):
    # given October's activity and a November credit
    member = MemberFactory()
    points_credit(member=member, points=100, kind=EntryKind.EARN, at=at(2026, 10, 5, 12))
    points_debit(member=member, points=30, at=at(2026, 10, 20, 12))
    points_credit(member=member, points=7, kind=EntryKind.BONUS, at=at(2026, 11, 1, 8))
    quiet = MemberFactory()  # nothing to report: no statement

    # when the statement job runs on 1 and 2 November
    nudges.monthly_statement_send(as_of=at(2026, 11, 1, 9))
    nudges.monthly_statement_send(as_of=at(2026, 11, 2, 9))

    # then one statement for October with its figures
    assert delivered(sent) == {(member.pk, "monthly_statement", "statement:2026-10")}
    context = sent[0][3]
    assert context["month"] == "2026-10"
    assert (context["earned"], context["spent"], context["expired"]) == (100, 30, 0)
    assert context["balance"] == 77
    assert quiet.pk not in {m for m, *_ in sent}


def test_monthly_statement_includes_expiring_points_and_tier_progress(program, sent):
    Tier.objects.create(rank=1, name="Silver", threshold=Decimal("100"))
    Tier.objects.create(rank=2, name="Gold", threshold=Decimal("500"))
    member = MemberFactory()
    points_credit(member=member, points=12, reason="Gift", expires_at=at(2026, 11, 20, 12))

    nudges.monthly_statement_send(as_of=at(2026, 11, 1, 9))

    context = sent[0][3]
    assert context["expiring"] == 12
    assert "more to Silver" in context["tier_progress"]
    assert context["tier"] == ""

    sent.clear()
    settings(monthly_statement=False)
    assert nudges.monthly_statement_send(as_of=at(2026, 12, 1, 9)) == 0
    assert sent == []


def test_previous_month_is_the_local_calendar_month():
    start, end = nudges.previous_month(at(2026, 1, 1, 0, 30))
    assert (start, end) == (at(2025, 12, 1), at(2026, 1, 1))


# --- campaign announcements ------------------------------------------------------------------


def test_a_started_campaign_is_announced_once_to_members_with_marketing_consent(program, sent):
    from campaigns.models.bonus import BonusCampaign

    now = timezone.now()
    fan, silent = MemberFactory(), MemberFactory()
    Member.objects.filter(pk=fan.pk).update(marketing_email=True)
    started = BonusCampaign.objects.create(
        name="Double points week",
        starts_at=now - timedelta(hours=2),
        ends_at=now + timedelta(days=5),
    )
    BonusCampaign.objects.create(
        name="Old", starts_at=now - timedelta(days=20), ends_at=now + timedelta(days=5)
    )
    BonusCampaign.objects.create(
        name="Later", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=5)
    )

    assert nudges.campaign_announcements(as_of=now) == 1
    assert nudges.campaign_announcements(as_of=now + timedelta(hours=1)) == 0

    assert delivered(sent) == {(fan.pk, "campaign_started", f"campaign:bonus:{started.pk}")}
    assert sent[0][3]["campaign"] == "Double points week"
    announcement = CampaignAnnouncement.objects.get()
    assert (announcement.kind, announcement.object_id, announcement.recipients) == (
        "bonus",
        started.pk,
        1,
    )
    assert silent.pk not in {m for m, *_ in sent}


def test_a_vip_only_campaign_is_announced_only_to_vips_with_consent(program, sent):
    from campaigns.models.bonus import BonusCampaign

    now = timezone.now()
    vip, regular = MemberFactory(), MemberFactory()
    Member.objects.filter(pk__in=[vip.pk, regular.pk]).update(marketing_email=True)
    Member.objects.filter(pk=vip.pk).update(vip_until=now + timedelta(days=30))
    BonusCampaign.objects.create(
        name="VIP triple points",
        multiplier=Decimal("3"),
        vip_only=True,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=5),
    )

    assert nudges.campaign_announcements(as_of=now) == 1

    assert {m for m, *_ in sent} == {vip.pk}


def test_announcements_switched_off_tell_nobody(program, sent):
    from campaigns.models.bonus import BonusCampaign

    settings(announcements=False)
    now = timezone.now()
    member = MemberFactory()
    Member.objects.filter(pk=member.pk).update(marketing_sms=True)
    BonusCampaign.objects.create(
        name="Quiet", starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=1)
    )
    assert nudges.campaign_announcements(as_of=now) == 0
    assert sent == [] and not CampaignAnnouncement.objects.exists()


# --- tasks -----------------------------------------------------------------------------------


def test_each_nudge_task_calls_its_service(program, monkeypatch):
    from campaigns import tasks

    called = []
    for name in (
        "points_expiring_warn",
        "near_reward_nudge",
        "win_back_offer",
        "monthly_statement_send",
        "campaign_announcements",
    ):
        monkeypatch.setattr(nudges, name, lambda _n=name, **kw: called.append(_n) or 0)
        getattr(tasks, name).delay()
    assert called == [
        "points_expiring_warn",
        "near_reward_nudge",
        "win_back_offer",
        "monthly_statement_send",
        "campaign_announcements",
    ]


# --- with the real messaging -----------------------------------------------------------------


def test_with_the_real_messaging_two_runs_log_each_warning_once_and_render_it(program, settings):
    from campaigns.models import MessageLog

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    NudgeSettings.load()
    member = MemberFactory()
    points_credit(member=member, points=40, reason="Gift", expires_at=at(2026, 3, 20, 12))

    nudges.points_expiring_warn(as_of=at(2026, 3, 6, 10))
    first = list(MessageLog.objects.filter(member=member).values_list("pk", flat=True))
    nudges.points_expiring_warn(as_of=at(2026, 3, 7, 10))

    logs = MessageLog.objects.filter(member=member, message_type__code="points_expiring")
    assert sorted(logs.values_list("pk", flat=True)) == sorted(first)
    assert logs.exists()
    assert not logs.filter(status=MessageLog.Status.FAILED).exists()
    assert "40" in logs.first().subject
