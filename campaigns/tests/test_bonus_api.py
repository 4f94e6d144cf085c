"""GET /api/v1/campaigns/ over HTTP with API keys, as a POS would call it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.tests.test_bonus import make_campaign
from loyalty.api_base import api_key_create
from loyalty.models import ApiKey
from loyalty.tests.factories import LocationFactory
from members.tests.factories import MemberFactory
from tests.api.conftest import ApiClient

URL = "/api/v1/campaigns/"


@pytest.fixture
def till(program, location):
    return ApiClient(api_key_create(name="Till 1", permissions=[], location=location)[1])


def test_lists_running_and_upcoming_campaigns_for_the_tills_location(till, location):
    now = timezone.now()
    harbour = LocationFactory(name="Harbour", code="harbour")
    running = make_campaign(name="Double points", description="Twice the points")
    upcoming = make_campaign(
        name="Coffee +10",
        kind="fixed",
        points=10,
        category="coffee",
        starts_at=now + timedelta(days=3),
        ends_at=now + timedelta(days=4),
        weekdays=[5, 6],
        locations=[location],
        cap=100,
    )
    make_campaign(name="Harbour only", locations=[harbour])
    make_campaign(name="Over", starts_at=now - timedelta(days=3), ends_at=now - timedelta(days=2))
    make_campaign(name="Switched off", is_active=False)

    response = till.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert [c["name"] for c in body] == ["Double points", "Coffee +10"]
    assert body[0]["id"] == running.pk
    assert body[0]["status"] == "running"
    assert body[0]["multiplier"] == "2.00"
    assert body[0]["description"] == "Twice the points"
    expected = {
        "id": upcoming.pk,
        "status": "scheduled",
        "kind": "fixed",
        "points": 10,
        "weekdays": [5, 6],
        "category": "coffee",
        "locations": ["main"],
        "cap": 100,
        "targeted": False,
    }
    assert {key: body[1][key] for key in expected} == expected


def test_a_programme_key_sees_every_locations_campaigns(program):
    harbour = LocationFactory(name="Harbour", code="harbour")
    make_campaign(name="Harbour only", locations=[harbour])
    client = ApiClient(api_key_create(name="Web shop", permissions=list(ApiKey.Permission))[1])

    assert [c["name"] for c in client.get(URL).json()] == ["Harbour only"]


def test_without_a_valid_key_the_list_is_refused(program):
    make_campaign()

    assert ApiClient(None).get(URL).status_code == 401
    assert ApiClient("lk_bogus.secret").get(URL).status_code == 401


def test_quote_and_record_over_http_show_the_campaign_line(program, location):
    member = MemberFactory()
    campaign = make_campaign(name="Coffee triple", multiplier="3", category="coffee")
    till = ApiClient(
        api_key_create(name="Till", permissions=list(ApiKey.Permission), location=location)[1]
    )
    body = {
        "member": member.pk,
        "total": "10.00",
        "lines": [{"amount": "4.00", "category": "coffee"}, {"amount": "6.00", "category": "food"}],
    }

    quote = till.post("/api/v1/purchases/quote/", body)
    recorded = till.post("/api/v1/purchases/", {**body, "external_id": "R-77"})

    line = {"code": "campaign", "label": "Coffee triple", "points": 8, "campaign_id": campaign.pk}
    assert quote.status_code == 200
    assert line in quote.json()["awards"]
    assert quote.json()["points"] == 18
    assert recorded.status_code == 201, recorded.json()
    assert line in recorded.json()["awards"]
