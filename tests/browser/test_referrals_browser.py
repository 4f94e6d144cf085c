"""Refer a friend in a real browser: from the dashboard to the page, copy the link, share it,
and the friend joining through the link."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation

from campaigns.models import Referral, ReferralSettings
from campaigns.referrals import referral_code_for
from loyalty.models import Program
from members.models import Member
from members.services import member_enroll

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def anna(transactional_db):
    with translation.override("en"):
        Program.objects.update_or_create(
            pk=1, defaults={"name": "Café Aroma", "points_name": "beans"}
        )
        ReferralSettings.objects.update_or_create(
            pk=1,
            defaults={
                "is_active": True,
                "min_spend": Decimal("20.00"),
                "referrer_points": 200,
                "friend_points": 100,
            },
        )
        member = member_enroll(
            phone="+358401234567", email="anna@example.com", first_name="Anna", last_name="Virtanen"
        )
        member_enroll(
            phone="+358409999001",
            first_name="Mikko",
            last_name="Korhonen",
            referral_code=referral_code_for(member).code,
        )
        user = get_user_model().objects.create_user(username="anna", email="anna@example.com")
        Member.objects.filter(pk=member.pk).update(user=user)
    return member, user


def test_member_shares_the_link_and_a_friend_joins_with_it(browser, logged_in, anna, live_server):
    member, user = anna
    code = referral_code_for(member).code
    context = logged_in(browser, user, permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.set_viewport_size(PHONE)

    page.goto(reverse("portal:dashboard"))
    page.get_by_test_id("referral-panel").get_by_role("link", name="Invite friends").click()
    page.wait_for_url(re.compile(r"/refer/$"))

    assert page.get_by_test_id("referral-code").inner_text() == f"{code[:4]}-{code[4:]}"
    link = page.get_by_test_id("referral-link").input_value()
    assert link == f"{live_server.url}/join/{code}/"
    assert (
        page.get_by_role("img", name="QR code of your invitation link").locator("svg").is_visible()
    )
    assert "sms:" in page.get_by_test_id("share-sms").get_attribute("href")
    assert page.get_by_test_id("share-whatsapp").get_attribute("href").startswith("https://wa.me/")
    friends = page.get_by_test_id("referrals").inner_text()
    assert "Mikko K." in friends and "Korhonen" not in friends
    assert "waiting for a first purchase" in page.get_by_test_id("referral-status").inner_text()

    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:  # pragma: no cover - the accessibility check needs the axe package
        Axe = None
    if Axe is not None:
        violations = Axe().run(page).response["violations"]
        assert [v["id"] for v in violations if v["impact"] in ("serious", "critical")] == []

    # The copy button appears with JavaScript and puts the link on the clipboard.
    page.get_by_test_id("copy-link").click()
    page.get_by_text("Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == link
    context.close()

    # The friend opens the link: the sign-up form has the code, and joining records it.
    friend = browser.new_context(base_url=live_server.url, locale="en-GB")
    friend_page = friend.new_page()
    friend_page.goto(link)
    assert friend_page.get_by_label("Referral code (optional)").input_value() == code
    friend_page.get_by_label("Email", exact=True).fill("lea@example.com")
    friend_page.get_by_label("Password", exact=True).fill("a-Long-and-unusual-passw0rd")
    friend_page.get_by_label("Password (again)").fill("a-Long-and-unusual-passw0rd")
    friend_page.get_by_label("I accept the terms of the loyalty programme.").check()
    friend_page.get_by_role("button", name="Join").click()
    friend_page.wait_for_load_state()
    lea = Member.objects.get(email="lea@example.com")
    assert Referral.objects.get(referred=lea).referrer == member
    friend.close()
