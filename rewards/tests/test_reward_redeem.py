"""reward_redeem: points through the ledger, one voucher, every rule that can refuse it."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty import errors
from loyalty.models import EntryKind, Event, LedgerEntry
from loyalty.selectors import ledger_drift
from loyalty.tests.support import fresh
from members.models import Member
from members.tests.factories import MemberFactory
from rewards import services
from rewards.models import DigitalCode, MysteryPoolEntry, Reward, Voucher, VoucherUse
from rewards.selectors import donations_by_cause, member_benefit_codes
from rewards.services import reward_redeem, voucher_cancel, voucher_issue, voucher_use
from rewards.tests.factories import RewardFactory, give_points

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_stays_clean")]

HEL = ZoneInfo("Europe/Helsinki")
JUNE = datetime(2025, 6, 15, 12, 0, tzinfo=HEL)


def stock_of(reward: Reward) -> int | None:
    return Reward.objects.values_list("stock", flat=True).get(pk=reward.pk)


# --------------------------------------------------------------------------------------------
# The happy path and its transaction
# --------------------------------------------------------------------------------------------


def test_redeem_debits_the_points_and_issues_a_voucher(member, staff_user):
    give_points(member, 150)
    reward = RewardFactory(points_cost=100, value=Decimal("4.50"), voucher_valid_days=30, stock=5)

    voucher = reward_redeem(member=member, reward=reward, actor=staff_user, at=JUNE)

    assert member.balance == fresh(member).balance == 50
    assert (voucher.status, voucher.origin, voucher.points_spent, voucher.value) == (
        Voucher.Status.ISSUED,
        Voucher.Origin.REDEEMED,
        100,
        Decimal("4.50"),
    )
    assert voucher.reward == reward
    assert voucher.expires_at == JUNE + timedelta(days=30)
    assert voucher.issued_by == staff_user
    assert voucher.remaining_value is None
    entry = voucher.ledger_entry
    assert (entry.kind, entry.points, entry.balance_after, entry.source_type) == (
        EntryKind.REDEEM,
        -100,
        50,
        LedgerEntry.SourceType.VOUCHER,
    )
    assert stock_of(reward) == 4
    assert Event.objects.filter(type="voucher.issued", member=member).count() == 1


def test_redeem_of_a_reward_without_validity_gives_a_voucher_that_never_expires(member):
    give_points(member, 100)
    reward = RewardFactory(points_cost=100, voucher_valid_days=None)

    assert reward_redeem(member=member, reward=reward).expires_at is None


def test_redeem_that_fails_after_the_debit_leaves_no_trace(member, refused, monkeypatch):
    give_points(member, 100)
    reward = RewardFactory(points_cost=100, stock=3)

    def broken_delivery(*args, **kwargs):
        raise errors.Conflict("delivery failed")

    monkeypatch.setattr(services, "_deliver", broken_delivery)

    refused(errors.Conflict, lambda: reward_redeem(member=member, reward=reward))
    assert fresh(member).balance == 100
    assert stock_of(reward) == 3


def test_store_credit_voucher_starts_with_its_whole_value_remaining(member):
    give_points(member, 100)
    reward = RewardFactory(kind=Reward.Kind.STORE_CREDIT, points_cost=100, value=Decimal("10"))

    voucher = reward_redeem(member=member, reward=reward)

    assert voucher.remaining_value == voucher.value == Decimal("10.00")


# --------------------------------------------------------------------------------------------
# Idempotency
# --------------------------------------------------------------------------------------------


def test_retry_with_the_same_key_returns_the_same_voucher_and_spends_once(member):
    give_points(member, 500)
    reward = RewardFactory(points_cost=100, stock=10)

    first = reward_redeem(member=member, reward=reward, idempotency_key="till-1-42")
    again = reward_redeem(member=member, reward=reward, idempotency_key="till-1-42")

    assert again.pk == first.pk
    assert fresh(member).balance == 400
    assert Voucher.objects.count() == 1
    assert LedgerEntry.objects.filter(kind=EntryKind.REDEEM).count() == 1
    assert stock_of(reward) == 9


def test_same_key_for_another_reward_is_a_conflict(member, refused):
    give_points(member, 500)
    coffee = RewardFactory(points_cost=100)
    cake = RewardFactory(points_cost=100)
    reward_redeem(member=member, reward=coffee, idempotency_key="k-1")

    refused(
        errors.Conflict,
        lambda: reward_redeem(member=member, reward=cake, idempotency_key="k-1"),
    )


def test_same_key_of_another_member_is_a_new_redemption(member):
    other = MemberFactory()
    give_points(member, 100)
    give_points(other, 100)
    reward = RewardFactory(points_cost=100)

    mine = reward_redeem(member=member, reward=reward, idempotency_key="k-1")
    theirs = reward_redeem(member=other, reward=reward, idempotency_key="k-1")

    assert mine.pk != theirs.pk
    assert (fresh(member).balance, fresh(other).balance) == (0, 0)


def test_too_long_idempotency_key_is_refused(member, refused):
    give_points(member, 100)
    reward = RewardFactory(points_cost=100)

    refused(
        errors.InvalidInput,
        lambda: reward_redeem(member=member, reward=reward, idempotency_key="k" * 65),
    )


# --------------------------------------------------------------------------------------------
# Points
# --------------------------------------------------------------------------------------------


def test_redeem_with_too_few_points_is_refused_and_changes_nothing(member, refused):
    give_points(member, 99)
    reward = RewardFactory(points_cost=100, stock=1)

    error = refused(errors.InsufficientPoints, lambda: reward_redeem(member=member, reward=reward))

    assert error.params == {"available": 99, "requested": 100}
    assert stock_of(reward) == 1


def test_programme_minimum_for_a_redemption_applies_to_cheap_rewards(program, member, refused):
    program.min_redemption_points = 200
    program.save()
    give_points(member, 150)
    cheap = RewardFactory(points_cost=100)

    error = refused(errors.InsufficientPoints, lambda: reward_redeem(member=member, reward=cheap))

    assert error.params == {"available": 150, "requested": 200}
    give_points(member, 50)
    reward_redeem(member=member, reward=cheap)
    assert fresh(member).balance == 100  # the minimum is a threshold, not a price


def test_pending_points_cannot_be_spent(member, refused):
    from django.utils import timezone

    from loyalty.services import points_credit

    points_credit(member=member, points=100, available_at=timezone.now() + timedelta(days=14))
    reward = RewardFactory(points_cost=100)

    refused(errors.InsufficientPoints, lambda: reward_redeem(member=member, reward=reward))


# --------------------------------------------------------------------------------------------
# Stock, season, window
# --------------------------------------------------------------------------------------------


def test_reward_out_of_stock_is_refused(member, refused):
    give_points(member, 100)
    reward = RewardFactory(points_cost=100, stock=0)

    refused(errors.OutOfStock, lambda: reward_redeem(member=member, reward=reward))


def test_the_last_unit_is_not_sold_twice(member, refused):
    other = MemberFactory()
    give_points(member, 100)
    give_points(other, 100)
    reward = RewardFactory(points_cost=100, stock=1)

    reward_redeem(member=member, reward=reward)
    refused(errors.OutOfStock, lambda: reward_redeem(member=other, reward=reward))

    assert stock_of(reward) == 0
    assert fresh(other).balance == 100


def test_unlimited_stock_stays_unlimited(member):
    give_points(member, 300)
    reward = RewardFactory(points_cost=100, stock=None)

    for _ in range(3):
        reward_redeem(member=member, reward=reward)

    assert stock_of(reward) is None


def test_out_of_season_reward_says_when_it_is_back(member, refused):
    give_points(member, 100)
    christmas = RewardFactory(points_cost=100, season_months="12")

    error = refused(
        errors.RewardNotAvailable,
        lambda: reward_redeem(member=member, reward=christmas, at=JUNE),
    )

    assert "Back in December" in error.detail
    voucher = reward_redeem(
        member=member, reward=christmas, at=datetime(2025, 12, 1, 0, 5, tzinfo=HEL)
    )
    assert voucher.status == Voucher.Status.ISSUED


def test_season_is_read_in_local_time(member, refused):
    give_points(member, 100)
    summer = RewardFactory(points_cost=100, season_months="6, 7, 8")
    # 31 August 22:30 UTC is already 1 September in Helsinki.
    late = datetime(2025, 8, 31, 22, 30, tzinfo=ZoneInfo("UTC"))

    error = refused(
        errors.RewardNotAvailable, lambda: reward_redeem(member=member, reward=summer, at=late)
    )
    assert "Back in June" in error.detail


def test_reward_is_redeemable_only_inside_its_window(member, refused):
    give_points(member, 300)
    start = datetime(2025, 6, 1, tzinfo=HEL)
    end = datetime(2025, 7, 1, tzinfo=HEL)
    reward = RewardFactory(points_cost=100, available_from=start, available_until=end)

    early = refused(
        errors.RewardNotAvailable,
        lambda: reward_redeem(member=member, reward=reward, at=start - timedelta(seconds=1)),
    )
    late = refused(
        errors.RewardNotAvailable,
        lambda: reward_redeem(member=member, reward=reward, at=end),
    )

    assert "Available from" in early.detail
    assert "No longer available" in late.detail
    reward_redeem(member=member, reward=reward, at=start)
    reward_redeem(member=member, reward=reward, at=end - timedelta(seconds=1))


def test_inactive_reward_is_refused(member, refused):
    give_points(member, 100)
    reward = RewardFactory(points_cost=100, is_active=False)

    refused(errors.RewardNotAvailable, lambda: reward_redeem(member=member, reward=reward))


def test_deleted_reward_is_not_found(member, refused):
    give_points(member, 100)
    reward = RewardFactory(points_cost=100)
    gone = Reward(pk=reward.pk + 1000, name="Gone", kind=Reward.Kind.FREE_PRODUCT, points_cost=1)

    refused(errors.RewardNotFound, lambda: reward_redeem(member=member, reward=gone))


# --------------------------------------------------------------------------------------------
# Per-member limits
# --------------------------------------------------------------------------------------------


def test_limit_per_day_refuses_the_second_today_and_allows_it_tomorrow(member, refused):
    give_points(member, 300)
    reward = RewardFactory(points_cost=100, limit_per_member=1, limit_period=Reward.Period.DAY)
    reward_redeem(member=member, reward=reward, at=JUNE)

    error = refused(
        errors.RedemptionLimitReached,
        lambda: reward_redeem(member=member, reward=reward, at=JUNE + timedelta(hours=11)),
    )

    assert "today" in error.detail
    next_day = datetime(2025, 6, 16, 0, 0, tzinfo=HEL)
    reward_redeem(member=member, reward=reward, at=next_day)


def test_limit_per_month_counts_calendar_months(member, refused):
    give_points(member, 400)
    reward = RewardFactory(points_cost=100, limit_per_member=2, limit_period=Reward.Period.MONTH)
    reward_redeem(member=member, reward=reward, at=datetime(2025, 1, 2, tzinfo=HEL))
    reward_redeem(member=member, reward=reward, at=datetime(2025, 1, 31, 23, tzinfo=HEL))

    refused(
        errors.RedemptionLimitReached,
        lambda: reward_redeem(
            member=member, reward=reward, at=datetime(2025, 1, 31, 23, 59, tzinfo=HEL)
        ),
    )
    reward_redeem(member=member, reward=reward, at=datetime(2025, 2, 1, tzinfo=HEL))


def test_limit_ever_is_never_reset(member, refused):
    give_points(member, 200)
    reward = RewardFactory(
        points_cost=100, limit_per_member=1, limit_period=Reward.Period.EVER, voucher_valid_days=1
    )
    reward_redeem(member=member, reward=reward, at=datetime(2020, 1, 1, tzinfo=HEL))

    refused(
        errors.RedemptionLimitReached,
        lambda: reward_redeem(member=member, reward=reward, at=JUNE),
    )


def test_limit_is_per_member(member):
    other = MemberFactory()
    give_points(member, 100)
    give_points(other, 100)
    reward = RewardFactory(points_cost=100, limit_per_member=1, limit_period=Reward.Period.EVER)

    reward_redeem(member=member, reward=reward)
    reward_redeem(member=other, reward=reward)


def test_cancelled_vouchers_do_not_count_against_the_limit(member, staff_user):
    give_points(member, 100)
    reward = RewardFactory(points_cost=100, limit_per_member=1, limit_period=Reward.Period.EVER)
    first = reward_redeem(member=member, reward=reward)
    voucher_cancel(voucher=first, actor=staff_user, reason="Changed their mind")

    again = reward_redeem(member=member, reward=reward)

    assert again.status == Voucher.Status.ISSUED
    assert fresh(member).balance == 0


def test_given_vouchers_do_not_count_against_the_limit(member):
    give_points(member, 100)
    reward = RewardFactory(points_cost=100, limit_per_member=1, limit_period=Reward.Period.EVER)
    voucher_issue(member=member, reward=reward, origin=Voucher.Origin.CAMPAIGN)

    reward_redeem(member=member, reward=reward)


def test_used_vouchers_count_against_the_limit(member, refused):
    give_points(member, 200)
    reward = RewardFactory(points_cost=100, limit_per_member=1, limit_period=Reward.Period.EVER)
    voucher_use(code=reward_redeem(member=member, reward=reward).code)

    refused(errors.RedemptionLimitReached, lambda: reward_redeem(member=member, reward=reward))


# --------------------------------------------------------------------------------------------
# Member and catalogue status
# --------------------------------------------------------------------------------------------


def test_inactive_member_cannot_redeem(member, refused):
    give_points(member, 100)
    Member.objects.filter(pk=member.pk).update(is_active=False)
    reward = RewardFactory(points_cost=100)

    refused(errors.MemberInactive, lambda: reward_redeem(member=member, reward=reward))


def test_reward_without_points_cost_cannot_be_redeemed_but_can_be_given(member, refused):
    give_points(member, 1000)
    gift = RewardFactory(points_cost=None, stock=2)

    error = refused(errors.RewardNotAvailable, lambda: reward_redeem(member=member, reward=gift))
    voucher = voucher_issue(member=member, reward=gift, origin=Voucher.Origin.PUNCH_CARD)

    assert "Not for sale with points" in error.detail
    assert (voucher.status, voucher.points_spent, voucher.ledger_entry) == (
        Voucher.Status.ISSUED,
        0,
        None,
    )
    assert fresh(member).balance == 1000
    assert stock_of(gift) == 1


# --------------------------------------------------------------------------------------------
# Kinds: mystery gift, donation, digital, perk
# --------------------------------------------------------------------------------------------


@pytest.fixture
def mystery():
    gift = RewardFactory(kind=Reward.Kind.MYSTERY, points_cost=50, value=Decimal("0"), stock=None)
    prizes = [
        RewardFactory(name="Mug", points_cost=None, value=Decimal("8"), stock=5),
        RewardFactory(name="Cap", points_cost=None, value=Decimal("12"), stock=5),
        RewardFactory(name="Bike", points_cost=None, value=Decimal("500"), stock=0),
    ]
    for prize, weight in zip(prizes, [3, 1, 10], strict=True):
        MysteryPoolEntry.objects.create(mystery=gift, reward=prize, weight=weight)
    return gift, prizes


def test_mystery_gift_draws_an_in_stock_prize_and_records_a_reproducible_draw(member, mystery):
    gift, (mug, cap, bike) = mystery
    Reward.objects.filter(pk__in=[mug.pk, cap.pk]).update(stock=20)
    give_points(member, 50 * 10)

    for _ in range(10):
        voucher = reward_redeem(member=member, reward=gift)

        draw = voucher.draw
        assert draw["pool"] == [[mug.pk, 3], [cap.pk, 1]]  # the bike is out of stock
        pks = [pk for pk, _weight in draw["pool"]]
        weights = [weight for _pk, weight in draw["pool"]]
        assert random.Random(draw["seed"]).choices(pks, weights=weights, k=1)[0] == draw["picked"]
        assert voucher.reward_id == draw["picked"]
        assert voucher.redeemed_reward == gift
        assert voucher.points_spent == 50
        assert voucher.value == voucher.reward.value

    drawn = Voucher.objects.filter(redeemed_reward=gift)
    assert drawn.filter(reward=bike).count() == 0
    assert stock_of(mug) == 20 - drawn.filter(reward=mug).count()
    assert stock_of(cap) == 20 - drawn.filter(reward=cap).count()
    assert stock_of(bike) == 0


def test_mystery_draw_follows_the_weights(member, mystery, monkeypatch):
    gift, (mug, cap, _bike) = mystery
    MysteryPoolEntry.objects.filter(mystery=gift).delete()
    Reward.objects.filter(pk__in=[mug.pk, cap.pk]).update(stock=None)
    MysteryPoolEntry.objects.create(mystery=gift, reward=mug, weight=1)
    MysteryPoolEntry.objects.create(mystery=gift, reward=cap, weight=99)
    seeds = iter(range(40))
    monkeypatch.setattr(services.secrets, "randbits", lambda bits: next(seeds))
    give_points(member, 50 * 40)

    prizes = [reward_redeem(member=member, reward=gift).reward_id for _ in range(40)]

    expected = [
        random.Random(seed).choices([mug.pk, cap.pk], weights=[1, 99], k=1)[0] for seed in range(40)
    ]
    assert prizes == expected
    assert prizes.count(cap.pk) >= 35


def test_mystery_gift_with_every_prize_out_of_stock_is_refused(member, mystery, refused):
    gift, prizes = mystery
    Reward.objects.filter(pk__in=[p.pk for p in prizes]).update(stock=0)
    give_points(member, 50)

    refused(errors.OutOfStock, lambda: reward_redeem(member=member, reward=gift))


def test_mystery_limit_counts_against_the_mystery_not_the_prize(member, mystery, refused):
    gift, _prizes = mystery
    Reward.objects.filter(pk=gift.pk).update(limit_per_member=1, limit_period=Reward.Period.EVER)
    gift.refresh_from_db()
    give_points(member, 100)
    reward_redeem(member=member, reward=gift)

    refused(errors.RedemptionLimitReached, lambda: reward_redeem(member=member, reward=gift))


def test_cancelled_mystery_gift_returns_the_prize_to_stock(member, mystery, staff_user):
    gift, _prizes = mystery
    give_points(member, 50)
    voucher = reward_redeem(member=member, reward=gift)
    prize = voucher.reward

    voucher_cancel(voucher=voucher, actor=staff_user, reason="Wrong member")

    assert stock_of(prize) == 5
    assert fresh(member).balance == 50


def test_retry_of_a_mystery_redemption_returns_the_drawn_voucher(member, mystery):
    gift, _prizes = mystery
    give_points(member, 100)

    first = reward_redeem(member=member, reward=gift, idempotency_key="m-1")
    again = reward_redeem(member=member, reward=gift, idempotency_key="m-1")

    assert again.pk == first.pk
    assert fresh(member).balance == 50


def test_donation_is_used_at_once_and_reported_per_cause(member, refused, staff_user):
    give_points(member, 300)
    trees = RewardFactory(
        kind=Reward.Kind.DONATION, points_cost=100, value=Decimal("1.00"), cause="Plant trees"
    )
    shelter = RewardFactory(
        kind=Reward.Kind.DONATION, points_cost=100, value=Decimal("1.50"), cause="Dog shelter"
    )

    v1 = reward_redeem(member=member, reward=trees)
    reward_redeem(member=member, reward=trees)
    reward_redeem(member=member, reward=shelter)

    assert v1.status == Voucher.Status.USED and v1.used_at is not None
    assert VoucherUse.objects.filter(voucher=v1, amount=Decimal("1.00")).count() == 1
    assert donations_by_cause() == [
        {"reward__cause": "Dog shelter", "count": 1, "points": 100, "value": Decimal("1.50")},
        {"reward__cause": "Plant trees", "count": 2, "points": 200, "value": Decimal("2.00")},
    ]
    refused(errors.VoucherAlreadyUsed, lambda: voucher_use(code=v1.code))
    refused(
        errors.VoucherAlreadyUsed,
        lambda: voucher_cancel(voucher=v1, actor=staff_user, reason="Oops"),
    )


def test_donations_by_cause_respects_the_period(member):
    give_points(member, 200)
    trees = RewardFactory(kind=Reward.Kind.DONATION, points_cost=100, cause="Plant trees")
    reward_redeem(member=member, reward=trees, at=datetime(2025, 1, 31, 23, 59, tzinfo=HEL))
    reward_redeem(member=member, reward=trees, at=datetime(2025, 2, 1, tzinfo=HEL))

    february = donations_by_cause(
        start=datetime(2025, 2, 1, tzinfo=HEL), end=datetime(2025, 3, 1, tzinfo=HEL)
    )

    assert [(row["reward__cause"], row["count"]) for row in february] == [("Plant trees", 1)]


def test_digital_reward_takes_a_code_from_its_pool_until_it_is_empty(member, refused):
    give_points(member, 300)
    ebook = RewardFactory(kind=Reward.Kind.DIGITAL, points_cost=100, stock=None)
    first_code = DigitalCode.objects.create(reward=ebook, code="EBOOK-AAA")
    second_code = DigitalCode.objects.create(reward=ebook, code="EBOOK-BBB")

    v1 = reward_redeem(member=member, reward=ebook)
    v2 = reward_redeem(member=member, reward=ebook)

    assert v1.digital_code == first_code
    assert v2.digital_code == second_code
    refused(errors.OutOfStock, lambda: reward_redeem(member=member, reward=ebook))
    assert fresh(member).balance == 100


def test_digital_reward_without_a_code_pool_is_a_download(member):
    give_points(member, 100)
    ebook = RewardFactory(
        kind=Reward.Kind.DIGITAL, points_cost=100, digital_url="https://example.com/book.pdf"
    )

    voucher = reward_redeem(member=member, reward=ebook)

    assert voucher.status == Voucher.Status.ISSUED
    assert not DigitalCode.objects.filter(voucher=voucher).exists()


def test_perk_benefit_code_is_readable_until_the_voucher_expires(member, staff_user):
    give_points(member, 100)
    warranty = RewardFactory(
        kind=Reward.Kind.PERK,
        points_cost=100,
        benefit_code="extended_warranty",
        voucher_valid_days=365,
    )
    plain = RewardFactory(kind=Reward.Kind.PERK, points_cost=None, benefit_code="")

    voucher = reward_redeem(member=member, reward=warranty, at=JUNE)
    voucher_issue(member=member, reward=plain, origin=Voucher.Origin.CAMPAIGN, at=JUNE)

    assert member_benefit_codes(member=member, as_of=JUNE) == {"extended_warranty"}
    last_second = voucher.expires_at - timedelta(seconds=1)
    assert member_benefit_codes(member=member, as_of=last_second) == {"extended_warranty"}
    assert member_benefit_codes(member=member, as_of=voucher.expires_at) == set()
    assert member_benefit_codes(member=MemberFactory(), as_of=JUNE) == set()


def test_cancelled_perk_no_longer_gives_its_benefit(member, staff_user):
    give_points(member, 100)
    priority = RewardFactory(
        kind=Reward.Kind.PERK, points_cost=100, benefit_code="priority_service"
    )
    voucher = reward_redeem(member=member, reward=priority)

    voucher_cancel(voucher=voucher, actor=staff_user, reason="Refunded")

    assert member_benefit_codes(member=member) == set()


# --------------------------------------------------------------------------------------------
# Property: random earn / redeem / use / cancel sequences keep the books
# --------------------------------------------------------------------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.integers(min_value=1, max_value=300)),
        st.tuples(st.just("redeem"), st.sampled_from([0, 1, 2])),
        st.tuples(st.just("use"), st.integers(min_value=0, max_value=20)),
        st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=20)),
    ),
    max_size=12,
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_random_redeem_use_cancel_sequences_keep_balance_stock_and_ledger(member, staff_user, ops):
    with transaction.atomic():
        rewards = [
            RewardFactory(points_cost=100, stock=2),
            RewardFactory(points_cost=30, stock=None),
            RewardFactory(points_cost=250, stock=1, limit_per_member=1),
        ]
        balance = fresh(member).balance
        stock = {r.pk: r.stock for r in rewards}
        issued: list[Voucher] = []
        for op, arg in ops:
            if op == "earn":
                give_points(member, arg)
                balance += arg
            elif op == "redeem":
                reward = rewards[arg]
                try:
                    voucher = reward_redeem(member=member, reward=reward)
                except errors.RewardNotAvailable:
                    assert stock[reward.pk] == 0 or reward.limit_per_member
                except errors.InsufficientPoints:
                    assert balance < reward.points_cost
                else:
                    assert balance >= reward.points_cost
                    balance -= reward.points_cost
                    if stock[reward.pk] is not None:
                        stock[reward.pk] -= 1
                    issued.append(voucher)
            elif issued:
                voucher = issued.pop(arg % len(issued))
                if op == "use":
                    voucher_use(code=voucher.code)
                else:
                    voucher_cancel(voucher=voucher, actor=staff_user, reason="Property test")
                    balance += voucher.points_spent
                    if stock[voucher.reward_id] is not None:
                        stock[voucher.reward_id] += 1
            assert fresh(member).balance == balance
            assert {r.pk: stock_of(r) for r in rewards} == stock
            assert ledger_drift() == []
        transaction.set_rollback(True)
