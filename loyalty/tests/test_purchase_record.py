"""Recording a purchase: once per receipt, points through the engine, bad input refused."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty import errors
from loyalty.models import EarnRule, EntryKind, Event, LedgerEntry, PointsLot
from loyalty.services import points_release_pending, purchase_record
from loyalty.tests.factories import EarnRuleFactory, LocationFactory
from loyalty.tests.support import assert_ledger_clean, fresh, snapshot
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def record(member, location, total="12.50", **kwargs):
    return purchase_record(member=member, location=location, total=total, **kwargs)


# --------------------------------------------------------------------------------------------
# The happy path
# --------------------------------------------------------------------------------------------


def test_purchase_awards_points_to_the_balance_and_says_why(member, location):
    result = record(member, location, total="12.99", external_id="R-1")

    assert result.created is True
    assert result.points == 12
    assert result.awards == ({"code": "base", "label": result.awards[0]["label"], "points": 12},)
    assert fresh(member).balance == 12
    assert member.balance == 12  # the caller's instance is kept in step
    purchase = result.purchase
    assert purchase.total == Decimal("12.99")
    assert purchase.points_awarded == 12
    assert purchase.external_id == "R-1"
    entry = LedgerEntry.objects.get(member=member, kind=EntryKind.EARN)
    assert entry.points == 12
    assert entry.purchase == purchase
    assert entry.balance_after == 12
    assert "R-1" in entry.reason
    assert_ledger_clean()


def test_purchase_writes_purchase_recorded_and_points_earned_events(member, location):
    before = Event.objects.count()

    result = record(member, location, total="20.00", external_id="R-EV")

    events = list(Event.objects.order_by("pk")[before:])
    assert [e.type for e in events] == ["purchase.recorded", "points.earned"]
    recorded, earned = events
    assert recorded.member_id == earned.member_id == member.pk
    assert recorded.payload["purchase"] == result.purchase.pk
    assert recorded.payload["external_id"] == "R-EV"
    assert recorded.payload["total"] == "20.00"
    assert recorded.payload["points"] == 20
    assert earned.payload["points"] == 20
    assert earned.payload["pending"] is False
    assert earned.payload["balance"] == 20


def test_purchase_that_earns_nothing_still_records_it_without_a_ledger_entry(member, location):
    result = record(member, location, total="0.99")

    assert result.created is True
    assert result.points == 0
    assert result.awards == ()
    assert not LedgerEntry.objects.filter(member=member, kind=EntryKind.EARN).exists()
    assert [e.type for e in Event.objects.filter(member=member).order_by("pk")][-1] == (
        "purchase.recorded"
    )
    assert_ledger_clean()


def test_purchase_lines_are_stored_and_feed_the_rules(member, location):
    EarnRuleFactory(kind=EarnRule.Kind.MULTIPLIER, category="pastry", multiplier=Decimal("2"))

    result = record(
        member,
        location,
        total="10.00",
        lines=[
            {"amount": "4.00", "category": "pastry", "sku": "BUN", "quantity": 2},
            {"amount": "6.00", "category": "tea"},
        ],
    )

    assert result.points == 14
    assert list(result.purchase.lines.order_by("pk").values_list("sku", "quantity", "amount")) == [
        ("BUN", 2, Decimal("4.00")),
        ("", 1, Decimal("6.00")),
    ]


def test_first_purchase_bonus_is_given_once(program, member, location):
    program.first_purchase_bonus = 50
    program.save()

    first = record(member, location, total="10.00")
    second = record(member, location, total="10.00")

    assert first.points == 60
    assert second.points == 10
    assert fresh(member).balance == 70


# --------------------------------------------------------------------------------------------
# Once per receipt
# --------------------------------------------------------------------------------------------


def test_same_receipt_again_returns_the_first_result_and_writes_nothing(member, location):
    first = record(member, location, total="30.00", external_id="R-100")
    before = snapshot()

    again = record(member, location, total="30.00", external_id="R-100")

    assert again.created is False
    assert again.purchase.pk == first.purchase.pk
    assert again.awards == first.awards
    assert again.points == first.points == 30
    assert snapshot() == before
    assert fresh(member).balance == 30
    assert_ledger_clean()


def test_retry_returns_the_first_awards_even_after_the_rules_changed(program, member, location):
    first = record(member, location, total="30.00", external_id="R-101")
    program.earn_rate = Decimal("5")
    program.save()

    again = record(member, location, total="30.00", external_id=" R-101 ")

    assert again.created is False
    assert again.points == first.points == 30
    assert fresh(member).balance == 30


def test_same_receipt_at_another_location_is_another_purchase(member, location):
    other = LocationFactory(code="airport")

    a = record(member, location, total="10.00", external_id="R-7")
    b = record(member, other, total="10.00", external_id="R-7")

    assert a.created and b.created
    assert a.purchase.pk != b.purchase.pk
    assert fresh(member).balance == 20


def test_purchases_without_a_receipt_number_are_each_recorded(member, location):
    a = record(member, location, total="10.00")
    b = record(member, location, total="10.00", external_id="")

    assert a.purchase.pk != b.purchase.pk
    assert a.purchase.external_id is None
    assert b.purchase.external_id is None
    assert fresh(member).balance == 20


@pytest.mark.parametrize("change", ["member", "total"])
def test_same_receipt_with_another_member_or_total_is_a_conflict(member, location, change):
    record(member, location, total="10.00", external_id="R-9")
    other_member = MemberFactory()
    before = snapshot()

    with pytest.raises(errors.PurchaseConflict) as exc:
        if change == "member":
            record(other_member, location, total="10.00", external_id="R-9")
        else:
            record(member, location, total="10.01", external_id="R-9")

    assert exc.value.code == "purchase_conflict"
    assert "R-9" in exc.value.detail
    assert snapshot() == before


# --------------------------------------------------------------------------------------------
# Bad input: a clear error with a stable code, and nothing written
# --------------------------------------------------------------------------------------------


@pytest.fixture
def funded(member, location):
    """A member with some history, so that "nothing written" is checked against real rows."""
    record(member, location, total="25.00", external_id="R-0")
    return fresh(member)


def assert_refused(code, call):
    before = snapshot()
    with pytest.raises(errors.LoyaltyError) as exc:
        call()
    assert exc.value.code == code, exc.value
    assert str(exc.value.detail)
    assert snapshot() == before
    assert_ledger_clean()
    return exc.value


@pytest.mark.parametrize(
    "total",
    [
        "-1.00",
        -5,
        "0",
        "0.00",
        0,
        "-0",
        "abc",
        "",
        "   ",
        None,
        True,
        False,
        "NaN",
        "nan",
        "sNaN",
        "Infinity",
        "-Infinity",
        float("nan"),
        float("inf"),
        "12.345",
        "0.001",
        Decimal("1.005"),
        "10000.01",
        "99999999999",
        "1e100",
        "1e-100",
        10**30,
        "1,000.00",
        "12.50 EUR",
        [],
        {"amount": 1},
    ],
)
def test_bad_total_is_refused_and_writes_nothing(funded, location, total):
    assert_refused("invalid_amount", lambda: record(funded, location, total=total))
    assert fresh(funded).balance == 25


def test_total_at_the_programme_maximum_is_accepted_and_one_cent_more_is_not(
    program, member, location
):
    program.max_purchase_amount = Decimal("500.00")
    program.save()

    assert record(member, location, total="500.00").points == 500
    assert_refused("invalid_amount", lambda: record(member, location, total="500.01"))


def test_decimal_comma_and_surrounding_spaces_are_read(member, location):
    assert record(member, location, total=" 12,50 ").purchase.total == Decimal("12.50")


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        ([{"amount": "5.00"}, {"amount": "5.00"}], "invalid"),  # 10.00, not 12.50
        ([{"amount": "12.51"}], "invalid"),
        ([{"amount": "12.50", "quantity": 0}], "invalid"),
        ([{"amount": "12.50", "quantity": -1}], "invalid"),
        ([{"amount": "12.50", "quantity": 1.5}], "invalid"),
        ([{"amount": "12.50", "quantity": "two"}], "invalid"),
        ([{"amount": "12.50", "quantity": None}], "invalid"),
        ([{"amount": "12.50", "quantity": True}], "invalid"),
        ([{"amount": "12.50", "quantity": 100_001}], "invalid"),
        ([{"amount": "12.50", "quantity": float("inf")}], "invalid"),
        ([{"amount": "12.50", "quantity": float("nan")}], "invalid"),
        ([{"amount": "-1.00"}, {"amount": "13.50"}], "invalid_amount"),
        ([{"amount": "abc"}], "invalid_amount"),
        ([{"amount": None}], "invalid_amount"),
        ([{"amount": "12.499"}, {"amount": "0.001"}], "invalid_amount"),
        ([{"amount": "1e100"}], "invalid_amount"),
        ([{"amount": "12.50", "sku": "x" * 65}], "invalid"),
        (["not a line"], "invalid"),
        ([{"amount": "0.01"}] * 501, "invalid"),
    ],
)
def test_bad_lines_are_refused_and_write_nothing(funded, location, lines, code):
    assert_refused(code, lambda: record(funded, location, total="12.50", lines=lines))


def test_receipt_number_longer_than_64_characters_is_refused(funded, location):
    assert_refused("invalid", lambda: record(funded, location, external_id="R" * 65))
    assert record(funded, location, external_id="R" * 64).created


@pytest.mark.parametrize(
    "occurred_at",
    [
        pytest.param(lambda: timezone.now() + timedelta(hours=1), id="future"),
        pytest.param(lambda: timezone.now() + timedelta(days=400), id="far-future"),
        pytest.param(lambda: datetime(2025, 1, 1, 12, 0), id="naive"),
    ],
)
def test_future_or_naive_purchase_time_is_refused(funded, location, occurred_at):
    assert_refused("invalid", lambda: record(funded, location, occurred_at=occurred_at()))


def test_purchase_time_a_little_ahead_of_the_server_clock_is_accepted(member, location):
    # Tills drift; a few minutes ahead is not "the future".
    result = record(member, location, occurred_at=timezone.now() + timedelta(minutes=2))

    assert result.created


def test_inactive_member_cannot_earn(funded, location):
    funded.is_active = False
    funded.save(update_fields=["is_active"])

    assert_refused("member_inactive", lambda: record(funded, location, external_id="R-X"))


def test_inactive_location_cannot_record(funded, location):
    location.is_active = False
    location.save(update_fields=["is_active"])

    assert_refused("location_inactive", lambda: record(funded, location, external_id="R-X"))


def test_refused_purchase_leaves_the_receipt_number_free(funded, location):
    location.is_active = False
    location.save(update_fields=["is_active"])
    with pytest.raises(errors.LocationInactive):
        record(funded, location, external_id="R-Y")
    location.is_active = True
    location.save(update_fields=["is_active"])

    assert record(funded, location, external_id="R-Y").created


# --------------------------------------------------------------------------------------------
# Pending points
# --------------------------------------------------------------------------------------------


def test_pending_points_are_not_spendable_until_released(program, member, location):
    program.pending_days = 14
    program.save()
    now = timezone.now()

    result = record(member, location, total="40.00", external_id="R-P")

    member = fresh(member)
    assert (member.balance, member.pending) == (0, 40)
    lot = PointsLot.objects.get(purchase=result.purchase)
    assert lot.is_available is False
    assert lot.available_at >= now + timedelta(days=14)
    earned = Event.objects.filter(type="points.earned", member=member).latest("pk")
    assert earned.payload["pending"] is True
    assert_ledger_clean()

    # when the window has not closed yet, nothing is released
    assert points_release_pending(as_of=now + timedelta(days=13)) == 0
    assert (fresh(member).balance, fresh(member).pending) == (0, 40)

    # when it has, the points become spendable, once
    assert points_release_pending(as_of=lot.available_at) == 40
    member = fresh(member)
    assert (member.balance, member.pending) == (40, 0)
    release = LedgerEntry.objects.get(member=member, kind=EntryKind.RELEASE)
    assert (release.points, release.pending_points, release.balance_after) == (40, -40, 40)
    assert Event.objects.filter(type="points.released", member=member).count() == 1
    assert points_release_pending(as_of=lot.available_at + timedelta(days=1)) == 0
    assert fresh(member).balance == 40
    assert_ledger_clean()


def test_purchase_recorded_after_its_return_window_is_spendable_at_once(program, member, location):
    program.pending_days = 7
    program.save()

    record(member, location, total="10.00", occurred_at=timezone.now() - timedelta(days=8))

    assert (fresh(member).balance, fresh(member).pending) == (10, 0)
    assert_ledger_clean()


def test_without_pending_days_points_are_spendable_at_once_even_if_the_till_is_ahead(
    program, member, location
):
    program.pending_days = 0
    program.save()

    record(member, location, total="10.00", occurred_at=timezone.now() + timedelta(minutes=2))

    assert (fresh(member).balance, fresh(member).pending) == (10, 0)
    assert_ledger_clean()
