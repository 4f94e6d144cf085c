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


@shared_task(name="loyalty.tiers_reevaluate_all", ignore_result=True)
def tiers_reevaluate_all() -> int:
    """Re-evaluate every member's tier (downgrades after window and grace)."""
    return services.tiers_reevaluate_all()


@shared_task(name="loyalty.punch_cards_expire_due", ignore_result=True)
def punch_cards_expire_due() -> int:
    """Close punch cards whose validity has ended."""
    return services.punch_cards_expire_due()


@shared_task(name="loyalty.vip_memberships_end_due", ignore_result=True)
def vip_memberships_end_due() -> dict:
    """Renew automatic VIP that still qualifies and end the rest."""
    from members.vip import vip_memberships_end_due as end_due

    return end_due()


@shared_task(name="loyalty.vouchers_expire_due", ignore_result=True)
def vouchers_expire_due() -> int:
    """Mark vouchers past their expiry as expired."""
    from rewards.services import vouchers_expire_due as expire_due

    return expire_due()
