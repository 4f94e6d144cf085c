"""Celery tasks of the programme core: thin wrappers that call one service each."""

from celery import shared_task

from loyalty import services, webhooks


@shared_task(name="loyalty.event_dispatch_pending", ignore_result=True)
def event_dispatch_pending() -> int:
    """Deliver the outbox events written by committed transactions."""
    return services.event_dispatch_pending()


@shared_task(name="loyalty.points_release_pending", ignore_result=True)
def points_release_pending() -> int:
    """Make points spendable whose return window has closed."""
    return services.points_release_pending()


@shared_task(name="loyalty.points_expire_due", ignore_result=True)
def points_expire_due() -> int:
    """Expire points whose validity has ended."""
    return services.points_expire_due()


@shared_task(name="loyalty.webhook_deliver", ignore_result=True)
def webhook_deliver(delivery_id: int) -> None:
    """Send one webhook delivery (routed to the ``webhooks`` queue in settings)."""
    webhooks.webhook_deliver(delivery_id)


@shared_task(name="loyalty.webhook_retry_due", ignore_result=True)
def webhook_retry_due() -> int:
    """Queue the webhook deliveries whose next attempt is due."""
    return webhooks.webhook_retry_due()
