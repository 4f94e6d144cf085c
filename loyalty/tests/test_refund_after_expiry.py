from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty import errors
from loyalty.models import Refund, Validity
from loyalty.selectors import ledger_drift
from loyalty.services import points_credit, points_expire_due, purchase_record, purchase_refund


@pytest.fixture
def expiring_program(program):
    program.validity = Validity.ROLLING
    program.validity_months = 1
    program.save()
    return program


def test_refund_after_the_purchase_points_expired_does_not_take_them_twice(
    expiring_program, member, location
):
    # given a purchase whose 50 points expired, and 30 other points the member still has
    result = purchase_record(member=member, location=location, total="50", external_id="R1")
    points_expire_due(as_of=timezone.now() + timedelta(days=40))
    points_credit(member=member, points=30, reason="goodwill", expires_at=None)
    member.refresh_from_db()
    assert member.balance == 30

    # when the purchase is refunded in full
    refund = purchase_refund(purchase=result.purchase)

    # then nothing more is taken: the expired points are forgiven, not owed
    member.refresh_from_db()
    assert (member.balance, member.points_debt) == (30, 0)
    assert Refund.objects.get(pk=refund.pk).points_forgiven == 50
    assert ledger_drift() == []


def test_partial_refunds_after_expiry_forgive_at_most_what_expired(
    expiring_program, member, location
):
    result = purchase_record(member=member, location=location, total="100", external_id="R2")
    points_expire_due(as_of=timezone.now() + timedelta(days=40))
    points_credit(member=member, points=200, reason="goodwill", expires_at=None)

    first = purchase_refund(purchase=result.purchase, amount="60")
    second = purchase_refund(purchase=result.purchase)

    member.refresh_from_db()
    assert first.points_forgiven + second.points_forgiven == 100
    assert member.balance == 200
    assert ledger_drift() == []


@pytest.mark.parametrize("lines", ["abc", {"amount": "5"}, 5])
def test_lines_that_are_not_a_list_are_refused(program, member, location, lines):
    with pytest.raises(errors.InvalidInput):
        purchase_record(member=member, location=location, total="5", lines=lines)


def test_lines_none_means_no_lines(program, member, location):
    assert purchase_record(member=member, location=location, total="5", lines=None).points == 5


def test_a_time_that_is_not_a_datetime_is_refused(program, member, location):
    with pytest.raises(errors.InvalidInput) as exc:
        purchase_record(member=member, location=location, total="5", occurred_at="2026-01-01")
    assert exc.value.field == "occurred_at"
