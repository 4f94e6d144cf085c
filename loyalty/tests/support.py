"""Helpers shared by the ledger tests: a snapshot of everything a service could write."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.management import call_command

from loyalty.models import Event, LedgerEntry, LotAllocation, PointsLot, Purchase, Refund
from loyalty.selectors import ledger_drift
from members.models import Member


@dataclass(frozen=True)
class Snapshot:
    purchases: int
    refunds: int
    entries: int
    lots: int
    lot_remaining: tuple[tuple[int, int, bool], ...]
    allocations: int
    events: int
    members: tuple[tuple[int, int, int, int], ...]


def snapshot() -> Snapshot:
    """Return counts of every ledger table plus each member's cached balances."""
    return Snapshot(
        purchases=Purchase.objects.count(),
        refunds=Refund.objects.count(),
        entries=LedgerEntry.objects.count(),
        lots=PointsLot.objects.count(),
        lot_remaining=tuple(
            PointsLot.objects.order_by("pk").values_list("pk", "remaining", "is_available")
        ),
        allocations=LotAllocation.objects.count(),
        events=Event.objects.count(),
        members=tuple(
            Member.objects.order_by("pk").values_list("pk", "balance", "pending", "points_debt")
        ),
    )


def assert_ledger_clean() -> None:
    """Fail with the drift found when the ledger invariants do not hold."""
    drift = ledger_drift()
    assert drift == [], drift
    call_command("check_ledger", verbosity=0)


def fresh(member: Member) -> Member:
    """Return the member as stored now."""
    return Member.objects.get(pk=member.pk)
