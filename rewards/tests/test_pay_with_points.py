"""Pay with points at the till: points_pay_quote (no writes) and points_pay (through the ledger)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty import errors
from loyalty.models import EntryKind, LedgerEntry
from loyalty.tests.support import fresh
from members.models import Member
from members.tests.factories import MemberFactory
from rewards.models import PointsPayment
from rewards.services import points_pay, points_pay_quote
from rewards.tests.factories import give_points

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_stays_clean")]


@pytest.fixture
def cent_per_point(program):
    program.point_value = Decimal("0.01")
    program.save()
    return program


# --------------------------------------------------------------------------------------------
# Quote
# --------------------------------------------------------------------------------------------


def test_quote_is_limited_by_the_amount(cent_per_point, member, refused):
    give_points(member, 500)

    quote = points_pay_quote(member=member, amount="3.00")

    assert (quote.points, quote.discount, quote.max_points, quote.point_value) == (
        300,
        Decimal("3.00"),
        300,
        Decimal("0.01"),
    )


def test_quote_is_limited_by_the_balance(cent_per_point, member):
    give_points(member, 500)

    quote = points_pay_quote(member=member, amount="10.00")

    assert (quote.points, quote.discount, quote.max_points) == (500, Decimal("5.00"), 500)


def test_quote_for_a_chosen_number_of_points(cent_per_point, member):
    give_points(member, 500)

    quote = points_pay_quote(member=member, amount="10.00", points="250")

    assert (quote.points, quote.discount, quote.max_points) == (250, Decimal("2.50"), 500)


def test_quote_writes_nothing(cent_per_point, member, written):
    give_points(member, 500)
    before = written()

    points_pay_quote(member=member, amount="10.00", points=100)

    assert written() == before


def test_discount_is_floored_to_whole_cents(program, member):
    program.point_value = Decimal("0.015")
    program.save()
    give_points(member, 1000)

    assert points_pay_quote(member=member, amount="10.00", points=3).discount == Decimal("0.04")
    best = points_pay_quote(member=member, amount="1.00")
    # 66 points x 0.015 = 0.99; 67 points would be worth more than the purchase.
    assert (best.points, best.discount) == (66, Decimal("0.99"))


def test_quote_never_gives_more_discount_than_the_amount(program, member):
    program.point_value = Decimal("0.03")
    program.save()
    give_points(member, 1000)

    quote = points_pay_quote(member=member, amount="1.00")

    assert quote.discount <= Decimal("1.00")
    assert (quote.points, quote.discount) == (33, Decimal("0.99"))


def test_quote_for_more_points_than_the_balance_is_refused(cent_per_point, member):
    give_points(member, 100)

    with pytest.raises(errors.InsufficientPoints) as exc:
        points_pay_quote(member=member, amount="10.00", points=101)
    assert exc.value.params == {"available": 100, "requested": 101}


def test_quote_for_more_points_than_the_amount_is_worth_is_refused(cent_per_point, member):
    give_points(member, 1000)

    with pytest.raises(errors.InvalidPoints):
        points_pay_quote(member=member, amount="1.00", points=101)


@pytest.mark.parametrize("points", [0, -5, "1.5", "abc", True])
def test_quote_with_bad_points_is_refused(points, cent_per_point, member):
    give_points(member, 100)

    with pytest.raises(errors.InvalidPoints):
        points_pay_quote(member=member, amount="10.00", points=points)


@pytest.mark.parametrize("amount", ["-1", "0", "abc", "1.001", None, "99999999"])
def test_quote_with_a_bad_amount_is_refused(amount, cent_per_point, member):
    give_points(member, 100)

    with pytest.raises(errors.InvalidAmount):
        points_pay_quote(member=member, amount=amount)


def test_pay_with_points_is_off_when_a_point_is_worth_nothing(program, member, location, refused):
    assert program.point_value == 0
    give_points(member, 100)

    with pytest.raises(errors.PayWithPointsDisabled):
        points_pay_quote(member=member, amount="10.00")
    refused(
        errors.PayWithPointsDisabled,
        lambda: points_pay(member=member, location=location, amount="10.00", points=100),
    )


# --------------------------------------------------------------------------------------------
# Pay
# --------------------------------------------------------------------------------------------


def test_pay_debits_the_points_through_the_ledger(cent_per_point, member, location, staff_user):
    give_points(member, 500)

    payment = points_pay(
        member=member,
        location=location,
        amount="12.00",
        points=200,
        external_id="R-1",
        actor=staff_user,
    )

    assert (payment.points, payment.amount, payment.location, payment.actor) == (
        200,
        Decimal("2.00"),
        location,
        staff_user,
    )
    entry = payment.ledger_entry
    assert (entry.kind, entry.points, entry.balance_after, entry.source_type) == (
        EntryKind.SPEND,
        -200,
        300,
        LedgerEntry.SourceType.PURCHASE,
    )
    assert member.balance == fresh(member).balance == 300


def test_pay_without_points_uses_the_best_quote(cent_per_point, member, location):
    give_points(member, 500)

    payment = points_pay(member=member, location=location, amount="3.50", points=None)

    assert (payment.points, payment.amount) == (350, Decimal("3.50"))
    assert fresh(member).balance == 150


def test_pay_is_idempotent_on_the_receipt(cent_per_point, member, location):
    give_points(member, 500)

    first = points_pay(member=member, location=location, amount="5", points=100, external_id="R-9")
    again = points_pay(
        member=member, location=location, amount="5", points=100, external_id=" R-9 "
    )

    assert again.pk == first.pk
    assert fresh(member).balance == 400
    assert PointsPayment.objects.count() == 1
    assert LedgerEntry.objects.filter(kind=EntryKind.SPEND).count() == 1


def test_same_receipt_number_at_another_location_is_another_payment(
    cent_per_point, member, location, other_location
):
    give_points(member, 500)

    points_pay(member=member, location=location, amount="5", points=100, external_id="R-1")
    points_pay(member=member, location=other_location, amount="5", points=100, external_id="R-1")

    assert fresh(member).balance == 300


def test_receipt_paid_by_another_member_is_a_conflict(cent_per_point, member, location, refused):
    other = MemberFactory()
    give_points(member, 500)
    give_points(other, 500)
    points_pay(member=member, location=location, amount="5", points=100, external_id="R-1")

    refused(
        errors.PurchaseConflict,
        lambda: points_pay(
            member=other, location=location, amount="5", points=100, external_id="R-1"
        ),
    )


def test_pay_with_more_points_than_the_balance_is_refused(
    cent_per_point, member, location, refused
):
    give_points(member, 100)

    refused(
        errors.InsufficientPoints,
        lambda: points_pay(member=member, location=location, amount="10.00", points=101),
    )


def test_pay_with_no_points_at_all_is_refused(cent_per_point, member, location, refused):
    refused(
        errors.InsufficientPoints,
        lambda: points_pay(member=member, location=location, amount="10.00", points=None),
    )


def test_pay_with_a_bad_amount_or_points_is_refused(cent_per_point, member, location, refused):
    give_points(member, 100)

    refused(
        errors.InvalidAmount,
        lambda: points_pay(member=member, location=location, amount="-1", points=10),
    )
    refused(
        errors.InvalidPoints,
        lambda: points_pay(member=member, location=location, amount="1", points=-10),
    )
    refused(
        errors.InvalidPoints,
        lambda: points_pay(member=member, location=location, amount="0.50", points=51),
    )
    refused(
        errors.InvalidInput,
        lambda: points_pay(
            member=member, location=location, amount="1", points=10, external_id="x" * 65
        ),
    )


def test_inactive_member_cannot_pay_with_points(cent_per_point, member, location, refused):
    give_points(member, 100)
    Member.objects.filter(pk=member.pk).update(is_active=False)

    refused(
        errors.MemberInactive,
        lambda: points_pay(member=member, location=location, amount="5", points=50),
    )
