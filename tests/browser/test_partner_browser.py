"""The partner page in a real browser: partner staff sign in, use a voucher, see it listed."""

import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import translation

from loyalty.models import Program
from loyalty.roles import PARTNER_STAFF
from loyalty.tests.factories import StaffUserFactory
from members.tests.factories import MemberFactory
from rewards.models import Reward, Voucher
from rewards.tests.factories import PartnerFactory, RewardFactory, issued_voucher

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-only"


@pytest.fixture
def partner_group(transactional_db):
    """Return the Partner staff group, restoring it after an earlier test's flush."""
    group, _created = Group.objects.get_or_create(name=PARTNER_STAFF)
    group.permissions.add(Permission.objects.get(codename="use_partner_page"))
    return group


@pytest.fixture
def bakery_voucher(partner_group):
    """A bakery partner, one of its staff, and a member's voucher for a free bun there."""
    Program.objects.update_or_create(pk=1, defaults={"name": "Café Aroma"})
    bakery = PartnerFactory(name="Bakery Aalto")
    user = StaffUserFactory(username="baker", role=PARTNER_STAFF)
    bakery.staff.add(user)
    member = MemberFactory(first_name="Anna", last_name="Virtanen")
    # The reward's name is a translated field: give it in English, the browser's language.
    with translation.override("en"):
        bun = RewardFactory(name="Free bun", kind=Reward.Kind.PARTNER, partner=bakery)
    return user, issued_voucher(member, bun)


def test_partner_staff_logs_in_uses_a_typed_code_and_sees_it_in_the_list(
    browser, live_server, bakery_voucher
):
    user, voucher = bakery_voucher
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, locale="en-GB"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()

    # The partner page sends a visitor to the login page and back.
    page.goto(reverse("partner:home"))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/partner/$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Vouchers for Bakery Aalto"

    # The code field has the focus: type the code in lower case without the dash.
    assert page.evaluate("document.activeElement.name") == "voucher-code"
    page.keyboard.type(voucher.code.lower())
    page.keyboard.press("Enter")
    found = page.get_by_test_id("voucher-check")
    assert "Free bun" in found.inner_text()
    assert "Anna V." in found.inner_text()
    assert "Virtanen" not in page.content()

    # The confirm button has the focus.
    assert page.evaluate("document.activeElement.value") == "use"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/partner/$"))
    assert (
        f"Voucher {voucher.formatted_code} used: Free bun."
        in page.get_by_role("status").first.inner_text()
    )
    row = page.get_by_test_id("uses").locator("tbody tr")
    assert row.count() == 1
    assert voucher.formatted_code in row.inner_text()
    assert "Anna V." in row.inner_text()
    assert Voucher.objects.get().status == "used"

    # Nothing on the phone-sized page is wider than the screen (except the scrollable table).
    overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert overflow is False
    context.close()
