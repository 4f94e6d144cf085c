"""Members through HTTP: enrol, identify, the member as a till sees them, update, consents."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty.models import Benefit, Event, PointsLot, Source, Tier
from members.models import ConsentRecord, Member
from members.tests.factories import MemberFactory
from rewards.tests.factories import give_points, issued_voucher, redeemed_voucher

from .support import assert_error, writes


def _url(member, suffix=""):
    return f"/api/v1/members/{member.pk}/{suffix}"


# -- enrol ------------------------------------------------------------------------------------


def test_enrolling_creates_the_member_at_the_keys_location(api, location):
    response = api.post(
        "/api/v1/members/",
        {"phone": "040 111 2233", "first_name": "Anna", "email": "ANNA@example.com"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    member = Member.objects.get(pk=body["id"])
    assert body["phone"] == "+358401112233" == member.phone
    assert body["email"] == "anna@example.com"
    assert body["card_number"] == member.card_number
    assert member.home_location == location
    assert member.enrolled_via == Source.API
    assert Event.objects.filter(type="member.enrolled", member=member).exists()


def test_enrolling_a_phone_that_is_taken_is_409_and_writes_nothing(api, member):
    before = writes()
    assert_error(api.post("/api/v1/members/", {"phone": member.phone}), 409, "member_exists")
    assert writes() == before


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "contact_required"),
        ({"phone": "abc"}, "invalid_phone"),
        ({"email": "not-an-email"}, "invalid_email"),
        ({"phone": {"nested": 1}}, "invalid"),
        ({"phone": "+358401112233", "birth_date": "2999-01-01"}, "invalid"),
        ({"phone": "+358401112233", "language": "xx"}, "invalid"),
    ],
)
def test_bad_enrolments_are_400(api, program, body, code):
    assert_error(api.post("/api/v1/members/", body), 400, code)
    assert not Member.objects.exists()


def test_enrolling_with_an_idempotency_key_enrols_once(api, program):
    body = {"phone": "+358401112244"}
    first = api.post("/api/v1/members/", body, **{"Idempotency-Key": "enrol-1"})
    second = api.post("/api/v1/members/", body, **{"Idempotency-Key": "enrol-1"})
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert Member.objects.count() == 1


# -- identify ---------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["phone", "local_phone", "card_number", "email", "qr_token"])
def test_a_member_is_identified_by_each_kind_of_identifier(api, member, how):
    identifier = {
        "phone": member.phone,
        "local_phone": "0" + member.phone[4:],
        "card_number": member.card_number,
        "email": member.email.upper(),
        "qr_token": member.qr_token,
    }[how]
    response = api.get("/api/v1/members/identify/", {"identifier": identifier})
    assert response.status_code == 200, response.content
    assert response.json()["id"] == member.pk


@pytest.mark.parametrize("identifier", ["", "nobody@example.com", "+358409999999", "x" * 300])
def test_an_unknown_identifier_is_404(api, member, identifier):
    response = api.get("/api/v1/members/identify/", {"identifier": identifier})
    assert_error(response, 404, "member_not_found")


# -- the member as the till sees them -----------------------------------------------------------


def test_the_member_shows_points_tier_vip_benefits_cards_and_vouchers(
    api, program, member, card_type, reward
):
    program.pending_days = 14
    program.save()
    silver_perk = Benefit.objects.create(code="SILVER10", name="10% off")
    vip_lounge = Benefit.objects.create(code="LOUNGE", name="Lounge", for_vip=True)
    silver = Tier.objects.create(rank=1, name="Silver", threshold=0)
    silver.benefits.add(silver_perk)
    Tier.objects.create(rank=2, name="Gold", threshold=1000)
    Member.objects.filter(pk=member.pk).update(
        tier=silver, vip_until=timezone.now() + timedelta(days=30)
    )
    api.post("/api/v1/purchases/", {"member": member.pk, "total": "20.00", "external_id": "R1"})
    api.post(f"/api/v1/members/{member.pk}/stamps/", {"card_type": card_type.pk, "reason": "x"})
    # 300 spendable points that expire next week.
    give_points(member, 300)
    lot = PointsLot.objects.filter(member=member, is_available=True).latest("pk")
    PointsLot.objects.filter(pk=lot.pk).update(expires_at=timezone.now() + timedelta(days=7))
    member.refresh_from_db()
    voucher = redeemed_voucher(member, reward)

    response = api.get(_url(member))
    assert response.status_code == 200
    body = response.json()
    member.refresh_from_db()
    assert body["balance"] == member.balance == 300
    assert body["pending"] == 20 and body["next_pending_release"]
    # Redeeming drew on the lot that expires first.
    assert (
        body["expiring_soon"]["points"] == 300 - reward.points_cost
        and body["expiring_soon"]["first_expiry"]
    )
    assert body["tier"]["name"] == "Silver"
    assert body["tier"]["next_tier"] == "Gold"
    assert body["tier"]["progress"]
    assert body["vip"]["active"] is True
    assert body["benefits"] == sorted({silver_perk.code, vip_lounge.code})
    assert [(c["name"], c["stamps"]) for c in body["punch_cards"]] == [("Coffee card", 2)]
    assert [v["code"] for v in body["vouchers"]] == [voucher.code]
    assert body["consents"] == {"email": False, "sms": False, "terms_accepted_at": None}


def test_an_unknown_member_is_404(api, program):
    assert_error(api.get("/api/v1/members/999999/"), 404)
    assert_error(api.get("/api/v1/members/99999999999999999999/"), 404)


# -- update and consents ----------------------------------------------------------------------


def test_updating_the_profile_changes_only_the_fields_sent(api, member):
    response = api.patch(_url(member), {"first_name": "Anni", "email": "anni@example.com"})
    assert response.status_code == 200, response.content
    assert response.json()["first_name"] == "Anni"
    member.refresh_from_db()
    assert (member.first_name, member.email) == ("Anni", "anni@example.com")
    assert Event.objects.filter(type="member.updated", member=member).exists()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"phone": "", "email": ""}, 400, "contact_required"),
        ({"first_name": None}, 400, "invalid"),
        ({"birth_date": "soon"}, 400, "invalid"),
        ([1, 2], 400, "invalid"),
    ],
)
def test_bad_updates_are_refused_and_change_nothing(api, member, body, status, code):
    before = writes()
    assert_error(api.patch(_url(member), body), status, code)
    assert writes() == before


def test_an_update_cannot_take_another_members_phone(api, member):
    other = MemberFactory()
    assert_error(api.patch(_url(member), {"phone": other.phone}), 409, "member_exists")


def test_consents_are_recorded_with_the_api_as_source(api, member):
    response = api.post(_url(member, "consents/"), {"channel": "sms", "granted": True})
    assert response.status_code == 201, response.content
    assert response.json()["sms"] is True
    api.post(_url(member, "consents/"), {"channel": "terms", "granted": True})
    body = api.get(_url(member)).json()["consents"]
    assert body["sms"] is True and body["email"] is False and body["terms_accepted_at"]
    records = ConsentRecord.objects.filter(member=member).order_by("pk")
    assert [(r.channel, r.granted, r.source) for r in records] == [
        ("sms", True, Source.API),
        ("terms", True, Source.API),
    ]
    assert Event.objects.filter(type="member.consent_changed", member=member).count() == 2


def test_a_consent_can_be_withdrawn(api, member):
    api.post(_url(member, "consents/"), {"channel": "email", "granted": True})
    response = api.post(_url(member, "consents/"), {"channel": "email", "granted": False})
    assert response.json()["email"] is False
    member.refresh_from_db()
    assert member.marketing_email is False


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"channel": "fax", "granted": True},
        {"channel": "sms"},
        {"channel": "sms", "granted": "maybe"},
        {"channel": ["sms"], "granted": True},
    ],
)
def test_bad_consents_are_400_and_write_nothing(api, member, body):
    before = ConsentRecord.objects.count()
    assert_error(api.post(_url(member, "consents/"), body), 400, "invalid")
    assert ConsentRecord.objects.count() == before


def test_consent_for_an_unknown_member_is_404(api, program):
    response = api.post("/api/v1/members/99999999999999999999/consents/", {"channel": "sms"})
    assert_error(response, 404)


def test_consents_need_the_enrol_permission(partner_key, no_permission_key, member):
    for key in (partner_key, no_permission_key):
        response = key.client().post(_url(member, "consents/"), {"channel": "sms", "granted": True})
        assert_error(response, 403, "permission_denied")
    assert not ConsentRecord.objects.filter(member=member).exists()


def test_a_partner_key_sees_only_its_partners_vouchers_on_the_member(
    partner_key, api, member, reward, partner_reward
):
    ours = issued_voucher(member, partner_reward)
    theirs = issued_voucher(member, reward)
    seen = partner_key.client().get(_url(member)).json()["vouchers"]
    assert [v["code"] for v in seen] == [ours.code]
    identified = partner_key.client().get("/api/v1/members/identify/", {"identifier": member.email})
    assert [v["code"] for v in identified.json()["vouchers"]] == [ours.code]
    # A till of the programme sees both.
    assert {v["code"] for v in api.get(_url(member)).json()["vouchers"]} == {
        ours.code,
        theirs.code,
    }
