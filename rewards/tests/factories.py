"""Factories for the rewards catalogue and partners; vouchers come from the services.

Vouchers are never built field by field: ``redeemed_voucher`` and ``issued_voucher`` make them
through ``reward_redeem`` and ``voucher_issue``, so the ledger, stock and events stay right.
"""

from __future__ import annotations

from decimal import Decimal

import factory

from loyalty.models import EntryKind
from loyalty.services import points_credit
from rewards.models import Partner, Reward, Voucher
from rewards.services import reward_redeem, voucher_issue


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Partner {n}")
    settlement = Partner.Settlement.SHARE
    settlement_share = Decimal("100")


class RewardFactory(factory.django.DjangoModelFactory):
    """A free product for 100 points, worth 5.00, valid 30 days; override per test."""

    class Meta:
        model = Reward

    name = factory.Sequence(lambda n: f"Reward {n}")
    kind = Reward.Kind.FREE_PRODUCT
    points_cost = 100
    value = Decimal("5.00")
    voucher_valid_days = 30


def give_points(member, points: int, *, reason: str = "Test points") -> None:
    """Credit points to a member through the ledger (as a staff adjustment would)."""
    points_credit(member=member, points=points, kind=EntryKind.ADJUST, reason=reason)


def redeemed_voucher(member, reward: Reward | None = None, **kwargs) -> Voucher:
    """Give the member exactly enough points and redeem ``reward`` (a new one by default)."""
    reward = reward or RewardFactory()
    if reward.points_cost:
        give_points(member, reward.points_cost)
    return reward_redeem(member=member, reward=reward, **kwargs)


def issued_voucher(member, reward: Reward | None = None, **kwargs) -> Voucher:
    """Give the member a voucher without points (staff goodwill unless ``origin`` says else)."""
    kwargs.setdefault("origin", Voucher.Origin.STAFF)
    kwargs.setdefault("reason", "Test goodwill")
    return voucher_issue(member=member, reward=reward or RewardFactory(), **kwargs)
