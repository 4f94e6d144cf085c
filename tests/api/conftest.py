"""Fixtures of the API tests: keys of each kind (made by ``api_key_create``) and a client.

``api(key)`` returns a test client that sends the key as ``Authorization: Bearer …`` and
JSON bodies; every test goes through HTTP as an integrator would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import Client

from loyalty.api_base import api_key_create, api_key_revoke
from loyalty.models import ApiKey, Program
from loyalty.tests.factories import LocationFactory
from members.tests.factories import MemberFactory
from rewards.tests.factories import PartnerFactory, RewardFactory, give_points

ALL = list(ApiKey.Permission.values)


class ApiClient:
    """A Django test client that authenticates with an API key and speaks JSON."""

    def __init__(self, key_text: str | None, client: Client | None = None):
        self.client = client or Client()
        self.headers = {"Authorization": f"Bearer {key_text}"} if key_text else {}

    def get(self, url, data=None, **headers):
        return self.client.get(url, data, headers={**self.headers, **headers})

    def patch(self, url, body=None, **headers):
        return self.client.patch(
            url,
            json.dumps({} if body is None else body),
            content_type="application/json",
            headers={**self.headers, **headers},
        )

    def post(self, url, body=None, **headers):
        return self.client.post(
            url,
            json.dumps({} if body is None else body),
            content_type="application/json",
            headers={**self.headers, **headers},
        )


@dataclass
class Key:
    key: ApiKey
    text: str

    def client(self) -> ApiClient:
        return ApiClient(self.text)


@pytest.fixture(autouse=True)
def _fresh_throttle():
    # Throttle counters live in the cache; each test starts with a clean slate.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def program(db):
    """1 point per euro, points spendable at once, one point worth one cent at the till."""
    program, _ = Program.objects.get_or_create(pk=1)
    program.point_value = Decimal("0.01")
    program.points_per_visit = 5
    program.save()
    return program


@pytest.fixture
def partner(db):
    return PartnerFactory(name="City Spa")


@pytest.fixture
def other_partner(db):
    return PartnerFactory(name="Book Nook")


@pytest.fixture
def location_key(program, location) -> Key:
    """A till's key at Main Street with every permission."""
    return Key(*api_key_create(name="Till 1", permissions=ALL, location=location))


@pytest.fixture
def partner_key(program, partner) -> Key:
    """A partner's key: validates and uses only that partner's vouchers."""
    return Key(
        *api_key_create(
            name="City Spa desk",
            permissions=[ApiKey.Permission.USE_VOUCHERS, ApiKey.Permission.READ_MEMBERS],
            partner=partner,
        )
    )


@pytest.fixture
def programme_key(program) -> Key:
    """A web shop's key without a location, with every permission."""
    return Key(*api_key_create(name="Web shop", permissions=ALL))


@pytest.fixture
def no_permission_key(program, location) -> Key:
    return Key(*api_key_create(name="Idle till", permissions=[], location=location))


@pytest.fixture
def revoked_key(program, location) -> Key:
    key, text = api_key_create(name="Old till", permissions=ALL, location=location)
    api_key_revoke(key=key)
    return Key(key, text)


@pytest.fixture
def api(location_key) -> ApiClient:
    return location_key.client()


@pytest.fixture
def member(program):
    return MemberFactory()


@pytest.fixture
def rich_member(program):
    member = MemberFactory()
    give_points(member, 1000)
    member.refresh_from_db()
    return member


@pytest.fixture
def reward(program):
    return RewardFactory(name="Free coffee", points_cost=100)


@pytest.fixture
def partner_reward(program, partner):
    return RewardFactory(name="Sauna hour", points_cost=100, partner=partner)


@pytest.fixture
def other_location(program):
    return LocationFactory(name="Harbour", code="harbour")


@pytest.fixture
def card_type(program):
    """A coffee card: a stamp per purchase, three stamps give a free coffee."""
    from loyalty.models import PunchCardType

    prize = RewardFactory(name="Card coffee", points_cost=None)
    return PunchCardType.objects.create(name="Coffee card", stamps_needed=3, reward=prize)
