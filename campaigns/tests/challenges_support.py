"""Factories and helpers for the challenge and badge tests."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from campaigns.models import Badge, Challenge


class BadgeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Badge

    name = factory.Sequence(lambda n: f"Badge {n}")
    description = "Well done"


class ChallengeFactory(factory.django.DjangoModelFactory):
    """A running automatic challenge: 3 purchases this week for 50 points."""

    class Meta:
        model = Challenge

    name = factory.Sequence(lambda n: f"Challenge {n}")
    goal = Challenge.Goal.PURCHASES
    target = Decimal("3")
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=6))
    reward_points = 50


def line(sku: str = "", category: str = "", amount: str = "5.00", quantity: int = 1) -> dict:
    return {"sku": sku, "category": category, "amount": amount, "quantity": quantity}
