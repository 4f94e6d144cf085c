"""Every endpoint with each kind of key: allowed, missing permission (403), no or unknown
key (401), revoked key (401)."""

from __future__ import annotations

import pytest
from django.test import Client

from loyalty.services import purchase_record
from rewards.tests.factories import redeemed_voucher

from .conftest import ApiClient
from .support import assert_error

# name: (method, url template, body)
ENDPOINTS = {
    "enrol": ("post", "/api/v1/members/", {"phone": "+358401112233"}),
    "identify": ("get", "/api/v1/members/identify/?identifier={phone}", None),
    "member": ("get", "/api/v1/members/{member}/", None),
    "update": ("patch", "/api/v1/members/{member}/", {"first_name": "Anni"}),
    "consent": ("post", "/api/v1/members/{member}/consents/", {"channel": "sms", "granted": True}),
    "ledger": ("get", "/api/v1/members/{member}/ledger/", None),
    "quote": ("post", "/api/v1/purchases/quote/", {"member": "{member}", "total": "10.00"}),
    "record": (
        "post",
        "/api/v1/purchases/",
        {"member": "{member}", "total": "10.00", "external_id": "A-1"},
    ),
    "refund": ("post", "/api/v1/purchases/{purchase}/refunds/", {"amount": "1.00"}),
    "batch": (
        "post",
        "/api/v1/purchases/batch/",
        {"purchases": [{"member": "{member}", "total": "3.00", "external_id": "B-1"}]},
    ),
    "visit": ("post", "/api/v1/visits/", {"member": "{member}"}),
    "stamp": (
        "post",
        "/api/v1/members/{member}/stamps/",
        {"card_type": "{card_type}", "reason": "Till offline"},
    ),
    "events": ("get", "/api/v1/events/", None),
    "rewards": ("get", "/api/v1/members/{member}/rewards/", None),
    "redeem": ("post", "/api/v1/members/{member}/redemptions/", {"reward": "{reward}"}),
    "voucher": ("get", "/api/v1/vouchers/{voucher}/", None),
    "use": ("post", "/api/v1/vouchers/{voucher}/use/", {}),
    "cancel": ("post", "/api/v1/vouchers/{voucher}/cancel/", {"reason": "Mistake"}),
    "pay_quote": ("post", "/api/v1/points-payments/quote/", {"member": "{member}", "amount": "5"}),
    "pay": (
        "post",
        "/api/v1/points-payments/",
        {"member": "{member}", "amount": "5.00", "points": 100, "external_id": "P-1"},
    ),
}


@pytest.fixture
def world(rich_member, reward, location, card_type):
    purchase = purchase_record(member=rich_member, location=location, total="20.00").purchase
    voucher = redeemed_voucher(rich_member, reward)
    rich_member.refresh_from_db()
    return {
        "member": rich_member.pk,
        "phone": rich_member.phone,
        "purchase": purchase.pk,
        "card_type": card_type.pk,
        "reward": reward.pk,
        "voucher": voucher.code,
    }


def _fill(value, world):
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return world[value[1:-1]]
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, world) for v in value]
    return value


def call(client: ApiClient, name: str, world: dict):
    method, url, body = ENDPOINTS[name]
    url = url.format(**world).replace("+", "%2B")
    if method == "get":
        return client.get(url)
    return getattr(client, method)(url, _fill(body, world))


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_a_location_key_with_every_permission_is_let_in(name, world, location_key):
    response = call(location_key.client(), name, world)
    assert response.status_code in {200, 201}, (name, response.content[:400])


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_a_key_without_the_permission_is_refused_with_403(name, world, no_permission_key):
    assert_error(call(no_permission_key.client(), name, world), 403, "permission_denied")


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_no_key_is_401(name, world, program):
    response = call(ApiClient(None), name, world)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_an_unknown_key_is_401(name, world, location_key):
    forged = location_key.text[:-4] + "abcd"
    assert_error(call(ApiClient(forged), name, world), 401, "authentication_failed")


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_a_revoked_key_is_401(name, world, revoked_key):
    assert_error(call(revoked_key.client(), name, world), 401, "authentication_failed")


PARTNER_ALLOWED = {"identify", "member", "ledger", "rewards", "voucher", "use"}


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_a_partner_key_reaches_only_what_its_permissions_allow(name, world, partner_key):
    response = call(partner_key.client(), name, world)
    if name in PARTNER_ALLOWED:
        assert response.status_code != 403 or response.json()["code"] != "permission_denied"
        assert response.status_code != 401
    else:
        assert_error(response, 403, "permission_denied")


def test_the_key_may_come_in_the_x_api_key_header(world, location_key):
    response = Client().get(
        f"/api/v1/members/{world['member']}/", headers={"X-Api-Key": location_key.text}
    )
    assert response.status_code == 200


def test_a_key_records_when_it_was_last_used(world, location_key):
    assert location_key.key.last_used_at is None
    call(location_key.client(), "member", world)
    location_key.key.refresh_from_db()
    assert location_key.key.last_used_at is not None


def test_too_many_requests_are_429_with_retry_after(world, location_key, monkeypatch):
    from loyalty.api_base import ApiKeyThrottle

    monkeypatch.setattr(ApiKeyThrottle, "THROTTLE_RATES", {"api_key": "2/min"})
    client = location_key.client()
    for _ in range(2):
        assert call(client, "member", world).status_code == 200
    response = call(client, "member", world)
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
