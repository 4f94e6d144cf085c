"""The leaderboard and sweepstakes API over HTTP with API keys."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.games import games_changed
from campaigns.leaderboard import leaderboard_opt_in, period_keys
from campaigns.models import Sweepstake, SweepstakeEntry, SweepstakeEntryPurchase
from loyalty.api_base import api_key_create
from loyalty.models import ApiKey, EntryKind
from loyalty.services import points_credit
from members.tests.factories import MemberFactory
from rewards.tests.factories import RewardFactory

pytestmark = pytest.mark.django_db
P = ApiKey.Permission


@pytest.fixture(autouse=True)
def _fresh_games_cache():
    from django.core.cache import cache

    cache.clear()  # throttle counters
    games_changed()
    yield
    games_changed()


class Api:
    def __init__(self, permissions):
        _key, self.text = api_key_create(name="Till", permissions=permissions)
        self.client = Client()

    def get(self, url, **params):
        return self.client.get(url, params, headers={"Authorization": f"Bearer {self.text}"})

    def post(self, url, body, **headers):
        return self.client.post(
            url,
            json.dumps(body),
            content_type="application/json",
            headers={"Authorization": f"Bearer {self.text}", **headers},
        )


@pytest.fixture
def reader(program):
    return Api([P.READ_MEMBERS])


@pytest.fixture
def till(program):
    return Api([P.READ_MEMBERS, P.REDEEM])


def earn(member, points):
    points_credit(member=member, points=points, kind=EntryKind.EARN, reason="t")


def test_leaderboard_top_and_own_rank(reader, program):
    a, b, hidden = MemberFactory(), MemberFactory(), MemberFactory()
    leaderboard_opt_in(member=a, display_name="Alpha")
    leaderboard_opt_in(member=b, display_name="Bravo")
    earn(a, 40)
    earn(b, 40)
    earn(hidden, 400)

    top = reader.get("/api/v1/leaderboard/")
    assert top.status_code == 200
    assert top.json() == [
        {"rank": 1, "display_name": "Alpha", "points": 40},
        {"rank": 1, "display_name": "Bravo", "points": 40},
    ]
    year = reader.get("/api/v1/leaderboard/", period=period_keys()[1], n=1)
    assert [r["display_name"] for r in year.json()] == ["Alpha"]

    own = reader.get(f"/api/v1/members/{b.pk}/leaderboard/")
    assert own.json() == {
        "period": period_keys()[0],
        "rank": 1,
        "points": 40,
        "top_percent": None,
    }
    missing = reader.get(f"/api/v1/members/{hidden.pk}/leaderboard/")
    assert missing.status_code == 404 and missing.json()["code"] == "not_on_leaderboard"


@pytest.mark.parametrize("params", [{"period": "2026-13"}, {"period": "x"}, {"n": 0}, {"n": 101}])
def test_leaderboard_bad_query_is_a_400(reader, params):
    response = reader.get("/api/v1/leaderboard/", **params)
    assert response.status_code == 400


def test_a_key_without_permission_is_refused(program):
    api = Api([P.USE_VOUCHERS])
    assert api.get("/api/v1/leaderboard/").status_code == 403
    assert api.get("/api/v1/sweepstakes/").status_code == 403


def _sweep(**kwargs):
    now = timezone.now()
    return Sweepstake.objects.create(
        name="Draw",
        prize=RewardFactory(points_cost=None),
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=1),
        **kwargs,
    )


def test_running_sweepstakes_and_member_entries(reader, program):
    running = _sweep(entry_rule="bought", entry_price_points=5)
    _sweep(entry_rule="per_visit", is_active=False)
    m = MemberFactory()
    SweepstakeEntry.objects.create(sweepstake=running, member=m, entries=2)

    listed = reader.get("/api/v1/sweepstakes/").json()
    assert [s["id"] for s in listed] == [running.pk]
    assert listed[0]["entry_price_points"] == 5
    assert reader.get(f"/api/v1/members/{m.pk}/sweepstakes/").json() == [
        {"sweepstake": running.pk, "entries": 2}
    ]


def test_buying_entries_over_the_api_is_idempotent(till, program):
    sweep = _sweep(entry_rule="bought", entry_price_points=10)
    m = MemberFactory()
    earn(m, 100)
    url = f"/api/v1/sweepstakes/{sweep.pk}/entries/"

    first = till.post(url, {"member": m.pk, "count": 3}, **{"Idempotency-Key": "abc"})
    again = till.post(url, {"member": m.pk, "count": 3}, **{"Idempotency-Key": "abc"})

    assert first.status_code == 201, first.content
    assert first.json() == {
        "sweepstake": sweep.pk,
        "member": m.pk,
        "count": 3,
        "points": 30,
        "entries": 3,
        "balance": 70,
    }
    assert again.status_code == 201 and again.json() == first.json()
    assert SweepstakeEntryPurchase.objects.count() == 1


def test_buying_errors_are_clear_and_change_nothing(till, reader, program):
    sweep = _sweep(entry_rule="bought", entry_price_points=10, max_entries_per_member=2)
    visit = _sweep(entry_rule="per_visit")
    m = MemberFactory()
    earn(m, 15)
    url = f"/api/v1/sweepstakes/{sweep.pk}/entries/"

    poor = till.post(url, {"member": m.pk, "count": 2})
    assert poor.status_code == 422 and poor.json()["code"] == "insufficient_points"
    limit = till.post(url, {"member": m.pk, "count": 3})
    assert limit.status_code == 409 and limit.json()["code"] == "entry_limit_reached"
    wrong = till.post(f"/api/v1/sweepstakes/{visit.pk}/entries/", {"member": m.pk, "count": 1})
    assert wrong.json()["code"] == "entries_not_for_sale"
    assert till.post(url, {"member": m.pk, "count": 0}).status_code == 400
    assert (
        till.post("/api/v1/sweepstakes/999999/entries/", {"member": m.pk, "count": 1}).json()[
            "code"
        ]
        == "sweepstake_not_found"
    )
    assert reader.post(url, {"member": m.pk, "count": 1}).status_code == 403

    m.refresh_from_db()
    assert m.balance == 15
    assert not SweepstakeEntry.objects.filter(member=m, entries__gt=0).exists()
