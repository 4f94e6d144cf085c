"""Subscription rules: only http(s), no private addresses, known event types."""

from __future__ import annotations

import socket

import pytest

from loyalty.models import WebhookSubscription
from loyalty.webhooks import (
    InvalidWebhookUrl,
    UnknownEventType,
    webhook_subscription_create,
    webhook_subscription_delete,
    webhook_subscription_update,
)


@pytest.fixture
def no_private(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hooks",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "example.com/hooks",
        "http://",
        "",
    ],
)
def test_only_http_and_https_urls_are_accepted(db, allow_private, url):
    with pytest.raises(InvalidWebhookUrl):
        webhook_subscription_create(name="Shop", url=url)
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hooks",
        "http://127.0.0.1:8000/hooks",
        "http://10.1.2.3/hooks",
        "https://192.168.0.10/hooks",
        "http://172.16.5.4/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://[fe80::1]/hooks",
        "http://0.0.0.0/hooks",
        "http://100.64.0.1/hooks",
        "http://240.0.0.1/hooks",
        "http://localhost/hooks",
    ],
)
def test_private_loopback_link_local_and_reserved_addresses_are_refused(db, no_private, url):
    with pytest.raises(InvalidWebhookUrl) as refused:
        webhook_subscription_create(name="Shop", url=url)
    assert refused.value.field == "url"
    assert not WebhookSubscription.objects.exists()


def test_a_host_name_is_resolved_and_refused_when_it_points_inside(db, no_private, monkeypatch):
    # given a public-looking name that resolves to a private address
    def resolve(host, port, *args, **kwargs):
        assert host == "hooks.example.com"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)

    with pytest.raises(InvalidWebhookUrl):
        webhook_subscription_create(name="Shop", url="https://hooks.example.com/loyalty")


def test_a_public_address_is_accepted_with_a_generated_secret(db, no_private):
    subscription = webhook_subscription_create(name=" Shop ", url="https://93.184.215.14/hooks")

    assert subscription.name == "Shop"
    assert subscription.secret.startswith("whsec_")
    assert len(subscription.secret) > 40
    assert subscription.event_types == []
    other = webhook_subscription_create(name="Other", url="https://93.184.215.14/hooks")
    assert other.secret != subscription.secret


def test_private_addresses_are_accepted_when_the_setting_allows_them(db, allow_private):
    subscription = webhook_subscription_create(name="Lab", url="http://127.0.0.1:9000/hooks")
    assert subscription.pk


def test_event_types_must_be_known(db, allow_private):
    with pytest.raises(UnknownEventType) as refused:
        webhook_subscription_create(
            name="Shop", url="http://127.0.0.1/x", event_types=["points.earned", "points.stolen"]
        )
    assert "points.stolen" in refused.value.detail
    assert "points.earned" not in refused.value.detail

    subscription = webhook_subscription_create(
        name="Shop",
        url="http://127.0.0.1/x",
        event_types=["voucher.used", "points.earned", "points.earned"],
    )
    assert subscription.event_types == ["points.earned", "voucher.used"]


def test_update_checks_what_changes_and_keeps_the_secret(db, allow_private, settings):
    subscription = webhook_subscription_create(name="Shop", url="http://127.0.0.1/x")
    secret = subscription.secret

    webhook_subscription_update(
        subscription=subscription, name="Web shop", event_types=["tier.changed"], is_active=False
    )
    subscription.refresh_from_db()
    assert (subscription.name, subscription.event_types, subscription.is_active) == (
        "Web shop",
        ["tier.changed"],
        False,
    )
    assert subscription.secret == secret

    settings.WEBHOOKS_ALLOW_PRIVATE = False
    with pytest.raises(InvalidWebhookUrl):
        webhook_subscription_update(subscription=subscription, url="http://10.0.0.1/x")
    subscription.refresh_from_db()
    assert subscription.url == "http://127.0.0.1/x"

    webhook_subscription_delete(subscription=subscription)
    assert not WebhookSubscription.objects.exists()
