"""Member accounts in a real browser, on a phone-sized screen: sign up, verify, claim."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.urls import reverse

from loyalty.models import Program
from loyalty.services import points_credit
from members.models import Member
from members.tests.factories import MemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "plum-Tree-1987!"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def cafe():
    cache.clear()
    Program.objects.update_or_create(pk=1, defaults={"name": "Café Aroma"})
    yield
    cache.clear()


def test_sign_up_verify_by_email_and_set_preferences(browser, live_server, cafe):
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, locale="en-GB")
    context.set_default_timeout(10_000)
    page = context.new_page()

    page.goto(reverse("account_signup"))
    page.get_by_label("Email", exact=True).fill("lea@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_label("I accept the terms of the loyalty programme.").check()
    page.get_by_label("Send me offers by email.").check()
    page.get_by_role("button", name="Join").click()
    page.get_by_role("heading", name="Verify Your Email Address").wait_for()

    # The console email of the default set-up is Django's outbox in tests.
    assert mail.outbox[-1].to == ["lea@example.com"]
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", mail.outbox[-1].body)
    page.goto(link.group(1))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(re.compile(r"^(?!.*confirm-email).*$"))

    # signed in: the preferences page opens without a login
    page.goto(reverse("account:profile"))
    page.get_by_role("heading", name="Profile and preferences", level=1).wait_for()
    assert page.get_by_label("Offers by email").is_checked()
    page.get_by_label("First name").fill("Lea")
    page.get_by_label("Offers by SMS").check()
    page.get_by_label("At most weekly").check()
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Your profile and preferences are saved.").wait_for()

    member = Member.objects.get(user__email="lea@example.com")
    assert member.first_name == "Lea"
    assert (member.marketing_email, member.marketing_sms) == (True, True)
    assert member.message_frequency == "weekly"
    context.close()


def test_claim_a_counter_membership_with_the_emailed_code(browser, live_server, cafe):
    # given a member enrolled at the counter with points, and a new login without a member
    anna = MemberFactory(phone="+358401234567", email="anna@example.com", first_name="Anna")
    points_credit(member=anna, points=75, reason="Purchase")
    user = get_user_model().objects.create_user(
        username="anna-login", email="anna.v@example.com", password=PASSWORD
    )
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)

    context = browser.new_context(base_url=live_server.url, viewport=PHONE, locale="en-GB")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(reverse("account_login"))
    page.get_by_label("Email", exact=True).fill("anna.v@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").first.click()

    # a login without a member lands on the claim page
    page.goto(reverse("account:profile"))
    page.get_by_role("heading", name="Claim your membership").wait_for()
    page.get_by_label("Card number or phone number").fill("040 123 4567")
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_role("heading", name="Enter your code").wait_for()
    assert page.get_by_text("If this membership exists").is_visible()

    # the code went to the email on file
    assert mail.outbox[-1].to == ["anna@example.com"]
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Link my membership").click()
    page.get_by_text("Your membership is now linked").wait_for()

    anna.refresh_from_db()
    assert anna.user == user
    assert anna.balance == 75
    page.goto(reverse("account:profile"))
    assert page.get_by_label("First name").input_value() == "Anna"
    context.close()


def test_delete_my_account_after_confirming_with_the_password(browser, live_server, cafe):
    # given a member with a login, points and history
    member = MemberFactory(email="anna@example.com", first_name="Anna", phone="+358401234567")
    points_credit(member=member, points=60, reason="Purchase")
    user = get_user_model().objects.create_user(
        username="anna", email="anna@example.com", password=PASSWORD
    )
    Member.objects.filter(pk=member.pk).update(user=user)
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, locale="en-GB")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(reverse("account_login"))
    page.get_by_label("Email").fill("anna@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").first.click()
    page.wait_for_url(re.compile(r"^(?!.*/accounts/login/).*$"))

    # when she goes from her account to privacy and deletes the account
    page.get_by_role("link", name="My account").click()
    page.get_by_role("link", name="Privacy").click()
    page.get_by_role("link", name="Delete my account…").click()
    page.get_by_role("heading", name="Delete my account", level=1).wait_for()
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Delete my account").click()

    # then she is signed out, her personal data is gone and the ledger's numbers stay
    page.get_by_text("Your account is deleted").wait_for()
    assert page.get_by_role("heading", name="Sign in").is_visible()
    member.refresh_from_db()
    assert member.erased_at is not None
    assert (member.email, member.phone, member.first_name, member.user) == (None, None, "", None)
    assert member.balance == 60
    page.goto(reverse("account:profile"))
    page.wait_for_url(re.compile(r"/accounts/login/"))
    context.close()


def test_account_pages_have_no_serious_accessibility_violations(browser, live_server, cafe):
    axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright")
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, locale="en-GB")
    context.set_default_timeout(10_000)
    page = context.new_page()
    found = []

    def check(label):
        results = axe_playwright.Axe().run(page)
        found.extend(
            f"{label}: {v['id']} ({v['impact']}): {v['help']}"
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        )

    for name in ["account_signup", "account_login", "account_reset_password"]:
        page.goto(reverse(name))
        check(name)
    page.goto(reverse("account_signup"))
    page.get_by_role("button", name="Join").click()  # every field in error
    check("account_signup with errors")

    member = MemberFactory(email="anna@example.com", first_name="Anna")
    user = get_user_model().objects.create_user(
        username="anna", email="anna@example.com", password=PASSWORD
    )
    Member.objects.filter(pk=member.pk).update(user=user)
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    page.goto(reverse("account_login"))
    page.get_by_label("Email").fill("anna@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").first.click()
    page.wait_for_url(re.compile(r"^(?!.*/accounts/login/).*$"))
    for name in ["account:profile", "account:privacy", "account:privacy_delete"]:
        page.goto(reverse(name))
        check(name)

    assert found == []
    context.close()
