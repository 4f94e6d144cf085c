"""Real threads on PostgreSQL: a draw submitted many times at once rewards once."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from campaigns.models import Segment, SurpriseDraw, SurpriseWinner
from campaigns.surprise import surprise_draw
from loyalty.models import LedgerEntry, Program
from loyalty.tests.support import assert_ledger_clean
from members.models import Member
from members.tests.factories import MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(n: int, work) -> list[tuple[str, object]]:
    barrier = threading.Barrier(n)
    results: list[tuple[str, object]] = [("missing", None)] * n

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = ("ok", work(i))
        except Exception as exc:  # asserted on by the test
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


@pytest.fixture
def segment(transactional_db, monkeypatch):
    monkeypatch.setattr("campaigns.messaging.message_send", lambda **kw: [])
    Program.objects.get_or_create(pk=1)
    for _ in range(8):
        MemberFactory()
    return Segment.objects.create(name="Everyone")


def test_five_submits_of_one_form_make_one_draw(segment):
    results = run_together(
        5,
        lambda i: surprise_draw(segment=segment, count=3, points=20, request_key="form-abc"),
    )
    assert Counter(kind for kind, _value in results) == {"ok": 5}
    assert {value.pk for _kind, value in results} == {SurpriseDraw.objects.get().pk}
    assert SurpriseWinner.objects.count() == 3
    assert LedgerEntry.objects.filter(source_type=LedgerEntry.SourceType.CAMPAIGN).count() == 3
    assert sorted(Member.objects.values_list("balance", flat=True)) == [0] * 5 + [20] * 3
    assert_ledger_clean()


def test_two_different_draws_at_once_both_reward_without_deadlock(segment):
    results = run_together(
        2,
        lambda i: surprise_draw(segment=segment, count=6, points=10, seed=i, request_key=f"k{i}"),
    )
    assert [kind for kind, _value in results] == ["ok", "ok"]
    assert SurpriseWinner.objects.count() == 12
    assert sum(Member.objects.values_list("balance", flat=True)) == 120
    assert_ledger_clean()
