"""The member admin, used through the test client as a cashier and as a manager."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from loyalty.models import EarnRule, EntryKind, Event, LedgerEntry, Purchase, Source, Visit
from loyalty.services import points_adjust
from members.models import Member
from members.tests.factories import MemberFactory

CHANGELIST = reverse("admin:members_member_changelist")
ADD = reverse("admin:members_member_add")


def change_url(member):
    return reverse("admin:members_member_change", args=[member.pk])


def adjust_url(member):
    return reverse("admin:members_member_adjust_points", args=[member.pk])


def purchase_url(member):
    return reverse("admin:members_member_record_purchase", args=[member.pk])


def visit_url(member):
    return reverse("admin:members_member_record_visit", args=[member.pk])


def rotate_url(member):
    return reverse("admin:members_member_rotate_qr", args=[member.pk])


def listed_ids(response):
    return {m.pk for m in response.context["cl"].result_list}


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def anna(program):
    return MemberFactory(
        phone="+358401234567", email="anna@example.fi", first_name="Anna", last_name="Virtanen"
    )


@pytest.fixture
def ville(program):
    return MemberFactory(
        phone="+358407654321", email="ville@example.fi", first_name="Ville", last_name="Korhonen"
    )


# --- Roles ------------------------------------------------------------------------------------


def test_cashier_sees_the_member_list_and_a_member_page(cashier_client, anna):
    response = cashier_client.get(CHANGELIST)
    assert response.status_code == 200
    assert anna.pk in listed_ids(response)

    response = cashier_client.get(change_url(anna))
    assert response.status_code == 200
    assert anna.formatted_card_number in response.text


def test_cashier_is_refused_adjusting_points_and_changes_nothing(cashier_client, anna):
    assert cashier_client.get(adjust_url(anna)).status_code == 403
    response = cashier_client.post(adjust_url(anna), {"points": "100", "reason": "gift"})
    assert response.status_code == 403
    anna.refresh_from_db()
    assert anna.balance == 0
    assert not LedgerEntry.objects.filter(member=anna).exists()


def test_cashier_sees_no_adjust_button_but_can_record(cashier_client, anna):
    response = cashier_client.get(change_url(anna))
    assert adjust_url(anna) not in response.text
    assert purchase_url(anna) in response.text
    assert visit_url(anna) in response.text


def test_cashier_cannot_edit_a_member_profile(cashier_client, anna):
    response = cashier_client.post(
        change_url(anna), {"phone": "+358401234567", "email": "x@example.fi", "last_name": "X"}
    )
    assert response.status_code == 403
    anna.refresh_from_db()
    assert anna.last_name == "Virtanen"


def test_cashier_cannot_rotate_the_qr_token(cashier_client, anna):
    token = anna.qr_token
    assert cashier_client.post(rotate_url(anna)).status_code == 403
    anna.refresh_from_db()
    assert anna.qr_token == token


def test_anonymous_user_is_sent_to_the_login_page(client, anna):
    response = client.get(adjust_url(anna))
    assert response.status_code == 302
    assert reverse("admin:login") in response.url


# --- Adjust points ----------------------------------------------------------------------------


def test_manager_adjusts_points_with_a_reason_and_it_is_audited(manager_client, manager_user, anna):
    response = manager_client.post(
        adjust_url(anna), {"points": "150", "reason": "Broken coffee machine"}, follow=True
    )

    assert response.status_code == 200
    anna.refresh_from_db()
    assert anna.balance == 150
    entry = LedgerEntry.objects.get(member=anna, kind=EntryKind.ADJUST)
    assert entry.points == 150
    assert entry.actor == manager_user
    assert entry.reason == "Broken coffee machine"
    event = Event.objects.get(member=anna, type="points.adjusted")
    assert event.actor == manager_user
    assert event.payload["reason"] == "Broken coffee machine"
    assert any("150" in m for m in messages_of(response))


def test_manager_takes_points_away_with_a_negative_adjustment(manager_client, manager_user, anna):
    points_adjust(member=anna, points=100, reason="start", actor=manager_user)

    manager_client.post(adjust_url(anna), {"points": "-40", "reason": "Double entry"})

    anna.refresh_from_db()
    assert anna.balance == 60


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"points": "100", "reason": ""}, "reason"),
        ({"points": "100", "reason": "   "}, "reason"),
        ({"points": "0", "reason": "gift"}, "points"),
        ({"points": "abc", "reason": "gift"}, "points"),
        ({"points": "1.5", "reason": "gift"}, "points"),
        ({"points": "", "reason": "gift"}, "points"),
        ({"points": "99999999999999999999", "reason": "gift"}, "points"),
        ({"points": "100001", "reason": "gift"}, "points"),
        ({"points": "-10", "reason": "more than the balance"}, "points"),
    ],
)
def test_bad_adjustment_shows_an_error_and_writes_nothing(manager_client, anna, data, field):
    response = manager_client.post(adjust_url(anna), data)

    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert "errornote" in response.text
    anna.refresh_from_db()
    assert anna.balance == 0
    assert not LedgerEntry.objects.filter(member=anna).exists()
    assert not Event.objects.filter(member=anna, type="points.adjusted").exists()


def test_insufficient_points_error_names_the_balance(manager_client, anna):
    response = manager_client.post(adjust_url(anna), {"points": "-10", "reason": "oops"})
    assert "0 available" in str(response.context["form"].errors["points"])


# --- Add and change a member ------------------------------------------------------------------


def test_manager_enrols_a_member_through_the_admin(manager_client, manager_user, program):
    response = manager_client.post(
        ADD,
        {
            "phone": "040 555 1234",
            "email": "New.Member@Example.FI",
            "first_name": "Nea",
            "last_name": "Nieminen",
            "language": "fi",
        },
    )

    assert response.status_code == 302
    member = Member.objects.get(last_name="Nieminen")
    assert member.phone == "+358405551234"
    assert member.email == "new.member@example.fi"
    assert member.enrolled_via == Source.ADMIN
    assert member.enrolled_by == manager_user
    assert len(member.card_number) == 12
    assert Event.objects.filter(member=member, type="member.enrolled").exists()


def test_cashier_can_enrol_a_member(cashier_client, program):
    response = cashier_client.post(ADD, {"phone": "0405551234", "language": "en"})
    assert response.status_code == 302
    assert Member.objects.filter(phone="+358405551234").exists()


def test_welcome_bonus_is_given_when_enrolling_in_the_admin(manager_client, program):
    program.welcome_bonus = 25
    program.save()
    manager_client.post(ADD, {"phone": "0405551234", "language": "en"})
    assert Member.objects.get(phone="+358405551234").balance == 25


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"phone": "040 123 4567"}, "phone"),
        ({"phone": "+358 40 123 4567"}, "phone"),
        ({"phone": "12"}, "phone"),
        ({"phone": "not a phone"}, "phone"),
        ({"email": "ANNA@example.fi"}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({}, "phone"),
    ],
)
def test_adding_a_duplicate_or_malformed_contact_shows_a_field_error_and_creates_nothing(
    manager_client, anna, data, field
):
    before = Member.objects.count()

    response = manager_client.post(ADD, {"language": "en", **data})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field]
    assert Member.objects.count() == before
    assert Event.objects.filter(type="member.enrolled").count() == before


def test_manager_changes_a_member_through_the_service(manager_client, manager_user, anna):
    response = manager_client.post(
        change_url(anna),
        {
            "phone": "040 123 4567",
            "email": "anna.v@example.fi",
            "first_name": "Anna",
            "last_name": "Virtanen-Korhonen",
            "language": "fi",
            "is_active": "on",
        },
    )

    assert response.status_code == 302
    anna.refresh_from_db()
    assert anna.last_name == "Virtanen-Korhonen"
    assert anna.phone == "+358401234567"
    event = Event.objects.get(member=anna, type="member.updated")
    assert event.actor == manager_user
    assert "last_name" in event.payload["changed"]


def test_changing_a_phone_to_another_members_phone_is_refused(manager_client, anna, ville):
    response = manager_client.post(
        change_url(ville),
        {
            "phone": "0401234567",
            "email": "ville@example.fi",
            "last_name": "Korhonen",
            "language": "en",
            "is_active": "on",
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["phone"]
    ville.refresh_from_db()
    assert ville.phone == "+358407654321"
    assert not Event.objects.filter(type="member.updated").exists()


def test_members_cannot_be_deleted_in_the_admin(manager_client, anna):
    url = reverse("admin:members_member_delete", args=[anna.pk])
    assert manager_client.post(url, {"post": "yes"}).status_code == 403
    assert Member.objects.filter(pk=anna.pk).exists()


# --- Member page ------------------------------------------------------------------------------


def test_member_page_shows_balance_timeline_lots_and_purchases(
    manager_client, manager_user, anna, location
):
    from loyalty.services import purchase_record

    purchase_record(
        member=anna, location=location, total="20.00", external_id="R-77", actor=manager_user
    )
    points_adjust(member=anna, points=5, reason="Birthday treat", actor=manager_user)

    response = manager_client.get(change_url(anna))

    text = response.text
    assert response.context["member"].balance == 25
    assert 'id="member-balance">25<' in text
    assert "Birthday treat" in text
    assert manager_user.username in text
    assert "R-77" in text
    assert len(response.context["open_lots"]) == 2
    assert len(response.context["timeline"]) == 2
    assert f"member__id__exact={anna.pk}" in text
    assert anna.formatted_card_number in text


def test_full_ledger_link_lists_only_that_members_entries(
    manager_client, manager_user, anna, ville
):
    points_adjust(member=anna, points=5, reason="a", actor=manager_user)
    points_adjust(member=ville, points=7, reason="v", actor=manager_user)

    response = manager_client.get(manager_client.get(change_url(anna)).context["ledger_url"])

    assert response.status_code == 200
    assert [e.member_id for e in response.context["cl"].result_list] == [anna.pk]


def test_member_page_query_count_does_not_grow_with_history(
    manager_client, manager_user, anna, location
):
    from loyalty.services import purchase_record

    def page_queries():
        with CaptureQueriesContext(connection) as ctx:
            assert manager_client.get(change_url(anna)).status_code == 200
        return len(ctx.captured_queries)

    purchase_record(member=anna, location=location, total="5", actor=manager_user)
    few = page_queries()
    for i in range(15):
        purchase_record(member=anna, location=location, total=str(i + 1), actor=manager_user)
        points_adjust(member=anna, points=1, reason=f"r{i}", actor=manager_user)
    assert page_queries() == few


# --- Record purchase, visit, rotate QR --------------------------------------------------------


def test_cashier_records_a_purchase_and_sees_the_award_lines(
    cashier_client, cashier_user, anna, location, program
):
    program.first_purchase_bonus = 5
    program.save()
    EarnRule.objects.create(
        name="Spend over 10 bonus", kind=EarnRule.Kind.THRESHOLD, min_total="10", points=3
    )

    response = cashier_client.post(
        purchase_url(anna),
        {"total": "12.50", "external_id": "R-1", "location": location.pk},
        follow=True,
    )

    shown = " ".join(messages_of(response))
    assert "20 points awarded" in shown
    assert "Spend over 10 bonus: +3" in shown
    assert "First purchase bonus: +5" in shown
    purchase = Purchase.objects.get(member=anna)
    assert purchase.source == Source.ADMIN
    assert purchase.recorded_by == cashier_user
    anna.refresh_from_db()
    assert anna.balance == 20


def test_recording_the_same_receipt_twice_awards_once(cashier_client, anna, location):
    data = {"total": "10", "external_id": "R-9", "location": location.pk}
    cashier_client.post(purchase_url(anna), data)
    response = cashier_client.post(purchase_url(anna), data, follow=True)

    assert Purchase.objects.filter(member=anna).count() == 1
    anna.refresh_from_db()
    assert anna.balance == 10
    assert any("already recorded" in m for m in messages_of(response))


@pytest.mark.parametrize("total", ["0", "-5", "abc", "", "1e9", "12.345", "NaN"])
def test_bad_purchase_total_shows_an_error_and_writes_nothing(
    cashier_client, anna, location, total
):
    response = cashier_client.post(purchase_url(anna), {"total": total, "location": location.pk})

    assert response.status_code == 200
    assert response.context["form"].errors["total"]
    assert not Purchase.objects.exists()
    assert not LedgerEntry.objects.filter(member=anna).exists()


def test_purchase_only_at_one_of_the_users_locations(cashier_client, anna, location):
    from loyalty.tests.factories import LocationFactory

    elsewhere = LocationFactory(code="elsewhere")

    response = cashier_client.post(purchase_url(anna), {"total": "10", "location": elsewhere.pk})

    assert response.context["form"].errors["location"]
    assert not Purchase.objects.exists()


def test_purchase_for_a_closed_membership_is_refused_with_a_message(cashier_client, anna, location):
    Member.objects.filter(pk=anna.pk).update(is_active=False)

    response = cashier_client.post(purchase_url(anna), {"total": "10", "location": location.pk})

    assert response.status_code == 200
    assert "closed" in str(response.context["form"].errors)
    assert not Purchase.objects.exists()


def test_cashier_records_a_visit(cashier_client, cashier_user, anna, location, program):
    program.points_per_visit = 2
    program.save()

    response = cashier_client.post(visit_url(anna), {"location": location.pk}, follow=True)

    visit = Visit.objects.get(member=anna)
    assert visit.source == Source.ADMIN
    assert visit.recorded_by == cashier_user
    anna.refresh_from_db()
    assert anna.balance == 2
    assert any("2 points" in m for m in messages_of(response))


def test_record_views_need_their_permissions(client, anna, location):
    from loyalty.tests.factories import StaffUserFactory

    client.force_login(StaffUserFactory(locations=[location]))  # staff, no role
    assert (
        client.post(purchase_url(anna), {"total": "10", "location": location.pk}).status_code == 403
    )
    assert client.post(visit_url(anna), {"location": location.pk}).status_code == 403
    assert not Purchase.objects.exists()
    assert not Visit.objects.exists()


def test_manager_rotates_the_qr_token(manager_client, manager_user, anna):
    old = anna.qr_token

    response = manager_client.post(rotate_url(anna))

    assert response.status_code == 302
    anna.refresh_from_db()
    assert anna.qr_token != old
    assert Event.objects.get(member=anna, type="member.qr_rotated").actor == manager_user


def test_custom_view_for_an_unknown_member_is_404(manager_client, program):
    assert (
        manager_client.get(reverse("admin:members_member_adjust_points", args=[999999])).status_code
        == 404
    )


# --- List: search and query counts ------------------------------------------------------------


@pytest.mark.parametrize(
    "term_of",
    [
        lambda m: "040 123 4567",
        lambda m: "+358 40 123 4567",
        lambda m: m.formatted_card_number,
        lambda m: m.card_number,
        lambda m: "ANNA@EXAMPLE.FI",
        lambda m: "virt",
        lambda m: "Virtanen",
        lambda m: m.qr_token,
    ],
    ids=[
        "national-phone",
        "spaced-e164",
        "card-spaced",
        "card",
        "email-case",
        "prefix",
        "name",
        "qr",
    ],
)
def test_search_finds_the_member_by_any_identifier(cashier_client, anna, ville, term_of):
    response = cashier_client.get(CHANGELIST, {"q": term_of(anna)})

    assert response.status_code == 200
    assert listed_ids(response) == {anna.pk}


def test_search_by_name_matches_only_the_start_of_the_last_name(cashier_client, anna, ville):
    # "tanen" is inside "Virtanen" but not its start: the prefix index cannot find it.
    response = cashier_client.get(CHANGELIST, {"q": "tanen"})
    assert listed_ids(response) == set()


def test_search_combines_with_list_filters(cashier_client, anna, program):
    MemberFactory(last_name="Virtala", phone="+358401111111", email="v@example.fi")
    Member.objects.filter(pk=anna.pk).update(is_active=False)

    response = cashier_client.get(CHANGELIST, {"q": "virt", "is_active__exact": "1"})

    assert anna.pk not in listed_ids(response)
    assert len(listed_ids(response)) == 1


def test_member_list_query_count_is_constant(manager_client, program, location):
    def list_queries():
        with CaptureQueriesContext(connection) as ctx:
            assert manager_client.get(CHANGELIST).status_code == 200
        return len(ctx.captured_queries)

    for i in range(5):
        MemberFactory(location=location, last_name=f"A{i}")
    five = list_queries()
    for i in range(35):
        MemberFactory(location=location, last_name=f"B{i}")
    forty = list_queries()

    assert forty == five
    assert len(manager_client.get(CHANGELIST).context["cl"].result_list) == 40


def test_member_list_runs_no_full_count(manager_client, anna):
    with CaptureQueriesContext(connection) as ctx:
        manager_client.get(CHANGELIST)
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    # One count for the page (estimated on a big PostgreSQL table), never a second full one.
    assert len(counts) <= 1


def test_a_service_error_while_saving_ends_as_a_message_and_writes_nothing(
    manager_client, anna, monkeypatch
):
    from loyalty import errors

    def refuse(**kwargs):
        raise errors.MemberAlreadyExists(field="phone", what="phone number")

    # A concurrent edit can take the phone between the form check and the save.
    monkeypatch.setattr("members.admin.member_update", refuse)

    response = manager_client.post(
        change_url(anna),
        {
            "phone": "0401234567",
            "email": "anna@example.fi",
            "last_name": "Changed",
            "language": "en",
            "is_active": "on",
        },
        follow=True,
    )

    assert response.status_code == 200
    assert "A member with this phone number already exists." in messages_of(response)
    anna.refresh_from_db()
    assert anna.last_name == "Virtanen"
    from django.contrib.admin.models import LogEntry

    assert not LogEntry.objects.exists()


def test_member_page_shows_pending_points_and_when_they_become_spendable(
    manager_client, manager_user, anna, location, program
):
    from loyalty.services import purchase_record

    program.pending_days = 14
    program.save()
    purchase_record(member=anna, location=location, total="30", actor=manager_user)

    response = manager_client.get(change_url(anna))

    assert response.context["member"].pending == 30
    assert response.context["next_release"] is not None
    assert "next spendable" in response.text


@pytest.mark.parametrize(
    ("url_of", "button"),
    [
        (adjust_url, "Adjust points"),
        (purchase_url, "Record purchase"),
        (visit_url, "Record visit"),
        (rotate_url, "Rotate QR token"),
    ],
)
def test_each_member_action_page_shows_its_form(manager_client, anna, url_of, button):
    response = manager_client.get(url_of(anna))

    assert response.status_code == 200
    assert f'value="{button}"' in response.text
    assert change_url(anna) in response.text  # breadcrumb and cancel link back to the member
