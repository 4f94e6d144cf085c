"""The role groups hold the campaigns permissions straight after migrating."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from loyalty.roles import CASHIER, MANAGER


def _codenames(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return set(
        group.permissions.filter(content_type__app_label="campaigns").values_list(
            "codename", flat=True
        )
    )


@pytest.mark.django_db
def test_managers_hold_every_campaigns_permission_after_migrate():
    held = _codenames(MANAGER)

    assert {"add_bonuscampaign", "change_segment", "view_messagelog", "add_broadcast"} <= held


@pytest.mark.django_db
def test_cashiers_may_record_action_bonuses_and_nothing_else_in_campaigns():
    held = _codenames(CASHIER)

    assert held == {"view_actiontype", "view_actionrecord", "add_actionrecord", "view_memberbadge"}
