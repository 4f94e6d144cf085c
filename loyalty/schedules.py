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
    day_of_month: str = "*"


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
        name="Refresh RFM scores",
        task="campaigns.rfm_scores_refresh",
        minute="40",
        hour="3",
        description="Score members on recency, frequency and spend for segments (nightly).",
    ),
    Schedule(
        name="Pay referral rewards",
        task="campaigns.referrals_reward_due",
        minute="40",
        hour="*",
        description="Reward referrals whose return window has closed; expire stale ones.",
    ),
    Schedule(
        name="Send messages after quiet hours",
        task="campaigns.messages_send_due",
        minute="*/5",
        hour="*",
        description="Deliver email and SMS held back by quiet hours, or whose hand-over was missed.",
    ),
    Schedule(
        name="Warn of expiring points",
        task="campaigns.points_expiring_warn",
        minute="0",
        hour="10",
        description="Tell members, once per expiry date, that points expire soon.",
    ),
    Schedule(
        name="Near-reward nudges",
        task="campaigns.near_reward_nudge",
        minute="0",
        hour="11",
        description="Tell members close to a reward or a full card (once a month each).",
    ),
    Schedule(
        name="Win-back offers",
        task="campaigns.win_back_offer",
        minute="30",
        hour="11",
        description="Give inactive members the win-back offer (once per cooldown).",
    ),
    Schedule(
        name="Monthly statements",
        task="campaigns.monthly_statement_send",
        minute="0",
        hour="9",
        day_of_month="1",
        description="Send last month's points statement (on the 1st).",
    ),
    Schedule(
        name="Announce campaigns",
        task="campaigns.campaign_announcements",
        minute="5",
        hour="*",
        description="Tell members about bonus campaigns, challenges and sweepstakes that started.",
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
    Schedule(
        name="Milestone badges",
        task="campaigns.badges_milestones_award",
        minute="50",
        hour="3",
        description="Give badges for years of membership, points and visits reached (nightly).",
    ),
    Schedule(
        name="Draw ended sweepstakes",
        task="campaigns.sweepstakes_draw_due",
        minute="7",
        hour="*",
        description="Draw the winners of sweepstakes that have ended (once each, seed recorded).",
    ),
)
