"""Purchases through HTTP: quote, record (once per receipt), refunds, visits, stamps."""

from __future__ import annotations

import pytest

from loyalty.models import Purchase, Source
from members.models import Member

from .support import assert_error, writes

LINES = [
    {"sku": "LATTE", "category": "coffee", "quantity": 2, "amount": "7.00"},
    {"sku": "CROISSANT", "category": "pastry", "amount": "5.50"},
]


def test_quote_returns_award_lines_and_writes_nothing(api, member):
    before = writes()
    response = api.post(
        "/api/v1/purchases/quote/", {"member": member.pk, "total": "12.50", "lines": LINES}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["points"] == 12
    assert [a["points"] for a in body["awards"]] == [12]
    assert body["awards"][0]["label"]
    assert writes() == before


def test_recording_a_purchase_awards_points_at_the_keys_location(api, member, location):
    response = api.post(
        "/api/v1/purchases/",
        {"member": member.pk, "total": "12.50", "lines": LINES, "external_id": "R-1"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] is True
    assert body["points"] == 12
    assert body["balance"] == 12
    assert body["pending"] == 0
    assert body["external_id"] == "R-1"
    purchase = Purchase.objects.get(pk=body["purchase"])
    assert purchase.location == location
    assert purchase.source == Source.API
    assert purchase.lines.count() == 2
    member.refresh_from_db()
    assert member.balance == 12


def test_the_same_receipt_sent_again_awards_nothing_more(api, member):
    body = {"member": member.pk, "total": "10.00", "external_id": "R-2"}
    first = api.post("/api/v1/purchases/", body)
    second = api.post("/api/v1/purchases/", body)
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["created"] is False
    assert second.json()["purchase"] == first.json()["purchase"]
    member.refresh_from_db()
    assert member.balance == 10


def test_the_same_receipt_with_another_total_is_a_conflict(api, member):
    api.post("/api/v1/purchases/", {"member": member.pk, "total": "10.00", "external_id": "R-3"})
    before = writes()
    response = api.post(
        "/api/v1/purchases/", {"member": member.pk, "total": "11.00", "external_id": "R-3"}
    )
    assert_error(response, 409, "purchase_conflict")
    assert writes() == before


def test_a_completed_punch_card_comes_back_with_its_voucher(api, member, card_type):
    for n in range(3):
        response = api.post(
            "/api/v1/purchases/", {"member": member.pk, "total": "3.00", "external_id": f"C-{n}"}
        )
    body = response.json()
    assert len(body["vouchers"]) == 1
    assert body["vouchers"][0]["reward"] == "Card coffee"
    assert body["stamps"][0]["card_type"] == card_type.pk
    assert body["stamps"][0]["vouchers"][0]["code"] == body["vouchers"][0]["code"]


def test_a_key_without_a_location_cannot_record(programme_key, member):
    before = writes()
    response = programme_key.client().post(
        "/api/v1/purchases/", {"member": member.pk, "total": "10.00"}
    )
    assert_error(response, 403, "location_required")
    response = programme_key.client().post("/api/v1/visits/", {"member": member.pk})
    assert_error(response, 403, "location_required")
    assert writes() == before


def test_a_key_without_a_location_can_still_quote(programme_key, member):
    response = programme_key.client().post(
        "/api/v1/purchases/quote/", {"member": member.pk, "total": "10.00"}
    )
    assert response.status_code == 200
    assert response.json()["points"] == 10


# -- refunds ----------------------------------------------------------------------------------


@pytest.fixture
def purchase_id(api, member):
    response = api.post(
        "/api/v1/purchases/", {"member": member.pk, "total": "20.00", "external_id": "F-1"}
    )
    return response.json()["purchase"]


def test_a_partial_refund_takes_back_points_in_proportion(api, member, purchase_id):
    response = api.post(
        f"/api/v1/purchases/{purchase_id}/refunds/", {"amount": "5.00", "reason": "Returned"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["points_taken_back"] == 5
    assert body["refunded_total"] == "5.00"
    assert body["balance"] == 15
    assert body["owed"] == 0


def test_a_full_refund_takes_back_the_rest_and_a_second_is_refused(api, member, purchase_id):
    api.post(f"/api/v1/purchases/{purchase_id}/refunds/", {"amount": "5.00"})
    response = api.post(f"/api/v1/purchases/{purchase_id}/refunds/", {})
    assert response.status_code == 201
    assert response.json()["amount"] == "15.00"
    assert response.json()["balance"] == 0
    before = writes()
    assert_error(api.post(f"/api/v1/purchases/{purchase_id}/refunds/", {}), 409, "already_refunded")
    assert writes() == before


def test_a_refund_larger_than_the_purchase_is_refused(api, purchase_id):
    before = writes()
    response = api.post(f"/api/v1/purchases/{purchase_id}/refunds/", {"amount": "20.01"})
    assert_error(response, 400, "refund_too_large")
    assert writes() == before


def test_a_purchase_of_another_location_cannot_be_refunded_with_this_key(
    api, member, other_location
):
    from loyalty.services import purchase_record

    other = purchase_record(member=member, location=other_location, total="10.00").purchase
    assert_error(api.post(f"/api/v1/purchases/{other.pk}/refunds/", {}), 404, "purchase_not_found")


# -- visits and stamps ------------------------------------------------------------------------


def test_a_visit_gives_the_points_per_visit(api, member):
    response = api.post("/api/v1/visits/", {"member": member.pk})
    assert response.status_code == 201, response.content
    assert response.json()["points"] == 5
    assert response.json()["balance"] == 5


def test_stamps_by_hand_need_a_reason_and_fill_the_card(api, member, card_type):
    url = f"/api/v1/members/{member.pk}/stamps/"
    before = writes()
    assert_error(api.post(url, {"card_type": card_type.pk}), 400, "invalid")
    assert_error(api.post(url, {"card_type": card_type.pk, "reason": "  "}), 400)
    assert writes() == before
    response = api.post(url, {"card_type": card_type.pk, "count": 3, "reason": "Till offline"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["given"] == 3
    assert len(body["vouchers"]) == 1


def test_stamping_an_unknown_card_type_or_member_is_404(api, member, card_type):
    body = {"card_type": card_type.pk, "reason": "x"}
    assert_error(api.post("/api/v1/members/999999/stamps/", body), 404, "member_not_found")
    assert_error(
        api.post(f"/api/v1/members/{member.pk}/stamps/", {"card_type": 999999, "reason": "x"}),
        404,
        "card_type_not_found",
    )


# -- bad input never writes and never crashes ------------------------------------------------

BAD_PURCHASES = [
    ({}, 400),
    ({"total": "10.00"}, 400),
    ({"member": "abc", "total": "10.00"}, 400),
    ({"member": -1, "total": "10.00"}, 400),
    ({"member": 10**30, "total": "10.00"}, 400),
    ({"member": True, "total": "10.00"}, 400),
    ({"member": 999999, "total": "10.00"}, 404),
    ({"member": "{m}", "total": "-5"}, 400),
    ({"member": "{m}", "total": "0"}, 400),
    ({"member": "{m}", "total": "1e400"}, 400),
    ({"member": "{m}", "total": "NaN"}, 400),
    ({"member": "{m}", "total": "Infinity"}, 400),
    ({"member": "{m}", "total": "12.345"}, 400),
    ({"member": "{m}", "total": "99999999999.99"}, 400),
    ({"member": "{m}", "total": "12,50 €"}, 400),
    ({"member": "{m}", "total": None}, 400),
    ({"member": "{m}", "total": []}, 400),
    ({"member": "{m}", "total": {"a": 1}}, 400),
    ({"member": "{m}", "total": "10.00", "lines": "x"}, 400),
    ({"member": "{m}", "total": "10.00", "lines": [1, 2]}, 400),
    ({"member": "{m}", "total": "10.00", "lines": [{"amount": "9.00"}]}, 400),
    ({"member": "{m}", "total": "10.00", "lines": [{"amount": "10", "quantity": 0}]}, 400),
    ({"member": "{m}", "total": "10.00", "lines": [{"amount": "10", "quantity": 1.5}]}, 400),
    ({"member": "{m}", "total": "10.00", "lines": [{"amount": "10", "sku": "x" * 65}]}, 400),
    ({"member": "{m}", "total": "10.00", "external_id": "x" * 65}, 400),
    ({"member": "{m}", "total": "10.00", "occurred_at": "yesterday"}, 400),
    ({"member": "{m}", "total": "10.00", "occurred_at": "2999-01-01T00:00:00Z"}, 400),
]


@pytest.mark.parametrize("url", ["/api/v1/purchases/", "/api/v1/purchases/quote/"])
@pytest.mark.parametrize(("body", "status"), BAD_PURCHASES)
def test_bad_purchase_input_is_refused_with_the_error_shape(api, member, url, body, status):
    if "quote" in url and "external_id" in body:
        pytest.skip("a quote has no receipt number")
    body = {k: (member.pk if v == "{m}" else v) for k, v in body.items()}
    before = writes()
    assert_error(api.post(url, body), status)
    assert writes() == before
    member.refresh_from_db()
    assert member.balance == 0


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1, 2]", b'"text"', b"{", b"null"],
)
def test_a_body_that_is_not_a_json_object_is_400(api, member, raw):
    response = api.client.post(
        "/api/v1/purchases/", raw, content_type="application/json", headers=api.headers
    )
    assert response.status_code == 400
    assert set(response.json()) == {"code", "detail", "fields"}
    assert Purchase.objects.count() == 0


def test_a_closed_membership_cannot_earn(api, member):
    Member.objects.filter(pk=member.pk).update(is_active=False)
    before = writes()
    response = api.post("/api/v1/purchases/", {"member": member.pk, "total": "10.00"})
    assert_error(response, 409, "member_inactive")
    assert writes() == before


def test_a_huge_id_in_the_path_is_404_not_a_crash(api):
    assert_error(api.post("/api/v1/purchases/99999999999999999999/refunds/", {}), 404)
    assert_error(api.get("/api/v1/members/99999999999999999999/rewards/"), 404)
    assert_error(
        api.post("/api/v1/members/99999999999999999999/stamps/", {"card_type": 1, "reason": "x"}),
        404,
    )
