"""The member portal in a real browser, on a phone-sized screen."""

import os
import re
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format
from django.utils.timezone import localtime

from loyalty.models import Location, Program, Tier
from loyalty.services import purchase_record
from members.models import Member
from members.tests.factories import MemberFactory
from rewards.models import Reward, Voucher
from rewards.tests.factories import RewardFactory, give_points

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
PORTAL_PAGES = [
    "portal:dashboard",
    "portal:card",
    "portal:rewards",
    "portal:vouchers",
    "portal:history",
    "account:profile",
]


def save_screenshot(page, name: str, tmp_path: Path) -> None:
    """Take a full-page screenshot; keep it in docs/ only when SAVE_SCREENSHOTS is set."""
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("SAVE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOTS / name)


@pytest.fixture
def anna(transactional_db):
    """A member with a login, some points, a purchase, a tier and a small catalogue."""
    with translation.override("en"):
        Program.objects.update_or_create(
            pk=1, defaults={"name": "Café Aroma", "points_name": "beans"}
        )
        location = Location.objects.create(name="Main Street", code="main")
        Tier.objects.create(rank=1, name="Silver", threshold=50)
        Tier.objects.create(rank=2, name="Gold", threshold=500)
        member = MemberFactory(
            phone="+358401234567", email="anna@example.com", first_name="Anna", last_name="Virtanen"
        )
        user = get_user_model().objects.create_user(username="anna", email="anna@example.com")
        Member.objects.filter(pk=member.pk).update(user=user)
        give_points(member, 150, reason="Welcome gift")
        purchase_record(member=member, location=location, total="64.90", external_id="R-1001")
        RewardFactory(name="Free coffee", points_cost=100, display_order=1)
        RewardFactory(
            name="Store credit 10 €",
            kind=Reward.Kind.STORE_CREDIT,
            points_cost=400,
            value=10,
            display_order=2,
        )
    member.refresh_from_db()
    return member, user


def test_member_sees_the_dashboard_redeems_a_reward_and_switches_to_finnish(
    browser, logged_in, anna, tmp_path
):
    member, user = anna
    context = logged_in(browser, user)
    page = context.new_page()
    page.set_viewport_size(PHONE)

    # The dashboard: greeting, balance, tier.
    page.goto(reverse("portal:dashboard"))
    assert page.get_by_role("heading", level=1).inner_text() == "Hello, Anna"
    assert page.get_by_test_id("balance").inner_text() == "214"
    assert "Silver" in page.get_by_test_id("tier").inner_text()
    assert page.locator("progress").count() == 1
    save_screenshot(page, "portal-dashboard.png", tmp_path)

    # The catalogue: what can be redeemed, and why not the rest.
    page.get_by_role("navigation", name="Your membership").get_by_role(
        "link", name="Rewards"
    ).click()
    page.wait_for_url(re.compile(r"/rewards/$"))
    assert "186 more points" in page.get_by_test_id("rewards").inner_text()
    save_screenshot(page, "portal-catalogue.png", tmp_path)

    # Redeem with the confirmation step, then the voucher with its QR code and expiry.
    page.get_by_role("link", name="Redeem Free coffee").click()
    page.wait_for_url(re.compile(r"/rewards/\d+/redeem/$"))
    page.get_by_role("button", name=re.compile("Yes, redeem for 100 beans")).click()
    page.wait_for_url(re.compile(r"/vouchers/[A-Z0-9]+/$"))
    voucher = Voucher.objects.get()
    assert page.get_by_test_id("voucher-code").inner_text() == voucher.formatted_code
    assert page.get_by_test_id("voucher-qr").locator("svg").is_visible()
    assert page.get_by_role("img", name=re.compile("QR code of voucher")).is_visible()
    assert Member.objects.get(pk=member.pk).balance == 114
    save_screenshot(page, "portal-voucher.png", tmp_path)

    # Switch to Finnish: the page says it is Finnish, and dates come in Finnish.
    page.get_by_label("Language").select_option("fi")
    page.locator(".lang-form button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "fi"
    with translation.override("fi"):
        finnish_expiry = date_format(localtime(voucher.expires_at), "DATE_FORMAT")
    assert page.get_by_test_id("voucher-expiry").inner_text() == finnish_expiry
    assert page.get_by_test_id("voucher-code").inner_text() == voucher.formatted_code
    with translation.override("fi"):
        finnish_vouchers = translation.gettext("Vouchers")
    nav = page.locator(".portal-nav")
    assert nav.get_by_role("link", name=finnish_vouchers, exact=True).is_visible()
    # The member keeps the choice: emails come in Finnish, and the next sign-in opens in it.
    assert Member.objects.get(pk=member.pk).language == "fi"
    context.close()


def test_the_membership_card_opens_offline_once_loaded(browser, logged_in, anna):
    member, user = anna
    context = logged_in(browser, user)
    page = context.new_page()
    page.set_viewport_size(PHONE)

    page.goto(reverse("portal:card"))
    assert page.get_by_test_id("card-number").inner_text() == member.formatted_card_number
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now the service worker controls the page and keeps it

    context.set_offline(True)
    page.reload()

    assert page.get_by_test_id("card-number").inner_text() == member.formatted_card_number
    assert page.get_by_test_id("card-qr").locator("svg").is_visible()
    context.close()


def test_the_dashboard_has_no_serious_accessibility_violations(browser, logged_in, anna):
    axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright")
    _member, user = anna
    context = logged_in(browser, user)
    page = context.new_page()
    page.set_viewport_size(PHONE)

    found = []
    for name in PORTAL_PAGES:
        page.goto(reverse(name))
        results = axe_playwright.Axe().run(page)
        found += [
            f"{name}: {v['id']} ({v['impact']}): {v['help']}"
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]

    assert found == []
    context.close()
