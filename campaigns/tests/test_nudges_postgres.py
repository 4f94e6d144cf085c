"""Two runs of the same job at once (two beats, or a retry) on real PostgreSQL connections:
nothing is expired or given twice, and a later run changes nothing."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone

from campaigns import messaging, nudges
from campaigns.models.nudges import NudgeSettings, WinBackOffer
from campaigns.models.segments import Segment
from loyalty.models import EntryKind, LedgerEntry, LotAllocation, PointsLot
from loyalty.services import points_credit, points_expire_due
from loyalty.tests.support import assert_ledger_clean
from members.models import Member
from members.tests.factories import MemberFactory
from rewards.models import Voucher
from rewards.tests.factories import RewardFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(n: int, work) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as exc:  # asserted on below
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    assert not any(isinstance(r, Exception) for r in results), results
    return results


def test_two_expiry_runs_at_once_expire_each_lot_once_and_a_third_changes_nothing(program):
    # given 12 members with 3 expired lots each and one lot still valid
    now = timezone.now()
    members = [MemberFactory() for _ in range(12)]
    for member in members:
        for points in (5, 7, 11):
            points_credit(
                member=member, points=points, reason="Old", expires_at=now - timedelta(days=1)
            )
        points_credit(member=member, points=100, reason="New", expires_at=now + timedelta(days=30))

    # when two runs start together, with small chunks so they interleave
    results = run_together(2, lambda i: points_expire_due(as_of=now, chunk_size=5))

    # then every expired lot was drawn exactly once, and the points left are the valid ones
    assert sum(results) == 12 * 23
    per_lot = (
        LotAllocation.objects.filter(entry__kind=EntryKind.EXPIRE)
        .values("lot")
        .annotate(n=Count("pk"))
    )
    assert sorted({row["n"] for row in per_lot}) == [1]
    assert per_lot.count() == 12 * 3
    assert set(
        Member.objects.filter(pk__in=[m.pk for m in members]).values_list("balance", flat=True)
    ) == {100}
    assert not PointsLot.objects.filter(expires_at__lte=now, remaining__gt=0).exists()

    expired_before = LedgerEntry.objects.filter(kind=EntryKind.EXPIRE).aggregate(s=Sum("points"))
    assert points_expire_due(as_of=now) == 0
    assert (
        LedgerEntry.objects.filter(kind=EntryKind.EXPIRE).aggregate(s=Sum("points"))
        == expired_before
    )
    assert_ledger_clean()


def test_two_win_back_runs_at_once_give_one_offer_per_member(program, monkeypatch):
    monkeypatch.setattr(messaging, "message_send", lambda **kwargs: [])
    config = NudgeSettings.load()
    config.winback_segment = Segment.objects.create(name="Idle", inactive_days=30)
    config.winback_reward = RewardFactory(points_cost=None)
    config.winback_points = 10
    config.save()
    members = [MemberFactory() for _ in range(6)]
    Member.objects.filter(pk__in=[m.pk for m in members]).update(
        last_activity_at=timezone.now() - timedelta(days=100)
    )
    as_of = timezone.now()

    results = run_together(2, lambda i: nudges.win_back_offer(as_of=as_of))

    assert sum(results) == 6
    assert WinBackOffer.objects.count() == 6
    assert Voucher.objects.filter(member__in=members).count() == 6
    assert LedgerEntry.objects.filter(kind=EntryKind.BONUS).count() == 6
    assert nudges.win_back_offer(as_of=as_of + timedelta(days=1)) == 0
    assert_ledger_clean()


def test_two_warning_runs_at_once_log_each_message_once(program):
    from campaigns.models import MessageLog

    NudgeSettings.load()
    now = timezone.now()
    members = [MemberFactory() for _ in range(4)]
    for member in members:
        points_credit(member=member, points=9, reason="Gift", expires_at=now + timedelta(days=3))

    run_together(2, lambda i: nudges.points_expiring_warn(as_of=now))

    logs = MessageLog.objects.filter(message_type__code="points_expiring")
    assert logs.values("member").distinct().count() == 4
    per_key = logs.values("member", "channel", "dedupe_key").annotate(n=Count("pk"))
    assert {row["n"] for row in per_key} == {1}
