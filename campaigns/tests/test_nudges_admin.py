"""The nudge pages of the admin, as a manager and as a cashier."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.models.nudges import CampaignAnnouncement, NudgeSettings, WinBackOffer
from campaigns.models.segments import Segment
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_manager_edits_the_one_settings_row(staff_roles, manager_client):
    segment = Segment.objects.create(name="Inactive", inactive_days=60)

    page = manager_client.get(reverse("admin:campaigns_nudgesettings_changelist"))
    assert page.status_code == 302
    assert page.url == reverse("admin:campaigns_nudgesettings_change", args=[1])
    form = manager_client.get(page.url)
    assert form.status_code == 200
    assert b"Win-back" in form.content

    response = manager_client.post(
        page.url,
        {
            "expiry_warning_days": "7",
            "near_reward_points": "30",
            "near_card_stamps": "2",
            "winback_segment": str(segment.pk),
            "winback_reward": "",
            "winback_points": "50",
            "winback_cooldown_days": "60",
            "monthly_statement": "on",
        },
    )
    assert response.status_code == 302, response.content
    config = NudgeSettings.objects.get()
    assert (config.expiry_warning_days, config.winback_segment, config.winback_points) == (
        7,
        segment,
        50,
    )
    assert config.monthly_statement and not config.announcements
    assert manager_client.get(reverse("admin:campaigns_nudgesettings_add")).status_code == 403


def test_offers_and_announcements_are_read_only_records(staff_roles, manager_client, program):
    member = MemberFactory()
    offer = WinBackOffer.objects.create(member=member, offered_on="2026-03-10", points=25)
    CampaignAnnouncement.objects.create(
        kind="bonus",
        object_id=1,
        name="Double week",
        recipients=3,
        announced_at="2026-03-10T10:00Z",
    )

    offers = manager_client.get(reverse("admin:campaigns_winbackoffer_changelist"))
    announcements = manager_client.get(reverse("admin:campaigns_campaignannouncement_changelist"))
    detail = manager_client.get(reverse("admin:campaigns_winbackoffer_change", args=[offer.pk]))

    assert offers.status_code == announcements.status_code == detail.status_code == 200
    assert b"Double week" in announcements.content
    assert b'name="points"' not in detail.content  # shown, not editable


def test_cashier_cannot_open_the_nudge_settings(staff_roles, cashier_client):
    response = cashier_client.get(reverse("admin:campaigns_nudgesettings_change", args=[1]))
    assert response.status_code in (302, 403)
