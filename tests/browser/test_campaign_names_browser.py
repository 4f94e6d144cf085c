"""Campaign names per language in a real browser: the admin's language tabs."""

import pytest
from django.urls import reverse
from django.utils import translation

from campaigns.models import Challenge
from campaigns.tests.challenges_support import ChallengeFactory
from loyalty.models import Program
from loyalty.roles import roles_sync
from loyalty.tests.factories import manager

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def manager_user(transactional_db, monkeypatch):
    monkeypatch.setattr("campaigns.messaging.message_send", lambda **kw: [])
    roles_sync()  # the flush after transactional tests empties the role groups
    Program.objects.get_or_create(pk=1)
    return manager()


def test_manager_names_a_challenge_in_finnish_on_its_tab(browser, logged_in, manager_user):
    challenge = ChallengeFactory(name="Visit 5 times")
    page = logged_in(browser, manager_user).new_page()
    page.goto(reverse("admin:campaigns_challenge_change", args=[challenge.pk]))

    # One tab per language above each text; English shows first, the others are hidden.
    assert page.locator("#id_name_en").is_visible()
    assert not page.locator("#id_name_fi").is_visible()
    page.locator(".mt-tabs").first.get_by_role("tab", name="fi").click()
    assert not page.locator("#id_name_en").is_visible()
    page.locator("#id_name_fi").fill("Käy 5 kertaa")
    page.get_by_role("button", name="Save and continue editing").click()

    assert "was changed successfully" in page.locator("ul.messagelist").inner_text()
    challenge = Challenge.objects.get(pk=challenge.pk)
    with translation.override("fi"):
        assert challenge.name == "Käy 5 kertaa"
    with translation.override("en"):
        assert challenge.name == "Visit 5 times"
