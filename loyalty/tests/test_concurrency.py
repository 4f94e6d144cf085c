"""Real threads on real PostgreSQL connections against one member: the row lock holds.

Each thread uses its own database connection (Django gives one per thread) and closes it
when done; a barrier starts them together so that they really race.
"""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

from loyalty.models import EntryKind, LedgerEntry, Purchase
from loyalty.services import points_credit, points_debit, purchase_record, purchase_refund
from loyalty.tests.support import assert_ledger_clean, fresh
from members.tests.factories import MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(n: int, work) -> list[tuple[str, object]]:
    """Run ``work(i)`` in ``n`` threads started at once; return ("ok", value) or ("err", exc)."""
    barrier = threading.Barrier(n)
    results: list[tuple[str, object]] = [("missing", None)] * n

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = ("ok", work(i))
        except Exception as exc:  # collected and asserted on by the test
            results[i] = ("err", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    return results


def outcomes(results) -> Counter:
    return Counter(
        "ok" if kind == "ok" else getattr(value, "code", type(value).__name__)
        for kind, value in results
    )


def test_fifty_cashiers_spending_at_once_never_overdraw(program, location):
    member = MemberFactory()
    points_credit(member=member, points=1000, reason="Start")

    results = run_together(50, lambda i: points_debit(member=member, points=30))

    # exactly the affordable number succeed, the rest get a clear error
    assert outcomes(results) == {"ok": 1000 // 30, "insufficient_points": 50 - 1000 // 30}
    m = fresh(member)
    assert m.balance == 1000 - 30 * (1000 // 30) == 10
    assert m.balance >= 0
    assert LedgerEntry.objects.filter(member=member, kind=EntryKind.REDEEM).count() == 33
    assert_ledger_clean()


def test_ten_submissions_of_one_receipt_award_once(program, location):
    member = MemberFactory()

    results = run_together(
        10,
        lambda i: purchase_record(
            member=member, location=location, total="42.00", external_id="TILL-1-0001"
        ),
    )

    assert outcomes(results) == {"ok": 10}
    recorded = [value for _kind, value in results]
    assert len({r.purchase.pk for r in recorded}) == 1
    assert sum(r.created for r in recorded) == 1
    assert {r.points for r in recorded} == {42}
    assert Purchase.objects.filter(external_id="TILL-1-0001").count() == 1
    assert fresh(member).balance == 42
    assert LedgerEntry.objects.filter(member=member, kind=EntryKind.EARN).count() == 1
    assert_ledger_clean()


def test_one_receipt_for_different_members_at_once_is_recorded_once(program, location):
    members = [MemberFactory() for _ in range(5)]

    results = run_together(
        5,
        lambda i: purchase_record(
            member=members[i], location=location, total="10.00", external_id="TILL-1-0002"
        ),
    )

    assert outcomes(results) == {"ok": 1, "purchase_conflict": 4}
    assert Purchase.objects.filter(external_id="TILL-1-0002").count() == 1
    assert sorted(fresh(m).balance for m in members) == [0, 0, 0, 0, 10]
    assert_ledger_clean()


def test_refunds_and_spending_at_once_keep_the_ledger_sound(program, location):
    member = MemberFactory()
    purchase = purchase_record(
        member=member, location=location, total="100.00", external_id="R-1"
    ).purchase
    points_credit(member=member, points=50, reason="Bonus")
    start = fresh(member).balance  # 150

    def work(i):
        if i % 4 == 0:
            return purchase_refund(purchase=Purchase.objects.get(pk=purchase.pk))
        return points_debit(member=member, points=10)

    results = run_together(20, work)

    refunds = [r for i, r in enumerate(results) if i % 4 == 0]
    debits = [r for i, r in enumerate(results) if i % 4 != 0]
    assert outcomes(refunds) == {"ok": 1, "already_refunded": 4}
    assert set(outcomes(debits)) <= {"ok", "insufficient_points"}
    spent = 10 * outcomes(debits)["ok"]
    m = fresh(member)
    assert m.balance >= 0
    assert m.points_debt >= 0
    # every point is accounted for: what was there, less spent, less taken back
    assert m.balance - m.points_debt == start - spent - 100
    purchase.refresh_from_db()
    assert purchase.refunded_amount == Decimal("100.00")
    assert purchase.points_clawed_back == 100
    assert_ledger_clean()


def test_partial_refunds_at_once_never_take_back_more_than_was_earned(program, location):
    member = MemberFactory()
    purchase = purchase_record(member=member, location=location, total="30.00").purchase

    results = run_together(
        8,
        lambda i: purchase_refund(purchase=Purchase.objects.get(pk=purchase.pk), amount="5.00"),
    )

    assert outcomes(results) == {"ok": 6, "already_refunded": 2}
    purchase.refresh_from_db()
    assert purchase.refunded_amount == Decimal("30.00")
    assert purchase.points_clawed_back == 30
    assert fresh(member).balance == 0
    assert_ledger_clean()
