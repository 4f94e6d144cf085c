"""Demo campaigns for ``manage.py demo``: the recipes of docs/campaigns.md, set up in the café.

Idempotent (``get_or_create`` by name); called before the demo history is replayed, so the
history earns double points on quiet days, pays referrals and fills the challenges.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from campaigns.models.actions import ActionType, BirthdayReward
from campaigns.models.bonus import BonusCampaign
from campaigns.models.challenges import Badge, Challenge
from campaigns.models.games import InstantWin, Sweepstake
from campaigns.models.messaging import MessagingSettings
from campaigns.models.nudges import NudgeSettings
from campaigns.models.referrals import ReferralMilestone, ReferralSettings
from campaigns.models.segments import Segment
from rewards.models import Reward


def _month_start(day: datetime) -> datetime:
    local = timezone.localtime(day)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def demo_campaigns_ensure(*, now: datetime | None = None, history_days: int = 400) -> None:
    """Create the café's demo campaigns, games and segments (missing ones only)."""
    now = now or timezone.now()
    history_start = now - timedelta(days=history_days)
    free_coffee = Reward.objects.filter(name="Free filter coffee").first()
    cappuccino = Reward.objects.filter(name="Free cappuccino").first()
    pastry = Reward.objects.filter(name="Coffee and pastry").first()

    quiet, _ = Segment.objects.get_or_create(
        name="Quiet regulars gone missing",
        defaults={
            "description": "Came at least 5 times, but not in the last 45 days.",
            "inactive_days": 45,
            "min_visits": 5,
            "visits_days": 365,
        },
    )
    Segment.objects.get_or_create(
        name="Birthday this month",
        defaults={"birthday_month": Segment.CURRENT_MONTH, "email_consent": "yes"},
    )

    BonusCampaign.objects.get_or_create(
        name="Double points on quiet Tuesdays",
        defaults={
            "description": "Every Tuesday afternoon, all purchases earn double points.",
            "kind": BonusCampaign.Kind.MULTIPLIER,
            "multiplier": Decimal("2"),
            "starts_at": history_start,
            "ends_at": now + timedelta(days=365),
            "weekdays": [1],
            "hour_from": time(14, 0),
            "hour_until": time(17, 0),
            "stacking": BonusCampaign.Stacking.STACK,
        },
    )
    BonusCampaign.objects.get_or_create(
        name="Beans week: 25 extra points",
        defaults={
            "description": "25 extra points when a purchase includes a bag of beans.",
            "kind": BonusCampaign.Kind.FIXED,
            "points": 25,
            "category": "beans",
            "starts_at": now - timedelta(days=3),
            "ends_at": now + timedelta(days=4),
            "stacking": BonusCampaign.Stacking.BEST,
            "cap": 100,
        },
    )

    ActionType.objects.get_or_create(
        code="review",
        defaults={
            "name": "Write a review",
            "description": "Review Café Aroma online and paste the link.",
            "kind": ActionType.Kind.REVIEW,
            "points": 30,
            "limit": ActionType.Limit.MONTHLY,
            "requires_reference": True,
            "recordable_in_portal": True,
        },
    )
    ActionType.objects.get_or_create(
        code="newsletter",
        defaults={
            "name": "Subscribe to the newsletter",
            "kind": ActionType.Kind.NEWSLETTER,
            "points": 20,
            "limit": ActionType.Limit.ONCE,
        },
    )
    ActionType.objects.get_or_create(
        code="profile",
        defaults={
            "name": "Complete your profile",
            "kind": ActionType.Kind.PROFILE_COMPLETE,
            "points": 25,
            "limit": ActionType.Limit.ONCE,
        },
    )
    if not BirthdayReward.objects.filter(pk=1).exists():
        birthday = BirthdayReward(pk=1)
        birthday.is_active = True
        birthday.timing = BirthdayReward.Timing.DAY
        birthday.points = 50
        birthday.reward = cappuccino
        birthday.save()

    if not ReferralSettings.objects.filter(pk=1).exists():
        settings_row = ReferralSettings(pk=1)
        settings_row.is_active = True
        settings_row.min_spend = Decimal("10")
        settings_row.referrer_points = 100
        settings_row.friend_points = 50
        settings_row.friend_reward = free_coffee
        settings_row.monthly_cap = 5
        settings_row.revoke_window_days = 14
        settings_row.save()
    for count, points in [(3, 100), (5, 200), (10, 500)]:
        ReferralMilestone.objects.get_or_create(count=count, defaults={"points": points})

    Badge.objects.get_or_create(
        name="Regular",
        defaults={
            "description": "100 visits to Café Aroma.",
            "milestone": Badge.Milestone.VISITS,
            "milestone_value": 100,
        },
    )
    Badge.objects.get_or_create(
        name="One year with us",
        defaults={
            "description": "A year of membership.",
            "milestone": Badge.Milestone.MEMBERSHIP_YEARS,
            "milestone_value": 1,
        },
    )
    explorer, _ = Badge.objects.get_or_create(
        name="Explorer", defaults={"description": "Tried five different drinks."}
    )
    month = _month_start(now)
    next_month = (month + timedelta(days=32)).replace(day=1)
    Challenge.objects.get_or_create(
        name="Visit 5 times this month",
        defaults={
            "description": "Come by five days this month for a free cappuccino.",
            "goal": Challenge.Goal.VISITS,
            "target": Decimal("5"),
            "starts_at": month,
            "ends_at": next_month,
            "reward": cappuccino,
        },
    )
    Challenge.objects.get_or_create(
        name="Try five different drinks",
        defaults={
            "description": "Five different products, any time this season.",
            "goal": Challenge.Goal.DISTINCT_PRODUCTS,
            "target": Decimal("5"),
            "starts_at": now - timedelta(days=30),
            "ends_at": now + timedelta(days=60),
            "enrolment": Challenge.Enrolment.OPT_IN,
            "reward_points": 75,
            "badge": explorer,
        },
    )
    if pastry is not None:
        Sweepstake.objects.get_or_create(
            name="Monthly prize draw",
            defaults={
                "description": "One entry per visit; three winners get coffee and pastry.",
                "prize": pastry,
                "winners_count": 3,
                "starts_at": month,
                "ends_at": next_month,
                "entry_rule": Sweepstake.EntryRule.PER_VISIT,
                "max_entries_per_member": 31,
            },
        )
    InstantWin.objects.get_or_create(
        name="Every 50th purchase wins a coffee",
        defaults={
            "trigger": InstantWin.Trigger.PURCHASE,
            "every_n": 50,
            "reward": free_coffee,
            "starts_at": now - timedelta(days=1),
            "ends_at": now + timedelta(days=90),
        },
    )
    messaging = MessagingSettings.get()
    if not messaging.portal_url:
        # Links in the demo's messages point at ``make run``'s server.
        messaging.portal_url = "http://127.0.0.1:8000/"
        messaging.save()
    if not NudgeSettings.objects.filter(pk=1).exists():
        nudges = NudgeSettings(pk=1)
        nudges.winback_segment = quiet
        nudges.winback_reward = free_coffee
        nudges.save()
