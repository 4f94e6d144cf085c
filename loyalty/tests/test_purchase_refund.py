"""Refunds take points back in proportion; spent points become owed, never a negative balance."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty import errors
from loyalty.models import EntryKind, Event, LedgerEntry, LotAllocation, PointsLot, Refund
from loyalty.services import (
    points_credit,
    points_debit,
    points_release_pending,
    purchase_record,
    purchase_refund,
    visit_record,
)
from loyalty.tests.support import assert_ledger_clean, fresh, snapshot

pytestmark = pytest.mark.django_db


def buy(member, location, total, **kwargs):
    return purchase_record(member=member, location=location, total=total, **kwargs).purchase


def state(member):
    m = fresh(member)
    return m.balance, m.pending, m.points_debt


# --------------------------------------------------------------------------------------------
# Proportional claw-back
# --------------------------------------------------------------------------------------------


def test_full_refund_takes_back_exactly_the_awarded_points(program, member, location):
    program.earn_rate = Decimal("1.5")
    program.rounding = "half_up"
    program.save()
    keep = buy(member, location, "10.00")
    purchase = buy(member, location, "33.33", external_id="R-1")
    assert purchase.points_awarded == 50  # 49.995 half up

    refund = purchase_refund(purchase=purchase, reason="Changed mind")

    assert refund.points_clawed_back == 50
    assert refund.amount == Decimal("33.33")
    assert refund.reason == "Changed mind"
    assert state(member) == (keep.points_awarded, 0, 0)
    purchase.refresh_from_db()
    assert purchase.refunded_amount == purchase.total
    assert purchase.points_clawed_back == 50
    entry = LedgerEntry.objects.get(member=member, kind=EntryKind.REFUND)
    assert (entry.points, entry.pending_points, entry.debt_points) == (-50, 0, 0)
    assert entry.purchase == purchase
    assert entry.balance_after == keep.points_awarded
    # the points came back from the purchase's own lot
    lot = PointsLot.objects.get(purchase=purchase)
    assert lot.remaining == 0
    assert LotAllocation.objects.get(entry=entry).lot == lot
    event = Event.objects.filter(type="purchase.refunded").get()
    assert event.payload["points_taken_back"] == 50
    assert event.payload["owed"] == 0
    assert_ledger_clean()


def test_refund_of_a_purchase_that_earned_nothing_records_the_refund_only(member, location):
    purchase = buy(member, location, "0.50")
    before = snapshot()

    refund = purchase_refund(purchase=purchase)

    assert refund.points_clawed_back == 0
    after = snapshot()
    assert after.entries == before.entries
    assert after.refunds == before.refunds + 1
    assert_ledger_clean()


def test_two_partial_refunds_take_back_what_one_full_refund_would(member, location):
    purchase = buy(member, location, "10.00")

    first = purchase_refund(purchase=purchase, amount="3.33")
    # floor(10 × 3.33 / 10) = 3, in the member's favour
    assert first.points_clawed_back == 3
    assert state(member) == (7, 0, 0)
    assert_ledger_clean()

    second = purchase_refund(purchase=purchase, amount="6.67")
    assert second.points_clawed_back == 7
    assert state(member) == (0, 0, 0)
    purchase.refresh_from_db()
    assert purchase.points_clawed_back == 10
    assert purchase.refundable_amount == 0
    assert_ledger_clean()


@pytest.mark.parametrize(
    ("total", "rate", "parts"),
    [
        ("10.00", "1", ["3.33", "3.33", "3.34"]),
        ("0.03", "100", ["0.01", "0.01", "0.01"]),
        ("99.99", "1.5", ["33.33", "33.33", "33.33"]),
        ("7.00", "1", ["1.00"] * 7),
        ("100.00", "0.3", ["0.01", "49.99", "0.01", "49.99"]),
        ("19.99", "3", ["19.98", "0.01"]),
    ],
)
def test_partial_refunds_never_drift_from_the_full_claw_back(
    program, member, location, total, rate, parts
):
    program.earn_rate = Decimal(rate)
    program.save()
    purchase = buy(member, location, total)
    awarded = purchase.points_awarded
    refunded = Decimal(0)
    taken = 0

    for part in parts:
        refund = purchase_refund(purchase=purchase, amount=part)
        refunded += Decimal(part)
        taken += refund.points_clawed_back
        # cumulative, rounded down: never ahead of the proportional share
        expected = (
            awarded if refunded == purchase.total else int(awarded * refunded // purchase.total)
        )
        assert taken == expected
        assert fresh(member).balance == awarded - taken
        assert_ledger_clean()

    assert taken == awarded
    assert state(member) == (0, 0, 0)


# --------------------------------------------------------------------------------------------
# Refused refunds
# --------------------------------------------------------------------------------------------


def assert_refused(code, call):
    before = snapshot()
    with pytest.raises(errors.LoyaltyError) as exc:
        call()
    assert exc.value.code == code, exc.value
    assert snapshot() == before
    assert_ledger_clean()
    return exc.value


def test_refund_above_the_refundable_amount_is_refused_and_writes_nothing(member, location):
    purchase = buy(member, location, "20.00")

    err = assert_refused(
        "refund_too_large", lambda: purchase_refund(purchase=purchase, amount="20.01")
    )
    assert isinstance(err, errors.RefundTooLarge)

    purchase_refund(purchase=purchase, amount="15.00")
    assert_refused("refund_too_large", lambda: purchase_refund(purchase=purchase, amount="5.01"))
    purchase.refresh_from_db()
    assert purchase.refunded_amount == Decimal("15.00")
    assert fresh(member).balance == 5


def test_refund_after_a_full_refund_is_already_refunded(member, location):
    purchase = buy(member, location, "20.00")
    purchase_refund(purchase=purchase)

    assert_refused("already_refunded", lambda: purchase_refund(purchase=purchase))
    assert_refused("already_refunded", lambda: purchase_refund(purchase=purchase, amount="1.00"))


def test_partial_refunds_up_to_the_total_then_already_refunded(member, location):
    purchase = buy(member, location, "20.00")
    purchase_refund(purchase=purchase, amount="5.00")
    purchase_refund(purchase=purchase)  # the rest

    purchase.refresh_from_db()
    assert purchase.refunded_amount == Decimal("20.00")
    assert_refused("already_refunded", lambda: purchase_refund(purchase=purchase))


@pytest.mark.parametrize(
    "amount", ["0", "0.00", "-1.00", "abc", "", True, "NaN", "Infinity", "1.001", "1e100"]
)
def test_bad_refund_amount_is_refused_and_writes_nothing(member, location, amount):
    purchase = buy(member, location, "20.00")

    assert_refused("invalid_amount", lambda: purchase_refund(purchase=purchase, amount=amount))


def test_refund_uses_the_stored_state_not_a_stale_instance(member, location):
    purchase = buy(member, location, "20.00")
    stale = type(purchase).objects.get(pk=purchase.pk)
    purchase_refund(purchase=purchase)

    assert_refused("already_refunded", lambda: purchase_refund(purchase=stale))


# --------------------------------------------------------------------------------------------
# Pending points
# --------------------------------------------------------------------------------------------


def test_refund_while_points_are_pending_reduces_pending(program, member, location):
    program.pending_days = 14
    program.save()
    purchase = buy(member, location, "40.00")
    assert state(member) == (0, 40, 0)

    purchase_refund(purchase=purchase, amount="10.00")

    assert state(member) == (0, 30, 0)
    entry = LedgerEntry.objects.get(member=member, kind=EntryKind.REFUND)
    assert (entry.points, entry.pending_points, entry.debt_points) == (0, -10, 0)
    assert_ledger_clean()

    points_release_pending(as_of=timezone.now() + timedelta(days=15))
    assert state(member) == (30, 0, 0)
    assert_ledger_clean()

    purchase_refund(purchase=purchase)
    assert state(member) == (0, 0, 0)
    assert_ledger_clean()


def test_full_refund_inside_the_return_window_leaves_nothing_to_release(program, member, location):
    program.pending_days = 14
    program.save()
    purchase = buy(member, location, "40.00")

    purchase_refund(purchase=purchase)

    assert state(member) == (0, 0, 0)
    assert points_release_pending(as_of=timezone.now() + timedelta(days=15)) == 0
    assert state(member) == (0, 0, 0)
    assert_ledger_clean()


# --------------------------------------------------------------------------------------------
# Points already spent: taken from other points, then owed
# --------------------------------------------------------------------------------------------


def test_refund_of_spent_points_takes_other_points_then_becomes_owed_never_negative(
    member, location
):
    # given 100 points from the purchase and 50 from a bonus, 120 of them spent
    purchase = buy(member, location, "100.00")
    points_credit(member=member, points=50, reason="Bonus")
    points_debit(member=member, points=120)
    assert state(member) == (30, 0, 0)
    assert PointsLot.objects.get(purchase=purchase).remaining == 0  # oldest lot spent first

    # when the purchase is refunded in full
    refund = purchase_refund(purchase=purchase)

    # then the 30 left are taken and the 70 spent are owed
    assert refund.points_clawed_back == 100
    assert state(member) == (0, 0, 70)
    entry = LedgerEntry.objects.get(member=member, kind=EntryKind.REFUND)
    assert (entry.points, entry.debt_points, entry.balance_after) == (-30, 70, 0)
    assert Event.objects.get(type="purchase.refunded").payload["owed"] == 70
    assert_ledger_clean()


def test_refund_takes_the_purchase_lot_first_then_other_points(member, location):
    points_credit(member=member, points=50, reason="Bonus")
    purchase = buy(member, location, "100.00")
    points_debit(member=member, points=90)  # 50 from the bonus, 40 from the purchase
    assert PointsLot.objects.get(purchase=purchase).remaining == 60

    purchase_refund(purchase=purchase)

    assert state(member) == (0, 0, 40)
    assert_ledger_clean()


def test_owed_points_are_repaid_from_the_next_purchase(member, location):
    purchase = buy(member, location, "100.00")
    points_debit(member=member, points=100)
    purchase_refund(purchase=purchase)
    assert state(member) == (0, 0, 100)

    buy(member, location, "60.00")
    assert state(member) == (0, 0, 40)
    assert_ledger_clean()

    buy(member, location, "50.00")
    assert state(member) == (10, 0, 0)
    repaid = LedgerEntry.objects.filter(member=member, kind=EntryKind.DEBT_REPAY).order_by("pk")
    assert [(e.points, e.debt_points) for e in repaid] == [(-60, -60), (-40, -40)]
    assert_ledger_clean()

    # the 10 left are ordinary spendable points
    points_debit(member=member, points=10)
    assert state(member) == (0, 0, 0)
    assert_ledger_clean()


def test_owed_points_are_repaid_from_visits_and_bonuses(program, member, location):
    program.points_per_visit = 5
    program.save()
    purchase = buy(member, location, "20.00")
    points_debit(member=member, points=20)
    purchase_refund(purchase=purchase)
    assert state(member) == (0, 0, 20)

    visit_record(member=member, location=location, source="kiosk")
    assert state(member) == (0, 0, 15)
    points_credit(member=member, points=40, reason="Birthday")
    assert state(member) == (25, 0, 0)
    assert_ledger_clean()


def test_owed_points_are_repaid_from_released_pending_points(program, member, location):
    program.pending_days = 7
    program.save()
    earlier = buy(member, location, "100.00", occurred_at=timezone.now() - timedelta(days=8))
    assert state(member) == (100, 0, 0)
    points_debit(member=member, points=100)
    purchase_refund(purchase=earlier)
    assert state(member) == (0, 0, 100)

    # pending points do not repay anything yet
    buy(member, location, "30.00")
    buy(member, location, "90.00")
    assert state(member) == (0, 120, 100)
    assert_ledger_clean()

    released = points_release_pending(as_of=timezone.now() + timedelta(days=8))

    assert released == 120
    assert state(member) == (20, 0, 0)
    assert_ledger_clean()


def test_refund_of_a_pending_purchase_after_other_points_were_spent(program, member, location):
    # Pending points were never spendable, so a refund in the window never creates debt.
    program.pending_days = 7
    program.save()
    points_credit(member=member, points=10, reason="Bonus")
    purchase = buy(member, location, "50.00")
    points_debit(member=member, points=10)

    purchase_refund(purchase=purchase)

    assert state(member) == (0, 0, 0)
    assert_ledger_clean()


def test_refund_keeps_lifetime_points_in_step(member, location):
    purchase = buy(member, location, "50.00")
    assert fresh(member).lifetime_points == 50

    purchase_refund(purchase=purchase, amount="20.00")

    assert fresh(member).lifetime_points == 30


def test_refund_is_recorded_with_the_staff_member(member, location, manager_user):
    purchase = buy(member, location, "50.00")

    refund = purchase_refund(purchase=purchase, actor=manager_user, reason="Broken")

    assert Refund.objects.get().actor == manager_user
    assert refund.reason == "Broken"
    assert LedgerEntry.objects.get(kind=EntryKind.REFUND).actor == manager_user
