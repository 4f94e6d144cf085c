"""Referrals: codes, enrolment with a code, the qualifying purchase, refunds, pay-outs, milestones."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns import referrals
from campaigns.models import (
    Referral,
    ReferralCode,
    ReferralMilestone,
    ReferralMilestoneAward,
    ReferralSettings,
)
from campaigns.referrals import (
    ReferralCodeInactive,
    ReferralCodeInvalid,
    ReferralNotRevocable,
    SelfReferral,
    referral_code_for,
    referral_code_normalize,
    referral_revoke,
    referral_summary,
    referrals_reward_due,
)
from loyalty import errors, hooks
from loyalty.models import LedgerEntry, Source
from loyalty.services import purchase_record, purchase_refund
from loyalty.tests.support import assert_ledger_clean
from members.models import Member
from members.services import member_enroll, member_erase, member_update
from rewards.codes import ALPHABET
from rewards.models import Voucher
from rewards.tests.factories import RewardFactory

pytestmark = pytest.mark.django_db

REFERRER_POINTS = 200
FRIEND_POINTS = 100


@pytest.fixture
def config(program):
    """Referrals on: a first purchase of 20.00 or more, 200 and 100 points, 14 days' window."""
    settings, _ = ReferralSettings.objects.update_or_create(
        pk=1,
        defaults={
            "is_active": True,
            "min_spend": Decimal("20.00"),
            "referrer_points": REFERRER_POINTS,
            "friend_points": FRIEND_POINTS,
            "revoke_window_days": 14,
        },
    )
    return settings


_seq = iter(range(10_000))


def enrol(code: str | None = None, **kwargs) -> Member:
    n = next(_seq)
    kwargs.setdefault("phone", f"+35850{n:07d}")
    kwargs.setdefault("email", f"friend{n}@example.com")
    kwargs.setdefault("first_name", "Friend")
    kwargs.setdefault("last_name", "Tester")
    return member_enroll(referral_code=code, via=Source.PORTAL, **kwargs)


@pytest.fixture
def referrer(config):
    return enrol(first_name="Anna", last_name="Virtanen", email="anna.virtanen@gmail.com")


@pytest.fixture
def code(referrer) -> str:
    return referral_code_for(referrer).code


def bonus_points(member: Member) -> int:
    return sum(
        LedgerEntry.objects.filter(
            member=member, source_type=LedgerEntry.SourceType.CAMPAIGN
        ).values_list("points", flat=True)
    )


def later(days: int = 15):
    return timezone.now() + timedelta(days=days)


# Codes ----------------------------------------------------------------------------------------


def test_a_member_gets_one_unguessable_code_that_stays_the_same(referrer):
    first = referral_code_for(referrer)
    again = referral_code_for(referrer)
    other = referral_code_for(enrol())

    assert first.pk == again.pk and first.code == again.code
    assert len(first.code) == 8 and set(first.code) <= set(ALPHABET)
    assert other.code != first.code
    assert ReferralCode.objects.count() == 2


def test_typed_codes_are_read_case_insensitively_with_or_without_the_dash(code):
    shown = f"{code[:4].lower()}-{code[4:].lower()}"
    friend = enrol(f"  {shown} ")

    assert referral_code_normalize(shown) == code
    assert Referral.objects.get(referred=friend).code == code


# Enrolment with a code -----------------------------------------------------------------------


def test_joining_with_a_code_records_a_pending_referral(referrer, code):
    friend = enrol(code)

    referral = Referral.objects.get(referred=friend)
    assert referral.referrer == referrer
    assert referral.status == Referral.Status.PENDING
    assert referral.via == Source.PORTAL


def test_an_unknown_code_is_refused_and_no_member_is_created(config):
    before = Member.objects.count()

    with pytest.raises(ReferralCodeInvalid) as caught:
        enrol("ZZZZZZZZ", email="newbie@example.com")

    assert caught.value.code == "referral_code_invalid"
    assert caught.value.field == "referral_code"
    assert Member.objects.count() == before
    assert not Member.objects.filter(email="newbie@example.com").exists()


def test_the_code_of_a_suspended_member_is_refused_with_a_clear_error(referrer, code):
    member_update(member=referrer, is_active=False)
    before = Member.objects.count()

    with pytest.raises(ReferralCodeInactive) as caught:
        enrol(code)

    assert "suspended or closed" in caught.value.detail
    assert Member.objects.count() == before
    assert not Referral.objects.exists()


def test_the_code_of_an_erased_member_is_refused(referrer, code):
    member_erase(member=referrer)

    with pytest.raises(ReferralCodeInactive):
        enrol(code)
    assert not Referral.objects.exists()


@pytest.mark.parametrize(
    "email",
    ["anna.virtanen+deals@gmail.com", "annavirtanen@googlemail.com", "Anna.Virtanen+x@Gmail.com"],
)
def test_self_referral_with_another_spelling_of_ones_own_email_is_refused(code, email):
    before = Member.objects.count()

    with pytest.raises(SelfReferral):
        enrol(code, email=email)

    assert Member.objects.count() == before
    assert not Referral.objects.exists()


def test_plus_tags_count_as_the_same_mailbox_on_any_domain(config):
    owner = enrol(email="bob@shop.example")
    code = referral_code_for(owner).code

    with pytest.raises(SelfReferral):
        enrol(code, email="bob+2@shop.example")
    # Dots matter outside Gmail: another person.
    enrol(code, email="b.ob@shop.example")
    assert Referral.objects.count() == 1


def test_with_referrals_off_a_code_is_ignored_and_the_member_joins(config):
    config.is_active = False
    config.save()

    friend = enrol("ZZZZZZZZ")

    assert friend.pk is not None
    assert not Referral.objects.exists()


def test_over_the_monthly_cap_the_friend_joins_but_the_referral_is_refused(config, referrer, code):
    config.monthly_cap = 2
    config.save()

    first, second = enrol(code), enrol(code)
    third = enrol(code)

    statuses = dict(Referral.objects.values_list("referred_id", "status"))
    assert statuses == {
        first.pk: Referral.Status.PENDING,
        second.pk: Referral.Status.PENDING,
        third.pk: Referral.Status.REFUSED,
    }
    assert "limit of 2" in Referral.objects.get(referred=third).reason
    # The refused friend's purchase earns nobody a referral reward.
    purchase_record(member=third, location=_location(), total="50.00")
    referrals_reward_due(as_of=later())
    assert bonus_points(referrer) == 0


def test_the_cap_counts_the_calendar_month_of_joining(config, referrer, code):
    config.monthly_cap = 1
    config.save()
    last_month = timezone.now() - timedelta(days=40)
    member_enroll(phone="+358501111111", referral_code=code, at=last_month)

    enrol(code)

    assert set(Referral.objects.values_list("status", flat=True)) == {Referral.Status.PENDING}


# The qualifying purchase ---------------------------------------------------------------------


def _location():
    from loyalty.models import Location

    return Location.objects.get_or_create(code="main", defaults={"name": "Main Street"})[0]


def test_a_purchase_below_the_minimum_does_not_qualify_a_later_one_does(code):
    friend = enrol(code)

    purchase_record(member=friend, location=_location(), total="19.99")
    assert Referral.objects.get(referred=friend).status == Referral.Status.PENDING

    result = purchase_record(member=friend, location=_location(), total="20.00")
    referral = Referral.objects.get(referred=friend)
    assert referral.status == Referral.Status.QUALIFIED
    assert referral.purchase == result.purchase
    assert referral.reward_due_at == result.purchase.occurred_at + timedelta(days=14)


def test_referral_rewarded_on_the_first_qualifying_purchase_only(referrer, code):
    friend = enrol(code)
    first = purchase_record(member=friend, location=_location(), total="30.00").purchase
    purchase_record(member=friend, location=_location(), total="80.00")

    # before the window closes nothing is paid
    assert referrals_reward_due(as_of=later(13)) == 0
    assert bonus_points(referrer) == 0

    assert referrals_reward_due(as_of=later(15)) == 1
    assert referrals_reward_due(as_of=later(16)) == 0

    referral = Referral.objects.get(referred=friend)
    assert referral.purchase == first
    assert referral.status == Referral.Status.REWARDED
    assert bonus_points(referrer) == REFERRER_POINTS
    assert bonus_points(friend) == FRIEND_POINTS
    referrer.refresh_from_db()
    assert referrer.balance == REFERRER_POINTS
    entry = LedgerEntry.objects.get(member=referrer, source_type=LedgerEntry.SourceType.CAMPAIGN)
    assert "Friend T." in entry.reason
    assert_ledger_clean()


def test_no_reward_for_self_referral(code, referrer):
    with pytest.raises(SelfReferral):
        enrol(code, email="anna.virtanen+me@gmail.com")

    purchase_record(member=referrer, location=_location(), total="100.00")
    referrals_reward_due(as_of=later())

    assert bonus_points(referrer) == 0
    assert not Referral.objects.exists()


def test_the_referrers_own_purchases_do_not_qualify_anything(referrer, code):
    friend = enrol(code)

    purchase_record(member=referrer, location=_location(), total="100.00")

    assert Referral.objects.get(referred=friend).status == Referral.Status.PENDING


def test_rewards_snapshot_the_settings_when_the_referral_qualifies(config, referrer, code):
    friend = enrol(code)
    purchase_record(member=friend, location=_location(), total="30.00")
    config.referrer_points = 999
    config.save()

    referrals_reward_due(as_of=later())

    assert bonus_points(referrer) == REFERRER_POINTS


def test_vouchers_are_issued_to_both_sides_when_configured(config, referrer, code):
    coffee, cake = RewardFactory(name="Free coffee"), RewardFactory(name="Cake")
    config.referrer_reward, config.friend_reward = coffee, cake
    config.referrer_points = config.friend_points = 0
    config.save()
    friend = enrol(code)
    purchase_record(member=friend, location=_location(), total="30.00")

    referrals_reward_due(as_of=later())

    referral = Referral.objects.get(referred=friend)
    assert referral.referrer_voucher.reward == coffee
    assert referral.referrer_voucher.member == referrer
    assert referral.friend_voucher.reward == cake
    assert set(Voucher.objects.values_list("origin", flat=True)) == {Voucher.Origin.REFERRAL}
    assert bonus_points(referrer) == 0


def test_a_withdrawn_reward_is_skipped_with_a_note_and_the_points_still_given(
    config, referrer, code
):
    gone = RewardFactory(name="Old mug")
    config.referrer_reward = gone
    config.save()
    friend = enrol(code)
    purchase_record(member=friend, location=_location(), total="30.00")
    gone.is_active = False
    gone.save()

    referrals_reward_due(as_of=later())

    referral = Referral.objects.get(referred=friend)
    assert referral.status == Referral.Status.REWARDED
    assert referral.referrer_voucher is None
    assert "Old mug" in referral.reason
    assert bonus_points(referrer) == REFERRER_POINTS


def test_a_referrer_suspended_before_the_pay_out_gets_nothing_the_friend_still_does(referrer, code):
    friend = enrol(code)
    purchase_record(member=friend, location=_location(), total="30.00")
    member_update(member=referrer, is_active=False)

    referrals_reward_due(as_of=later())

    assert bonus_points(referrer) == 0
    assert bonus_points(friend) == FRIEND_POINTS
    referral = Referral.objects.get(referred=friend)
    assert referral.status == Referral.Status.REWARDED
    assert f"member #{referrer.pk} is closed" in referral.reason


def test_rewarded_members_are_told(monkeypatch, referrer, code):
    sent = []
    monkeypatch.setattr(
        "campaigns.messaging.message_send", lambda **kwargs: sent.append(kwargs) or []
    )
    friend = enrol(code)
    purchase_record(member=friend, location=_location(), total="30.00")

    referrals_reward_due(as_of=later())

    assert {(m["member"].pk, m["type_code"], m["context"]["role"]) for m in sent} == {
        (referrer.pk, "referral_rewarded", "referrer"),
        (friend.pk, "referral_rewarded", "friend"),
    }
    points = {m["context"]["role"]: m["context"]["points"] for m in sent}
    assert points == {"referrer": REFERRER_POINTS, "friend": FRIEND_POINTS}
    assert {m["dedupe_key"] for m in sent} == {
        f"referral:{Referral.objects.get().pk}:referrer",
        f"referral:{Referral.objects.get().pk}:friend",
    }


def test_with_a_window_of_zero_the_rewards_come_right_after_the_purchase(
    config, referrer, code, django_capture_on_commit_callbacks
):
    config.revoke_window_days = 0
    config.save()
    friend = enrol(code)

    with django_capture_on_commit_callbacks(execute=True):
        purchase_record(member=friend, location=_location(), total="30.00")

    assert Referral.objects.get(referred=friend).status == Referral.Status.REWARDED
    assert bonus_points(referrer) == REFERRER_POINTS


def test_a_purchase_after_the_deadline_expires_the_referral(config, referrer, code):
    config.qualify_within_days = 30
    config.save()
    friend = member_enroll(
        phone="+358502222222", referral_code=code, at=timezone.now() - timedelta(days=31)
    )

    purchase_record(member=friend, location=_location(), total="30.00")

    referral = Referral.objects.get(referred=friend)
    assert referral.status == Referral.Status.EXPIRED
    referrals_reward_due(as_of=later())
    assert bonus_points(referrer) == 0


def test_the_hourly_job_expires_pending_referrals_past_their_deadline(config, code):
    config.qualify_within_days = 7
    config.save()
    friend = enrol(code)

    referrals_reward_due(as_of=later(6))
    assert Referral.objects.get(referred=friend).status == Referral.Status.PENDING
    referrals_reward_due(as_of=later(8))
    assert Referral.objects.get(referred=friend).status == Referral.Status.EXPIRED


# Refunds --------------------------------------------------------------------------------------


def test_a_refund_within_the_window_revokes_the_pending_reward(referrer, code):
    friend = enrol(code)
    purchase = purchase_record(member=friend, location=_location(), total="30.00").purchase

    purchase_refund(purchase=purchase)

    referral = Referral.objects.get(referred=friend)
    assert referral.status == Referral.Status.REVOKED
    assert referral.revoked_at is not None
    assert referrals_reward_due(as_of=later()) == 0
    assert bonus_points(referrer) == bonus_points(friend) == 0
    # revoked is final: a later purchase does not qualify again
    purchase_record(member=friend, location=_location(), total="40.00")
    assert Referral.objects.get(referred=friend).status == Referral.Status.REVOKED


def test_a_partial_refund_that_keeps_the_minimum_keeps_the_referral(code):
    friend = enrol(code)
    purchase = purchase_record(member=friend, location=_location(), total="30.00").purchase

    purchase_refund(purchase=purchase, amount="10.00")
    assert Referral.objects.get(referred=friend).status == Referral.Status.QUALIFIED

    purchase_refund(purchase=purchase, amount="0.01")
    assert Referral.objects.get(referred=friend).status == Referral.Status.REVOKED


def test_a_refund_after_the_window_leaves_the_rewards(referrer, code):
    friend = enrol(code)
    purchase = purchase_record(member=friend, location=_location(), total="30.00").purchase
    referrals_reward_due(as_of=later())

    purchase_refund(purchase=purchase, at=later())

    assert Referral.objects.get(referred=friend).status == Referral.Status.REWARDED
    assert bonus_points(referrer) == REFERRER_POINTS


def test_a_refund_after_the_window_but_before_the_job_ran_still_pays(referrer, code):
    friend = enrol(code)
    purchase = purchase_record(member=friend, location=_location(), total="30.00").purchase

    purchase_refund(purchase=purchase, at=later())
    assert Referral.objects.get(referred=friend).status == Referral.Status.QUALIFIED

    referrals_reward_due(as_of=later())
    assert bonus_points(referrer) == REFERRER_POINTS


# Milestones -----------------------------------------------------------------------------------


def test_milestone_reward_at_three_rewarded_referrals_is_given_once(config, referrer, code):
    mug = RewardFactory(name="Mug")
    ReferralMilestone.objects.create(count=3, points=500, reward=mug)
    ReferralMilestone.objects.create(count=5, points=1000)
    friends = [enrol(code) for _ in range(4)]
    for friend in friends[:2]:
        purchase_record(member=friend, location=_location(), total="30.00")
    referrals_reward_due(as_of=later())
    assert not ReferralMilestoneAward.objects.exists()

    purchase_record(member=friends[2], location=_location(), total="30.00")
    referrals_reward_due(as_of=later())
    purchase_record(member=friends[3], location=_location(), total="30.00")
    referrals_reward_due(as_of=later())

    award = ReferralMilestoneAward.objects.get()
    assert award.referrer == referrer and award.milestone.count == 3
    assert award.voucher.reward == mug and award.voucher.member == referrer
    assert bonus_points(referrer) == 4 * REFERRER_POINTS + 500
    summary = referral_summary(member=referrer)
    assert (summary.joined, summary.waiting, summary.rewarded) == (4, 0, 4)
    assert summary.next_milestone.count == 5
    assert_ledger_clean()


# The purchase batch and staff revocation ------------------------------------------------------


def test_purchase_hooks_say_yes_only_while_a_referral_waits_for_a_purchase(
    code, django_capture_on_commit_callbacks
):
    def active():
        return referrals._purchase_hooks_active()

    assert active() is False
    with django_capture_on_commit_callbacks(execute=True):
        friend = enrol(code)
    assert active() is True
    with django_capture_on_commit_callbacks(execute=True):
        purchase_record(member=friend, location=_location(), total="30.00")
    assert active() is False
    assert referrals._purchase_hooks_active in hooks._handlers["purchase_hooks_active"]


def test_staff_revoke_with_a_reason_and_not_after_the_pay_out(referrer, code):
    friend, other = enrol(code), enrol(code)
    with pytest.raises(errors.ReasonRequired):
        referral_revoke(referral=Referral.objects.get(referred=friend), reason=" ")

    revoked = referral_revoke(referral=Referral.objects.get(referred=friend), reason="Same person")
    assert revoked.status == Referral.Status.REVOKED and revoked.reason == "Same person"

    purchase_record(member=other, location=_location(), total="30.00")
    referrals_reward_due(as_of=later())
    with pytest.raises(ReferralNotRevocable):
        referral_revoke(referral=Referral.objects.get(referred=other), reason="Too late")
    assert Referral.objects.get(referred=other).status == Referral.Status.REWARDED


def test_a_just_joined_friends_purchase_is_seen_even_if_the_cached_check_is_stale(
    code, monkeypatch
):
    friend = enrol(code)
    # another process whose cache still says no referral is pending
    monkeypatch.setattr(referrals, "referrals_pending_exist", lambda: False)

    purchase_record(member=friend, location=_location(), total="30.00")

    assert Referral.objects.get(referred=friend).status == Referral.Status.QUALIFIED


# The offline batch ------------------------------------------------------------------------------


def test_batch_upload_qualifies_a_friend_even_when_the_pending_cache_says_none(
    code, location, monkeypatch
):
    # given: a friend joins with the code, but this process's cache still says "no referral
    # is pending" (another worker enrolled them a moment ago)
    from loyalty.services import BatchItem, purchases_record_batch

    friend = enrol(code)
    monkeypatch.setattr(referrals, "referrals_pending_exist", lambda: False)

    # when: the till uploads the friend's first purchase in a batch
    results = purchases_record_batch(
        location=location,
        items=[BatchItem(member_id=friend.pk, total=Decimal("25.00"), external_id="B-1")],
    )

    # then: it went through purchase_record, so the referral qualified
    assert [r.status for r in results] == ["created"]
    assert Referral.objects.get(referred=friend).status == Referral.Status.QUALIFIED
