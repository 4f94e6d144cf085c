"""The member finds this week's bonus offers from the dashboard, in a real browser."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone, translation

from campaigns.models import BonusCampaign
from loyalty.models import Location, Program
from loyalty.selectors import config_changed
from members.models import Member
from members.tests.factories import MemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def anna(transactional_db):
    with translation.override("en"):
        Program.objects.update_or_create(pk=1, defaults={"name": "Café Aroma"})
        location = Location.objects.create(name="Main Street", code="main")
        member = MemberFactory(phone="+358401234567", first_name="Anna", last_name="Virtanen")
        user = get_user_model().objects.create_user(username="anna", email="anna@example.com")
        Member.objects.filter(pk=member.pk).update(user=user)
        now = timezone.now()
        weekend = BonusCampaign.objects.create(
            name="Double points weekend",
            description="Twice the points on everything.",
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(days=2),
            weekdays=[5, 6],
        )
        weekend.locations.set([location])
        BonusCampaign.objects.create(
            name="Pastry +20",
            kind="fixed",
            points=20,
            category="pastry",
            starts_at=now + timedelta(days=5),
            ends_at=now + timedelta(days=6),
        )
        config_changed()
    return user


def test_member_opens_bonus_offers_from_the_dashboard(browser, logged_in, anna, tmp_path):
    context = logged_in(browser, anna)
    page = context.new_page()
    page.goto("/")

    page.get_by_test_id("bonus-link").click()

    page.wait_for_url("**/bonus/")
    offers = page.get_by_test_id("bonus-campaign")
    assert offers.count() == 2
    first = offers.nth(0)
    assert first.get_by_role("heading").inner_text() == "Double points weekend"
    assert first.get_by_test_id("bonus-amount").inner_text().startswith("×2")
    assert first.get_by_test_id("bonus-status").inner_text().startswith("On now, until")
    assert "On Saturday, Sunday" in first.inner_text()
    assert "At Main Street" in first.inner_text()
    second = offers.nth(1)
    assert second.get_by_role("heading").inner_text() == "Pastry +20"
    assert second.get_by_test_id("bonus-status").inner_text().startswith("From ")
    page.screenshot(path=str(tmp_path / "bonus.png"), full_page=True)
    context.close()
