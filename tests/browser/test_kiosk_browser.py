"""The kiosk in a real browser: a member taps their number on the keypad and gets a stamp."""

import os
import re
import shutil
from pathlib import Path

import pytest
from django.urls import reverse

from loyalty.models import Location, Program, PunchCard, PunchCardType, Source, Visit
from loyalty.punch_cards import punch_card_stamp
from members.tests.factories import MemberFactory
from rewards.models import Reward

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "kiosk.png"
TOKEN = "kiosk-token-main-street"


@pytest.fixture
def cafe(transactional_db):
    """A café whose door tablet is a kiosk, a visit stamp card, and Anna at 3 stamps."""
    Program.objects.update_or_create(
        pk=1,
        defaults={
            "name": "Café Aroma",
            "points_name": "beans",
            "points_per_visit": 5,
            "primary_colour": "#6b3e26",
        },
    )
    location = Location.objects.create(name="Main Street", code="main", kiosk_token=TOKEN)
    reward = Reward.objects.create(
        name="Free coffee", kind=Reward.Kind.FREE_PRODUCT, points_cost=None, voucher_valid_days=30
    )
    coffee = PunchCardType.objects.create(
        name="Coffee card", stamps_needed=10, earn_on=PunchCardType.EarnOn.VISIT, reward=reward
    )
    anna = MemberFactory(first_name="Anna", last_name="Virtanen", phone="+358401234567")
    punch_card_stamp(member=anna, card_type=coffee, count=3, reason="Stamps from the paper card")
    return location, anna, coffee


def open_tablet(browser, live_server, **options):
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 800, "height": 1280},
        locale="en-GB",
        has_touch=True,
        **options,
    )
    context.set_default_timeout(10_000)
    return context


def tap_number(page, digits: str) -> None:
    keypad = page.get_by_role("group", name="Keypad")
    for digit in digits:
        keypad.get_by_role("button", name=digit, exact=True).click()


def test_a_member_taps_their_number_and_sees_a_stamp_added(browser, live_server, cafe, tmp_path):
    location, anna, coffee = cafe
    context = open_tablet(browser, live_server)
    page = context.new_page()

    # Staff open the kiosk once with its token; the token does not stay in the address.
    page.goto(f"{reverse('kiosk:open', args=[location.code])}?token={TOKEN}")
    page.wait_for_url(re.compile(r"/kiosk/$"))
    assert TOKEN not in page.url
    key = page.get_by_role("button", name="5", exact=True)
    assert key.bounding_box()["height"] >= 60

    tap_number(page, "0401234568")
    page.get_by_role("button", name="Delete the last digit").click()
    page.get_by_role("button", name="7", exact=True).click()
    assert page.get_by_label("Your phone number", exact=True).input_value() == "0401234567"
    page.get_by_role("button", name="Check in").click()

    page.wait_for_url(re.compile(r"/kiosk/done/$"))
    thanks = page.get_by_test_id("kiosk-thanks")
    assert "Thank you, Anna!" in thanks.inner_text()
    card = page.get_by_test_id("kiosk-card")
    assert "4 of 10 stamps" in card.inner_text()
    assert "+1 today" in card.inner_text()
    assert card.locator(".kiosk-stamp--filled").count() == 4
    assert card.locator(".kiosk-stamp--new").count() == 1
    assert "Balance: 5 beans" in page.get_by_test_id("kiosk-points").inner_text()
    assert "Virtanen" not in page.content()
    assert PunchCard.objects.get(member=anna, card_type=coffee).stamps == 4
    assert Visit.objects.get(member=anna).source == Source.KIOSK

    page.wait_for_timeout(700)  # let the new stamp's animation finish for the picture
    shot = tmp_path / "kiosk.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("SAVE_SCREENSHOTS"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)

    # "Done" (or the meta refresh) brings back an empty keypad for the next customer.
    page.get_by_role("link", name="Done").click()
    page.wait_for_url(re.compile(r"/kiosk/$"))
    assert page.get_by_label("Your phone number", exact=True).input_value() == ""
    context.close()


def test_a_new_customer_joins_at_the_kiosk_without_javascript(browser, live_server, cafe):
    location, _anna, _coffee = cafe
    context = open_tablet(browser, live_server, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{reverse('kiosk:open', args=[location.code])}?token={TOKEN}")

    # Each key sends the form and comes back with the number one digit longer.
    tap_number(page, "0409876543")
    assert page.get_by_label("Your phone number", exact=True).input_value() == "0409876543"
    page.get_by_role("button", name="Check in").click()

    assert page.get_by_label("Phone number", exact=True).input_value() == "0409876543"
    page.get_by_label("First name (optional)").fill("Mikko")
    page.get_by_role("button", name="Join and check in").click()
    assert "Accept the terms to join." in page.get_by_test_id("kiosk-error").inner_text()

    page.get_by_label("I accept the programme's terms").check()
    page.get_by_role("button", name="Join and check in").click()
    page.wait_for_url(re.compile(r"/kiosk/done/$"))
    assert "Welcome, Mikko!" in page.get_by_test_id("kiosk-thanks").inner_text()
    assert "1 of 10 stamps" in page.get_by_test_id("kiosk-card").inner_text()
    context.close()


def test_a_tablet_without_the_token_shows_not_set_up(browser, live_server, cafe):
    location, _anna, _coffee = cafe
    context = open_tablet(browser, live_server)
    page = context.new_page()

    response = page.goto(f"{reverse('kiosk:open', args=[location.code])}?token=guess")

    assert response.status == 403
    assert page.get_by_role("heading", name="This kiosk is not set up").is_visible()
    assert page.get_by_role("group", name="Keypad").count() == 0
    context.close()
