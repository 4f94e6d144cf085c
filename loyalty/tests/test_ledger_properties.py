"""Random sequences of ledger operations keep the invariants and match a simple model.

A hypothesis state machine earns (some points pending), spends, refunds (full or partial),
expires, releases and adjusts one member's points. After every step the ledger must be
sound (``ledger_drift()`` empty, nothing negative) and the member's balance, pending and
owed points must equal those of an independent model of lots kept in plain Python.

Each example runs inside a savepoint that is rolled back, so examples do not see each
other's rows; that works the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from loyalty import errors
from loyalty.models import PointsLot, Program, Validity
from loyalty.selectors import ledger_drift
from loyalty.services import (
    points_adjust,
    points_debit,
    points_expire_due,
    points_release_pending,
    purchase_record,
    purchase_refund,
)
from loyalty.tests.factories import LocationFactory, manager
from members.models import Member
from members.tests.factories import MemberFactory

RATE = Decimal("1.5")
PENDING_DAYS = 7
VALIDITY_MONTHS = 3


@dataclass
class Lot:
    pk: int
    remaining: int
    available: bool
    available_at: datetime
    expires_at: datetime | None
    expired: int = 0


@dataclass
class Bought:
    pk: int
    total_cents: int
    points: int
    lot: Lot | None
    refunded_cents: int = 0
    clawed: int = 0
    forgiven: int = 0


def draw_order(lot: Lot):
    # earliest expiry first, lots that never expire last, then oldest first
    return (lot.expires_at is None, lot.expires_at or lot.available_at, lot.available_at, lot.pk)


class LedgerMachine(RuleBasedStateMachine):
    purchases = Bundle("purchases")

    def __init__(self):
        super().__init__()
        self._savepoint = transaction.atomic()
        self._savepoint.__enter__()
        program, _ = Program.objects.get_or_create(pk=1)
        program.earn_rate = RATE
        program.rounding = "down"
        program.validity = Validity.ROLLING
        program.validity_months = VALIDITY_MONTHS
        program.welcome_bonus = 0
        program.first_purchase_bonus = 0
        program.pending_days = 0
        program.save()
        self.program = program
        self.member = MemberFactory()
        self.location = LocationFactory(code="prop-shop")
        self.staff = manager()
        self.now = timezone.now()
        # the model
        self.lots: list[Lot] = []
        self.balance = 0
        self.pending = 0
        self.debt = 0
        self.receipt = 0

    def teardown(self):
        transaction.set_rollback(True)
        self._savepoint.__exit__(None, None, None)

    # ---- the model ------------------------------------------------------------------------

    def _spendable(self) -> list[Lot]:
        return sorted((x for x in self.lots if x.available and x.remaining > 0), key=draw_order)

    def _draw(self, points: int) -> None:
        for lot in self._spendable():
            take = min(lot.remaining, points)
            lot.remaining -= take
            points -= take
            if not points:
                break
        assert points == 0, "model: drew more than the spendable lots hold"

    def _repay_from(self, lot: Lot) -> None:
        pay = min(self.debt, lot.remaining)
        if pay:
            event("owed points repaid")
        lot.remaining -= pay
        self.balance -= pay
        self.debt -= pay

    def _add_lot(self, lot_row: PointsLot) -> Lot:
        lot = Lot(
            pk=lot_row.pk,
            remaining=lot_row.amount,
            available=lot_row.is_available,
            available_at=lot_row.available_at,
            expires_at=lot_row.expires_at,
        )
        self.lots.append(lot)
        if lot.available:
            self.balance += lot.remaining
            self._repay_from(lot)
        else:
            self.pending += lot.remaining
        return lot

    # ---- rules ----------------------------------------------------------------------------

    @initialize()
    def start_with_nothing(self):
        assert (self.member.balance, self.member.pending, self.member.points_debt) == (0, 0, 0)

    @rule(target=purchases, cents=st.integers(1, 20_000), pending=st.booleans())
    def earn(self, cents, pending):
        days = PENDING_DAYS if pending else 0
        if self.program.pending_days != days:
            self.program.pending_days = days
            self.program.save(update_fields=["pending_days"])
        self.receipt += 1
        total = Decimal(cents) / 100

        result = purchase_record(
            member=self.member,
            location=self.location,
            total=total,
            external_id=f"P{self.receipt}",
        )

        expected = int(total * RATE)  # rounding down
        assert result.created
        assert result.points == expected
        lot = None
        if expected:
            row = PointsLot.objects.get(purchase=result.purchase)
            assert row.is_available is not pending
            lot = self._add_lot(row)
        return Bought(result.purchase.pk, cents, expected, lot)

    @rule(bought=purchases)
    def earn_again_with_the_same_receipt(self, bought):
        purchase = bought_purchase(bought)
        result = purchase_record(
            member=self.member,
            location=self.location,
            total=purchase.total,
            external_id=purchase.external_id,
        )
        assert result.created is False
        assert result.points == bought.points

    @rule(points=st.integers(1, 400))
    def debit(self, points):
        self._debit(points)

    @rule(percent=st.one_of(st.just(100), st.integers(1, 110)))
    def debit_a_share_of_the_balance(self, percent):
        # Spending most or all of the balance is what makes later refunds create debt.
        self._debit(max(1, -(-self.balance * percent // 100)))

    def _debit(self, points):
        if points > self.balance:
            with pytest.raises(errors.InsufficientPoints):
                points_debit(member=self.member, points=points)
            return
        points_debit(member=self.member, points=points)
        self._draw(points)
        self.balance -= points

    @rule(points=st.integers(1, 300), up=st.booleans())
    def adjust(self, points, up):
        signed = points if up else -points
        if not up and points > self.balance:
            with pytest.raises(errors.InsufficientPoints):
                points_adjust(member=self.member, points=signed, reason="test", actor=self.staff)
            return
        entry = points_adjust(member=self.member, points=signed, reason="test", actor=self.staff)
        if up:
            self._add_lot(entry.lot)
        else:
            self._draw(points)
            self.balance -= points

    @rule(bought=purchases, full=st.booleans(), percent=st.integers(1, 120))
    def refund(self, bought, full, percent):
        refundable = bought.total_cents - bought.refunded_cents
        purchase = bought_purchase(bought)
        # a share of what is left to refund; above 100 % is too much
        cents = max(1, max(refundable, 1) * percent // 100)
        if refundable == 0:
            with pytest.raises(errors.AlreadyRefunded):
                purchase_refund(purchase=purchase, amount=None if full else Decimal(cents) / 100)
            return
        value = refundable if full else cents
        if value > refundable:
            with pytest.raises(errors.RefundTooLarge):
                purchase_refund(purchase=purchase, amount=Decimal(cents) / 100)
            return

        refund = purchase_refund(purchase=purchase, amount=None if full else Decimal(cents) / 100)

        refunded = bought.refunded_cents + value
        target = (
            bought.points
            if refunded == bought.total_cents
            else bought.points * refunded // bought.total_cents
        )
        claw = target - bought.clawed
        assert refund.points_clawed_back == claw
        bought.refunded_cents = refunded
        bought.clawed = target
        left = claw
        own = bought.lot
        if own is not None and own.remaining and left:
            take = min(own.remaining, left)
            own.remaining -= take
            left -= take
            if own.available:
                self.balance -= take
            else:
                self.pending -= take
        # Points of this purchase that already expired are forgiven, not taken twice.
        if own is not None and left:
            forgive = min(left, own.expired - bought.forgiven)
            left -= forgive
            bought.forgiven += forgive
            assert refund.points_forgiven == forgive
            if forgive:
                event("refund of expired points forgiven")
        from_others = min(left, self.balance)
        self._draw(from_others)
        self.balance -= from_others
        self.debt += left - from_others
        if left - from_others:
            event("refund of spent points became owed")

    @rule(days=st.integers(0, 200))
    def expire(self, days):
        as_of = self.now + timedelta(days=days)

        expired = points_expire_due(as_of=as_of)

        expected = 0
        for lot in self.lots:
            if lot.expires_at is not None and lot.expires_at <= as_of and lot.remaining:
                expected += lot.remaining
                lot.expired += lot.remaining
                if lot.available:
                    self.balance -= lot.remaining
                else:
                    self.pending -= lot.remaining
                lot.remaining = 0
        assert expired == expected
        if expected:
            event("points expired")

    @rule(days=st.integers(0, 10))
    def release(self, days):
        as_of = self.now + timedelta(days=days)

        released = points_release_pending(as_of=as_of)

        due = sorted(
            (x for x in self.lots if not x.available and x.remaining and x.available_at <= as_of),
            key=lambda x: x.pk,
        )
        assert released == sum(x.remaining for x in due)
        for lot in due:
            lot.available = True
            self.pending -= lot.remaining
            self.balance += lot.remaining
        for lot in due:
            self._repay_from(lot)

    # ---- invariants -----------------------------------------------------------------------

    @invariant()
    def ledger_is_sound_and_matches_the_model(self):
        assert ledger_drift() == []
        stored = Member.objects.get(pk=self.member.pk)
        assert stored.balance >= 0
        assert stored.pending >= 0
        assert stored.points_debt >= 0
        assert (stored.balance, stored.pending, stored.points_debt) == (
            self.balance,
            self.pending,
            self.debt,
        )
        # owed points exist only once every spendable point is gone
        assert stored.points_debt == 0 or stored.balance == 0


def bought_purchase(bought: Bought):
    from loyalty.models import Purchase

    return Purchase.objects.get(pk=bought.pk)


@pytest.mark.django_db
def test_random_ledger_operations_keep_the_invariants_and_match_the_model():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
