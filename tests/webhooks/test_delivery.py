"""Delivering outbox events to a real local HTTP receiver: signing, retries, abandonment."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from loyalty.models import Event, WebhookDelivery
from loyalty.services import event_dispatch_pending, purchase_record
from loyalty.webhooks import (
    CLAIM,
    RETRY_WINDOW,
    webhook_deliver,
    webhook_retry_due,
    webhook_subscription_create,
    webhook_verify_signature,
)
from members.tests.factories import MemberFactory

Status = WebhookDelivery.Status


def _purchase(location, capture, total="12.50"):
    """Enrol a member and record a purchase in one committed (captured) transaction.

    The member is enrolled inside the capture too: the outbox schedules one dispatch per
    transaction, and the test's transaction never commits.
    """
    with capture(execute=True):
        member = MemberFactory()
        purchase_record(member=member, location=location, total=Decimal(total))
    return member


def test_a_purchase_is_delivered_signed_after_commit(
    receiver, subscription, location, django_capture_on_commit_callbacks
):
    # given a subscription to everything
    # when a purchase commits
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        member = MemberFactory()
        purchase_record(member=member, location=location, total=Decimal("12.50"))
        # nothing leaves before the transaction commits
        assert receiver.requests == []

    # then its events arrive, signed with the subscription's secret
    types = [r.headers["X-Loyalty-Event"] for r in receiver.requests]
    assert "purchase.recorded" in types
    assert "points.earned" in types
    received = next(r for r in receiver.requests if r.json["type"] == "purchase.recorded")
    assert webhook_verify_signature(
        subscription.secret, received.headers["X-Loyalty-Signature"], received.body
    )
    assert not webhook_verify_signature(
        "whsec_wrong", received.headers["X-Loyalty-Signature"], received.body
    )
    event = Event.objects.get(type="purchase.recorded")
    assert received.json == {
        "id": event.pk,
        "type": "purchase.recorded",
        "created_at": event.created_at.isoformat(),
        "member": member.pk,
        "data": event.payload,
    }
    assert received.json["data"]["total"] == "12.50"
    assert received.headers["Content-Type"] == "application/json"
    delivery = WebhookDelivery.objects.get(subscription=subscription, event=event)
    assert received.headers["X-Loyalty-Delivery"] == str(delivery.pk)
    assert delivery.status == Status.SUCCEEDED
    assert delivery.attempts == 1
    assert delivery.last_status_code == 200
    assert delivery.delivered_at is not None
    assert delivery.next_attempt_at is None


def test_a_signature_is_refused_for_another_body_or_an_old_timestamp(
    receiver, subscription, location, django_capture_on_commit_callbacks
):
    _purchase(location, django_capture_on_commit_callbacks)
    received = receiver.requests[0]
    header = received.headers["X-Loyalty-Signature"]
    t = int(header.split(",")[0][2:])

    assert webhook_verify_signature(subscription.secret, header, received.body.decode())
    assert not webhook_verify_signature(subscription.secret, header, received.body + b" ")
    assert not webhook_verify_signature(subscription.secret, header, received.body, now=t + 301)
    assert webhook_verify_signature(subscription.secret, header, received.body, now=t + 299)
    assert not webhook_verify_signature(subscription.secret, "garbage", received.body)
    assert not webhook_verify_signature(subscription.secret, "", received.body)


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(
    receiver, program, location, django_capture_on_commit_callbacks
):
    # given a receiver that answers 500
    webhook_subscription_create(name="Shop", url=receiver.url, event_types=["purchase.recorded"])
    receiver.status = 500

    # when a purchase is delivered
    before = timezone.now()
    _purchase(location, django_capture_on_commit_callbacks)

    # then the delivery waits for a retry, with the error recorded
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.PENDING
    assert delivery.attempts == 1
    assert delivery.last_status_code == 500
    assert "HTTP 500" in delivery.last_error
    assert "receiver is unhappy" in delivery.last_error
    first_wait = delivery.next_attempt_at - before
    assert timedelta(seconds=29) < first_wait < timedelta(seconds=40)

    # a retry that is not due yet sends nothing
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_retry_due() == 0
    assert len(receiver.requests) == 1

    # the second failure waits twice as long
    at = delivery.next_attempt_at
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_retry_due(at=at) == 1
    # (the eager task ran on the real clock, before the delivery was due: nothing sent)
    assert len(receiver.requests) == 1
    webhook_deliver(delivery.pk, at=at)
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    assert delivery.next_attempt_at - at == timedelta(seconds=60)

    # when the receiver recovers, the next due attempt succeeds
    receiver.status = 200
    webhook_deliver(delivery.pk, at=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert delivery.status == Status.SUCCEEDED
    assert delivery.attempts == 3
    assert delivery.last_status_code == 200
    assert delivery.last_error == ""
    assert len(receiver.requests) == 3
    # every attempt carried the same event, so the receiver can deduplicate on its id
    assert len({r.json["id"] for r in receiver.requests}) == 1


def test_the_retry_job_sends_deliveries_that_are_due(
    receiver, program, location, django_capture_on_commit_callbacks
):
    webhook_subscription_create(name="Shop", url=receiver.url, event_types=["purchase.recorded"])
    receiver.status = 503
    _purchase(location, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    receiver.status = 200
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_retry_due() == 1

    delivery.refresh_from_db()
    assert delivery.status == Status.SUCCEEDED
    assert delivery.attempts == 2


def test_a_receiver_that_is_down_loses_nothing(
    closed_port_url, program, location, django_capture_on_commit_callbacks
):
    subscription = webhook_subscription_create(name="Down", url=closed_port_url)

    _purchase(location, django_capture_on_commit_callbacks)

    deliveries = WebhookDelivery.objects.filter(subscription=subscription)
    assert deliveries.count() == Event.objects.count() > 0
    for delivery in deliveries:
        assert delivery.status == Status.PENDING
        assert delivery.attempts == 1
        assert delivery.last_status_code is None
        assert "ConnectionError" in delivery.last_error
        assert delivery.next_attempt_at > timezone.now()


def test_failures_for_a_day_abandon_the_delivery(
    closed_port_url, program, location, django_capture_on_commit_callbacks
):
    webhook_subscription_create(name="Down", url=closed_port_url, event_types=["purchase.recorded"])
    _purchase(location, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    first = delivery.first_attempt_at

    # retries keep going within the day, never scheduled past its end
    almost = first + RETRY_WINDOW - timedelta(seconds=30)
    webhook_deliver(delivery.pk, at=almost)
    delivery.refresh_from_db()
    assert delivery.status == Status.PENDING
    assert delivery.next_attempt_at == first + RETRY_WINDOW

    # the attempt at the end of the day is the last
    webhook_deliver(delivery.pk, at=first + RETRY_WINDOW)
    delivery.refresh_from_db()
    assert delivery.status == Status.ABANDONED
    assert delivery.attempts == 3
    assert delivery.next_attempt_at is None
    assert delivery.last_error

    # and nothing retries it any more
    assert webhook_retry_due(at=first + RETRY_WINDOW * 2) == 0


def test_a_claimed_delivery_is_not_sent_twice(
    closed_port_url, program, location, django_capture_on_commit_callbacks
):
    webhook_subscription_create(name="Down", url=closed_port_url, event_types=["purchase.recorded"])
    _purchase(location, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    at = delivery.next_attempt_at
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=at + CLAIM)

    # a duplicate task for a delivery another worker holds does nothing
    assert webhook_deliver(delivery.pk, at=at) is None
    delivery.refresh_from_db()
    assert delivery.attempts == 1


def test_subscriptions_receive_only_the_event_types_they_chose(
    receiver, program, location, django_capture_on_commit_callbacks
):
    points = webhook_subscription_create(
        name="Points", url=receiver.url, event_types=["points.earned"]
    )
    everything = webhook_subscription_create(name="All", url=receiver.url)
    vouchers = webhook_subscription_create(
        name="Vouchers", url=receiver.url, event_types=["voucher.issued"]
    )

    _purchase(location, django_capture_on_commit_callbacks)

    assert set(
        WebhookDelivery.objects.filter(subscription=points).values_list("event__type", flat=True)
    ) == {"points.earned"}
    all_types = set(
        WebhookDelivery.objects.filter(subscription=everything).values_list(
            "event__type", flat=True
        )
    )
    assert {"purchase.recorded", "points.earned"} <= all_types
    assert all_types == set(Event.objects.values_list("type", flat=True))
    assert not WebhookDelivery.objects.filter(subscription=vouchers).exists()


def test_paused_subscriptions_and_revoked_keys_receive_nothing(
    receiver, program, location, django_capture_on_commit_callbacks
):
    from loyalty.api_base import api_key_create, api_key_revoke

    key, _text = api_key_create(name="Old shop", permissions=["manage_webhooks"])
    webhook_subscription_create(name="Paused", url=receiver.url, is_active=False)
    webhook_subscription_create(name="Revoked", url=receiver.url, api_key=key)
    api_key_revoke(key=key)

    _purchase(location, django_capture_on_commit_callbacks)

    assert not WebhookDelivery.objects.exists()
    assert receiver.requests == []


def test_events_written_without_subscriptions_are_dispatched_without_deliveries(
    program, location, django_capture_on_commit_callbacks
):
    # With nobody subscribed, nothing is queued in the request; the periodic job hands the
    # events over later and creates no delivery.
    _purchase(location, django_capture_on_commit_callbacks)
    event_dispatch_pending()

    assert not Event.objects.filter(dispatched_at__isnull=True).exists()
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_dispatching_creates_each_delivery_once_even_when_run_again(receiver, program, location):
    # given events committed for real and delivered by the after-commit dispatch
    subscription = webhook_subscription_create(
        name="Shop", url=receiver.url, event_types=["purchase.recorded"]
    )
    member = MemberFactory()
    purchase_record(member=member, location=location, total=Decimal("5"))
    assert WebhookDelivery.objects.filter(subscription=subscription).count() == 1
    assert len(receiver.requests) == 1

    # when the catch-up job runs again, nothing is created or sent twice
    assert event_dispatch_pending() == 0
    assert WebhookDelivery.objects.count() == 1
    assert len(receiver.requests) == 1
