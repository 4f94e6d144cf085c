"""The tablet kiosk through the test client: opening it, checking in, cooling down, joining."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from loyalty.models import Location, PunchCard, PunchCardType, Source, Visit
from members.models import ConsentRecord, Member
from members.tests.factories import MemberFactory
from rewards.models import Reward

TOKEN = "s3cret-kiosk-token-for-tests"
ANNA_PHONE = "+358401234567"


def text(response) -> str:
    """Return the page's visible text with whitespace collapsed (tags dropped)."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def kiosk_program(program):
    program.name = "Café Aroma"
    program.points_name = "beans"
    program.points_per_visit = 5
    program.kiosk_cooldown_minutes = 60
    program.save()
    return program


@pytest.fixture
def shop(location):
    location.kiosk_token = TOKEN
    location.save(update_fields=["kiosk_token"])
    return location


@pytest.fixture
def coffee_card(db):
    reward = Reward.objects.create(
        name="Free coffee", kind=Reward.Kind.FREE_PRODUCT, points_cost=None, voucher_valid_days=30
    )
    return PunchCardType.objects.create(
        name="Coffee card", stamps_needed=10, earn_on=PunchCardType.EarnOn.VISIT, reward=reward
    )


@pytest.fixture
def anna(kiosk_program):
    return MemberFactory(
        first_name="Anna", last_name="Virtanen", phone=ANNA_PHONE, email="anna@example.com"
    )


@pytest.fixture
def tablet(client, shop, kiosk_program):
    """A test client opened as the kiosk of the shop."""
    response = client.get(reverse("kiosk:open", args=[shop.code]), {"token": TOKEN})
    assert response.status_code == 302
    return client


def check_in(client, phone: str):
    return client.post(reverse("kiosk:home"), {"phone": phone}, follow=True)


# Opening the kiosk


def test_opening_with_the_right_token_sets_up_the_tablet_and_drops_the_token_from_the_url(
    client, shop, kiosk_program
):
    response = client.get(reverse("kiosk:open", args=[shop.code]), {"token": TOKEN})

    assert response.status_code == 302
    assert response["Location"] == reverse("kiosk:home")
    assert "kiosk" in response.cookies
    assert TOKEN not in response.cookies["kiosk"].value
    page = client.get(reverse("kiosk:home"))
    assert page.status_code == 200
    assert "Check in with your phone number" in text(page)
    assert "Café Aroma" in text(page)


@pytest.mark.parametrize("token", ["", "wrong-token", TOKEN.upper()])
def test_a_wrong_or_missing_token_shows_not_set_up_and_allows_no_check_in(
    client, shop, kiosk_program, anna, token
):
    params = {"token": token} if token else {}
    response = client.get(reverse("kiosk:open", args=[shop.code]), params)

    assert response.status_code == 403
    assert "This kiosk is not set up" in text(response)
    assert client.get(reverse("kiosk:home")).status_code == 403
    assert client.post(reverse("kiosk:home"), {"phone": ANNA_PHONE}).status_code == 403
    assert not Visit.objects.exists()


def test_a_location_without_a_token_has_no_kiosk(client, location, kiosk_program, anna):
    response = client.get(reverse("kiosk:open", args=[location.code]), {"token": ""})

    assert response.status_code == 403
    assert client.post(reverse("kiosk:home"), {"phone": ANNA_PHONE}).status_code == 403
    assert not Visit.objects.exists()


def test_an_unknown_location_code_looks_like_a_wrong_token(client, kiosk_program):
    response = client.get(reverse("kiosk:open", args=["nowhere"]), {"token": TOKEN})

    assert response.status_code == 403
    assert "This kiosk is not set up" in text(response)


def test_an_inactive_location_cannot_open_or_keep_its_kiosk(tablet, shop, anna):
    Location.objects.filter(pk=shop.pk).update(is_active=False)

    assert tablet.get(reverse("kiosk:home")).status_code == 403
    assert tablet.post(reverse("kiosk:home"), {"phone": ANNA_PHONE}).status_code == 403
    response = tablet.get(reverse("kiosk:open", args=[shop.code]), {"token": TOKEN})
    assert response.status_code == 403
    assert not Visit.objects.exists()


def test_rotating_the_token_retires_tablets_opened_with_the_old_one(tablet, shop, anna):
    out = StringIO()
    call_command("kiosk_token", shop.code, "--base-url", "https://loyalty.example.com", stdout=out)

    shop.refresh_from_db()
    assert shop.kiosk_token and shop.kiosk_token != TOKEN
    assert f"https://loyalty.example.com/kiosk/main/?token={shop.kiosk_token}" in out.getvalue()
    assert tablet.get(reverse("kiosk:home")).status_code == 403
    assert tablet.post(reverse("kiosk:home"), {"phone": ANNA_PHONE}).status_code == 403
    reopened = tablet.get(reverse("kiosk:open", args=[shop.code]), {"token": shop.kiosk_token})
    assert reopened.status_code == 302
    assert tablet.get(reverse("kiosk:home")).status_code == 200


def test_the_command_can_switch_a_kiosk_off(tablet, shop):
    call_command("kiosk_token", shop.code, "--disable", stdout=StringIO())

    shop.refresh_from_db()
    assert shop.kiosk_token == ""
    assert tablet.get(reverse("kiosk:home")).status_code == 403


def test_a_forged_cookie_does_not_open_the_kiosk(client, shop, kiosk_program):
    client.cookies["kiosk"] = f"{shop.pk}:0000"

    assert client.get(reverse("kiosk:home")).status_code == 403


# Checking in


def test_a_known_member_checks_in_and_sees_stamps_and_points(tablet, shop, anna, coffee_card):
    # when
    response = check_in(tablet, "040 123 4567")

    # then
    visit = Visit.objects.get(member=anna)
    assert (visit.source, visit.location_id, visit.points_awarded) == (Source.KIOSK, shop.pk, 5)
    assert PunchCard.objects.get(member=anna, card_type=coffee_card).stamps == 1
    page = text(response)
    assert response.redirect_chain[-1][0] == reverse("kiosk:done")
    assert "Thank you, Anna!" in page
    assert "Coffee card" in page
    assert "1 of 10 stamps" in page
    assert "+1 today" in page
    assert "+5 beans" in page
    assert "Balance: 5 beans" in page
    html = response.content.decode()
    assert html.count("kiosk-stamp--filled") == 1
    assert html.count('<li class="kiosk-stamp') == 10
    # back to the keypad by itself, without JavaScript
    assert f'<meta http-equiv="refresh" content="8;url={reverse("kiosk:home")}">' in html


def test_the_thank_you_screen_shows_only_the_first_name_and_counts(tablet, anna, coffee_card):
    response = check_in(tablet, ANNA_PHONE)

    html = response.content.decode()
    assert "Anna" in html
    for private in ("Virtanen", ANNA_PHONE, "401234567", "anna@example.com", anna.card_number):
        assert private not in html


def test_the_thank_you_screen_is_shown_once(tablet, anna):
    check_in(tablet, ANNA_PHONE)

    again = tablet.get(reverse("kiosk:done"))

    assert again.status_code == 302
    assert again["Location"] == reverse("kiosk:home")
    assert "no-store" in tablet.get(reverse("kiosk:home"))["Cache-Control"]


def test_a_second_check_in_within_the_cooldown_records_nothing_and_says_so(
    tablet, anna, coffee_card
):
    check_in(tablet, ANNA_PHONE)

    response = check_in(tablet, ANNA_PHONE)

    assert Visit.objects.filter(member=anna).count() == 1
    assert PunchCard.objects.get(member=anna).stamps == 1
    anna.refresh_from_db()
    assert anna.balance == 5
    assert "You have already checked in" in text(response)
    assert "Anna" not in text(response)


def test_a_check_in_after_the_cooldown_counts_again(tablet, anna, coffee_card):
    check_in(tablet, ANNA_PHONE)
    Visit.objects.update(occurred_at=timezone.now() - timedelta(minutes=61))

    response = check_in(tablet, ANNA_PHONE)

    assert Visit.objects.filter(member=anna).count() == 2
    assert "2 of 10 stamps" in text(response)


def test_a_malformed_number_shows_an_error_and_writes_nothing(tablet, anna):
    members_before = Member.objects.count()

    response = tablet.post(reverse("kiosk:home"), {"phone": "12"})

    assert response.status_code == 400
    assert "This is not a valid phone number." in text(response)
    assert 'aria-invalid="true"' in response.content.decode()
    assert not Visit.objects.exists()
    assert Member.objects.count() == members_before


def test_an_empty_number_asks_for_one(tablet):
    response = tablet.post(reverse("kiosk:home"), {"phone": ""})

    assert response.status_code == 400
    assert "Type your phone number first." in text(response)


def test_the_keypad_works_without_javascript(tablet):
    response = tablet.post(reverse("kiosk:home"), {"phone": "040", "key": "1"})
    assert 'value="0401"' in response.content.decode()

    response = tablet.post(reverse("kiosk:home"), {"phone": "0401", "key": "delete"})
    assert 'value="040"' in response.content.decode()

    response = tablet.post(reverse("kiosk:home"), {"phone": "0401", "key": "clear"})
    assert 'value=""' in response.content.decode()
    assert not Visit.objects.exists()


def test_the_keypad_starts_empty_for_each_customer(tablet, anna):
    check_in(tablet, ANNA_PHONE)

    page = tablet.get(reverse("kiosk:home")).content.decode()

    assert 'value=""' in page
    assert "401234567" not in page


def test_a_closed_membership_is_told_to_ask_the_staff(tablet, anna):
    Member.objects.filter(pk=anna.pk).update(is_active=False)

    response = tablet.post(reverse("kiosk:home"), {"phone": ANNA_PHONE})

    assert response.status_code == 409
    assert "This membership is closed." in text(response)
    assert not Visit.objects.exists()


# Joining at the kiosk


def test_an_unknown_number_offers_to_join_with_the_phone_filled_in(tablet):
    response = tablet.post(reverse("kiosk:home"), {"phone": "0409876543"})

    assert response.status_code == 200
    assert "Join Café Aroma" in text(response)
    assert 'value="0409876543"' in response.content.decode()
    assert not Member.objects.filter(phone="+358409876543").exists()


def test_joining_requires_the_terms(tablet):
    response = tablet.post(
        reverse("kiosk:enrol"),
        {"phone": "0409876543", "first_name": "Mikko", "marketing_sms": "on"},
    )

    assert response.status_code == 400
    assert "Accept the terms to join." in text(response)
    assert not Member.objects.filter(phone="+358409876543").exists()
    assert not Visit.objects.exists()


def test_a_joining_error_is_tied_to_its_field_for_screen_readers(tablet):
    response = tablet.post(reverse("kiosk:enrol"), {"phone": "", "first_name": "Mikko"})

    html = response.content.decode()
    for name in ("phone", "terms"):
        field = re.search(rf'<input[^>]*name="{name}"[^>]*>', html).group(0)
        assert 'aria-invalid="true"' in field, name
        described = re.search(r'aria-describedby="([^"]+)"', field).group(1).split()
        assert any(f'class="kiosk-error" id="{d}"' in html for d in described), name


def test_joining_records_the_consents_from_the_kiosk_and_checks_in(tablet, shop, coffee_card):
    response = tablet.post(
        reverse("kiosk:enrol"),
        {"phone": "0409876543", "first_name": "Mikko", "terms": "on", "marketing_sms": "on"},
        follow=True,
    )

    member = Member.objects.get(phone="+358409876543")
    assert (member.first_name, member.enrolled_via, member.home_location_id) == (
        "Mikko",
        Source.KIOSK,
        shop.pk,
    )
    assert member.terms_accepted_at is not None
    assert member.marketing_sms is True
    consents = {
        (c.channel, c.granted, c.source) for c in ConsentRecord.objects.filter(member=member)
    }
    assert consents == {
        (ConsentRecord.Channel.TERMS, True, Source.KIOSK),
        (ConsentRecord.Channel.SMS, True, Source.KIOSK),
    }
    visit = Visit.objects.get(member=member)
    assert visit.source == Source.KIOSK
    page = text(response)
    assert "Welcome, Mikko!" in page
    assert "1 of 10 stamps" in page
    assert "0409876543" not in response.content.decode()


def test_joining_without_sms_offers_records_the_no(tablet):
    tablet.post(reverse("kiosk:enrol"), {"phone": "0409876543", "terms": "on"})

    member = Member.objects.get(phone="+358409876543")
    assert member.marketing_sms is False
    sms = ConsentRecord.objects.get(member=member, channel=ConsentRecord.Channel.SMS)
    assert (sms.granted, sms.source) == (False, Source.KIOSK)


def test_joining_in_finnish_keeps_the_language(tablet):
    tablet.post(reverse("set_language"), {"language": "fi", "next": reverse("kiosk:home")})

    tablet.post(reverse("kiosk:enrol"), {"phone": "0409876543", "terms": "on"})

    assert Member.objects.get(phone="+358409876543").language == "fi"


def test_joining_with_a_number_already_taken_writes_nothing(tablet, anna):
    members_before = Member.objects.count()

    response = tablet.post(reverse("kiosk:enrol"), {"phone": ANNA_PHONE, "terms": "on"})

    assert response.status_code == 409
    assert "already exists" in text(response)
    assert Member.objects.count() == members_before
    assert not ConsentRecord.objects.filter(member=anna, source=Source.KIOSK).exists()
    assert not Visit.objects.exists()


def test_joining_needs_an_open_kiosk(client, shop, kiosk_program):
    response = client.post(reverse("kiosk:enrol"), {"phone": "0409876543", "terms": "on"})

    assert response.status_code == 403
    assert not Member.objects.exists()


def test_the_kiosk_offers_the_languages(tablet):
    tablet.post(reverse("set_language"), {"language": "fi", "next": reverse("kiosk:home")})

    page = tablet.get(reverse("kiosk:home"))

    assert '<html lang="fi"' in page.content.decode()
    for name in ("English", "suomi", "eesti", "polski"):
        assert name in page.content.decode()


def test_a_visit_that_fills_a_card_says_the_reward_is_waiting_without_its_code(
    tablet, anna, coffee_card
):
    from loyalty.punch_cards import punch_card_stamp
    from rewards.models import Voucher

    punch_card_stamp(member=anna, card_type=coffee_card, count=9, reason="Paper card")

    response = check_in(tablet, ANNA_PHONE)

    voucher = Voucher.objects.get(member=anna)
    page = text(response)
    assert "Card complete! Free coffee is waiting for you" in page
    assert "0 of 10 stamps" in page
    assert voucher.code not in response.content.decode()
    assert voucher.formatted_code not in response.content.decode()
