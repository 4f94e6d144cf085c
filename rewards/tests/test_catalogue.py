"""rewards_available_for: what a member can redeem now and why not; pluggable eligibility."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loyalty import errors
from rewards import eligibility
from rewards.models import DigitalCode, MysteryPoolEntry, Reward
from rewards.selectors import rewards_available_for
from rewards.services import reward_redeem, voucher_cancel
from rewards.tests.factories import RewardFactory, give_points

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_stays_clean")]

HEL = ZoneInfo("Europe/Helsinki")
JUNE = datetime(2025, 6, 15, 12, 0, tzinfo=HEL)


def reasons(member, as_of=JUNE) -> dict[str, tuple[str, ...]]:
    return {o.reward.name: o.reasons for o in rewards_available_for(member=member, as_of=as_of)}


@pytest.fixture
def checks(monkeypatch):
    """Let a test register checks without leaking them into other tests."""
    monkeypatch.setattr(eligibility, "CHECKS", list(eligibility.CHECKS))
    return eligibility.CHECKS


def test_redeemable_reward_has_no_reasons(member):
    give_points(member, 100)
    RewardFactory(name="Coffee", points_cost=100)

    [option] = rewards_available_for(member=member, as_of=JUNE)

    assert option.reward.name == "Coffee"
    assert option.available and option.reasons == ()


def test_missing_points_are_counted(member):
    give_points(member, 60)
    RewardFactory(name="Coffee", points_cost=100)
    RewardFactory(name="Tea", points_cost=61)

    assert reasons(member) == {"Tea": ("1 more point",), "Coffee": ("40 more points",)}


def test_programme_minimum_shows_as_missing_points(program, member):
    program.min_redemption_points = 200
    program.save()
    give_points(member, 150)
    RewardFactory(name="Coffee", points_cost=100)

    assert reasons(member) == {"Coffee": ("50 more points",)}


def test_every_reason_why_not_is_given(member):
    RewardFactory(name="Sledge", points_cost=100, season_months="12", stock=0)
    RewardFactory(
        name="Old", points_cost=10, available_until=datetime(2025, 1, 1, tzinfo=HEL), stock=3
    )
    RewardFactory(name="Later", points_cost=10, available_from=datetime(2025, 9, 1, tzinfo=HEL))

    found = reasons(member)

    assert found["Sledge"] == ("Back in December", "Out of stock", "100 more points")
    assert found["Old"] == ("No longer available", "10 more points")
    assert found["Later"][0].startswith("Available from")


def test_season_points_to_the_next_season_month(member):
    give_points(member, 100)
    RewardFactory(name="Winter", points_cost=10, season_months="12,1,2")
    RewardFactory(name="Spring", points_cost=10, season_months="3,4,5")
    RewardFactory(name="Summer", points_cost=10, season_months="6,7,8")

    november = datetime(2025, 11, 30, 12, tzinfo=HEL)
    assert reasons(member, as_of=november) == {
        "Spring": ("Back in March",),
        "Summer": ("Back in June",),
        "Winter": ("Back in December",),
    }
    assert reasons(member, as_of=datetime(2026, 3, 1, tzinfo=HEL))["Winter"] == (
        "Back in December",
    )


def test_limit_reached_is_a_reason_and_cancelling_frees_it(member, staff_user):
    give_points(member, 300)
    reward = RewardFactory(
        name="Daily", points_cost=100, limit_per_member=1, limit_period=Reward.Period.DAY
    )
    voucher = reward_redeem(member=member, reward=reward, at=JUNE)

    assert reasons(member) == {"Daily": ("Limit reached for today",)}
    assert reasons(member, as_of=datetime(2025, 6, 16, tzinfo=HEL)) == {"Daily": ()}

    voucher_cancel(voucher=voucher, actor=staff_user, reason="Mistake", at=JUNE)
    assert reasons(member) == {"Daily": ()}


@pytest.mark.parametrize(
    ("period", "reason"),
    [
        (Reward.Period.WEEK, "Limit reached for this week"),
        (Reward.Period.MONTH, "Limit reached for this month"),
        (Reward.Period.YEAR, "Limit reached for this year"),
        (Reward.Period.EVER, "Already redeemed"),
    ],
)
def test_limit_reason_names_the_period(period, reason, member):
    give_points(member, 200)
    reward = RewardFactory(name="Limited", points_cost=100, limit_per_member=1, limit_period=period)
    reward_redeem(member=member, reward=reward, at=JUNE)

    assert reasons(member) == {"Limited": (reason,)}


def test_inactive_and_give_only_rewards_are_not_in_the_catalogue(member):
    RewardFactory(name="Retired", is_active=False)
    RewardFactory(name="Punch card coffee", points_cost=None)
    RewardFactory(name="Zero", points_cost=0)

    assert set(reasons(member)) == {"Zero"}
    assert reasons(member)["Zero"] == ()


def test_catalogue_is_in_display_order(member):
    RewardFactory(name="B", display_order=2, points_cost=10)
    RewardFactory(name="A", display_order=1, points_cost=500)
    RewardFactory(name="C", display_order=2, points_cost=5)

    assert [o.reward.name for o in rewards_available_for(member=member)] == ["A", "C", "B"]


def test_catalogue_reads_in_a_constant_number_of_queries(member):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            rewards_available_for(member=member, as_of=JUNE)
        return len(ctx)

    for _ in range(2):
        RewardFactory(points_cost=10, limit_per_member=1)
    few = count_queries()
    for _ in range(10):
        RewardFactory(points_cost=10, limit_per_member=1, stock=3)

    assert count_queries() == few


def test_reasons_agree_with_what_redeem_refuses(member):
    give_points(member, 50)
    RewardFactory(name="Ok", points_cost=50)
    RewardFactory(name="Pricey", points_cost=500)
    RewardFactory(name="Gone", points_cost=10, stock=0)
    RewardFactory(name="Winter", points_cost=10, season_months="1")

    for option in rewards_available_for(member=member, as_of=JUNE):
        if option.available:
            continue
        with pytest.raises(
            errors.RewardNotAvailable
            if option.reward.name != "Pricey"
            else errors.InsufficientPoints
        ):
            reward_redeem(member=member, reward=option.reward, at=JUNE)


# --------------------------------------------------------------------------------------------
# Pluggable checks
# --------------------------------------------------------------------------------------------


def gold_only(ctx: eligibility.Context) -> str | None:
    if "gold" in ctx.reward.name.lower() and not ctx.member.first_name.startswith("Gold"):
        return "Gold members only"
    return None


def test_registered_check_adds_its_reason_before_the_points(checks, member):
    eligibility.register(gold_only)
    RewardFactory(name="Gold lounge", points_cost=100)
    RewardFactory(name="Coffee", points_cost=10)

    assert checks.index(gold_only) == checks.index(eligibility.check_points) - 1
    assert reasons(member) == {
        "Coffee": ("10 more points",),
        "Gold lounge": ("Gold members only", "100 more points"),
    }


def test_registered_check_refuses_the_redemption_with_its_reason(checks, member, refused):
    eligibility.register(gold_only)
    give_points(member, 100)
    lounge = RewardFactory(name="Gold lounge", points_cost=100)

    error = refused(errors.RewardNotAvailable, lambda: reward_redeem(member=member, reward=lounge))

    assert "Gold members only" in error.detail
    member.first_name = "Goldie"
    member.save(update_fields=["first_name"])
    reward_redeem(member=member, reward=lounge)


def test_register_twice_adds_the_check_once(checks):
    size = len(checks)

    eligibility.register(gold_only)
    eligibility.register(gold_only)

    assert len(checks) == size + 1


def test_register_before_another_check_or_at_the_end(checks):
    def first(ctx):
        return None

    def last(ctx):
        return None

    eligibility.register(first, before=eligibility.check_active)
    eligibility.register(last, before=None)

    assert checks[0] is first
    assert checks[-1] is last


def test_registered_checks_do_not_leak_between_tests():
    assert gold_only not in eligibility.CHECKS


# --------------------------------------------------------------------------------------------
# Kinds whose stock is not the stock field
# --------------------------------------------------------------------------------------------


def test_digital_reward_with_an_empty_code_pool_shows_out_of_stock(member):
    give_points(member, 200)
    ebook = RewardFactory(name="E-book", kind=Reward.Kind.DIGITAL, points_cost=100)
    DigitalCode.objects.create(reward=ebook, code="ONLY-ONE")
    reward_redeem(member=member, reward=ebook)

    assert reasons(member) == {"E-book": ("Out of stock",)}


def test_mystery_gift_with_no_prize_in_stock_shows_out_of_stock(member):
    give_points(member, 100)
    gift = RewardFactory(name="Mystery", kind=Reward.Kind.MYSTERY, points_cost=50)
    prize = RewardFactory(name="Prize", points_cost=None, stock=0)
    MysteryPoolEntry.objects.create(mystery=gift, reward=prize)

    assert reasons(member) == {"Mystery": ("Out of stock",)}
