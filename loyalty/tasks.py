"""Celery tasks of the programme core: thin wrappers that call one service each."""

from celery import shared_task

from loyalty import services


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
