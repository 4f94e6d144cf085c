"""The set-based batch records exactly what one-by-one ``purchase_record`` would."""

from decimal import Decimal

import pytest
from django.db import transaction

from loyalty.models import (
    EarnRule,
    LedgerEntry,
    PunchCard,
    PunchCardType,
    Purchase,
    Tier,
)
from loyalty.selectors import ledger_drift
from loyalty.services import BatchItem, purchase_record, purchases_record_batch
from members.models import Member
from members.tests.factories import MemberFactory
from rewards.models import Reward, Voucher


@pytest.fixture
def setup(program, location):
    program.first_purchase_bonus = 25
    program.pending_days = 14
    program.save()
    EarnRule.objects.create(name="Pastries x2", kind="multiplier", category="pastry", multiplier=2)
    coffee = Reward.objects.create(name="Free coffee", kind="free_product", value=Decimal("3"))
    PunchCardType.objects.create(
        name="Coffee card", stamps_needed=3, earn_on="item", category="coffee", reward=coffee
    )
    return [MemberFactory() for _ in range(4)]


def _items(members):
    lines = [
        {"amount": "4.00", "category": "coffee", "quantity": 2},
        {"amount": "6.50", "category": "pastry"},
    ]
    return [
        BatchItem(member_id=members[0].pk, total="10.50", external_id="B-1", lines=lines),
        BatchItem(member_id=members[1].pk, total="3.00", external_id="B-2"),
        BatchItem(member_id=members[0].pk, total="10.50", external_id="B-3", lines=lines),
        BatchItem(member_id=members[2].pk, total="-1", external_id="B-4"),
        BatchItem(member_id=members[1].pk, total="3.00", external_id="B-2"),
        BatchItem(
            member_id=members[3].pk,
            total="99.99",
            external_id="B-5",
            lines=[*lines[:1], {"amount": "95.99"}],
        ),
    ]


def _snapshot(members):
    rows = []
    for m in Member.objects.filter(pk__in=[m.pk for m in members]).order_by("pk"):
        rows.append(
            (
                m.balance,
                m.pending,
                m.lifetime_points,
                m.tier_id,
                m.first_purchase_at is not None,
                sorted(PunchCard.objects.filter(member=m).values_list("status", "stamps")),
                Voucher.objects.filter(member=m).count(),
                sorted(
                    Purchase.objects.filter(member=m).values_list("external_id", "points_awarded")
                ),
                LedgerEntry.objects.filter(member=m).count(),
            )
        )
    return rows


def _one_by_one(location, items):
    statuses = []
    for item in items:
        try:
            with transaction.atomic():
                done = purchase_record(
                    member=Member.objects.get(pk=item.member_id),
                    location=location,
                    total=item.total,
                    lines=item.lines,
                    external_id=item.external_id,
                )
            statuses.append("created" if done.created else "duplicate")
        except Exception:
            statuses.append("error")
    return statuses


@pytest.mark.parametrize("with_tiers", [False, True])
def test_a_batch_records_what_one_by_one_would(setup, location, with_tiers):
    members = setup
    if with_tiers:
        Tier.objects.create(rank=1, name="Silver", threshold=Decimal("10"), multiplier=Decimal("2"))
    items = _items(members)

    with transaction.atomic():
        statuses = [r.status for r in purchases_record_batch(location=location, items=items)]
        batch = _snapshot(members)
        assert ledger_drift() == []
        transaction.set_rollback(True)

    with transaction.atomic():
        expected_statuses = _one_by_one(location, items)
        expected = _snapshot(members)
        transaction.set_rollback(True)

    assert (
        statuses
        == expected_statuses
        == ["created", "created", "created", "error", "duplicate", "created"]
    )
    assert batch == expected


def test_a_member_who_owes_points_repays_them_from_a_batch(setup, program, location):
    from loyalty.services import points_debit, purchase_refund

    program.pending_days = 0
    program.save()
    member = setup[0]
    first = purchase_record(member=member, location=location, total="20.00", external_id="D-1")
    points_debit(member=member, points=40, reason="spent")
    purchase_refund(purchase=first.purchase)
    member.refresh_from_db()
    owed = member.points_debt
    assert owed == 40

    results = purchases_record_batch(
        location=location, items=[BatchItem(member_id=member.pk, total="50.00", external_id="D-2")]
    )

    member.refresh_from_db()
    assert [r.status for r in results] == ["created"]
    assert member.points_debt == 0
    assert member.balance == 50 - 40
    assert ledger_drift() == []


def test_batch_times_are_stored_like_the_orm_stores_them(setup, location):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    member = setup[0]
    at = datetime.now(ZoneInfo("Asia/Taipei")) - timedelta(hours=1)

    purchases_record_batch(
        location=location,
        items=[BatchItem(member_id=member.pk, total="5.00", external_id="TZ-1", occurred_at=at)],
    )

    member.refresh_from_db()
    assert member.first_purchase_at == at
    assert member.last_activity_at == at
    assert Member.objects.filter(
        pk=member.pk, last_activity_at__gte=at - timedelta(seconds=1)
    ).exists()
