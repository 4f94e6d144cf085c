"""Fixtures of the rewards service tests: partners, their shops, staff and refusal checks."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.core.management import call_command

from loyalty import errors
from loyalty.models import Event, LedgerEntry, LotAllocation, PointsLot
from loyalty.selectors import ledger_drift
from loyalty.tests.factories import LocationFactory, manager
from members.models import Member
from rewards.models import DigitalCode, PointsPayment, Reward, Voucher, VoucherUse
from rewards.tests.factories import PartnerFactory


def ledger_is_clean() -> None:
    """Fail with the drift found when the ledger invariants do not hold."""
    drift = ledger_drift()
    assert drift == [], drift
    call_command("check_ledger", verbosity=0)


@pytest.fixture
def ledger_stays_clean(db):
    """Check the ledger invariants after the test (and let the test check them too)."""
    yield ledger_is_clean
    ledger_is_clean()


@dataclass(frozen=True)
class State:
    """Everything a rewards service could write, to show that a refusal wrote nothing."""

    vouchers: tuple
    uses: int
    payments: int
    stock: tuple
    digital_codes: tuple
    entries: int
    lots: tuple
    allocations: int
    events: int
    balances: tuple


def state() -> State:
    return State(
        vouchers=tuple(
            Voucher.objects.order_by("pk").values_list("pk", "status", "remaining_value")
        ),
        uses=VoucherUse.objects.count(),
        payments=PointsPayment.objects.count(),
        stock=tuple(Reward.objects.order_by("pk").values_list("pk", "stock")),
        digital_codes=tuple(DigitalCode.objects.order_by("pk").values_list("pk", "voucher_id")),
        entries=LedgerEntry.objects.count(),
        lots=tuple(PointsLot.objects.order_by("pk").values_list("pk", "remaining")),
        allocations=LotAllocation.objects.count(),
        events=Event.objects.count(),
        balances=tuple(Member.objects.order_by("pk").values_list("pk", "balance", "pending")),
    )


@pytest.fixture
def written(db):
    """Return ``written()``: a snapshot of every table a rewards service could write."""
    return state


@pytest.fixture
def refused(ledger_stays_clean):
    """Return ``refused(ErrorClass, call)``: the call raises that error and writes nothing."""

    def check(error: type[errors.LoyaltyError], call):
        before = state()
        with pytest.raises(error) as exc:
            call()
        assert type(exc.value) is error, exc.value
        assert state() == before
        ledger_is_clean()
        return exc.value

    return check


@pytest.fixture
def staff_user(location):
    return manager(locations=[location])


@pytest.fixture
def partner_a(db):
    return PartnerFactory(name="Bakery Partner")


@pytest.fixture
def partner_b(db):
    return PartnerFactory(name="Cinema Partner")


@pytest.fixture
def shop_a(partner_a):
    """A shop of partner A: points earned here are funded by partner A."""
    return LocationFactory(name="Bakery shop", code="bakery", partner=partner_a)


@pytest.fixture
def shop_b(partner_b):
    return LocationFactory(name="Cinema lobby", code="cinema", partner=partner_b)


@pytest.fixture
def other_location(db):
    return LocationFactory(name="Harbour", code="harbour")
