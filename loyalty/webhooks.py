"""Webhooks: subscriptions, and delivering outbox events to them as signed HTTP POSTs.

The flow (docs/webhooks.md has the integrator's side):

1. A service writes an ``Event`` in its transaction. After commit,
   ``loyalty.services.event_dispatch_pending`` marks it dispatched and calls
   ``deliveries_for_events``, which creates one ``WebhookDelivery`` per matching active
   subscription in that same transaction and queues one ``webhook_deliver`` task per delivery
   after commit.
2. ``webhook_deliver`` claims a due delivery, POSTs the event with an HMAC-SHA256 signature
   (outside any transaction: no row lock is held over the network) and records the answer.
   A 2xx answer is success; anything else schedules a retry with exponential backoff until
   a day after the first attempt, then the delivery is abandoned.
3. ``webhook_retry_due`` (every minute) re-queues the deliveries whose next attempt is due,
   so a receiver that is down, or a worker that died mid-send, loses nothing.

Delivery is at least once: a receiver deduplicates on the event ``id``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty import errors
from loyalty.models import ApiKey, Event, WebhookDelivery, WebhookSubscription

if TYPE_CHECKING:
    from django.db.models import QuerySet

logger = logging.getLogger(__name__)

# Every event type the platform writes; a subscription chooses among these (none = all).
WEBHOOK_EVENT_TYPES: tuple[str, ...] = (
    "member.enrolled",
    "member.updated",
    "member.consent_changed",
    "member.qr_rotated",
    "member.erased",
    "member.linked",
    "points.earned",
    "points.redeemed",
    "points.spent",
    "points.adjusted",
    "points.expired",
    "points.released",
    "points.reversed",
    "purchase.recorded",
    "purchase.refunded",
    "visit.recorded",
    "tier.changed",
    "tier.floor_changed",
    "vip.changed",
    "voucher.issued",
    "voucher.used",
    "voucher.cancelled",
    "voucher.expired",
    "punchcard.completed",
    "punchcard.stamped",
    "referral.recorded",
    "referral.qualified",
    "referral.rewarded",
    "referral.revoked",
    "challenge.completed",
    "badge.earned",
    "sweepstake.won",
    "instant_win.won",
)

SIGNATURE_HEADER = "X-Loyalty-Signature"
TIMEOUT_SECONDS = 10
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)
RETRY_WINDOW = timedelta(hours=24)
# A claimed delivery is not picked up again for this long: more than the send can take.
CLAIM = timedelta(seconds=60)
MAX_SUBSCRIPTIONS_PER_KEY = 20
MAX_ERROR_LENGTH = 500
USER_AGENT = "loyalty-webhooks/1.0"

Status = WebhookDelivery.Status


class InvalidWebhookUrl(errors.InvalidInput):
    code = "invalid_webhook_url"


class WebhookHostNotFound(InvalidWebhookUrl):
    code = "webhook_host_not_found"


class UnknownEventType(errors.InvalidInput):
    code = "unknown_event_type"


class WebhookNotAllowed(errors.LoyaltyError):
    code = "webhooks_not_allowed"
    status = 403


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        # ::ffff:127.0.0.1 is 127.0.0.1; Python 3.11 does not unwrap it by itself.
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def _host_addresses(host: str, port: int) -> list[str]:
    """Return every address ``host`` resolves to; raise ``OSError`` when it does not."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def webhook_url_check(url: str, *, resolve: bool = True) -> str:
    """Return the cleaned URL, or raise ``InvalidWebhookUrl`` saying why it is refused.

    Only http(s) is accepted, and (unless ``settings.WEBHOOKS_ALLOW_PRIVATE``) every address
    the host resolves to must be public: no private, loopback, link-local or reserved
    networks, so a subscription cannot make the platform call into its own network.
    """
    url = (url or "").strip()
    if not url:
        raise InvalidWebhookUrl(_("Enter the URL that receives the events."), field="url")
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: "http://[::1"
        raise InvalidWebhookUrl(_("Enter a valid URL."), field="url") from None
    if parts.scheme.lower() not in {"http", "https"}:
        raise InvalidWebhookUrl(
            _("Only http:// and https:// URLs can receive webhooks."), field="url"
        )
    try:
        URLValidator(schemes=["http", "https"])(url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except (ValidationError, ValueError):
        raise InvalidWebhookUrl(_("Enter a valid URL."), field="url") from None
    if len(url) > WebhookSubscription._meta.get_field("url").max_length:
        raise InvalidWebhookUrl(_("The URL is too long."), field="url")
    if settings.WEBHOOKS_ALLOW_PRIVATE or not resolve:
        return url
    host = parts.hostname or ""
    try:
        addresses = _host_addresses(host, port)
    except (OSError, UnicodeError, ValueError):
        raise WebhookHostNotFound(
            _("The host %(host)s could not be found.") % {"host": host}, field="url"
        ) from None
    if not addresses or not all(_address_is_public(a) for a in addresses):
        raise InvalidWebhookUrl(
            _(
                "The host %(host)s is on a private, loopback or reserved network; "
                "webhooks go only to public addresses."
            )
            % {"host": host},
            field="url",
        )
    return url


def webhook_event_types_check(event_types: Iterable[str] | None) -> list[str]:
    """Return the event types sorted and without repeats, or raise ``UnknownEventType``."""
    if event_types is None:
        return []
    if isinstance(event_types, str) or not all(isinstance(t, str) for t in event_types):
        raise UnknownEventType(_("Give the event types as a list of names."), field="event_types")
    chosen = sorted({t.strip() for t in event_types if t.strip()})
    unknown = [t for t in chosen if t not in WEBHOOK_EVENT_TYPES]
    if unknown:
        raise UnknownEventType(
            _("Unknown event types: %(names)s") % {"names": ", ".join(unknown)},
            field="event_types",
        )
    return chosen


def _name_check(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise errors.InvalidInput(_("Give the subscription a name."), field="name")
    if len(name) > WebhookSubscription._meta.get_field("name").max_length:
        raise errors.InvalidInput(_("The name is too long."), field="name")
    return name


# --------------------------------------------------------------------------------------------
# Subscriptions
# --------------------------------------------------------------------------------------------


def webhook_secret_generate() -> str:
    """Return a new signing secret (256 random bits)."""
    return "whsec_" + secrets.token_urlsafe(32)


def webhook_subscription_create(
    *,
    name: str,
    url: str,
    event_types: Iterable[str] | None = None,
    is_active: bool = True,
    api_key: ApiKey | None = None,
) -> WebhookSubscription:
    """Create a subscription with a fresh secret; ``api_key`` owns it when made through the API.

    Partner keys cannot subscribe: events concern the whole programme's members, and a
    partner sees only its own vouchers.
    """
    if api_key is not None and api_key.partner_id is not None:
        raise WebhookNotAllowed(_("A partner's API key cannot subscribe to webhooks."))
    name = _name_check(name)
    url = webhook_url_check(url)
    event_types = webhook_event_types_check(event_types)
    with transaction.atomic():
        if api_key is not None:
            # Lock the key so two concurrent creates cannot both pass the limit.
            ApiKey.objects.select_for_update().filter(pk=api_key.pk).first()
            if (
                WebhookSubscription.objects.filter(api_key=api_key).count()
                >= MAX_SUBSCRIPTIONS_PER_KEY
            ):
                raise errors.InvalidInput(
                    _("An API key can have at most %(count)s webhook subscriptions.")
                    % {"count": MAX_SUBSCRIPTIONS_PER_KEY}
                )
        return WebhookSubscription.objects.create(
            name=name,
            url=url,
            secret=webhook_secret_generate(),
            event_types=event_types,
            is_active=bool(is_active),
            api_key=api_key,
        )


_UNSET: Any = object()


def webhook_subscription_update(
    *,
    subscription: WebhookSubscription,
    name: str = _UNSET,
    url: str = _UNSET,
    event_types: Iterable[str] | None = _UNSET,
    is_active: bool = _UNSET,
) -> WebhookSubscription:
    """Change the given fields of a subscription (the secret stays)."""
    changes: dict[str, Any] = {}
    if name is not _UNSET:
        changes["name"] = _name_check(name)
    if url is not _UNSET:
        changes["url"] = webhook_url_check(url)
    if event_types is not _UNSET:
        changes["event_types"] = webhook_event_types_check(event_types)
    if is_active is not _UNSET:
        changes["is_active"] = bool(is_active)
    if changes:
        with transaction.atomic():
            for field, value in changes.items():
                setattr(subscription, field, value)
            subscription.save(update_fields=list(changes))
    return subscription


def webhook_subscription_delete(*, subscription: WebhookSubscription) -> None:
    """Delete a subscription with its delivery log; nothing more is sent to it."""
    with transaction.atomic():
        subscription.delete()


# --------------------------------------------------------------------------------------------
# Deliveries
# --------------------------------------------------------------------------------------------


def _subscribed(subscription: WebhookSubscription, event_type: str) -> bool:
    return not subscription.event_types or event_type in subscription.event_types


def _queue_after_commit(delivery_ids: Sequence[int]) -> None:
    if not delivery_ids:
        return

    def queue() -> None:
        from loyalty.tasks import webhook_deliver as task

        for pk in delivery_ids:
            task.delay(pk)

    transaction.on_commit(queue)


def deliveries_for_events(events: Iterable[Event], *, at: datetime | None = None) -> int:
    """Create the deliveries of ``events`` for the active subscriptions that want them.

    Run inside the dispatching transaction: the deliveries commit with the events' dispatched
    mark, and one delivery task per delivery is queued after commit. A subscription receives
    only events that happened after it was created. Return how many deliveries were created.
    """
    subscriptions = list(
        WebhookSubscription.objects.filter(is_active=True).filter(
            # A revoked key's subscriptions stop with it.
            Q(api_key__isnull=True) | Q(api_key__revoked_at__isnull=True)
        )
    )
    if not subscriptions:
        return 0
    now = at or timezone.now()
    rows = [
        WebhookDelivery(
            subscription=subscription,
            event=event,
            status=Status.PENDING,
            next_attempt_at=now,
            created_at=now,
        )
        for event in events
        for subscription in subscriptions
        if _subscribed(subscription, event.type) and event.created_at >= subscription.created_at
    ]
    if not rows:
        return 0
    created = WebhookDelivery.objects.bulk_create(rows, batch_size=1000)
    _queue_after_commit([d.pk for d in created])
    return len(created)


def webhook_payload(event: Event) -> dict[str, Any]:
    """Return the JSON body sent for ``event``."""
    return {
        "id": event.pk,
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "member": event.member_id,
        "data": event.payload,
    }


def webhook_sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the ``X-Loyalty-Signature`` header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_verify_signature(
    secret: str,
    header: str,
    body: bytes | str,
    tolerance: int = 300,
    *,
    now: float | None = None,
) -> bool:
    """Return whether ``header`` (``t=<unix>,v1=<hex>``) signs ``body`` with ``secret``.

    The signature is HMAC-SHA256 of ``"<t>.<body>"`` with the subscription's secret, over the
    raw request body exactly as received. A timestamp more than ``tolerance`` seconds from
    now is refused, so a captured request cannot be replayed later. Receivers may copy this
    function: it needs only the standard library.
    """
    if isinstance(body, str):
        body = body.encode()
    timestamp: int | None = None
    signatures: list[str] = []
    for part in (header or "").split(","):
        key, _sep, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return any(hmac.compare_digest(expected.hexdigest(), s) for s in signatures)


def _backoff(attempts: int) -> timedelta:
    """Return the wait after the ``attempts``-th failed attempt: 30 s, 1 min, 2 min, … 1 h."""
    return min(RETRY_BASE * (2 ** max(attempts - 1, 0)), RETRY_CAP)


def _claim(delivery_id: int, now: datetime) -> WebhookDelivery | None:
    """Take a due pending delivery for one send, or return None when it is not due.

    Moving ``next_attempt_at`` forward by ``CLAIM`` stops ``webhook_retry_due`` and a
    duplicate task from sending it again meanwhile; a worker that dies mid-send leaves it due
    again after ``CLAIM``.
    """
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("subscription", "event")
            .filter(pk=delivery_id)
            .first()
        )
        if (
            delivery is None
            or delivery.status != Status.PENDING
            or (delivery.next_attempt_at is not None and delivery.next_attempt_at > now)
            or not delivery.subscription.is_active
        ):
            return None
        delivery.attempts += 1
        delivery.first_attempt_at = delivery.first_attempt_at or now
        delivery.next_attempt_at = now + CLAIM
        delivery.save(update_fields=["attempts", "first_attempt_at", "next_attempt_at"])
    return delivery


def _send(delivery: WebhookDelivery, now: datetime) -> tuple[int | None, str]:
    """POST the delivery; return (HTTP status or None, error text or "")."""
    subscription = delivery.subscription
    if not settings.WEBHOOKS_ALLOW_PRIVATE:
        # Checked again at send time: the host's DNS may have changed since the subscription
        # was saved. Redirects are not followed, so they cannot lead inside either.
        webhook_url_check(subscription.url)
    body = json.dumps(
        webhook_payload(delivery.event), cls=DjangoJSONEncoder, separators=(",", ":")
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Loyalty-Event": delivery.event.type,
        "X-Loyalty-Delivery": str(delivery.pk),
        SIGNATURE_HEADER: webhook_sign(subscription.secret, int(now.timestamp()), body),
    }
    try:
        response = requests.post(
            subscription.url,
            data=body,
            headers=headers,
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
            stream=True,
        )
    except requests.RequestException as exc:
        return None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
    try:
        if 200 <= response.status_code < 300:
            return response.status_code, ""
        # Only the start of the answer is read: enough to debug, never a huge download.
        excerpt = response.raw.read(MAX_ERROR_LENGTH, decode_content=True) or b""
        text = excerpt.decode("utf-8", "replace").strip()
        error = f"HTTP {response.status_code}" + (f": {text}" if text else "")
        return response.status_code, error[:MAX_ERROR_LENGTH]
    except (requests.RequestException, OSError, ValueError) as exc:
        return response.status_code, f"HTTP {response.status_code}; {exc}"[:MAX_ERROR_LENGTH]
    finally:
        response.close()


def webhook_deliver(delivery_id: int, *, at: datetime | None = None) -> WebhookDelivery | None:
    """Send one due delivery and record the result; return it, or None when not sent.

    2xx is success. Any other answer, a timeout or a refused connection schedules the next
    attempt with exponential backoff (30 s doubling, at most an hour apart) until 24 hours
    after the first attempt; after that the delivery is abandoned. A URL that now points at
    a refused address fails the delivery without retries.
    """
    now = at or timezone.now()
    delivery = _claim(delivery_id, now)
    if delivery is None:
        return None
    permanent = False
    try:
        status_code, error = _send(delivery, now)
    except WebhookHostNotFound as exc:
        # DNS trouble is usually passing: retried like a receiver that is down.
        status_code, error = None, exc.detail
    except InvalidWebhookUrl as exc:
        status_code, error, permanent = None, exc.detail, True
    fields: dict[str, Any] = {"last_status_code": status_code, "last_error": error}
    if not error:
        fields |= {"status": Status.SUCCEEDED, "delivered_at": now, "next_attempt_at": None}
    elif permanent:
        fields |= {"status": Status.FAILED, "next_attempt_at": None}
    else:
        deadline = delivery.first_attempt_at + RETRY_WINDOW
        if now >= deadline:
            fields |= {"status": Status.ABANDONED, "next_attempt_at": None}
        else:
            fields["next_attempt_at"] = min(now + _backoff(delivery.attempts), deadline)
        logger.info(
            "webhook delivery %s failed (attempt %s): %s", delivery.pk, delivery.attempts, error
        )
    # A row that is no longer pending was settled elsewhere meanwhile: leave it as it is.
    WebhookDelivery.objects.filter(pk=delivery.pk, status=Status.PENDING).update(**fields)
    for field, value in fields.items():
        setattr(delivery, field, value)
    return delivery


def webhook_retry_due(*, at: datetime | None = None, limit: int = 1000) -> int:
    """Queue the pending deliveries whose next attempt is due; return how many."""
    now = at or timezone.now()
    ids = list(
        WebhookDelivery.objects.filter(
            status=Status.PENDING,
            next_attempt_at__lte=now,
            subscription__is_active=True,
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    with transaction.atomic():
        _queue_after_commit(ids)
    return len(ids)


def webhook_replay(*, delivery: WebhookDelivery, at: datetime | None = None) -> WebhookDelivery:
    """Deliver a delivery again, whatever its state, with a fresh day of retries."""
    now = at or timezone.now()
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=Status.PENDING,
            attempts=0,
            first_attempt_at=None,
            next_attempt_at=now,
            last_error="",
        )
        _queue_after_commit([delivery.pk])
    delivery.refresh_from_db()
    return delivery


def webhook_deliveries_of(*, subscription: WebhookSubscription) -> QuerySet[WebhookDelivery]:
    """Return the delivery log of a subscription (newest first when paginated by id)."""
    return WebhookDelivery.objects.filter(subscription=subscription).select_related("event")
