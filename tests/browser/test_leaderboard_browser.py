"""The leaderboard in a real browser: opting in with a display name, own rank, opting out."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation

from campaigns.games import games_changed
from campaigns.leaderboard import leaderboard_opt_in
from campaigns.models import LeaderboardProfile
from loyalty.models import EntryKind, Program
from loyalty.services import points_credit
from members.models import Member
from members.tests.factories import MemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def anna(transactional_db, monkeypatch):
    monkeypatch.setattr("campaigns.messaging.message_send", lambda **kwargs: [])
    games_changed()
    with translation.override("en"):
        Program.objects.update_or_create(pk=1, defaults={"name": "Café Aroma"})
        member = MemberFactory(phone="+358401234567", email="anna@example.com", first_name="Anna")
        user = get_user_model().objects.create_user(username="anna", email="anna@example.com")
        Member.objects.filter(pk=member.pk).update(user=user)
        rival = MemberFactory(first_name="Bertil", last_name="Realname")
        leaderboard_opt_in(member=rival, display_name="CoffeeKing")
        points_credit(member=rival, points=120, kind=EntryKind.EARN, reason="t")
        points_credit(member=member, points=80, kind=EntryKind.EARN, reason="t")
    yield member, user
    games_changed()


def test_member_joins_the_leaderboard_sees_their_rank_and_leaves(browser, logged_in, anna):
    member, user = anna
    context = logged_in(browser, user)
    page = context.new_page()
    page.set_viewport_size(PHONE)

    page.goto(reverse("portal:dashboard"))
    page.get_by_test_id("dashboard-leaderboard").click()
    page.wait_for_url("**/leaderboard/")

    rows = page.get_by_test_id("leaderboard-row")
    assert rows.count() == 1
    assert "CoffeeKing" in rows.first.inner_text()
    assert "Bertil" not in page.content() and "Realname" not in page.content()

    # a web address is refused next to the field
    page.get_by_label("Display name").fill("www.spam.example")
    page.get_by_role("button", name="Join the leaderboard").click()
    page.wait_for_load_state()
    assert "without web addresses" in page.get_by_test_id("display-name-error").inner_text()

    page.get_by_label("Display name").fill("Anna B")
    page.get_by_role("button", name="Join the leaderboard").click()
    page.wait_for_url("**/leaderboard/")
    assert "You are on the leaderboard as Anna B." in page.content()
    assert "number 2 with 80" in page.get_by_test_id("own-rank").inner_text()
    assert rows.count() == 2
    assert "Anna B" in rows.nth(1).inner_text()

    page.get_by_test_id("tab-year").click()
    page.wait_for_url("**/leaderboard/?period=year")
    assert "number 2 with 80" in page.get_by_test_id("own-rank").inner_text()

    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:  # pragma: no cover - the accessibility check needs the axe package
        Axe = None
    if Axe is not None:
        serious = [
            f"{v['id']}: {v['help']}"
            for v in Axe().run(page).response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == []

    page.get_by_role("button", name="Leave the leaderboard").click()
    page.wait_for_url("**/leaderboard/")
    assert "You are no longer on the leaderboard." in page.content()
    assert rows.count() == 1
    assert not LeaderboardProfile.objects.filter(member=member).exists()
    context.close()
