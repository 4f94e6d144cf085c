"""The offline batch: per-item results, each receipt recorded once, few transactions."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import connections

from loyalty.models import Purchase
from members.tests.factories import MemberFactory

from .support import assert_error, writes

URL = "/api/v1/purchases/batch/"


def test_mixed_items_each_get_their_own_result(api, member):
    items = [
        {"member": member.pk, "total": "10.00", "external_id": "Q-1"},
        {"member": member.pk, "total": "-1", "external_id": "Q-2"},
        {"member": 999999, "total": "5.00", "external_id": "Q-3"},
        {"member": member.pk, "total": "5.00"},
        "not an object",
        {"member": member.pk, "total": "10.00", "external_id": "Q-1"},
        {"member": member.pk, "total": "11.00", "external_id": "Q-1"},
        {"member": member.pk, "total": "2.00", "external_id": "Q-4"},
    ]
    response = api.post(URL, {"purchases": items})
    assert response.status_code == 200, response.content
    body = response.json()
    statuses = [(r["index"], r["status"], r.get("code")) for r in body["results"]]
    assert statuses == [
        (0, "created", None),
        (1, "error", "invalid"),
        (2, "error", "member_not_found"),
        (3, "error", "invalid"),
        (4, "error", "invalid"),
        (5, "duplicate", None),
        (6, "error", "purchase_conflict"),
        (7, "created", None),
    ]
    assert body["created"] == 2 and body["duplicates"] == 1 and body["errors"] == 5
    assert body["results"][1]["fields"]["total"]
    assert body["results"][3]["fields"]["external_id"]
    assert body["results"][0]["points"] == 10
    member.refresh_from_db()
    assert member.balance == 12
    assert Purchase.objects.count() == 2


def test_uploading_the_same_queue_twice_awards_once(api, member):
    items = [
        {"member": member.pk, "total": f"{n}.00", "external_id": f"S-{n}"} for n in range(1, 6)
    ]
    first = api.post(URL, {"purchases": items}).json()
    second = api.post(URL, {"purchases": items}).json()
    assert first["created"] == 5
    assert second["created"] == 0 and second["duplicates"] == 5
    assert [r["purchase"] for r in first["results"]] == [r["purchase"] for r in second["results"]]
    member.refresh_from_db()
    assert member.balance == 15


def test_more_than_a_thousand_items_is_refused_whole(api, member):
    items = [{"member": member.pk, "total": "1.00", "external_id": f"T-{n}"} for n in range(1001)]
    before = writes()
    body = assert_error(api.post(URL, {"purchases": items}), 400, "invalid")
    assert "purchases" in body["fields"]
    assert writes() == before


def test_an_empty_or_missing_list_is_refused(api):
    assert_error(api.post(URL, {"purchases": []}), 400, "invalid")
    assert_error(api.post(URL, {}), 400, "invalid")
    assert_error(api.post(URL, {"purchases": "many"}), 400, "invalid")


@pytest.mark.django_db(transaction=True)
def test_items_are_committed_a_hundred_at_a_time(location_key, program):
    members = [MemberFactory() for _ in range(5)]
    items = [
        {"member": members[n % 5].pk, "total": "2.00", "external_id": f"U-{n}"} for n in range(250)
    ]
    wrapper = type(connections["default"])
    commit = wrapper.commit
    with mock.patch.object(wrapper, "commit", autospec=True, side_effect=commit) as spy:
        response = location_key.client().post(URL, {"purchases": items})
    assert response.status_code == 200
    assert response.json()["created"] == 250
    # Three chunks; after each commit the outbox dispatch (eager Celery here) commits too.
    assert 3 <= spy.call_count <= 6
    assert Purchase.objects.count() == 250


def test_a_batch_needs_a_location_key(programme_key, member):
    response = programme_key.client().post(
        URL, {"purchases": [{"member": member.pk, "total": "1.00", "external_id": "V-1"}]}
    )
    assert_error(response, 403, "location_required")
