"""Challenges: each goal, the window, opt-in and automatic enrolment, segments, refunds and
the reward given once on completion."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns import challenges as svc
from campaigns.models import Challenge, ChallengeProgress, MemberBadge, Segment
from campaigns.tests.challenges_support import BadgeFactory, ChallengeFactory, line
from loyalty import hooks
from loyalty.models import EntryKind, Event, LedgerEntry
from loyalty.services import purchase_record, purchase_refund, visit_record
from loyalty.tests.support import assert_ledger_clean, fresh
from members.tests.factories import MemberFactory
from rewards.models import Voucher
from rewards.tests.factories import RewardFactory

G = Challenge.Goal


@pytest.fixture(autouse=True)
def sent(monkeypatch):
    """Record message_send calls instead of sending."""
    calls = []

    def fake(**kwargs):
        calls.append(kwargs)
        return []

    monkeypatch.setattr("campaigns.messaging.message_send", fake)
    return calls


def buy(member, location, total="10.00", lines=(), at=None, **kwargs):
    return purchase_record(
        member=member, location=location, total=total, lines=list(lines), occurred_at=at, **kwargs
    ).purchase


def progress_of(challenge, member):
    return ChallengeProgress.objects.filter(challenge=challenge, member=member).first()


def bonus_entries(member):
    return LedgerEntry.objects.filter(
        member=member, kind=EntryKind.BONUS, source_type=LedgerEntry.SourceType.CAMPAIGN
    )


# --------------------------------------------------------------------------------------------
# Goals
# --------------------------------------------------------------------------------------------


def test_three_purchases_complete_the_challenge_and_credit_its_points_once(member, location, sent):
    challenge = ChallengeFactory(goal=G.PURCHASES, target=3, reward_points=50)

    buy(member, location)
    buy(member, location)
    assert progress_of(challenge, member).progress == 2
    assert progress_of(challenge, member).completed_at is None
    buy(member, location)
    buy(member, location)  # after completion: nothing more

    row = progress_of(challenge, member)
    assert row.completed_at is not None
    assert row.progress == 3
    assert bonus_entries(member).count() == 1
    assert row.points_entry.points == 50
    assert fresh(member).balance == 40 + 50
    completed = [c for c in sent if c["type_code"] == "challenge_completed"]
    assert len(completed) == 1
    assert completed[0]["dedupe_key"] == f"challenge:{challenge.pk}:{member.pk}"
    [event] = Event.objects.filter(member=member, type="challenge.completed")
    assert (event.payload["challenge"], event.payload["points"]) == (challenge.pk, 50)
    assert_ledger_clean()


def test_visits_count_days_with_a_purchase_or_a_check_in(member, location):
    now = timezone.now()
    challenge = ChallengeFactory(
        goal=G.VISITS, target=2, reward_points=10, starts_at=now - timedelta(days=3)
    )

    visit_record(member=member, location=location, source="kiosk", at=now)
    buy(member, location, at=now)  # the same day: still one visit
    assert progress_of(challenge, member).progress == 1
    visit_record(member=member, location=location, source="kiosk", at=now - timedelta(hours=25))

    row = progress_of(challenge, member)
    assert row.progress == 2
    assert row.completed_at is not None
    assert len(row.seen_days) == 2


def test_spend_adds_up_the_totals(member, location):
    challenge = ChallengeFactory(goal=G.SPEND, target=Decimal("50.00"), reward_points=25)

    buy(member, location, total="20.50")
    buy(member, location, total="29.49")
    assert progress_of(challenge, member).progress == Decimal("49.99")
    assert progress_of(challenge, member).completed_at is None
    buy(member, location, total="0.01")

    assert progress_of(challenge, member).completed_at is not None


def test_category_goal_counts_items_of_that_category_only(member, location):
    challenge = ChallengeFactory(goal=G.CATEGORY, category="Pastry", target=3, reward_points=5)

    buy(member, location, total="10.00", lines=[line("A", "coffee", "10.00")])
    assert progress_of(challenge, member) is None  # nothing counted, no row made
    buy(
        member,
        location,
        total="12.00",
        lines=[line("B", "pastry", "8.00", quantity=2), line("C", "coffee", "4.00")],
    )
    assert progress_of(challenge, member).progress == 2
    buy(member, location, total="4.00", lines=[line("D", "PASTRY ", "4.00")])

    assert progress_of(challenge, member).completed_at is not None


def test_distinct_products_counts_each_sku_once(member, location):
    challenge = ChallengeFactory(goal=G.DISTINCT_PRODUCTS, target=3, reward_points=5)

    buy(member, location, total="10.00", lines=[line("TEA-1", amount="5.00"), line("TEA-2")])
    buy(member, location, total="5.00", lines=[line("TEA-1")])
    row = progress_of(challenge, member)
    assert row.progress == 2
    assert row.seen_skus == ["TEA-1", "TEA-2"]
    buy(member, location, total="5.00", lines=[line("TEA-3")])

    assert progress_of(challenge, member).completed_at is not None


def test_referrals_are_counted_when_the_referral_engine_says_so(member, location):
    challenge = ChallengeFactory(goal=G.REFERRALS, target=2, reward_points=100)
    buy(member, location)  # purchases do not count for referrals
    assert progress_of(challenge, member) is None

    svc.challenge_referral_counted(member=member)
    svc.challenge_referral_counted(member=member)

    assert progress_of(challenge, member).completed_at is not None
    assert fresh(member).balance == 10 + 100


# --------------------------------------------------------------------------------------------
# Window, enrolment, segment
# --------------------------------------------------------------------------------------------


def test_activity_outside_the_window_does_not_count(member, location):
    now = timezone.now()
    challenge = ChallengeFactory(
        starts_at=now - timedelta(days=3), ends_at=now - timedelta(days=1), target=1
    )
    future = ChallengeFactory(starts_at=now + timedelta(days=1), target=1)

    buy(member, location)  # after the end, before the start

    assert progress_of(challenge, member) is None
    assert progress_of(future, member) is None
    # A late upload of a purchase made during the window still counts.
    buy(member, location, at=now - timedelta(days=2))
    assert progress_of(challenge, member).completed_at is not None


def test_inactive_challenge_counts_nothing(member, location):
    challenge = ChallengeFactory(is_active=False, target=1)

    buy(member, location)

    assert progress_of(challenge, member) is None


def test_opt_in_counts_only_after_joining(member, location):
    challenge = ChallengeFactory(enrolment=Challenge.Enrolment.OPT_IN, target=2)
    buy(member, location)
    assert progress_of(challenge, member) is None

    row = svc.challenge_join(member=member, challenge=challenge)
    again = svc.challenge_join(member=member, challenge=challenge)  # a double click
    assert again.pk == row.pk
    buy(member, location, at=row.joined_at - timedelta(hours=1))  # made before joining
    buy(member, location)

    assert progress_of(challenge, member).progress == 1
    buy(member, location)
    assert progress_of(challenge, member).completed_at is not None


def test_automatic_challenge_needs_no_joining(member):
    challenge = ChallengeFactory()

    with pytest.raises(svc.ChallengeIsAutomatic):
        svc.challenge_join(member=member, challenge=challenge)
    assert not ChallengeProgress.objects.exists()


def test_joining_before_the_start_or_after_the_end_is_refused(member):
    now = timezone.now()
    soon = ChallengeFactory(enrolment=Challenge.Enrolment.OPT_IN, starts_at=now + timedelta(days=1))
    over = ChallengeFactory(
        enrolment=Challenge.Enrolment.OPT_IN,
        starts_at=now - timedelta(days=5),
        ends_at=now - timedelta(days=1),
    )

    with pytest.raises(svc.ChallengeNotStarted):
        svc.challenge_join(member=member, challenge=soon)
    with pytest.raises(svc.ChallengeEnded):
        svc.challenge_join(member=member, challenge=over)
    assert not ChallengeProgress.objects.exists()


def test_segment_limits_who_takes_part(program, location):
    segment = Segment.objects.create(name="Email fans", email_consent="yes")
    insider = MemberFactory()
    type(insider).objects.filter(pk=insider.pk).update(marketing_email=True)
    outsider = MemberFactory()
    auto = ChallengeFactory(segment=segment, target=1)
    opt_in = ChallengeFactory(segment=segment, enrolment=Challenge.Enrolment.OPT_IN)

    buy(insider, location)
    buy(outsider, location)

    assert progress_of(auto, insider).completed_at is not None
    assert progress_of(auto, outsider) is None
    with pytest.raises(svc.ChallengeNotForMember) as refused:
        svc.challenge_join(member=outsider, challenge=opt_in)
    assert refused.value.code == "challenge_not_eligible"
    assert svc.challenge_join(member=insider, challenge=opt_in).pk


# --------------------------------------------------------------------------------------------
# Refunds
# --------------------------------------------------------------------------------------------


def test_refund_before_completion_takes_back_spend_and_purchases(member, location):
    spend = ChallengeFactory(goal=G.SPEND, target=100)
    count = ChallengeFactory(goal=G.PURCHASES, target=5)
    pastry = ChallengeFactory(goal=G.CATEGORY, category="pastry", target=5)
    purchase = buy(member, location, total="30.00", lines=[line("P", "pastry", "30.00", 2)])

    purchase_refund(purchase=purchase, amount="10.00")  # partial: only the money
    assert progress_of(spend, member).progress == Decimal("20.00")
    assert progress_of(count, member).progress == 1
    assert progress_of(pastry, member).progress == 2

    purchase_refund(purchase=purchase)  # the rest: the purchase no longer counts
    assert progress_of(spend, member).progress == 0
    assert progress_of(count, member).progress == 0
    assert progress_of(pastry, member).progress == 0


def test_refund_after_completion_keeps_the_completion_and_reward(member, location):
    challenge = ChallengeFactory(goal=G.SPEND, target=20, reward_points=30)
    purchase = buy(member, location, total="25.00")
    assert progress_of(challenge, member).completed_at is not None

    purchase_refund(purchase=purchase)

    row = progress_of(challenge, member)
    assert row.completed_at is not None
    assert row.progress == 25
    assert bonus_entries(member).count() == 1
    assert fresh(member).balance == 30  # the purchase's points went, the reward stays
    assert_ledger_clean()


# --------------------------------------------------------------------------------------------
# Rewards
# --------------------------------------------------------------------------------------------


def test_completion_gives_points_voucher_and_badge_once(member, location, sent):
    reward = RewardFactory(name="Free cake", points_cost=None)
    badge = BadgeFactory(name="Regular")
    challenge = ChallengeFactory(target=1, reward_points=20, reward=reward, badge=badge)

    buy(member, location)
    buy(member, location)

    row = progress_of(challenge, member)
    vouchers = Voucher.objects.filter(member=member)
    assert [v.reward for v in vouchers] == [reward]
    assert vouchers[0].origin == Voucher.Origin.CAMPAIGN
    assert row.voucher == vouchers[0]
    held = MemberBadge.objects.get(member=member)
    assert (held.badge, held.source, held.challenge) == (badge, "challenge", challenge)
    assert bonus_entries(member).count() == 1
    assert [c["type_code"] for c in sent].count("badge_earned") == 1
    completed = [c for c in sent if c["type_code"] == "challenge_completed"]
    assert completed[0]["context"]["badge"] == "Regular"
    assert completed[0]["context"]["reward"] == "Free cake"


def test_completion_goes_through_the_real_messaging(member, location, monkeypatch):
    monkeypatch.undo()  # the real message_send, not the ``sent`` recorder
    reward = RewardFactory(name="Free cake", points_cost=None)
    challenge = ChallengeFactory(target=1, reward=reward, badge=BadgeFactory())

    buy(member, location)

    row = progress_of(challenge, member)
    assert row.voucher is not None
    assert MemberBadge.objects.filter(member=member).count() == 1


def test_completing_twice_through_the_service_gives_nothing_more(member, location):
    challenge = ChallengeFactory(target=1, reward_points=20)
    buy(member, location)
    row = progress_of(challenge, member)

    with transaction.atomic():
        again = svc._complete(member=member, challenge=challenge, row=row, at=timezone.now())

    assert again is False
    assert bonus_entries(member).count() == 1


def test_a_voucher_out_of_stock_does_not_block_the_purchase_or_the_points(member, location):
    reward = RewardFactory(points_cost=None, is_active=False)
    challenge = ChallengeFactory(target=1, reward_points=20, reward=reward)

    purchase = buy(member, location)

    row = progress_of(challenge, member)
    assert purchase.pk
    assert row.completed_at is not None
    assert row.voucher is None
    assert "Voucher not issued" in row.reward_note
    assert bonus_entries(member).count() == 1


def test_each_member_completes_separately(program, location):
    challenge = ChallengeFactory(target=1, reward_points=5)
    first, second = MemberFactory(), MemberFactory()

    buy(first, location)
    buy(second, location)

    assert (
        ChallengeProgress.objects.filter(challenge=challenge, completed_at__isnull=False).count()
        == 2
    )


def test_the_database_holds_one_progress_row_per_member_and_challenge(member):
    challenge = ChallengeFactory()
    ChallengeProgress.objects.create(challenge=challenge, member=member, joined_at=timezone.now())

    with pytest.raises(IntegrityError), transaction.atomic():
        ChallengeProgress.objects.create(
            challenge=challenge, member=member, joined_at=timezone.now()
        )


# --------------------------------------------------------------------------------------------
# Validation and the cached "anything running?" check
# --------------------------------------------------------------------------------------------


def test_validation_names_each_problem(db):
    now = timezone.now()
    challenge = Challenge(
        name="Broken",
        goal=G.CATEGORY,
        target=Decimal("2.5"),
        starts_at=now,
        ends_at=now - timedelta(days=1),
    )

    with pytest.raises(ValidationError) as raised:
        challenge.full_clean()

    problems = raised.value.message_dict
    assert "The challenge must end after it starts." in problems["ends_at"]
    assert "needs a category" in problems["category"][0]
    assert "Give a reward" in problems["reward_points"][0]
    assert "whole number" in problems["target"][0]


def test_the_database_refuses_a_challenge_without_reward(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        ChallengeFactory(reward_points=0)


def test_purchase_hooks_are_active_only_while_a_challenge_runs(db):
    assert not hooks.any_active("purchase_hooks_active") or not svc.purchase_hooks_active()
    assert svc.purchase_hooks_active() is False
    ChallengeFactory(starts_at=timezone.now() + timedelta(days=1))
    assert svc.purchase_hooks_active() is False

    ChallengeFactory()

    assert svc.purchase_hooks_active() is True


def test_no_challenge_and_no_milestone_costs_no_query(member, location, django_assert_num_queries):
    purchase = buy(member, location)
    locked = fresh(member)

    with django_assert_num_queries(0):
        svc.on_purchase_recorded(
            member=locked, purchase=purchase, total=purchase.total, lines=[], at=timezone.now()
        )
        svc.on_visit_recorded(member=locked, at=timezone.now())


def test_batch_records_one_by_one_while_a_challenge_runs(member, location):
    from loyalty.services import BatchItem, purchases_record_batch

    challenge = ChallengeFactory(target=2)

    purchases_record_batch(
        location=location,
        items=[
            BatchItem(member_id=member.pk, total="5.00", external_id="B-1"),
            BatchItem(member_id=member.pk, total="5.00", external_id="B-2"),
        ],
    )

    assert progress_of(challenge, member).completed_at is not None


def test_a_rewarded_referral_counts_in_the_referrers_challenge(
    member, location, django_capture_on_commit_callbacks
):
    from campaigns.models import ReferralSettings
    from campaigns.referrals import referral_code_for
    from members.services import member_enroll

    ReferralSettings.objects.update_or_create(
        pk=1, defaults={"is_active": True, "referrer_points": 10, "revoke_window_days": 0}
    )
    challenge = ChallengeFactory(goal=G.REFERRALS, target=1, reward_points=100)
    friend = member_enroll(
        phone="+358509999999", referral_code=referral_code_for(member).code, via="portal"
    )

    with django_capture_on_commit_callbacks(execute=True):
        buy(friend, location, total="30.00")

    row = progress_of(challenge, member)
    assert row is not None and row.completed_at is not None
    assert progress_of(challenge, friend) is None
