"""Idempotency-Key: a retry gets the stored first response; another body with the key is 409."""

from __future__ import annotations

import pytest

from loyalty.models import IdempotencyRecord

from .support import assert_error, writes


def test_a_retry_returns_the_first_response_and_awards_once(api, member):
    body = {"member": member.pk, "total": "10.00"}
    first = api.post("/api/v1/purchases/", body, **{"Idempotency-Key": "k-1"})
    second = api.post("/api/v1/purchases/", body, **{"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert "Idempotent-Replayed" not in first
    assert second["Idempotent-Replayed"] == "true"
    member.refresh_from_db()
    assert member.balance == 10


def test_the_same_key_with_another_body_is_409_and_writes_nothing(api, member):
    api.post(
        "/api/v1/purchases/", {"member": member.pk, "total": "10.00"}, **{"Idempotency-Key": "k-2"}
    )
    before = writes()
    response = api.post(
        "/api/v1/purchases/", {"member": member.pk, "total": "12.00"}, **{"Idempotency-Key": "k-2"}
    )
    assert_error(response, 409, "idempotency_conflict")
    assert writes() == before


def test_a_refused_request_is_refused_the_same_way_on_retry(api, member):
    body = {"member": member.pk, "amount": "5.00", "points": 100}
    first = api.post("/api/v1/points-payments/", body, **{"Idempotency-Key": "k-3"})
    assert_error(first, 422, "insufficient_points")
    second = api.post("/api/v1/points-payments/", body, **{"Idempotency-Key": "k-3"})
    assert second.status_code == 422 and second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"


def test_keys_of_two_api_keys_do_not_collide(api, programme_key, member, rich_member, reward):
    url = f"/api/v1/members/{rich_member.pk}/redemptions/"
    a = api.post(url, {"reward": reward.pk}, **{"Idempotency-Key": "same"})
    b = programme_key.client().post(url, {"reward": reward.pk}, **{"Idempotency-Key": "same"})
    assert a.status_code == 201
    # The redemption key is the member's: the same text from another client returns the
    # same voucher instead of spending twice.
    assert b.status_code == 201
    assert "Idempotent-Replayed" not in b
    assert b.json()["code"] == a.json()["code"]


def test_a_too_long_key_is_refused(api, member):
    response = api.post(
        "/api/v1/purchases/",
        {"member": member.pk, "total": "1.00"},
        **{"Idempotency-Key": "x" * 101},
    )
    assert_error(response, 400, "invalid")
    assert IdempotencyRecord.objects.count() == 0


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/visits/", {"member": "{m}"}),
        ("/api/v1/members/{m}/redemptions/", {"reward": "{r}"}),
        ("/api/v1/points-payments/", {"member": "{m}", "amount": "5.00", "points": 100}),
    ],
)
def test_other_writes_replay_too(api, rich_member, reward, url, body):
    url = url.replace("{m}", str(rich_member.pk))
    body = {k: {"{m}": rich_member.pk, "{r}": reward.pk}.get(v, v) for k, v in body.items()}
    first = api.post(url, body, **{"Idempotency-Key": "again"})
    snapshot = writes()
    second = api.post(url, body, **{"Idempotency-Key": "again"})
    assert first.status_code == 201, first.content
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert writes() == snapshot
