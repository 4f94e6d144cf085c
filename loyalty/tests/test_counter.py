"""The staff counter page, through the test client as the cashier at the till sees it."""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import strip_tags

from loyalty.models import EarnRule, LedgerEntry, Purchase, Source, Visit
from loyalty.services import purchase_record
from loyalty.tests.factories import EarnRuleFactory, LocationFactory, StaffUserFactory, cashier
from loyalty.views import SESSION_LOCATION
from members.models import Member
from members.tests.factories import MemberFactory

HOME = reverse("counter:home")
ENROL = reverse("counter:enrol")


def member_url(member, **params):
    url = reverse("counter:member", args=[member.pk])
    if params:
        url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
    return url


def purchase_url(member):
    return reverse("counter:purchase", args=[member.pk])


def form_token(response) -> str:
    match = re.search(r'name="token" value="([^"]+)"', response.content.decode())
    assert match, "the purchase form has no one-time token"
    return match.group(1)


def html(response) -> str:
    return response.content.decode()


def text(response) -> str:
    """Return the page as a reader sees it: tags removed, white space collapsed."""
    return " ".join(strip_tags(html(response)).split())


@pytest.fixture
def anna(program):
    return MemberFactory(
        phone="+358401234567",
        email="anna.virtanen@example.com",
        first_name="Anna",
        last_name="Virtanen",
    )


# ------------------------------------------------------------------------------------------
# Access
# ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_user_is_sent_to_the_admin_login_and_back(client):
    response = client.get(HOME)

    assert response.status_code == 302
    assert response.url == f"{reverse('admin:login')}?next={HOME}"


@pytest.mark.django_db
def test_staff_without_the_counter_permission_gets_403(client, location, anna):
    user = StaffUserFactory(locations=[location])
    client.force_login(user)

    assert client.get(HOME).status_code == 403
    assert client.get(member_url(anna)).status_code == 403
    assert client.post(purchase_url(anna), {"amount": "10"}).status_code == 403
    assert Purchase.objects.count() == 0


def test_cashier_with_one_location_works_there_without_choosing(cashier_client, location):
    response = cashier_client.get(HOME)

    assert response.status_code == 200
    assert cashier_client.session[SESSION_LOCATION] == location.pk
    assert "Main Street" in text(response)


def test_cashier_with_several_locations_chooses_one_and_purchases_are_recorded_there(
    client, program, location, anna
):
    # given a cashier who works at two locations
    harbour = LocationFactory(name="Harbour", code="harbour")
    client.force_login(cashier(locations=[location, harbour]))

    # when they open the counter, they are asked where they work
    response = client.get(member_url(anna))
    assert response.status_code == 302
    assert response.url.startswith(reverse("counter:location"))
    response = client.post(
        reverse("counter:location"), {"location": harbour.pk, "next": member_url(anna)}
    )
    assert response.url == member_url(anna)

    # then a purchase is recorded at the chosen location
    token = form_token(client.get(member_url(anna)))
    client.post(purchase_url(anna), {"amount": "5", "token": token})
    assert Purchase.objects.get().location == harbour


def test_cashier_cannot_choose_a_location_they_do_not_work_at(client, program, location):
    other = LocationFactory(name="Elsewhere", code="elsewhere")
    harbour = LocationFactory(name="Harbour", code="harbour")
    client.force_login(cashier(locations=[location, harbour]))

    response = client.post(reverse("counter:location"), {"location": other.pk})

    assert response.status_code == 200
    assert "Choose one of your locations." in text(response)
    assert SESSION_LOCATION not in client.session


def test_root_sends_staff_without_a_membership_to_the_counter(cashier_client):
    # "/" is the member portal; staff who are not members land on the counter.
    response = cashier_client.get("/")

    assert response.status_code == 302
    assert response.url == HOME


# ------------------------------------------------------------------------------------------
# Search
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["040 123 4567", "+358 40 123 4567", "00358-40-1234567", "ANNA.VIRTANEN@EXAMPLE.COM"],
)
def test_search_by_phone_in_any_notation_or_email_opens_the_member(cashier_client, anna, typed):
    response = cashier_client.post(HOME, {"q": typed})

    assert response.status_code == 302
    assert response.url == member_url(anna)


def test_search_by_card_number_with_spaces_opens_the_member(cashier_client, anna):
    response = cashier_client.post(HOME, {"q": anna.formatted_card_number})

    assert " " in anna.formatted_card_number
    assert response.url == member_url(anna)


def test_search_by_scanned_qr_token_opens_the_member(cashier_client, anna):
    response = cashier_client.post(HOME, {"q": f"{anna.qr_token}\n"})

    assert response.url == member_url(anna)


def test_search_by_last_name_prefix_lists_the_matches(cashier_client, anna, program):
    other = MemberFactory(first_name="Ville", last_name="Virtala")
    MemberFactory(first_name="Aino", last_name="Korhonen")

    response = cashier_client.post(HOME, {"q": "vir"})

    assert response.status_code == 200
    assert "2 members found" in text(response)
    assert member_url(anna) in html(response)
    assert member_url(other) in html(response)
    assert "Korhonen" not in text(response)


def test_search_with_no_match_offers_enrolment_with_the_phone_filled_in(cashier_client, program):
    response = cashier_client.post(HOME, {"q": "040 765 4321"})

    assert response.status_code == 200
    assert "No member found" in text(response)
    assert "Enrol a new member with 040 765 4321" in text(response)

    response = cashier_client.get(f"{ENROL}?prefill=1")
    assert 'value="040 765 4321"' in html(response)


def test_empty_search_asks_for_something(cashier_client, program):
    response = cashier_client.post(HOME, {"q": "   "})

    assert response.status_code == 200
    assert "Type or scan something to search for." in text(response)


# ------------------------------------------------------------------------------------------
# Member panel
# ------------------------------------------------------------------------------------------


def test_member_panel_shows_name_card_balance_pending_expiring_and_history(
    cashier_client, program, location, anna
):
    # given points that expire soon and points that are still pending
    program.points_name = "beans"
    program.validity = "rolling"
    program.validity_months = 0
    program.save()
    purchase_record(member=anna, location=location, total="20", external_id="r1")
    program.validity = "never"
    program.pending_days = 14
    program.save()
    purchase_record(member=anna, location=location, total="7", external_id="r2")

    response = cashier_client.get(member_url(anna))

    page = text(response)
    assert "Anna Virtanen" in page
    assert anna.formatted_card_number in page
    assert "Balance 20 beans" in page
    assert "7 beans pending" in page
    assert "20 beans expire soon" in page
    assert "Earned" in page


def test_member_panel_runs_the_same_few_queries_whatever_the_history(
    cashier_client, program, location
):
    short = MemberFactory()
    long = MemberFactory()
    purchase_record(member=short, location=location, total="3")
    for i in range(40):
        purchase_record(member=long, location=location, total="3", external_id=f"r{i}")
    cashier_client.get(HOME)  # the session knows the location

    with CaptureQueriesContext(connection) as few:
        assert cashier_client.get(member_url(short)).status_code == 200
    with CaptureQueriesContext(connection) as many:
        assert cashier_client.get(member_url(long)).status_code == 200

    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
    # session, user, permissions (2), location, member, programme, expiring, timeline; for
    # rewards: the usable vouchers, the programme again and the catalogue; for tiers and
    # cards (no tiers or benefits here): perk vouchers, the programme, the tiers, the card
    # types offered here and the member's collecting cards
    assert len(many) <= 17


def test_unknown_member_goes_back_to_the_search_with_a_message(cashier_client, program):
    response = cashier_client.get(reverse("counter:member", args=[999999]), follow=True)

    assert response.redirect_chain[-1][0] == HOME
    assert "No member matches" in text(response)


def test_purchase_for_an_unknown_member_writes_nothing(cashier_client, program):
    response = cashier_client.post(
        reverse("counter:purchase", args=[999999]), {"amount": "10", "token": "a" * 22}
    )

    assert response.status_code == 302
    assert Purchase.objects.count() == 0


# ------------------------------------------------------------------------------------------
# Purchases
# ------------------------------------------------------------------------------------------


def test_purchase_shows_the_award_lines_and_the_new_balance(
    cashier_client, cashier_user, program, location, anna
):
    # given a first-purchase bonus, so the purchase earns two lines
    program.first_purchase_bonus = 50
    program.save()
    token = form_token(cashier_client.get(member_url(anna)))

    # when the cashier records 60,00 with a comma
    response = cashier_client.post(purchase_url(anna), {"amount": "60,00", "token": token})

    # then the purchase is recorded once, by the cashier, at the counter
    purchase = Purchase.objects.get()
    assert response.status_code == 302
    assert response.url == member_url(anna, purchase=purchase.pk)
    assert purchase.total == Decimal("60.00")
    assert purchase.external_id == f"counter:{token}"
    assert purchase.source == Source.COUNTER
    assert purchase.recorded_by == cashier_user
    assert purchase.location == location
    # and the page after the redirect shows why the points were given and the new balance
    page = text(cashier_client.get(response.url))
    assert "60 — 1 per €1.00 spent" in page
    assert "50 — " in page
    assert "New balance: 110 points" in page
    assert token not in page  # the history names the purchase, not the form's token
    assert "Balance 110 points" in page


def test_purchase_with_a_receipt_number_uses_it_as_the_key(cashier_client, program, anna):
    token = form_token(cashier_client.get(member_url(anna)))

    cashier_client.post(purchase_url(anna), {"amount": "9.90", "receipt": "A-77", "token": token})

    assert Purchase.objects.get().external_id == "A-77"


def test_double_submit_with_the_same_token_awards_once(cashier_client, program, anna):
    token = form_token(cashier_client.get(member_url(anna)))
    data = {"amount": "25", "token": token}

    first = cashier_client.post(purchase_url(anna), data)
    second = cashier_client.post(purchase_url(anna), data, follow=True)

    anna.refresh_from_db()
    assert Purchase.objects.count() == 1
    assert LedgerEntry.objects.filter(member=anna, kind="earn").count() == 1
    assert anna.balance == 25
    assert second.redirect_chain[-1][0] == first.url
    assert "already recorded" in text(second)


def test_reusing_a_token_for_another_amount_is_refused(cashier_client, program, anna):
    token = form_token(cashier_client.get(member_url(anna)))
    cashier_client.post(purchase_url(anna), {"amount": "25", "token": token})

    response = cashier_client.post(
        purchase_url(anna), {"amount": "30", "token": token}, follow=True
    )

    assert Purchase.objects.count() == 1
    assert "already used for another purchase" in text(response)
    assert form_token(response) != token


def test_each_panel_gives_a_new_token_so_two_real_purchases_both_count(
    cashier_client, program, anna
):
    for _ in range(2):
        token = form_token(cashier_client.get(member_url(anna)))
        cashier_client.post(purchase_url(anna), {"amount": "10", "token": token})

    assert Purchase.objects.count() == 2


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        ("-5", "Enter a positive amount."),
        ("0", "Enter a positive amount."),
        ("0,00", "Enter a positive amount."),
        ("abc", "Enter the amount as a number"),
        ("NaN", "Enter the amount as a number"),
        ("12.345", "Use at most two decimal places."),
        ("99999999", "more than the largest amount accepted"),
        ("", "Enter an amount."),
    ],
)
def test_bad_amount_shows_the_error_next_to_the_field_and_writes_nothing(
    cashier_client, program, anna, amount, error
):
    token = form_token(cashier_client.get(member_url(anna)))
    purchases, entries = Purchase.objects.count(), LedgerEntry.objects.count()

    response = cashier_client.post(purchase_url(anna), {"amount": amount, "token": token})

    page = html(response)
    assert response.status_code == 400
    assert re.search(rf'id="id_amount-errors"><li>[^<]*{re.escape(error)}', page)
    assert 'aria-describedby="id_amount-errors"' in page
    assert Purchase.objects.count() == purchases
    assert LedgerEntry.objects.count() == entries
    # the same token comes back, so fixing the amount still records once
    assert form_token(response) == token


def test_purchase_without_a_valid_token_is_refused(cashier_client, program, anna):
    response = cashier_client.post(purchase_url(anna), {"amount": "10", "token": "<x>"})

    assert response.status_code == 400
    assert "This form has expired" in text(response)
    assert Purchase.objects.count() == 0


def test_purchase_for_a_closed_membership_shows_the_error(cashier_client, program, anna):
    Member.objects.filter(pk=anna.pk).update(is_active=False)
    token = form_token(cashier_client.get(member_url(anna)))

    response = cashier_client.post(purchase_url(anna), {"amount": "10", "token": token})

    assert response.status_code == 400
    assert "This membership is closed." in text(response)
    assert Purchase.objects.count() == 0


def test_preview_shows_the_points_and_writes_nothing(cashier_client, program, anna):
    EarnRuleFactory(
        name="Big spender", kind=EarnRule.Kind.THRESHOLD, category="", points=15, min_total="50"
    )
    token = form_token(cashier_client.get(member_url(anna)))

    response = cashier_client.post(
        purchase_url(anna), {"amount": "55,50", "token": token, "action": "preview"}
    )

    page = text(response)
    assert response.status_code == 200
    assert "would earn 70 points" in page
    assert "55 — 1 per €1.00 spent" in page
    assert "15 — Big spender" in page
    assert Purchase.objects.count() == 0
    assert LedgerEntry.objects.count() == 0
    assert form_token(response) == token


# ------------------------------------------------------------------------------------------
# Visits
# ------------------------------------------------------------------------------------------


def test_record_a_visit(cashier_client, cashier_user, program, location, anna):
    program.points_per_visit = 5
    program.save()

    response = cashier_client.post(reverse("counter:visit", args=[anna.pk]), follow=True)

    visit = Visit.objects.get()
    assert (visit.member, visit.location, visit.source) == (anna, location, Source.COUNTER)
    assert visit.recorded_by == cashier_user
    assert "Visit recorded: 5 points." in text(response)
    anna.refresh_from_db()
    assert anna.balance == 5


def test_visit_needs_a_post(cashier_client, anna):
    assert cashier_client.get(reverse("counter:visit", args=[anna.pk])).status_code == 405
    assert Visit.objects.count() == 0


# ------------------------------------------------------------------------------------------
# Enrolment
# ------------------------------------------------------------------------------------------


def test_enrol_a_member_and_open_their_panel(cashier_client, cashier_user, program, location):
    program.welcome_bonus = 10
    program.save()

    response = cashier_client.post(
        ENROL,
        {
            "phone": "040 555 1234",
            "email": "",
            "first_name": "Liisa",
            "last_name": "Mäki",
            "language": "fi",
        },
    )

    member = Member.objects.get(phone="+358405551234")
    assert response.url == member_url(member)
    assert (member.enrolled_via, member.enrolled_by, member.home_location) == (
        Source.COUNTER,
        cashier_user,
        location,
    )
    assert member.language == "fi"
    page = text(cashier_client.get(response.url))
    assert "Liisa Mäki is now a member" in page
    assert "Balance 10 points" in page


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({"phone": "+358 40 123 4567"}, "phone", "A member with this phone number already exists."),
        (
            {"email": "Anna.Virtanen@Example.com"},
            "email",
            "A member with this email address already exists.",
        ),
        ({"phone": "12"}, "phone", "This is not a valid phone number."),
        ({"email": "not-an-email"}, "email", "This is not a valid email address."),
        ({"first_name": "No", "last_name": "Contact"}, "phone", "Enter a phone number or an email"),
    ],
)
def test_enrol_with_bad_contact_shows_the_error_next_to_the_field_and_writes_nothing(
    cashier_client, anna, data, field, error
):
    members = Member.objects.count()

    response = cashier_client.post(ENROL, {"language": "en", **data})

    page = html(response)
    assert response.status_code == 400
    assert re.search(rf'id="id_{field}-errors"><li>{re.escape(error)}', page), page
    assert Member.objects.count() == members


# ------------------------------------------------------------------------------------------
# Layout
# ------------------------------------------------------------------------------------------


def test_pages_have_a_language_a_skip_link_and_a_language_switcher(cashier_client, anna):
    page = html(cashier_client.get(member_url(anna)))

    assert '<html lang="en"' in page
    assert 'href="#main"' in page
    assert 'action="/i18n/setlang/"' in page
    assert 'inputmode="decimal"' in page


def test_the_counter_follows_the_chosen_language(cashier_client, anna):
    cashier_client.post("/i18n/setlang/", {"language": "fi", "next": member_url(anna)})

    page = html(cashier_client.get(member_url(anna)))

    assert '<html lang="fi"' in page
