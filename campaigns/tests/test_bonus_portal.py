"""The portal's "Bonus points" page as a signed-in member sees it."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from campaigns.models import CampaignAward, Segment
from campaigns.tests.test_bonus import make_campaign
from loyalty.models import Tier
from loyalty.services import purchase_record
from members.models import Member

URL = reverse("campaigns:bonus")


@pytest.fixture
def signed_in(client, member):
    user = get_user_model().objects.create_user(username="anna", email="anna@example.com")
    Member.objects.filter(pk=member.pk).update(user=user)
    client.force_login(user)
    return client


def test_the_member_sees_running_and_upcoming_offers_open_to_them(signed_in, member, location):
    now = timezone.now()
    gold = Tier.objects.create(rank=1, name="Gold", threshold=100000)
    make_campaign(
        name="Weekend coffee",
        kind="fixed",
        points=15,
        category="coffee",
        weekdays=[5, 6],
        locations=[location],
        cap=45,
        description="Bonus on every coffee",
    )
    make_campaign(
        name="Next week double", starts_at=now + timedelta(days=7), ends_at=now + timedelta(days=8)
    )
    make_campaign(name="Gold only", tiers=[gold])
    make_campaign(name="VIP only", vip_only=True)
    make_campaign(
        name="Lapsed only", segment=Segment.objects.create(name="Lapsed", inactive_days=90)
    )
    make_campaign(
        name="Ended last week", starts_at=now - timedelta(days=3), ends_at=now - timedelta(days=2)
    )
    purchase_record(
        member=member, location=location, total="5", lines=[{"amount": "5", "category": "coffee"}]
    )

    response = signed_in.get(URL)

    page = response.content.decode()
    assert response.status_code == 200
    assert [row["offer"].campaign.name for row in response.context["rows"]] == [
        "Weekend coffee",
        "Next week double",
    ]
    assert "Bonus on every coffee" in page
    assert "On Saturday, Sunday" in page
    assert "At Main Street" in page
    # The coffee bought today counts against the cap if today is a weekend day.
    given = sum(
        CampaignAward.objects.filter(campaign__name="Weekend coffee").values_list(
            "points", flat=True
        )
    )
    assert f"Up to {45 - given} more bonus points for you" in page
    for hidden in ("Gold only", "VIP only", "Lapsed only", "Ended last week"):
        assert hidden not in page


def test_a_member_with_nothing_on_sees_a_friendly_note_and_the_dashboard_links_here(signed_in):
    response = signed_in.get(URL)

    assert "No bonus offers right now." in response.content.decode()
    dashboard = signed_in.get(reverse("portal:dashboard")).content.decode()
    assert f'href="{URL}"' in dashboard


def test_visitors_must_sign_in(client, program):
    response = client.get(URL)

    assert response.status_code == 302
    assert "login" in response["Location"]
