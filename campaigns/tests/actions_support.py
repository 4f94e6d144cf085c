"""Factories of the action bonus and birthday tests."""

from __future__ import annotations

import factory

from campaigns.models import ActionType, BirthdayReward


class ActionTypeFactory(factory.django.DjangoModelFactory):
    """A custom action worth 25 points, once per member, recordable everywhere."""

    class Meta:
        model = ActionType

    code = factory.Sequence(lambda n: f"action-{n}")
    name = factory.Sequence(lambda n: f"Action {n}")
    kind = ActionType.Kind.CUSTOM
    points = 25
    limit = ActionType.Limit.ONCE
    requires_reference = False
    recordable_by_staff = True
    recordable_in_portal = True
    recordable_by_api = True


def review_action(**kwargs) -> ActionType:
    """A review paid 50 points per review link, any number of reviews."""
    defaults = {
        "code": "google-review",
        "name": "Review us on Google",
        "kind": ActionType.Kind.REVIEW,
        "points": 50,
        "limit": ActionType.Limit.PER_REFERENCE,
        "requires_reference": True,
        "reference_label": "Link to your review",
    }
    return ActionTypeFactory(**{**defaults, **kwargs})


def birthday_setting(**kwargs) -> BirthdayReward:
    defaults = {"is_active": True, "timing": BirthdayReward.Timing.DAY, "points": 100}
    setting = BirthdayReward(**{**defaults, **kwargs})
    setting.save()
    return setting
