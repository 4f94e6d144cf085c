"""The challenges page in a real browser: progress bars, joining, badges, accessibility."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation

from campaigns import challenges as svc
from campaigns.models import Challenge, ChallengeProgress
from campaigns.tests.challenges_support import BadgeFactory, ChallengeFactory
from loyalty.models import Location, Program
from loyalty.services import purchase_record
from members.models import Member
from members.tests.factories import MemberFactory
from tests.browser.test_portal_browser import save_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def anna(transactional_db, monkeypatch):
    monkeypatch.setattr("campaigns.messaging.message_send", lambda **kwargs: [])
    with translation.override("en"):
        Program.objects.update_or_create(pk=1, defaults={"name": "Café Aroma"})
        location = Location.objects.create(name="Main Street", code="main")
        member = MemberFactory(phone="+358401234567", email="anna@example.com", first_name="Anna")
        user = get_user_model().objects.create_user(username="anna", email="anna@example.com")
        Member.objects.filter(pk=member.pk).update(user=user)
        ChallengeFactory(name="Visit 4 times", goal=Challenge.Goal.VISITS, target=4)
        ChallengeFactory(name="Tea tour", enrolment=Challenge.Enrolment.OPT_IN, target=5)
        purchase_record(member=member, location=location, total="5.00")
        svc.badge_award(
            member=member, badge=BadgeFactory(name="Early bird"), source="staff", reason="Hi"
        )
    return member, user


def test_member_sees_progress_joins_a_challenge_and_sees_badges(browser, logged_in, anna, tmp_path):
    member, user = anna
    context = logged_in(browser, user)
    page = context.new_page()
    page.set_viewport_size(PHONE)

    page.goto(reverse("portal:dashboard"))
    page.get_by_role("link", name="All challenges and badges").click()
    page.wait_for_url("**/challenges/")

    bar = page.get_by_role("progressbar", name="1 of 4 visits")
    assert bar.get_attribute("value") == "25"
    assert "Early bird" in page.get_by_test_id("badge").inner_text()

    tea = page.get_by_test_id("challenge").filter(has_text="Tea tour")
    tea.get_by_role("button", name="Join").click()
    page.wait_for_load_state()

    assert "You joined Tea tour" in page.content()
    assert page.get_by_role("progressbar", name="0 of 5 purchases").is_visible()
    assert ChallengeProgress.objects.filter(member=member, challenge__name="Tea tour").exists()
    save_screenshot(page, "portal-challenges.png", tmp_path)

    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:  # pragma: no cover - the accessibility check needs the axe package
        Axe = None
    if Axe is not None:
        serious = [
            f"{v['id']}: {v['help']} {[n['html'][:200] for n in v['nodes']]}"
            for v in Axe().run(page).response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == []
    context.close()
