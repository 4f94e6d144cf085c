"""Partner settlement for a period [start, end): vouchers honoured and partner-funded points."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from loyalty.models import PointsLot
from loyalty.services import purchase_record
from members.tests.factories import MemberFactory
from rewards.models import Partner, Reward
from rewards.selectors import partner_settlement, settlement_csv
from rewards.services import points_pay, reward_redeem, voucher_cancel, voucher_use
from rewards.tests.factories import RewardFactory, give_points

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_stays_clean")]

HEL = ZoneInfo("Europe/Helsinki")
MARCH = datetime(2025, 3, 10, 12, tzinfo=HEL)
APRIL = datetime(2025, 4, 1, tzinfo=HEL)
MAY = datetime(2025, 5, 1, tzinfo=HEL)
MID_APRIL = datetime(2025, 4, 15, 12, tzinfo=HEL)


@pytest.fixture(autouse=True)
def cent_per_point(program):
    program.point_value = Decimal("0.01")
    program.save()
    return program


def april(partner: Partner):
    return partner_settlement(partner=partner, start=APRIL, end=MAY)


def partner_reward(partner: Partner, **kwargs) -> Reward:
    kwargs.setdefault("value", Decimal("6.00"))
    kwargs.setdefault("points_cost", 10)
    return RewardFactory(kind=Reward.Kind.PARTNER, partner=partner, **kwargs)


def used_voucher(member, reward: Reward, *, at: datetime, partner: Partner, amount=None):
    give_points(member, reward.points_cost or 0)
    voucher = reward_redeem(member=member, reward=reward, at=at - timedelta(days=1))
    return voucher_use(code=voucher.code, partner=partner, amount=amount, at=at)


def earn_at(location, member, total: str, *, at: datetime = MARCH) -> None:
    purchase_record(member=member, location=location, total=total, occurred_at=at)


# --------------------------------------------------------------------------------------------
# What the programme owes the partner
# --------------------------------------------------------------------------------------------


def test_fixed_terms_pay_a_fixed_amount_per_voucher_used(member, partner_a, partner_b):
    Partner.objects.filter(pk=partner_a.pk).update(
        settlement=Partner.Settlement.FIXED, settlement_fixed=Decimal("2.50")
    )
    partner_a.refresh_from_db()
    mine = partner_reward(partner_a)
    theirs = partner_reward(partner_b)
    for day in (2, 10, 30):
        used_voucher(member, mine, at=APRIL + timedelta(days=day - 1), partner=partner_a)
    used_voucher(member, theirs, at=MID_APRIL, partner=partner_b)
    give_points(member, 10)
    reward_redeem(member=member, reward=mine, at=MID_APRIL)  # issued, never used

    s = april(partner_a)

    assert (s.vouchers_used, s.voucher_value, s.owed_to_partner) == (
        3,
        Decimal("18.00"),
        Decimal("7.50"),
    )
    assert [line["amount"] for line in s.lines] == [Decimal("6.00")] * 3


def test_share_terms_pay_a_share_of_the_value_used(member, partner_a):
    Partner.objects.filter(pk=partner_a.pk).update(
        settlement=Partner.Settlement.SHARE, settlement_share=Decimal("33.33")
    )
    partner_a.refresh_from_db()
    dinner = partner_reward(partner_a, value=Decimal("10.00"))
    used_voucher(member, dinner, at=MID_APRIL, partner=partner_a)

    s = april(partner_a)

    assert (s.vouchers_used, s.voucher_value, s.owed_to_partner) == (
        1,
        Decimal("10.00"),
        Decimal("3.33"),
    )


def test_store_credit_counts_what_was_drawn_in_the_period(member, partner_a):
    credit = partner_reward(partner_a, value=Decimal("20.00"))
    Reward.objects.filter(pk=credit.pk).update(kind=Reward.Kind.STORE_CREDIT)
    credit.refresh_from_db()
    voucher = used_voucher(member, credit, at=MID_APRIL, partner=partner_a, amount="5.00")
    voucher_use(code=voucher.code, partner=partner_a, amount="7.00", at=MID_APRIL)
    voucher_use(code=voucher.code, partner=partner_a, amount="8.00", at=MAY)

    s = april(partner_a)

    assert (s.vouchers_used, s.voucher_value, s.owed_to_partner) == (
        1,
        Decimal("12.00"),
        Decimal("12.00"),
    )


def test_period_is_start_inclusive_end_exclusive(member, partner_a):
    reward = partner_reward(partner_a)
    used_voucher(member, reward, at=APRIL, partner=partner_a)
    used_voucher(member, reward, at=MAY - timedelta(microseconds=1), partner=partner_a)
    used_voucher(member, reward, at=MAY, partner=partner_a)
    used_voucher(member, reward, at=APRIL - timedelta(microseconds=1), partner=partner_a)

    assert april(partner_a).vouchers_used == 2
    may = partner_settlement(partner=partner_a, start=MAY, end=MAY + timedelta(days=31))
    assert may.vouchers_used == 1


# --------------------------------------------------------------------------------------------
# What the partner owes the programme: points it funded, spent elsewhere
# --------------------------------------------------------------------------------------------


def test_partner_funded_points_spent_on_programme_rewards_are_owed_by_the_partner(
    member, shop_a, partner_a
):
    earn_at(shop_a, member, "100.00")
    assert PointsLot.objects.get(member=member).funded_by == partner_a
    coffee = RewardFactory(points_cost=60)

    reward_redeem(member=member, reward=coffee, at=MID_APRIL)

    s = april(partner_a)
    assert (s.points_funded_spent, s.point_value, s.owed_by_partner) == (
        60,
        Decimal("0.01"),
        Decimal("0.60"),
    )
    assert s.net_to_partner == Decimal("-0.60")


def test_partner_funded_points_spent_on_the_partners_own_rewards_are_not_owed(
    member, shop_a, partner_a
):
    earn_at(shop_a, member, "100.00")
    own = partner_reward(partner_a, points_cost=80)

    reward_redeem(member=member, reward=own, at=MID_APRIL)

    assert april(partner_a).points_funded_spent == 0


def test_partner_funded_points_spent_on_another_partners_reward_are_owed(
    member, shop_a, partner_a, partner_b
):
    earn_at(shop_a, member, "100.00")
    cinema = partner_reward(partner_b, points_cost=70)

    reward_redeem(member=member, reward=cinema, at=MID_APRIL)

    assert april(partner_a).points_funded_spent == 70
    assert april(partner_b).points_funded_spent == 0


def test_points_paid_at_the_till_count_as_spent(member, shop_a, partner_a, location):
    earn_at(shop_a, member, "100.00")

    points_pay(member=member, location=location, amount="5.00", points=40, at=MID_APRIL)

    assert april(partner_a).points_funded_spent == 40


def test_cancelled_redemptions_are_not_owed_and_respent_points_count_once(
    member, shop_a, partner_a, staff_user
):
    earn_at(shop_a, member, "100.00")
    coffee = RewardFactory(points_cost=60, voucher_valid_days=None)
    voucher = reward_redeem(member=member, reward=coffee, at=MID_APRIL)

    voucher_cancel(voucher=voucher, actor=staff_user, reason="Wrong reward", at=MID_APRIL)
    assert april(partner_a).points_funded_spent == 0

    # The points came back still funded by the partner; spending them again counts once.
    reward_redeem(member=member, reward=coffee, at=MID_APRIL + timedelta(hours=1))
    assert april(partner_a).points_funded_spent == 60


def test_programme_points_and_other_partners_points_are_not_owed_by_this_partner(
    member, shop_b, partner_a
):
    give_points(member, 50)
    earn_at(shop_b, member, "50.00")
    coffee = RewardFactory(points_cost=100)

    reward_redeem(member=member, reward=coffee, at=MID_APRIL)

    assert april(partner_a).points_funded_spent == 0


def test_spending_outside_the_period_is_not_owed(member, shop_a, partner_a):
    earn_at(shop_a, member, "100.00")
    coffee = RewardFactory(points_cost=10)
    for at in (APRIL - timedelta(microseconds=1), APRIL, MAY - timedelta(microseconds=1), MAY):
        reward_redeem(member=member, reward=coffee, at=at)

    assert april(partner_a).points_funded_spent == 20


def test_net_settlement_both_ways(member, shop_a, partner_a):
    other = MemberFactory()
    earn_at(shop_a, member, "300.00")
    reward_redeem(member=member, reward=RewardFactory(points_cost=250), at=MID_APRIL)
    used_voucher(
        other, partner_reward(partner_a, value=Decimal("4.00")), at=MID_APRIL, partner=partner_a
    )

    s = april(partner_a)

    assert (s.owed_to_partner, s.owed_by_partner, s.net_to_partner) == (
        Decimal("4.00"),
        Decimal("2.50"),
        Decimal("1.50"),
    )


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


def test_csv_has_a_summary_row_per_partner_then_the_voucher_uses(member, partner_a, partner_b):
    voucher = used_voucher(member, partner_reward(partner_a), at=MID_APRIL, partner=partner_a)

    text = settlement_csv([april(partner_a), april(partner_b)])

    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["Partner", "From", "Until", "Vouchers used"]
    assert rows[1] == [
        "Bakery Partner",
        "2025-04-01",
        "2025-05-01",
        "1",
        "6.00",
        "6.00",
        "0",
        "0.00",
        "6.00",
    ]
    assert rows[2][0] == "Cinema Partner" and rows[2][3] == "0"
    assert rows[3] == []
    assert rows[5][0] == "Bakery Partner"
    assert rows[5][2] == voucher.formatted_code
    assert rows[5][4] == "6.00"
    assert len(rows) == 6
