"""Action bonuses through their interfaces: the admin (manager, cashier), the API over HTTP
with an API key, and the portal's "Earn more points" page."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from campaigns.models import ActionRecord, ActionType
from campaigns.tests.actions_support import ActionTypeFactory, review_action
from loyalty.api_base import api_key_create
from loyalty.models import ApiKey, Source
from loyalty.tests.support import assert_ledger_clean, fresh, snapshot
from members.models import Member
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

REVIEW = "https://g.page/r/cafe/review/1"


# --------------------------------------------------------------------------------------------
# Admin
# --------------------------------------------------------------------------------------------

ADD = "/admin/campaigns/actionrecord/add/"


def test_manager_creates_an_action_type_in_the_admin(staff_roles, manager_client):
    response = manager_client.post(
        "/admin/campaigns/actiontype/add/",
        {
            "name_en": "Review us on Google",
            "code": "google-review",
            "kind": "review",
            "description_en": "",
            "is_active": "on",
            "display_order": "0",
            "points": "50",
            "limit": "reference",
            "requires_reference": "on",
            "reference_label_en": "Link to your review",
            "recordable_by_staff": "on",
            "recordable_in_portal": "on",
            "recordable_by_api": "on",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert ActionType.objects.get(code="google-review").points == 50


def test_an_unlimited_action_without_a_reference_is_refused_in_the_admin(
    staff_roles, manager_client
):
    response = manager_client.post(
        "/admin/campaigns/actiontype/add/",
        {
            "name_en": "Anything",
            "code": "anything",
            "kind": "custom",
            "display_order": "0",
            "points": "50",
            "limit": "reference",
            "recordable_by_staff": "on",
        },
    )

    assert response.status_code == 200
    assert "must require a reference" in response.content.decode()
    assert not ActionType.objects.exists()


def test_cashier_records_an_action_for_a_member(staff_roles, cashier_client, cashier_user, member):
    action = review_action(name="Google review", points=50)

    page = cashier_client.get(f"{ADD}?member={member.pk}")
    assert page.status_code == 200
    assert "Record an action" in page.content.decode()
    response = cashier_client.post(
        ADD, {"member": member.pk, "action": action.pk, "reference": REVIEW}, follow=True
    )

    assert response.status_code == 200
    assert "Google review recorded: 50 points" in response.content.decode()
    record = ActionRecord.objects.get()
    assert (record.member, record.source, record.actor) == (member, Source.ADMIN, cashier_user)
    assert fresh(member).balance == 50


def test_the_member_page_links_to_recording_an_action_for_that_member(
    staff_roles, cashier_client, member
):
    html = cashier_client.get(f"/admin/members/member/{member.pk}/change/").content.decode()

    assert f'href="{ADD}?member={member.pk}"' in html
    assert "Record an action" in html


def test_cashier_sees_records_but_cannot_change_or_delete_them(staff_roles, cashier_client, member):
    action = ActionTypeFactory()
    from campaigns.actions import action_record

    record = action_record(member=member, action=action, source=Source.ADMIN)

    assert cashier_client.get("/admin/campaigns/actionrecord/").status_code == 200
    change = cashier_client.get(f"/admin/campaigns/actionrecord/{record.pk}/change/")
    assert change.status_code == 200
    assert 'name="_save"' not in change.content.decode()
    assert cashier_client.get(f"/admin/campaigns/actionrecord/{record.pk}/delete/").status_code in (
        302,
        403,
    )
    assert ActionRecord.objects.filter(pk=record.pk).exists()
    # and cashiers do not set up actions
    assert cashier_client.get("/admin/campaigns/actiontype/add/").status_code == 403


def test_recording_the_same_reference_again_in_the_admin_says_so_and_pays_nothing(
    staff_roles, manager_client, member
):
    action = review_action()
    manager_client.post(ADD, {"member": member.pk, "action": action.pk, "reference": REVIEW})

    response = manager_client.post(
        ADD, {"member": member.pk, "action": action.pk, "reference": REVIEW}, follow=True
    )

    assert "already recorded" in response.content.decode()
    assert ActionRecord.objects.count() == 1
    assert fresh(member).balance == 50


def test_the_admin_shows_the_limit_error_on_the_form_and_writes_nothing(
    staff_roles, manager_client, member
):
    action = ActionTypeFactory(name="Instagram follow")
    manager_client.post(ADD, {"member": member.pk, "action": action.pk})
    before = snapshot()

    response = manager_client.post(ADD, {"member": member.pk, "action": action.pk})

    assert response.status_code == 200
    assert "Instagram follow has already been recorded" in response.content.decode()
    assert snapshot() == before


def test_the_admin_form_offers_only_active_staff_actions(staff_roles, manager_client, member):
    ActionTypeFactory(name="Live one")
    ActionTypeFactory(name="Switched off", is_active=False)
    ActionTypeFactory(name="Portal only", recordable_by_staff=False)

    html = manager_client.get(ADD).content.decode()

    assert "Live one" in html
    assert "Switched off" not in html and "Portal only" not in html


def test_a_missing_reference_is_shown_on_the_admin_form(staff_roles, manager_client, member):
    action = review_action()

    response = manager_client.post(ADD, {"member": member.pk, "action": action.pk})

    assert response.status_code == 200
    assert "needs a reference" in response.content.decode()
    assert not ActionRecord.objects.exists()


def test_manager_sets_up_the_birthday_reward(staff_roles, manager_client):
    from campaigns.models import BirthdayReward

    response = manager_client.post(
        "/admin/campaigns/birthdayreward/add/",
        {"is_active": "on", "timing": "month", "points": "200", "voucher_valid_days": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    setting = BirthdayReward.current()
    assert (setting.is_active, setting.timing, setting.points) == (True, "month", 200)
    # the list goes straight to the one setting
    listing = manager_client.get("/admin/campaigns/birthdayreward/")
    assert listing.status_code == 302
    assert listing["Location"].endswith(f"/birthdayreward/{setting.pk}/change/")


def test_an_active_birthday_reward_with_nothing_to_give_is_refused(staff_roles, manager_client):
    from campaigns.models import BirthdayReward

    response = manager_client.post(
        "/admin/campaigns/birthdayreward/add/",
        {"is_active": "on", "timing": "day", "points": "0"},
    )

    assert response.status_code == 200
    assert "Give birthday points, a voucher, or both." in response.content.decode()
    assert not BirthdayReward.objects.exists()


def test_birthday_gifts_list_opens_for_the_manager(staff_roles, manager_client):
    assert manager_client.get("/admin/campaigns/birthdaygift/").status_code == 200


# --------------------------------------------------------------------------------------------
# API
# --------------------------------------------------------------------------------------------


def api_client(permissions: list[str]) -> Client:
    _key, text = api_key_create(name="Web shop", permissions=permissions)
    return Client(headers={"Authorization": f"Bearer {text}"})


def post(client: Client, url: str, body: dict, **headers):
    return client.post(url, json.dumps(body), content_type="application/json", headers=headers)


@pytest.fixture
def api(program):
    return api_client([ApiKey.Permission.READ_MEMBERS, ApiKey.Permission.RECORD_PURCHASES])


def test_api_lists_the_active_actions(api):
    review_action()
    ActionTypeFactory(code="off", is_active=False)

    response = api.get("/api/v1/actions/")

    assert response.status_code == 200
    assert [a["code"] for a in response.json()] == ["google-review"]
    assert response.json()[0]["limit"] == "reference"
    assert response.json()[0]["requires_reference"] is True


def test_api_records_an_action_then_answers_a_repeat_with_created_false(api, member):
    review_action(points=50)
    url = f"/api/v1/members/{member.pk}/actions/"

    first = post(api, url, {"action": "google-review", "reference": REVIEW})
    again = post(api, url, {"action": "google-review", "reference": REVIEW})

    assert first.status_code == 201, first.content
    assert first.json()["created"] is True
    assert first.json()["points"] == 50
    assert first.json()["balance"] == 50
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["balance"] == 50
    assert ActionRecord.objects.get().source == Source.API
    assert_ledger_clean()


@pytest.mark.parametrize(
    "body, setup, status, code",
    [
        ({}, {}, 400, "invalid"),
        ({"action": "nope"}, {}, 404, "action_not_found"),
        ({"action": "x", "reference": "r" * 256}, {}, 400, "invalid"),
        ({"action": "x"}, {"requires_reference": True}, 400, "reference_required"),
        ({"action": "x"}, {"is_active": False}, 409, "action_inactive"),
        ({"action": "x"}, {"recordable_by_api": False}, 403, "action_source_not_allowed"),
    ],
)
def test_api_refuses_bad_input_with_a_clear_error(api, member, body, setup, status, code):
    ActionTypeFactory(code="x", **setup)
    before = snapshot()

    response = post(api, f"/api/v1/members/{member.pk}/actions/", body)

    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert snapshot() == before


def test_api_limit_reached_is_a_409(api, member):
    ActionTypeFactory(code="app", kind=ActionType.Kind.APP_INSTALL)
    url = f"/api/v1/members/{member.pk}/actions/"
    assert post(api, url, {"action": "app"}).status_code == 201

    response = post(api, url, {"action": "app"})

    assert response.status_code == 409
    assert response.json()["code"] == "action_limit_reached"


def test_api_unknown_member_is_a_404(api, program):
    ActionTypeFactory(code="app")

    response = post(api, "/api/v1/members/999999/actions/", {"action": "app"})

    assert response.status_code == 404
    assert response.json()["code"] == "member_not_found"


def test_api_retry_with_the_same_idempotency_key_returns_the_first_response(api, member):
    ActionTypeFactory(code="app", points=10)
    url = f"/api/v1/members/{member.pk}/actions/"

    first = post(api, url, {"action": "app"}, **{"Idempotency-Key": "k1"})
    again = post(api, url, {"action": "app"}, **{"Idempotency-Key": "k1"})

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert fresh(member).balance == 10


def test_api_needs_the_right_key_permission(program, member):
    ActionTypeFactory(code="app")
    reader = api_client([ApiKey.Permission.READ_MEMBERS])

    response = post(reader, f"/api/v1/members/{member.pk}/actions/", {"action": "app"})

    assert response.status_code == 403
    assert Client().get("/api/v1/actions/").status_code in (401, 403)
    assert not ActionRecord.objects.exists()


def test_the_openapi_schema_documents_the_action_endpoints(program):
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]

    assert paths["/api/v1/actions/"]["get"]["operationId"] == "actions_list"
    post_op = paths["/api/v1/members/{id}/actions/"]["post"]
    assert post_op["operationId"] == "members_actions_record"
    assert {"200", "201", "409"} <= set(post_op["responses"])


# --------------------------------------------------------------------------------------------
# Portal
# --------------------------------------------------------------------------------------------


@pytest.fixture
def signed_in(client, program):
    member = MemberFactory(first_name="Anna")
    user = get_user_model().objects.create_user(username="anna", email="anna@example.com")
    Member.objects.filter(pk=member.pk).update(user=user)
    client.force_login(user)
    return client, member


def test_the_earn_page_lists_portal_actions_and_what_is_done(signed_in):
    client, member = signed_in
    review_action(name="Review us on Google", description="Tell others about us.")
    ActionTypeFactory(code="app", name="Install our app", kind=ActionType.Kind.APP_INSTALL)
    ActionTypeFactory(name="Staff only thing", recordable_in_portal=False)
    from campaigns.actions import action_record

    action_record(member=member, action="app", source=Source.PORTAL)

    response = client.get("/earn/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Review us on Google" in html and "Tell others about us." in html
    assert "Link to your review" in html
    assert "Install our app" in html and "Done, thank you!" in html
    assert "Staff only thing" not in html


def test_a_member_claims_a_review_with_its_link(signed_in):
    client, member = signed_in
    review_action(points=50)

    response = client.post("/earn/google-review/", {"reference": REVIEW}, follow=True)

    assert response.status_code == 200
    assert "You earned 50" in response.content.decode()
    record = ActionRecord.objects.get()
    assert (record.member, record.source, record.reference) == (member, Source.PORTAL, REVIEW)
    assert fresh(member).balance == 50


def test_claiming_the_same_link_twice_pays_once_and_says_so(signed_in):
    client, member = signed_in
    review_action(points=50)
    client.post("/earn/google-review/", {"reference": REVIEW})

    response = client.post("/earn/google-review/", {"reference": REVIEW}, follow=True)

    assert "already claimed" in response.content.decode()
    assert fresh(member).balance == 50


@pytest.mark.parametrize(
    "reference, message",
    [("", "needs a reference"), ("not a link", "starting with https://")],
)
def test_a_bad_claim_shows_the_error_and_pays_nothing(signed_in, reference, message):
    client, _member = signed_in
    review_action()
    before = snapshot()

    response = client.post("/earn/google-review/", {"reference": reference})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert snapshot() == before


def test_an_action_not_for_the_portal_cannot_be_claimed_there(signed_in):
    client, _member = signed_in
    ActionTypeFactory(code="staff-only", recordable_in_portal=False)
    ActionTypeFactory(code="off", is_active=False)

    assert client.post("/earn/staff-only/", {}).status_code == 404
    assert client.post("/earn/off/", {}).status_code == 404
    assert not ActionRecord.objects.exists()


def test_the_earn_page_needs_a_signed_in_member(client, program):
    response = client.get("/earn/")

    assert response.status_code == 302
    assert "login" in response["Location"]


def test_the_dashboard_links_to_the_earn_page(signed_in):
    client, _member = signed_in

    html = client.get("/").content.decode()

    assert 'href="/earn/"' in html


def test_claiming_needs_post(signed_in):
    client, _member = signed_in
    ActionTypeFactory(code="app")

    assert client.get("/earn/app/").status_code == 405
    assert not ActionRecord.objects.exists()
    assert reverse("campaigns:earn") == "/earn/"


# --------------------------------------------------------------------------------------------
# Counter page
# --------------------------------------------------------------------------------------------


def test_cashier_records_an_action_on_the_counter_page(
    staff_roles, cashier_client, cashier_user, member
):
    review_action(name="Google review", points=50)
    ActionTypeFactory(name="Portal only", recordable_in_portal=True, recordable_by_staff=False)

    page = cashier_client.get(f"/counter/members/{member.pk}/").content.decode()
    assert "Record an action" in page
    assert "Google review (+50)" in page and "Portal only" not in page

    response = cashier_client.post(
        f"/counter/members/{member.pk}/actions/",
        {"action": "google-review", "reference": REVIEW},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == f"/counter/members/{member.pk}/"
    assert "Google review recorded: 50 points." in response.content.decode()
    record = ActionRecord.objects.get()
    assert (record.source, record.actor) == (Source.COUNTER, cashier_user)
    assert fresh(member).balance == 50


def test_a_refused_action_at_the_counter_shows_why_and_pays_nothing(
    staff_roles, cashier_client, member
):
    review_action()
    before = snapshot()

    response = cashier_client.post(
        f"/counter/members/{member.pk}/actions/", {"action": "google-review"}, follow=True
    )

    assert "needs a reference" in response.content.decode()
    assert snapshot() == before


def test_the_counter_action_needs_the_permission_to_record_actions(
    staff_roles, client, location, member
):
    from django.contrib.auth.models import Permission

    from loyalty.tests.factories import cashier

    ActionTypeFactory(code="app")
    url = f"/counter/members/{member.pk}/actions/"
    assert client.post(url, {"action": "app"}).status_code == 302  # to the login
    user = cashier(locations=[location])
    user.groups.clear()  # may use the counter, may not record actions
    user.user_permissions.add(Permission.objects.get(codename="use_counter"))
    client.force_login(user)

    assert client.get(f"/counter/members/{member.pk}/").status_code == 200
    assert client.post(url, {"action": "app"}).status_code == 403
    assert client.get(url).status_code == 405
    assert not ActionRecord.objects.exists()
