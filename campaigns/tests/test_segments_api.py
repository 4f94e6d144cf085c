"""GET /api/v1/segments/ and the membership check over HTTP with API keys."""

from __future__ import annotations

from datetime import date

import pytest

from campaigns.models import Segment
from loyalty.api_base import api_key_create
from loyalty.models import ApiKey
from members.tests.factories import MemberFactory
from tests.api.conftest import ApiClient
from tests.api.support import assert_error

URL = "/api/v1/segments/"


@pytest.fixture
def shop(program):
    key = api_key_create(name="Web shop", permissions=[ApiKey.Permission.READ_MEMBERS])[1]
    return ApiClient(key)


def test_lists_segments_by_name(shop):
    vips = Segment.objects.create(name="VIPs", vip="yes", description="Our best")
    june = Segment.objects.create(name="June birthdays", birthday_month=6)
    response = shop.get(URL)
    assert response.status_code == 200
    assert response.json() == [
        {"id": june.pk, "name": "June birthdays", "description": ""},
        {"id": vips.pk, "name": "VIPs", "description": "Our best"},
    ]


def test_tells_whether_a_member_is_in_a_segment(shop):
    june = Segment.objects.create(name="June birthdays", birthday_month=6)
    born_june = MemberFactory(birth_date=date(1990, 6, 5))
    born_may = MemberFactory(birth_date=date(1990, 5, 5))
    inside = shop.get(f"{URL}{june.pk}/members/{born_june.pk}/")
    outside = shop.get(f"{URL}{june.pk}/members/{born_may.pk}/")
    assert inside.json() == {"segment": june.pk, "member": born_june.pk, "contains": True}
    assert outside.json()["contains"] is False


def test_unknown_segment_or_member_is_404(shop):
    june = Segment.objects.create(name="June birthdays", birthday_month=6)
    member = MemberFactory()
    assert_error(shop.get(f"{URL}99999/members/{member.pk}/"), 404, "segment_not_found")
    assert_error(shop.get(f"{URL}{june.pk}/members/99999/"), 404, "member_not_found")


def test_a_key_without_read_members_or_no_key_is_refused(program):
    Segment.objects.create(name="All")
    till = ApiClient(
        api_key_create(name="Till", permissions=[ApiKey.Permission.RECORD_PURCHASES])[1]
    )
    assert till.get(URL).status_code == 403
    assert ApiClient(None).get(URL).status_code == 401
