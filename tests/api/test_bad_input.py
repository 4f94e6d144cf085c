"""Odd input anywhere in the API is a 4xx in the error shape, never a 500."""

from __future__ import annotations

import pytest

from loyalty.models import Purchase, WebhookSubscription

from .support import assert_error


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/events/?member=99999999999999999999",
        "/api/v1/events/?after=99999999999999999999",
        "/api/v1/events/?after=-1",
        "/api/v1/events/?member=1.5",
    ],
)
def test_out_of_range_feed_filters_are_400(api, url):
    assert_error(api.get(url), 400, "invalid")


def test_deeply_nested_json_is_a_parse_error(api, member):
    raw = b'{"a":' * 5000 + b"1" + b"}" * 5000
    response = api.client.post(
        "/api/v1/purchases/", raw, content_type="application/json", headers=api.headers
    )
    assert_error(response, 400, "parse_error")
    assert not Purchase.objects.exists()


def test_errors_inside_lines_name_the_line_and_field(api, member):
    body = {
        "member": member.pk,
        "total": "10.00",
        "lines": [{"amount": "4.00"}, {"amount": "6.00", "quantity": "many"}],
    }
    error = assert_error(api.post("/api/v1/purchases/", body), 400, "invalid")
    assert error["fields"] == {"lines.1.quantity": ["A valid integer is required."]}
    assert error["detail"] == "A valid integer is required."


def test_a_batch_with_null_and_odd_items_answers_item_by_item(api, member):
    items = [None, 1, "x", [], {"member": 10**30, "total": "1.00", "external_id": "Q-1"}]
    response = api.post("/api/v1/purchases/batch/", {"purchases": items})
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["error"] * 5
    assert results[0]["detail"] == "Each purchase must be an object."
    assert list(results[4]["fields"]) == ["member"]


@pytest.mark.parametrize(
    "url", ["http://[::1", "http://[not-an-address]/", "https://example.com:99999/"]
)
def test_a_malformed_webhook_url_is_400(api, settings, url):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    response = api.post("/api/v1/webhooks/", {"name": "Shop", "url": url})
    assert_error(response, 400, "invalid_webhook_url")
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml"])
def test_another_content_type_is_415(api, member, content_type):
    response = api.client.post(
        "/api/v1/purchases/", b"member=1", content_type=content_type, headers=api.headers
    )
    assert_error(response, 415, "unsupported_media_type")
