"""The webhooks admin: subscriptions with their secret, the delivery log and Replay."""

from __future__ import annotations

from decimal import Decimal

from django.urls import reverse

from loyalty.models import WebhookDelivery, WebhookSubscription
from loyalty.services import purchase_record
from members.tests.factories import MemberFactory


def test_a_subscription_added_in_the_admin_gets_a_secret_shown_on_its_page(admin_client, receiver):
    response = admin_client.post(
        reverse("admin:loyalty_webhooksubscription_add"),
        {
            "name": "Web shop",
            "url": receiver.url,
            "event_types": ["points.earned"],
            "is_active": "on",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    subscription = WebhookSubscription.objects.get()
    assert subscription.event_types == ["points.earned"]
    assert subscription.secret.startswith("whsec_")
    page = admin_client.get(
        reverse("admin:loyalty_webhooksubscription_change", args=[subscription.pk])
    )
    assert subscription.secret in page.content.decode()


def test_the_admin_refuses_a_private_url(admin_client, settings, db):
    settings.WEBHOOKS_ALLOW_PRIVATE = False

    response = admin_client.post(
        reverse("admin:loyalty_webhooksubscription_add"),
        {"name": "Inside", "url": "http://169.254.169.254/latest", "is_active": "on"},
    )

    assert response.status_code == 200
    assert "url" in response.context["adminform"].form.errors
    assert not WebhookSubscription.objects.exists()


def test_the_delivery_log_is_read_only_and_filters_by_status(
    admin_client, receiver, program, location, django_capture_on_commit_callbacks
):
    from loyalty.webhooks import webhook_subscription_create

    subscription = webhook_subscription_create(
        name="Shop", url=receiver.url, event_types=["purchase.recorded"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        purchase_record(member=MemberFactory(), location=location, total=Decimal("3"))
    delivery = WebhookDelivery.objects.get()
    changelist = reverse("admin:loyalty_webhookdelivery_changelist")

    assert admin_client.get(changelist).status_code == 200
    assert (
        admin_client.get(changelist, {"status__exact": "succeeded"}).context["cl"].result_count == 1
    )
    assert (
        admin_client.get(changelist, {"status__exact": "pending"}).context["cl"].result_count == 0
    )
    assert (
        admin_client.get(changelist, {"subscription__id__exact": subscription.pk})
        .context["cl"]
        .result_count
        == 1
    )
    page = admin_client.get(reverse("admin:loyalty_webhookdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert admin_client.get(reverse("admin:loyalty_webhookdelivery_add")).status_code == 403


def test_replay_from_the_admin_delivers_again(
    admin_client, receiver, program, location, django_capture_on_commit_callbacks
):
    from loyalty.webhooks import webhook_subscription_create

    webhook_subscription_create(name="Shop", url=receiver.url, event_types=["purchase.recorded"])
    with django_capture_on_commit_callbacks(execute=True):
        purchase_record(member=MemberFactory(), location=location, total=Decimal("3"))
    delivery = WebhookDelivery.objects.get()
    assert len(receiver.requests) == 1

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:loyalty_webhookdelivery_changelist"),
            {"action": "replay", "_selected_action": [delivery.pk]},
            follow=True,
        )

    assert response.status_code == 200
    assert "queued to be sent again" in response.content.decode()
    assert len(receiver.requests) == 2
    assert receiver.requests[1].json == receiver.requests[0].json
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert delivery.attempts == 1


def test_managers_run_webhooks_and_cashiers_do_not_see_them(client, manager_user, cashier_user):
    changelist = reverse("admin:loyalty_webhooksubscription_changelist")
    log = reverse("admin:loyalty_webhookdelivery_changelist")

    client.force_login(manager_user)
    assert client.get(changelist).status_code == 200
    assert client.get(log).status_code == 200

    client.force_login(cashier_user)
    assert client.get(changelist).status_code == 403
    assert client.get(log).status_code == 403
