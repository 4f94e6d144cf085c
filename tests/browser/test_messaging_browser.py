"""Member messages in a real browser: the inbox with its unread badge, and unsubscribing."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation

from campaigns.messaging import message_send, unsubscribe_token
from campaigns.models import MessagingSettings
from loyalty.models import Program, Source
from members.models import Member
from members.services import member_consent_set
from members.tests.factories import MemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def anna(transactional_db):
    with translation.override("en"):
        Program.objects.update_or_create(pk=1, defaults={"name": "Café Aroma"})
        config = MessagingSettings.get()
        config.quiet_hours_start = config.quiet_hours_end = dt.time(0, 0)
        config.save()
        member = MemberFactory(email="anna@example.com", first_name="Anna")
        user = get_user_model().objects.create_user(username="anna", email="anna@example.com")
        Member.objects.filter(pk=member.pk).update(user=user)
        member.refresh_from_db()
        message_send(
            member=member,
            type_code="voucher_issued",
            channels=["inbox"],
            context={"reward": "Free coffee", "voucher_code": "ABCDE-FGHJK"},
        )
    return member, user


def test_member_reads_a_message_and_the_unread_badge_goes(browser, logged_in, anna):
    _member, user = anna
    context = logged_in(browser, user)
    page = context.new_page()
    page.set_viewport_size(PHONE)

    page.goto(reverse("portal:dashboard"))
    assert page.get_by_test_id("inbox-unread").inner_text().startswith("1")
    page.get_by_test_id("nav-inbox").click()
    page.get_by_role("link", name="Your voucher: Free coffee").click()

    body = page.get_by_test_id("inbox-body")
    assert "ABCDE-FGHJK" in body.inner_text()
    assert page.get_by_test_id("inbox-unread").count() == 0

    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:  # pragma: no cover - the accessibility check needs the axe package
        Axe = None
    if Axe is not None:
        for url in (reverse("campaigns:inbox"), page.url):
            page.goto(url)
            serious = [
                v["id"]
                for v in Axe().run(page).response["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            assert serious == [], url
    context.close()


def test_unsubscribe_link_works_without_signing_in(browser, live_server, anna):
    member, _user = anna
    member_consent_set(member=member, channel="email", granted=True, source=Source.PORTAL)
    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    page = context.new_page()

    page.goto(
        reverse("campaigns:unsubscribe", args=[unsubscribe_token(member=member, channel="email")])
    )
    page.get_by_role("button", name="Unsubscribe").click()

    assert (
        "no longer receive marketing emails" in page.get_by_test_id("unsubscribe-done").inner_text()
    )
    member.refresh_from_db()
    assert not member.marketing_email

    page.goto(reverse("campaigns:unsubscribe", args=["forged-token"]))
    assert "not valid" in page.get_by_test_id("unsubscribe-error").inner_text()
    context.close()
