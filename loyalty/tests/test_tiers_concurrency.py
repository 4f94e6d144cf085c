"""Tiers, VIP and punch cards under real concurrency (PostgreSQL, one connection per thread).

A barrier starts the threads together so that they really race; each thread closes its own
connection when done.
"""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from django.db import connection
from django.utils import timezone

from loyalty.models import PunchCard, PunchCardType, Stamp, Tier, TierChange, VipMetric
from loyalty.services import punch_card_stamp, purchase_record, tiers_reevaluate_all
from loyalty.tests.support import assert_ledger_clean, fresh
from members.models import VipMembership
from members.tests.factories import MemberFactory
from members.vip import vip_memberships_end_due
from rewards.models import Voucher
from rewards.tests.factories import RewardFactory

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


def all_ok(results) -> list:
    assert Counter(kind for kind, _value in results) == {"ok": len(results)}, results
    return [value for _kind, value in results]


@pytest.fixture
def coffee_card(program):
    return PunchCardType.objects.create(
        name="Coffee card",
        stamps_needed=10,
        earn_on=PunchCardType.EarnOn.ITEM,
        category="coffee",
        reward=RewardFactory(name="Free coffee", points_cost=None),
    )


@pytest.fixture
def tiers(program):
    return (
        Tier.objects.create(rank=1, name="Bronze", threshold=Decimal("100")),
        Tier.objects.create(rank=2, name="Silver", threshold=Decimal("500"), multiplier=2),
        Tier.objects.create(rank=3, name="Gold", threshold=Decimal("1000"), multiplier=3),
    )


def test_two_stamps_by_hand_on_the_last_slot_issue_one_voucher(coffee_card, location):
    member = MemberFactory()
    punch_card_stamp(member=member, card_type=coffee_card, count=9, reason="Paper card")

    results = all_ok(
        run_together(
            2,
            lambda i: punch_card_stamp(member=member, card_type=coffee_card, reason=f"Till {i}"),
        )
    )

    assert sorted(len(r.vouchers) for r in results) == [0, 1]
    assert Voucher.objects.filter(member=member, origin="punch_card").count() == 1
    full = PunchCard.objects.get(member=member, status=PunchCard.Status.COMPLETED)
    assert full.stamps == 10
    nxt = PunchCard.objects.get(member=member, status=PunchCard.Status.ACTIVE)
    assert nxt.stamps == 1
    assert sum(Stamp.objects.filter(card__member=member).values_list("count", flat=True)) == 11


def test_two_purchases_on_the_last_slot_issue_one_voucher(coffee_card, location):
    member = MemberFactory()
    punch_card_stamp(member=member, card_type=coffee_card, count=9, reason="Paper card")
    line = [{"amount": "3.50", "quantity": 1, "category": "coffee"}]

    results = all_ok(
        run_together(
            2,
            lambda i: purchase_record(
                member=member, location=location, total="3.50", lines=line, external_id=f"R{i}"
            ),
        )
    )

    assert sorted(len(r.vouchers) for r in results) == [0, 1]
    assert PunchCard.objects.get(member=member, status="completed").stamps == 10
    assert PunchCard.objects.get(member=member, status="active").stamps == 1
    assert_ledger_clean()


def test_two_purchases_crossing_a_threshold_at_once_upgrade_once(tiers, location):
    member = MemberFactory()
    purchase_record(member=member, location=location, total="900.00")

    all_ok(
        run_together(
            4,
            lambda i: purchase_record(
                member=member, location=location, total="150.00", external_id=f"R{i}"
            ),
        )
    )

    assert fresh(member).tier == tiers[2]
    assert list(
        TierChange.objects.filter(member=member).order_by("pk").values_list("to_tier__name")
    ) == [("Silver",), ("Gold",)]
    assert_ledger_clean()


def test_reevaluating_all_twice_at_once_changes_each_tier_once(tiers, location):
    members = [MemberFactory() for _ in range(12)]
    for m in members:
        purchase_record(member=m, location=location, total="1200.00")
    as_of = timezone.now() + relativedelta(months=12, days=31)

    changed = all_ok(run_together(2, lambda i: tiers_reevaluate_all(as_of=as_of, chunk_size=5)))

    assert sum(changed) == len(members)
    downgrades = TierChange.objects.filter(reason=TierChange.Reason.DOWNGRADE)
    assert downgrades.count() == len(members)
    assert {fresh(m).tier for m in members} == {tiers[1]}  # one step each, never two


def test_ending_vip_twice_at_once_renews_once(program, location):
    program.vip_auto_metric = VipMetric.LIFETIME_SPEND
    program.vip_auto_threshold = Decimal("500")
    program.save()
    members = [MemberFactory() for _ in range(6)]
    for m in members:
        purchase_record(member=m, location=location, total="600.00")
    as_of = timezone.now() + relativedelta(months=12, days=1)

    results = all_ok(run_together(2, lambda i: vip_memberships_end_due(as_of=as_of)))

    assert sum(r["renewed"] for r in results) == len(members)
    assert VipMembership.objects.count() == 2 * len(members)
    assert all(fresh(m).is_vip(at=as_of) for m in members)
