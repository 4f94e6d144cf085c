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


@pytest.mark.django_db
def test_managers_may_see_and_pause_the_scheduled_jobs_after_migrate(client):
    # given: a manager, with no permissions but the group's
    from django.contrib.auth import get_user_model

    manager = get_user_model().objects.create_user("m", password="pw-12345678", is_staff=True)
    manager.groups.add(Group.objects.get(name=MANAGER))
    client.force_login(manager)

    # when
    page = client.get("/admin/django_celery_beat/periodictask/")

    # then
    assert page.status_code == 200
    assert manager.has_perm("django_celery_beat.change_periodictask")
