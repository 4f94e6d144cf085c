"""Rewards, vouchers and paying with points through HTTP."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty.models import Program
from loyalty.selectors import config_changed
from rewards.models import Reward, Voucher
from rewards.tests.factories import RewardFactory, issued_voucher, redeemed_voucher

from .support import assert_error, writes


def test_the_catalogue_says_what_is_available_and_why_not(api, member, reward):
    RewardFactory(name="Spa day", points_cost=5000)
    response = api.get(f"/api/v1/members/{member.pk}/rewards/")
    assert response.status_code == 200
    by_name = {r["name"]: r for r in response.json()}
    assert by_name["Free coffee"]["available"] is False
    assert by_name["Free coffee"]["reasons"]
    assert by_name["Spa day"]["available"] is False


def test_a_member_with_points_can_redeem(api, rich_member, reward):
    response = api.get(f"/api/v1/members/{rich_member.pk}/rewards/")
    assert {r["name"]: r["available"] for r in response.json()}["Free coffee"] is True
    response = api.post(f"/api/v1/members/{rich_member.pk}/redemptions/", {"reward": reward.pk})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["balance"] == 900
    assert body["state"] == "issued"
    assert body["reward"]["name"] == "Free coffee"
    assert Voucher.objects.get(code=body["code"]).member == rich_member


def test_redeeming_without_enough_points_is_422_and_writes_nothing(api, member, reward):
    before = writes()
    response = api.post(f"/api/v1/members/{member.pk}/redemptions/", {"reward": reward.pk})
    assert_error(response, 422, "insufficient_points")
    assert writes() == before


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "invalid"),
        ({"reward": "x"}, 400, "invalid"),
        ({"reward": 0}, 400, "invalid"),
        ({"reward": 10**20}, 400, "invalid"),
        ({"reward": 999999}, 404, "reward_not_found"),
    ],
)
def test_bad_redemptions_are_refused(api, rich_member, body, status, code):
    before = writes()
    response = api.post(f"/api/v1/members/{rich_member.pk}/redemptions/", body)
    assert_error(response, status, code)
    assert writes() == before


def test_redeeming_for_an_unknown_member_is_404(api, reward):
    assert_error(
        api.post("/api/v1/members/999999/redemptions/", {"reward": reward.pk}),
        404,
        "member_not_found",
    )


def test_the_idempotency_key_makes_the_redemption_itself_idempotent(api, rich_member, reward):
    url = f"/api/v1/members/{rich_member.pk}/redemptions/"
    first = api.post(url, {"reward": reward.pk}, **{"Idempotency-Key": "r-1"})
    assert Voucher.objects.get(code=first.json()["code"]).idempotency_key == "r-1"
    second = api.post(url, {"reward": reward.pk}, **{"Idempotency-Key": "r-1"})
    assert second.json() == first.json()
    rich_member.refresh_from_db()
    assert rich_member.balance == 900


# -- vouchers ---------------------------------------------------------------------------------


@pytest.fixture
def voucher(rich_member, reward):
    return redeemed_voucher(rich_member, reward)


def test_validating_shows_the_voucher_without_using_it(api, voucher):
    before = writes()
    response = api.get(f"/api/v1/vouchers/{voucher.formatted_code.lower()}/")
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == voucher.code
    assert body["usable"] is True and body["reason"] is None
    assert body["member"] == voucher.member_id
    assert body["state"] == "issued"
    assert body["value"] == "5.00"
    assert writes() == before


def test_a_used_voucher_validates_as_not_usable_with_the_reason(api, voucher):
    api.post(f"/api/v1/vouchers/{voucher.code}/use/", {})
    body = api.get(f"/api/v1/vouchers/{voucher.code}/").json()
    assert body["state"] == "used"
    assert body["usable"] is False
    assert body["reason_code"] == "voucher_used"


@pytest.mark.parametrize("code", ["nope", "AAAAAAAAAA", "0" * 10, "x" * 300, "%00", "22222-22222"])
def test_unknown_or_malformed_codes_are_404(api, code):
    assert_error(api.get(f"/api/v1/vouchers/{code}/"), 404, "voucher_not_found")
    before = writes()
    assert_error(api.post(f"/api/v1/vouchers/{code}/use/", {}), 404, "voucher_not_found")
    assert_error(
        api.post(f"/api/v1/vouchers/{code}/cancel/", {"reason": "x"}), 404, "voucher_not_found"
    )
    assert writes() == before


def test_using_a_voucher_once_then_a_second_time_is_409(api, voucher, location):
    response = api.post(f"/api/v1/vouchers/{voucher.code}/use/", {})
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "used"
    assert response.json()["amount_used"] == "5.00"
    voucher.refresh_from_db()
    assert voucher.used_location == location
    before = writes()
    assert_error(api.post(f"/api/v1/vouchers/{voucher.code}/use/", {}), 409, "voucher_used")
    assert writes() == before


def test_store_credit_is_drawn_down_in_parts(api, member):
    credit = RewardFactory(
        name="Gift card", kind=Reward.Kind.STORE_CREDIT, value=Decimal("20.00"), points_cost=None
    )
    voucher = issued_voucher(member, credit)
    url = f"/api/v1/vouchers/{voucher.code}/use/"
    response = api.post(url, {"amount": "12.50"})
    assert response.status_code == 200, response.content
    assert response.json()["remaining_value"] == "7.50"
    assert response.json()["amount_used"] == "12.50"
    assert response.json()["state"] == "issued"
    before = writes()
    assert_error(api.post(url, {"amount": "8.00"}), 400, "amount_above_remaining")
    assert_error(api.post(url, {"amount": "-1"}), 400, "invalid")
    assert_error(api.post(url, {"amount": "0"}), 400)
    assert_error(api.post(url, {"amount": "abc"}), 400, "invalid")
    assert writes() == before
    response = api.post(url, {})
    assert response.json()["amount_used"] == "7.50"
    assert response.json()["state"] == "used"


def test_an_amount_on_a_whole_voucher_is_refused(api, voucher):
    assert_error(api.post(f"/api/v1/vouchers/{voucher.code}/use/", {"amount": "1.00"}), 400)


def test_cancelling_gives_the_points_back(api, voucher, rich_member):
    url = f"/api/v1/vouchers/{voucher.code}/cancel/"
    assert_error(api.post(url, {}), 400, "invalid")
    assert_error(api.post(url, {"reason": " "}), 400)
    response = api.post(url, {"reason": "Redeemed by mistake"})
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "cancelled"
    assert response.json()["points_refunded"] == 100
    rich_member.refresh_from_db()
    assert rich_member.balance == 1100  # 1000 + the 100 given for the redemption
    assert_error(api.post(url, {"reason": "again"}), 409, "voucher_cancelled")


# -- partners see only their own vouchers ----------------------------------------------------


def test_a_partner_key_sees_and_uses_only_its_partners_vouchers(
    partner_key, rich_member, reward, partner_reward, other_partner
):
    own = redeemed_voucher(rich_member, partner_reward)
    programme = redeemed_voucher(rich_member, reward)
    others = redeemed_voucher(rich_member, RewardFactory(points_cost=10, partner=other_partner))
    client = partner_key.client()
    assert client.get(f"/api/v1/vouchers/{own.code}/").json()["usable"] is True
    for voucher in (programme, others):
        not_found = assert_error(client.get(f"/api/v1/vouchers/{voucher.code}/"), 404)
        unknown = assert_error(client.get("/api/v1/vouchers/22222-22222/"), 404)
        # Said exactly like an unknown code: nothing is learnt about other vouchers.
        assert not_found == unknown
        assert_error(client.post(f"/api/v1/vouchers/{voucher.code}/use/", {}), 404)
        voucher.refresh_from_db()
        assert voucher.status == Voucher.Status.ISSUED
    response = client.post(f"/api/v1/vouchers/{own.code}/use/", {})
    assert response.status_code == 200
    own.refresh_from_db()
    assert own.status == Voucher.Status.USED
    assert own.used_partner == partner_reward.partner


def test_a_programme_till_sees_a_partners_voucher_but_cannot_use_it(
    api, rich_member, partner_reward
):
    voucher = redeemed_voucher(rich_member, partner_reward)
    body = api.get(f"/api/v1/vouchers/{voucher.code}/").json()
    assert body["usable"] is False
    assert body["reason_code"] == "voucher_not_valid_here"
    assert_error(
        api.post(f"/api/v1/vouchers/{voucher.code}/use/", {}), 403, "voucher_not_valid_here"
    )


# -- paying with points -----------------------------------------------------------------------


def test_pay_with_points_quote_then_pay(api, rich_member):
    quote = api.post("/api/v1/points-payments/quote/", {"member": rich_member.pk, "amount": "4.00"})
    assert quote.status_code == 200, quote.content
    assert quote.json() == {
        "points": 400,
        "discount": "4.00",
        "max_points": 400,
        "point_value": "0.0100",
    }
    body = {"member": rich_member.pk, "amount": "4.00", "points": 300, "external_id": "P-9"}
    paid = api.post("/api/v1/points-payments/", body)
    assert paid.status_code == 201, paid.content
    assert paid.json()["discount"] == "3.00"
    assert paid.json()["balance"] == 700
    again = api.post("/api/v1/points-payments/", body)
    assert again.json()["payment"] == paid.json()["payment"]
    rich_member.refresh_from_db()
    assert rich_member.balance == 700


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": "4.00", "points": 2000}, 422, "insufficient_points"),
        ({"amount": "1.00", "points": 500}, 400, "invalid_points"),
        ({"amount": "-4.00"}, 400, "invalid"),
        ({"amount": "4.00", "points": -3}, 400, "invalid"),
        ({"amount": "4.00", "points": 1.5}, 400, "invalid"),
        ({"amount": "4.00", "points": 10**12}, 400, "invalid"),
        ({"amount": "1e999"}, 400, "invalid"),
        ({}, 400, "invalid"),
    ],
)
def test_bad_points_payments_are_refused(api, rich_member, body, status, code):
    before = writes()
    for url in ("/api/v1/points-payments/quote/", "/api/v1/points-payments/"):
        assert_error(api.post(url, {"member": rich_member.pk, **body}), status, code)
    assert writes() == before


def test_paying_with_points_when_it_is_switched_off_is_409(api, rich_member):
    Program.objects.filter(pk=1).update(point_value=0)
    config_changed()
    response = api.post(
        "/api/v1/points-payments/", {"member": rich_member.pk, "amount": "4.00", "points": 10}
    )
    assert_error(response, 409, "pay_with_points_disabled")
