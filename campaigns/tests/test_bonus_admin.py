"""The bonus campaign admin as a manager (and a cashier): setup, errors, status, preview."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import BonusCampaign
from campaigns.tests.test_bonus import make_campaign
from loyalty.services import purchase_quote, purchase_record
from members.tests.factories import MemberFactory

ADD_URL = reverse("admin:campaigns_bonuscampaign_add")
LIST_URL = reverse("admin:campaigns_bonuscampaign_changelist")


def form_data(**fields):
    data = {
        "name_en": "Double points weekend",
        "description_en": "",
        "is_active": "on",
        "kind": "multiplier",
        "multiplier": "2",
        "points": "0",
        "starts_at_0": "2030-06-01",
        "starts_at_1": "00:00:00",
        "ends_at_0": "2030-06-03",
        "ends_at_1": "00:00:00",
        "weekdays": ["5", "6"],
        "hour_from": "",
        "hour_until": "",
        "min_spend": "",
        "category": "",
        "sku": "",
        "stacking": "stack",
        "cap": "",
    }
    data.update(fields)
    return data


@pytest.fixture
def manager(staff_roles, manager_client):
    return manager_client


def test_manager_creates_a_campaign_that_the_quote_then_shows(manager, location, member):
    now = timezone.localtime()
    response = manager.post(
        ADD_URL,
        form_data(
            name_en="Today double",
            starts_at_0=(now - timedelta(days=1)).strftime("%Y-%m-%d"),
            ends_at_0=(now + timedelta(days=2)).strftime("%Y-%m-%d"),
            weekdays=[],
            locations=[location.pk],
        ),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = BonusCampaign.objects.get()
    assert list(campaign.locations.all()) == [location]
    assert campaign.weekdays == []
    quote = purchase_quote(member=member, location=location, total="10")
    assert [(a.label, a.points) for a in quote.awards if a.code == "campaign"] == [
        ("Today double", 10)
    ]


def test_a_window_ending_before_it_starts_is_shown_as_an_error(manager):
    response = manager.post(ADD_URL, form_data(ends_at_0="2030-05-01"))

    assert response.status_code == 200
    assert "The campaign must end after it starts." in response.content.decode()
    assert not BonusCampaign.objects.exists()


def test_a_multiplier_of_one_is_shown_as_an_error(manager):
    response = manager.post(ADD_URL, form_data(multiplier="1"))

    assert "A multiplier campaign needs a multiplier above 1" in response.content.decode()
    assert not BonusCampaign.objects.exists()


def test_an_overlapping_exclusive_campaign_is_shown_as_an_error(manager, location):
    make_campaign(
        name="Black Friday",
        stacking="exclusive",
        starts_at=timezone.now() + timedelta(days=1000),
        ends_at=timezone.now() + timedelta(days=3000),
    )

    response = manager.post(ADD_URL, form_data(name_en="Weekend", stacking="exclusive"))

    assert response.status_code == 200
    assert "“Black Friday” runs at the same time" in response.content.decode()
    assert BonusCampaign.objects.count() == 1


def test_the_list_shows_status_and_filters_by_it(manager):
    now = timezone.now()
    make_campaign(name="Now on")
    make_campaign(
        name="Next month", starts_at=now + timedelta(days=30), ends_at=now + timedelta(days=31)
    )

    page = manager.get(LIST_URL).content.decode()
    assert "Running" in page and "Scheduled" in page

    running = manager.get(LIST_URL, {"status": "running"}).content.decode()
    assert "Now on" in running and "Next month" not in running


def test_the_preview_page_shows_last_weeks_extra_points(manager, location):
    now = timezone.now()
    for _ in range(2):
        purchase_record(
            member=MemberFactory(),
            location=location,
            total="12",
            occurred_at=now - timedelta(days=2),
        )
    campaign = make_campaign(
        name="Triple",
        multiplier="3",
        starts_at=now + timedelta(days=9),
        ends_at=now + timedelta(days=10),
    )

    change = manager.get(reverse("admin:campaigns_bonuscampaign_change", args=[campaign.pk]))
    preview_url = reverse("admin:campaigns_bonuscampaign_preview", args=[campaign.pk])
    assert preview_url in change.content.decode()
    response = manager.get(preview_url)

    assert response.status_code == 200
    preview = response.context["preview"]
    assert (preview.purchases_sampled, preview.purchases_affected) == (2, 2)
    assert (preview.extra_points, preview.members_reached) == (48, 2)
    assert '<td class="preview-points">48</td>' in response.content.decode()


def test_a_cashier_cannot_open_bonus_campaigns(staff_roles, cashier_client):
    campaign = make_campaign()

    assert cashier_client.get(LIST_URL).status_code == 403
    preview_url = reverse("admin:campaigns_bonuscampaign_preview", args=[campaign.pk])
    assert cashier_client.get(preview_url).status_code in (403, 404)


def test_the_counter_preview_and_receipt_show_the_campaign_line(cashier_client, location):
    from loyalty.tests.test_counter import form_token, member_url, purchase_url, text

    make_campaign(name="Double points weekend")
    member = MemberFactory()
    token = form_token(cashier_client.get(member_url(member)))

    preview = cashier_client.post(
        purchase_url(member), {"amount": "12,00", "token": token, "action": "preview"}
    )
    recorded = cashier_client.post(
        purchase_url(member), {"amount": "12,00", "token": token}, follow=True
    )

    assert "12 — Double points weekend" in text(preview)
    assert "Double points weekend" in text(recorded)
    member.refresh_from_db()
    assert member.balance == 24


def test_the_change_page_shows_what_the_campaign_has_given(manager, location):
    campaign = make_campaign(name="Double")
    for _ in range(2):
        purchase_record(member=MemberFactory(), location=location, total="15")

    page = manager.get(
        reverse("admin:campaigns_bonuscampaign_change", args=[campaign.pk])
    ).content.decode()

    assert "30 points on 2 purchases to 2 members" in page
