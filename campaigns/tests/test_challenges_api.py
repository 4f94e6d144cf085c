"""API: a member's challenges and badges over HTTP with an API key."""

from __future__ import annotations

import pytest

from campaigns import challenges as svc
from campaigns.models import Challenge
from campaigns.tests.challenges_support import BadgeFactory, ChallengeFactory
from loyalty.api_base import api_key_create
from loyalty.models import ApiKey
from loyalty.services import purchase_record
from tests.api.conftest import ApiClient


@pytest.fixture(autouse=True)
def _quiet_messages(monkeypatch):
    monkeypatch.setattr("campaigns.messaging.message_send", lambda **kwargs: [])


@pytest.fixture
def api(program, location):
    _key, text = api_key_create(
        name="Till", permissions=[ApiKey.Permission.READ_MEMBERS], location=location
    )
    return ApiClient(text)


def test_member_challenges_with_progress_and_completed(api, member, location):
    running = ChallengeFactory(name="Spend 100", goal=Challenge.Goal.SPEND, target=100)
    done = ChallengeFactory(name="First visit", target=1, reward_points=10)
    purchase_record(member=member, location=location, total="25.00")

    response = api.get(f"/api/v1/members/{member.pk}/challenges/")

    assert response.status_code == 200
    body = response.json()
    assert body["member"] == member.pk
    [item] = body["running"]
    assert (item["id"], item["progress"], item["percent"]) == (running.pk, "25.00", 25)
    assert item["joined"] is True
    assert "of" in item["progress_text"]
    [finished] = body["completed"]
    assert finished["id"] == done.pk
    assert finished["completed_at"]


def test_member_badges(api, member):
    svc.badge_award(member=member, badge=BadgeFactory(name="Helper"), source="staff", reason="x")

    response = api.get(f"/api/v1/members/{member.pk}/badges/")

    assert response.status_code == 200
    [badge] = response.json()["badges"]
    assert (badge["name"], badge["source"], badge["image"]) == ("Helper", "staff", None)


def test_unknown_member_is_a_json_404(api):
    response = api.get("/api/v1/members/999999/badges/")

    assert response.status_code == 404
    assert response.json()["code"] == "member_not_found"


def test_a_key_without_read_members_is_refused(program, location, member):
    _key, text = api_key_create(name="Idle", permissions=[], location=location)

    response = ApiClient(text).get(f"/api/v1/members/{member.pk}/challenges/")

    assert response.status_code == 403
    assert ApiClient(None).get(f"/api/v1/members/{member.pk}/badges/").status_code in (401, 403)
