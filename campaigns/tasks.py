"""Celery tasks of the campaigns app: thin wrappers that call one service each."""

from celery import shared_task


@shared_task(name="campaigns.birthday_gifts_due", ignore_result=True)
def birthday_gifts_due() -> int:
    """Give today's birthday rewards."""
    from campaigns.actions import birthday_gifts_due as service

    return service()
