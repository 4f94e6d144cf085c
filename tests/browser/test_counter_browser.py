"""The counter page in a real browser, used with the keyboard as at the till."""

import os
import re
import shutil
from pathlib import Path

import pytest
from django.urls import reverse

from loyalty.models import Location, Program, Purchase
from loyalty.tests.factories import cashier
from members.models import Member
from members.tests.factories import MemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "counter.png"


@pytest.fixture
def till(cashier_group):
    """A programme, a café location, its cashier and a member with some history."""
    Program.objects.update_or_create(pk=1, defaults={"name": "Café Aroma", "points_name": "beans"})
    location = Location.objects.create(name="Main Street", code="main")
    user = cashier(username="kaisa", locations=[location])
    member = MemberFactory(
        phone="+358401234567", email="anna@example.com", first_name="Anna", last_name="Virtanen"
    )
    return user, member


def test_cashier_finds_a_member_records_a_purchase_and_enrols_with_the_keyboard(
    browser, logged_in, till, tmp_path
):
    user, anna = till
    context = logged_in(browser, user)
    page = context.new_page()

    # The search field has the focus: type the phone in another notation and press Enter.
    page.goto(reverse("counter:home"))
    assert page.evaluate("document.activeElement.name") == "q"
    page.keyboard.type("040 123 4567")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/counter/members/{anna.pk}/$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Anna Virtanen"

    # The amount field has the focus: type the amount with a comma and press Enter.
    assert page.evaluate("document.activeElement.name") == "amount"
    page.keyboard.type("12,50")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"\?purchase=\d+$"))
    result = page.get_by_test_id("result")
    assert "12 — 1 per €1.00 spent" in " ".join(result.inner_text().split())
    assert "New balance: 12 beans" in result.inner_text()
    assert page.get_by_test_id("balance").inner_text() == "12"
    assert Purchase.objects.get().points_awarded == 12
    # ready for the next customer: the cursor is back in the search
    assert page.evaluate("document.activeElement.name") == "q"

    shot = tmp_path / "counter.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("SAVE_SCREENSHOTS"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)

    # Enrol a new member: an unknown phone offers enrolment with the phone filled in.
    page.keyboard.type("040 765 4321")
    page.keyboard.press("Enter")
    page.get_by_role("link", name=re.compile("Enrol a new member with 040 765 4321")).click()
    assert page.get_by_label("Phone", exact=True).input_value() == "040 765 4321"
    page.keyboard.type("Liisa")  # the first name has the focus
    page.keyboard.press("Tab")
    page.keyboard.type("Mäki")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/counter/members/\d+/$"))
    assert "Liisa Mäki is now a member" in page.get_by_role("status").first.inner_text()
    new = Member.objects.get(phone="+358407654321")
    assert (new.first_name, new.last_name, new.enrolled_via) == ("Liisa", "Mäki", "counter")
    assert page.get_by_role("heading", level=1).inner_text() == "Liisa Mäki"
    context.close()


def test_bad_amount_is_shown_next_to_the_field_in_the_browser(browser, logged_in, till):
    user, anna = till
    context = logged_in(browser, user)
    page = context.new_page()
    page.goto(reverse("counter:member", args=[anna.pk]))

    page.get_by_label("Amount").fill("-5")
    page.keyboard.press("Enter")

    error = page.locator("#id_amount-errors")
    assert error.inner_text() == "Enter a positive amount."
    assert page.get_by_label("Amount").get_attribute("aria-invalid") == "true"
    assert Purchase.objects.count() == 0
    context.close()


def test_the_counter_works_without_javascript(browser, logged_in, till):
    user, anna = till
    context = logged_in(browser, user, java_script_enabled=False)
    page = context.new_page()

    page.goto(reverse("counter:home"))
    page.get_by_label(re.compile("Phone, card number")).fill(anna.formatted_card_number)
    page.get_by_role("button", name="Find").click()
    page.get_by_label("Amount").fill("8")
    page.get_by_role("button", name="Record purchase").click()
    assert "8 — 1 per €1.00 spent" in " ".join(page.get_by_test_id("result").inner_text().split())

    page.get_by_role("button", name="Record a visit").click()
    assert "Visit recorded." in page.get_by_role("status").first.inner_text()
    context.close()


def test_touch_targets_are_at_least_44_pixels(browser, logged_in, till):
    user, anna = till
    context = logged_in(browser, user)
    page = context.new_page()
    page.goto(reverse("counter:member", args=[anna.pk]))

    small = page.evaluate(
        """() => [...document.querySelectorAll('main button, main input:not([type=hidden]),'
                 + ' main a.button, header a, header button')]
            .map(el => [el.outerHTML.slice(0, 80), el.getBoundingClientRect().height])
            .filter(([, h]) => h < 44)"""
    )
    assert small == []
    context.close()
