"""Stamp cards on the counter page in a real browser: one tap stamps, a full card shows its voucher."""

import os
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse

from loyalty.models import Benefit, Location, Program, PunchCard, PunchCardType, Stamp, Tier
from loyalty.punch_cards import punch_card_stamp
from loyalty.services import purchase_record
from loyalty.tests.factories import cashier
from members.models import VipMembership
from members.tests.factories import MemberFactory
from members.vip import vip_grant
from rewards.models import Reward, Voucher

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "counter-stamps.png"


@pytest.fixture
def cafe(cashier_group):
    """A café with a 10-stamp coffee card, tiers, and a Silver VIP member at 9 stamps."""
    Program.objects.update_or_create(pk=1, defaults={"name": "Café Aroma", "points_name": "beans"})
    location = Location.objects.create(name="Main Street", code="main")
    user = cashier(username="kaisa", locations=[location])
    reward = Reward.objects.create(
        name="Free coffee", kind=Reward.Kind.FREE_PRODUCT, points_cost=None, voucher_valid_days=30
    )
    coffee = PunchCardType.objects.create(
        name="Coffee card", stamps_needed=10, earn_on=PunchCardType.EarnOn.VISIT, reward=reward
    )
    silver = Tier.objects.create(rank=1, name="Silver", threshold=Decimal("100"), colour="#8a8d91")
    Tier.objects.create(rank=2, name="Gold", threshold=Decimal("500"), colour="#c0a040")
    silver.benefits.add(Benefit.objects.create(code="priority_service", name="Priority service"))
    anna = MemberFactory(first_name="Anna", last_name="Virtanen")
    purchase_record(member=anna, location=location, total="180", external_id="r1")
    vip_grant(member=anna, source=VipMembership.Source.PAID, fee="25", months=12)
    # The purchase gave the first stamp (a purchase counts as a visit); eight more by hand.
    punch_card_stamp(member=anna, card_type=coffee, count=8, reason="Stamps from the paper card")
    return user, anna, coffee


def test_cashier_taps_stamp_on_the_tenth_slot_and_sees_the_voucher(
    browser, logged_in, cafe, tmp_path
):
    user, anna, coffee = cafe
    context = logged_in(browser, user)
    page = context.new_page()
    page.goto(reverse("counter:member", args=[anna.pk]))

    card = page.get_by_test_id(f"card-{coffee.pk}")
    assert "9 of 10 stamps" in card.inner_text()
    assert card.locator(".stamp--filled").count() == 9
    assert "Silver" in page.get_by_test_id("tier").inner_text()
    assert page.get_by_test_id("vip").is_visible()
    button = page.get_by_role("button", name="Stamp Coffee card")
    assert button.bounding_box()["height"] >= 44

    button.click()
    page.wait_for_url(re.compile(r"\?stamp=\d+$"))

    voucher = Voucher.objects.get(member=anna)
    stamped = page.get_by_test_id("stamped")
    assert "Card complete! Free coffee issued:" in " ".join(stamped.inner_text().split())
    assert page.get_by_test_id("card-voucher-code").inner_text() == voucher.formatted_code
    assert "0 of 10 stamps" in page.get_by_test_id(f"card-{coffee.pk}").inner_text()
    manual = Stamp.objects.filter(source=Stamp.Source.MANUAL, actor=user).get()
    assert (manual.count, manual.reason) == (1, "Stamped at the counter")
    assert PunchCard.objects.get(voucher=voucher).stamps == 10
    # ready for the next customer: the cursor is back in the search
    assert page.evaluate("document.activeElement.name") == "q"

    shot = tmp_path / "counter-stamps.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("SAVE_SCREENSHOTS"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)

    # The voucher's page shows the code large with its QR code.
    stamped.get_by_role("link", name="Show code and QR").click()
    page.wait_for_url(re.compile(rf"/vouchers/{voucher.pk}/$"))
    assert voucher.formatted_code in page.locator("main").inner_text()
    assert page.locator("main svg").count() >= 1
    context.close()


def test_a_double_tap_on_stamp_gives_one_stamp(browser, logged_in, cafe):
    user, anna, coffee = cafe
    context = logged_in(browser, user, java_script_enabled=False)
    page = context.new_page()
    page.goto(reverse("counter:member", args=[anna.pk]))
    form = page.locator(f"form[action$='/cards/{coffee.pk}/stamp/']")
    data = {
        name: form.locator(f"[name='{name}']").input_value()
        for name in ("csrfmiddlewaretoken", f"stamp-{coffee.pk}-token", f"stamp-{coffee.pk}-reason")
    }

    # Without the script, a second tap sends the same form again.
    url = reverse("counter:stamp", args=[anna.pk, coffee.pk])
    for _ in range(2):
        response = page.request.post(url, form=data)
        assert response.ok

    assert Stamp.objects.filter(source=Stamp.Source.MANUAL, actor=user).count() == 1
    assert Voucher.objects.filter(member=anna).count() == 1
    context.close()
