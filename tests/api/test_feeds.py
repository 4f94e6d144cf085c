"""Keyset pagination of the ledger and the events feed, with filters."""

from __future__ import annotations

from loyalty.models import Event
from members.tests.factories import MemberFactory
from rewards.tests.factories import give_points

from .support import assert_error


def _follow(client, url):
    seen, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        seen += body["results"]
        url, pages = body["next"], pages + 1
    return seen, pages


def test_the_ledger_pages_through_every_entry_newest_first(api, member):
    for n in range(7):
        give_points(member, n + 1)
    entries, pages = _follow(api, f"/api/v1/members/{member.pk}/ledger/?page_size=3")
    assert pages == 3
    assert [e["points"] for e in entries] == [7, 6, 5, 4, 3, 2, 1]
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids, reverse=True)


def test_the_ledger_of_an_unknown_member_is_404(api):
    assert_error(api.get("/api/v1/members/999999/ledger/"), 404)


def test_the_events_feed_pages_oldest_first_and_filters(api, member, program):
    other = MemberFactory()
    for n in range(4):
        give_points(member, n + 1)
        give_points(other, 1)
    all_events, pages = _follow(api, "/api/v1/events/?page_size=2")
    assert [e["id"] for e in all_events] == list(
        Event.objects.order_by("id").values_list("id", flat=True)
    )
    assert pages > 2
    mine, _pages = _follow(api, f"/api/v1/events/?member={member.pk}&page_size=2")
    assert {e["member"] for e in mine} == {member.pk}
    kinds = {e["type"] for e in all_events}
    one_type = sorted(kinds)[0]
    typed, _pages = _follow(api, f"/api/v1/events/?type={one_type}")
    assert typed and {e["type"] for e in typed} == {one_type}


def test_polling_with_after_returns_only_newer_events(api, member):
    give_points(member, 1)
    last = api.get("/api/v1/events/").json()["results"][-1]["id"]
    assert api.get(f"/api/v1/events/?after={last}").json()["results"] == []
    give_points(member, 2)
    newer = api.get(f"/api/v1/events/?after={last}").json()["results"]
    assert newer and all(e["id"] > last for e in newer)


def test_bad_feed_parameters_are_client_errors(api):
    assert_error(api.get("/api/v1/events/?member=abc"), 400, "invalid")
    assert_error(api.get("/api/v1/events/?after=x"), 400, "invalid")
    assert_error(api.get("/api/v1/events/?cursor=garbage"), 400, "invalid")
