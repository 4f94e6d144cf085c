"""Periodic jobs, defined in code and installed into django-celery-beat by ``setup_schedules``.

Operators see them under *Periodic tasks* in the admin, where they can pause them or change
the time. ``setup_schedules`` creates missing ones and leaves the operator's changes to
existing ones alone unless ``--reset`` is given.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    minute: str = "0"
    hour: str = "*"
    description: str = ""


SCHEDULES: tuple[Schedule, ...] = (
    Schedule(
        name="Release pending points",
        task="loyalty.points_release_pending",
        minute="15",
        hour="*",
        description="Make points spendable whose return window has closed.",
    ),
    Schedule(
        name="Expire points",
        task="loyalty.points_expire_due",
        minute="30",
        hour="2",
        description="Expire points whose validity has ended (nightly).",
    ),
    Schedule(
        name="Dispatch events",
        task="loyalty.event_dispatch_pending",
        minute="*/5",
        hour="*",
        description="Catch up on outbox events whose after-commit dispatch was missed.",
    ),
    Schedule(
        name="Re-evaluate tiers",
        task="loyalty.tiers_reevaluate_all",
        minute="0",
        hour="3",
        description="Lower tiers whose window and grace have passed (nightly).",
    ),
    Schedule(
        name="End VIP periods",
        task="loyalty.vip_memberships_end_due",
        minute="10",
        hour="3",
        description="Renew automatic VIP that still qualifies; end the rest (nightly).",
    ),
    Schedule(
        name="Close expired punch cards",
        task="loyalty.punch_cards_expire_due",
        minute="20",
        hour="3",
        description="Close punch cards whose validity has ended (nightly).",
    ),
    Schedule(
        name="Expire vouchers",
        task="loyalty.vouchers_expire_due",
        minute="25",
        hour="3",
        description="Mark vouchers past their expiry as expired (nightly).",
    ),
    Schedule(
        name="Retry webhooks",
        task="loyalty.webhook_retry_due",
        minute="*",
        hour="*",
        description="Send again the webhook deliveries whose next attempt is due.",
    ),
    Schedule(
        name="Birthday rewards",
        task="campaigns.birthday_gifts_due",
        minute="5",
        hour="7",
        description="Give the birthday reward to members whose birthday (or month) it is.",
    ),
)
