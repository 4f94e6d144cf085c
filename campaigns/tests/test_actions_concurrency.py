"""Real threads on real PostgreSQL connections: double submits and two job runs pay once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from campaigns.actions import action_record, birthday_gifts_due
from campaigns.models import ActionRecord, BirthdayGift
from campaigns.tests.actions_support import ActionTypeFactory, birthday_setting, review_action
from loyalty.models import Program, Source
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


@pytest.fixture
def program(transactional_db):
    program, _ = Program.objects.get_or_create(pk=1)
    return program


def test_ten_submits_of_one_review_link_pay_once(program):
    member = MemberFactory()
    action = review_action(points=50)

    results = run_together(
        10,
        lambda i: action_record(
            member=member, action=action, reference="https://g.page/r/1", source=Source.API
        ),
    )

    assert outcomes(results) == {"ok": 10}
    assert sorted(value.created for _kind, value in results) == [False] * 9 + [True]
    assert ActionRecord.objects.count() == 1
    assert fresh(member).balance == 50
    assert_ledger_clean()


def test_ten_submits_of_a_once_action_pay_once_and_refuse_the_rest(program):
    member = MemberFactory()
    action = ActionTypeFactory(points=20)

    results = run_together(
        10, lambda i: action_record(member=member, action=action, source=Source.PORTAL)
    )

    assert outcomes(results) == {"ok": 1, "action_limit_reached": 9}
    assert fresh(member).balance == 20
    assert_ledger_clean()


def test_two_birthday_runs_at_once_give_one_gift_each(program, monkeypatch):
    monkeypatch.setattr("campaigns.messaging.message_send", lambda **kwargs: [])
    members = [MemberFactory(birth_date=date(1990, 11, 25)) for _ in range(5)]
    birthday_setting(points=100)
    today = datetime(2026, 11, 25, 7, 5, tzinfo=ZoneInfo("Europe/Helsinki"))

    results = run_together(3, lambda i: birthday_gifts_due(as_of=today))

    assert outcomes(results) == {"ok": 3}
    assert sum(value for _kind, value in results) == 5
    assert BirthdayGift.objects.count() == 5
    assert all(fresh(m).balance == 100 for m in members)
    assert_ledger_clean()
