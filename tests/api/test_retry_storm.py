"""A till that retries hard: the same purchase sent 20 times at once with one Idempotency-Key.

Real threads, each with its own test client and its own PostgreSQL connection (closed when
the thread ends), started together by a barrier.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from loyalty.models import IdempotencyRecord, LedgerEntry, Purchase

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 20


def test_twenty_concurrent_retries_award_once_and_answer_the_same(location_key, member):
    barrier = threading.Barrier(THREADS)
    responses: list = [None] * THREADS
    body = {"member": member.pk, "total": "25.00", "lines": [{"amount": "25.00", "sku": "X"}]}

    def send(i: int) -> None:
        client = Client()
        try:
            barrier.wait(timeout=30)
            responses[i] = client.post(
                "/api/v1/purchases/",
                body,
                content_type="application/json",
                headers={
                    "Authorization": f"Bearer {location_key.text}",
                    "Idempotency-Key": "storm-1",
                },
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a request hung"

    assert [r.status_code for r in responses] == [201] * THREADS
    # Equal as JSON; PostgreSQL's jsonb keeps the stored copy's keys in its own order.
    first = responses[0].json()
    assert all(r.json() == first for r in responses)
    assert sum(1 for r in responses if r.get("Idempotent-Replayed") == "true") == THREADS - 1
    member.refresh_from_db()
    assert member.balance == 25
    assert Purchase.objects.count() == 1
    assert LedgerEntry.objects.filter(member=member).count() == 1
    assert IdempotencyRecord.objects.count() == 1
