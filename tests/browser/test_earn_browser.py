"""The portal's "Earn more points" page in a real browser: claim a review with its link."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import translation

from campaigns.models import ActionRecord, ActionType
from loyalty.models import Program
from members.models import Member
from members.tests.factories import MemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def anna(transactional_db):
    with translation.override("en"):
        Program.objects.update_or_create(
            pk=1, defaults={"name": "Café Aroma", "points_name": "beans"}
        )
        member = MemberFactory(email="anna@example.com", first_name="Anna")
        user = get_user_model().objects.create_user(username="anna", email="anna@example.com")
        Member.objects.filter(pk=member.pk).update(user=user)
        ActionType.objects.create(
            code="google-review",
            name="Review us on Google",
            description="Write a review and paste its link here.",
            kind=ActionType.Kind.REVIEW,
            points=50,
            limit=ActionType.Limit.ONCE,
            requires_reference=True,
            reference_label="Link to your review",
            recordable_in_portal=True,
        )
    return member, user


def test_member_claims_a_review_from_the_dashboard_and_it_shows_as_done(browser, logged_in, anna):
    member, user = anna
    context = logged_in(browser, user)
    page = context.new_page()
    page.set_viewport_size(PHONE)

    page.goto("/")
    page.get_by_test_id("earn-link").click()
    page.wait_for_url(re.compile(r"/earn/$"))
    action = page.get_by_test_id("action")
    assert "+50 beans" in action.inner_text()

    # A bad link is refused on the page, and nothing is paid.
    page.get_by_label("Link to your review").fill("my review")
    page.get_by_role("button", name=re.compile("I did it")).click()
    assert "https://" in page.get_by_test_id("claim-error").inner_text()
    assert not ActionRecord.objects.exists()

    page.get_by_label("Link to your review").fill("https://g.page/r/cafe-aroma/review/1")
    page.get_by_role("button", name=re.compile("I did it")).click()
    page.wait_for_url(re.compile(r"/earn/$"))

    assert "You earned 50 beans" in page.locator(".messages").inner_text()
    assert page.get_by_test_id("done").is_visible()
    assert page.get_by_role("button", name=re.compile("I did it")).count() == 0
    record = ActionRecord.objects.get()
    assert (record.member_id, record.reference) == (
        member.pk,
        "https://g.page/r/cafe-aroma/review/1",
    )
    assert Member.objects.get(pk=member.pk).balance == 50
    context.close()
