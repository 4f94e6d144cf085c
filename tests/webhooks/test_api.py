"""The webhooks API through HTTP, with keys of each kind."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty.models import ApiKey, WebhookDelivery, WebhookSubscription
from loyalty.services import purchase_record
from loyalty.webhooks import webhook_verify_signature
from members.tests.factories import MemberFactory
from rewards.tests.factories import PartnerFactory

URL = "/api/v1/webhooks/"


@pytest.fixture
def shop(make_client, program):
    return make_client(name="Web shop")


def test_create_returns_the_secret_once(shop, receiver):
    response = shop.post(
        URL, {"name": "Orders", "url": receiver.url, "event_types": ["points.earned"]}
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    subscription = WebhookSubscription.objects.get(pk=body["id"])
    assert body["secret"] == subscription.secret
    assert body["event_types"] == ["points.earned"]
    assert body["is_active"] is True
    assert subscription.api_key == shop.key

    detail = shop.get(f"{URL}{body['id']}/").json()
    listed = shop.get(URL).json()["results"]
    assert "secret" not in detail
    assert [s["id"] for s in listed] == [body["id"]]
    assert "secret" not in listed[0]


def test_a_key_sees_and_changes_only_its_own_subscriptions(make_client, program, receiver):
    mine, theirs = make_client(name="Mine"), make_client(name="Theirs")
    own = mine.post(URL, {"name": "Mine", "url": receiver.url}).json()["id"]
    other = theirs.post(URL, {"name": "Theirs", "url": receiver.url}).json()["id"]

    assert [s["id"] for s in mine.get(URL).json()["results"]] == [own]
    assert mine.get(f"{URL}{other}/").status_code == 404
    assert mine.patch(f"{URL}{other}/", {"is_active": False}).status_code == 404
    assert mine.delete(f"{URL}{other}/").status_code == 404
    assert mine.get(f"{URL}{other}/deliveries/").status_code == 404
    assert WebhookSubscription.objects.get(pk=other).is_active


def test_the_manage_webhooks_permission_is_required(make_client, program, receiver):
    reader = make_client(permissions=[ApiKey.Permission.READ_MEMBERS, ApiKey.Permission.ENROL])

    for response in (
        reader.get(URL),
        reader.post(URL, {"name": "Orders", "url": receiver.url}),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
    assert not WebhookSubscription.objects.exists()


def test_without_a_key_the_answer_is_401(client, db):
    assert client.get(URL).status_code == 401


def test_partner_keys_cannot_subscribe(make_client, program, receiver):
    partner_key = make_client(partner=PartnerFactory(name="City Spa"))

    response = partner_key.post(URL, {"name": "Spa", "url": receiver.url})

    assert response.status_code == 403
    assert response.json()["code"] == "webhooks_not_allowed"
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"name": "x", "url": "ftp://example.com/x"}, "invalid_webhook_url", "url"),
        ({"name": "x", "url": "http://10.0.0.1/x"}, "invalid_webhook_url", "url"),
        (
            {"name": "x", "url": "https://93.184.215.14/x", "event_types": ["nope"]},
            "unknown_event_type",
            "event_types",
        ),
        ({"url": "https://93.184.215.14/x"}, "invalid", "name"),
        ({"name": "x", "url": "https://93.184.215.14/x", "event_types": "all"}, "invalid", None),
    ],
)
def test_bad_subscriptions_are_refused_with_a_clear_error(shop, settings, body, code, field):
    settings.WEBHOOKS_ALLOW_PRIVATE = False

    response = shop.post(URL, body)

    assert response.status_code == 400
    assert response.json()["code"] == code
    if field:
        assert field in response.json()["fields"]
    assert not WebhookSubscription.objects.exists()


def test_update_and_delete(shop, receiver):
    pk = shop.post(URL, {"name": "Orders", "url": receiver.url}).json()["id"]

    response = shop.patch(f"{URL}{pk}/", {"is_active": False, "event_types": ["voucher.used"]})
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert response.json()["event_types"] == ["voucher.used"]
    assert response.json()["name"] == "Orders"

    assert shop.delete(f"{URL}{pk}/").status_code == 204
    assert shop.get(f"{URL}{pk}/").status_code == 404


def test_the_delivery_log_shows_each_delivery(
    shop, receiver, location, django_capture_on_commit_callbacks
):
    created = shop.post(
        URL, {"name": "Orders", "url": receiver.url, "event_types": ["purchase.recorded"]}
    ).json()

    with django_capture_on_commit_callbacks(execute=True):
        member = MemberFactory()
        purchase_record(member=member, location=location, total=Decimal("9.90"))

    # the receiver got the purchase, signed with the secret the API returned
    (received,) = receiver.requests
    assert webhook_verify_signature(
        created["secret"], received.headers["X-Loyalty-Signature"], received.body
    )
    log = shop.get(f"{URL}{created['id']}/deliveries/").json()
    (entry,) = log["results"]
    delivery = WebhookDelivery.objects.get()
    assert entry["id"] == delivery.pk
    assert entry["event"] == received.json["id"]
    assert entry["event_type"] == "purchase.recorded"
    assert entry["status"] == "succeeded"
    assert entry["attempts"] == 1
    assert entry["last_status_code"] == 200
    assert (
        shop.get(f"{URL}{created['id']}/deliveries/", {"status": "pending"}).json()["results"] == []
    )
    assert shop.get(f"{URL}{created['id']}/deliveries/", {"status": "bogus"}).status_code == 400


def test_create_is_idempotent_with_a_key(shop, receiver):
    body = {"name": "Orders", "url": receiver.url}
    headers = {**shop.headers, "Idempotency-Key": "sub-1"}
    first = shop.client.post(URL, body, content_type="application/json", headers=headers)
    again = shop.client.post(URL, body, content_type="application/json", headers=headers)

    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert WebhookSubscription.objects.count() == 1
