"""Segments and surprise draws in a real browser: count before saving, then surprise members."""

from datetime import date

import pytest
from django.urls import reverse

from campaigns.models import Segment, SurpriseDraw
from loyalty.models import Program
from loyalty.roles import roles_sync
from loyalty.tests.factories import manager
from members.tests.factories import MemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def manager_user(transactional_db, monkeypatch):
    monkeypatch.setattr("campaigns.messaging.message_send", lambda **kw: [])
    roles_sync()  # the flush after transactional tests empties the role groups
    Program.objects.get_or_create(pk=1)
    for day in (1, 2, 3):
        MemberFactory(birth_date=date(1990, 6, day))
    MemberFactory(birth_date=date(1990, 1, 1))
    return manager()


def test_manager_counts_a_segment_before_saving_and_surprises_its_members(
    browser, logged_in, manager_user
):
    page = logged_in(browser, manager_user).new_page()
    page.goto(reverse("admin:campaigns_segment_add"))
    page.get_by_label("Name:").fill("June birthdays")
    page.get_by_label("Birthday month:").select_option("6")

    # Count without saving: the page comes back with the count and the typed values.
    page.get_by_role("button", name="Count members").click()
    assert page.locator("#segment-count").get_attribute("data-count") == "3"
    assert "not saved yet" in page.locator("#segment-preview").inner_text()
    assert page.get_by_label("Name:").input_value() == "June birthdays"
    assert not Segment.objects.exists()

    page.get_by_role("button", name="Save and continue editing").click()
    segment = Segment.objects.get()
    assert segment.birthday_month == 6

    page.get_by_role("link", name="Surprise members").click()
    page.get_by_label("How many members:").fill("2")
    page.get_by_label("Bonus points:").fill("30")
    page.get_by_label("Seed:").fill("424242")
    page.get_by_role("button", name="Draw and reward").click()

    assert "2 members surprised." in page.locator("ul.messagelist").inner_text()
    draw = SurpriseDraw.objects.get()
    assert draw.seed == "424242"
    assert draw.winners.count() == 2

    page.get_by_role("button", name="Re-run the draw").click()
    assert "the same winners, in the same order" in page.locator("ul.messagelist").inner_text()
