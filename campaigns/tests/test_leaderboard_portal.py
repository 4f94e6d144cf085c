"""The leaderboard and sweepstakes pages of the member portal, through the test client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from campaigns.games import games_changed, sweepstake_draw
from campaigns.leaderboard import leaderboard_opt_in, period_keys
from campaigns.models import LeaderboardProfile, Sweepstake, SweepstakeEntry
from loyalty.models import EntryKind
from loyalty.services import points_credit
from members.models import Member
from members.tests.factories import MemberFactory
from rewards.tests.factories import RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_games_cache(monkeypatch):
    games_changed()
    monkeypatch.setattr("campaigns.messaging.message_send", lambda **kwargs: [])
    yield
    games_changed()


@pytest.fixture
def member_client(client, member):
    user = get_user_model().objects.create_user(username="anna", email="anna@example.com")
    Member.objects.filter(pk=member.pk).update(user=user)
    client.force_login(user)
    return client


def earn(member, points):
    points_credit(member=member, points=points, kind=EntryKind.EARN, reason="t")


def test_pages_need_a_signed_in_member(client, program):
    for name in ("campaigns:leaderboard", "campaigns:sweepstakes"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "login" in response["Location"]


def test_leaderboard_shows_display_names_only_and_hides_members_who_did_not_join(
    member_client, member, program
):
    # given a member on the board, one who did not join, and the signed-in member not joined
    star = MemberFactory(first_name="Zelda", last_name="Realname")
    leaderboard_opt_in(member=star, display_name="StarBuyer")
    hidden = MemberFactory(first_name="Hidden", last_name="Person")
    earn(star, 300)
    earn(hidden, 900)
    earn(member, 50)

    page = member_client.get(reverse("campaigns:leaderboard")).content.decode()

    assert "StarBuyer" in page
    assert "Zelda" not in page and "Realname" not in page
    assert "Hidden" not in page and "900" not in page
    assert "You are not on the leaderboard" in page


def test_joining_shows_the_own_rank_and_tabs_switch_period(member_client, member, program):
    star = MemberFactory()
    leaderboard_opt_in(member=star, display_name="StarBuyer")
    earn(star, 300)
    earn(member, 50)

    response = member_client.post(
        reverse("campaigns:leaderboard_join"), {"display_name": "Anna B"}, follow=True
    )
    page = response.content.decode()
    assert "You are on the leaderboard as Anna B." in page
    assert "As Anna B you are number 2 with 50" in page

    year = member_client.get(reverse("campaigns:leaderboard") + "?period=year")
    assert f"Top 10 of {period_keys()[1]}" in year.content.decode()
    assert "As Anna B you are number 2" in year.content.decode()


def test_a_bad_display_name_is_shown_next_to_the_field(member_client, member, program):
    response = member_client.post(
        reverse("campaigns:leaderboard_join"), {"display_name": "go to www.spam.example"}
    )
    assert response.status_code == 400
    assert "without web addresses" in response.content.decode()
    assert not LeaderboardProfile.objects.exists()


def test_leaving_takes_the_member_off_the_board(member_client, member, program):
    leaderboard_opt_in(member=member, display_name="Anna B")
    earn(member, 10)
    response = member_client.post(reverse("campaigns:leaderboard_leave"), follow=True)
    page = response.content.decode()
    assert "You are no longer on the leaderboard." in page
    assert "Anna B" not in page


def test_leaderboard_page_runs_a_constant_number_of_queries(
    member_client, member, program, django_assert_max_num_queries
):
    for i in range(15):
        m = MemberFactory()
        leaderboard_opt_in(member=m, display_name=f"Player {i}")
        earn(m, 10 + i)
    leaderboard_opt_in(member=member, display_name="Anna B")
    member_client.get(reverse("campaigns:leaderboard"))
    with django_assert_max_num_queries(12):
        response = member_client.get(reverse("campaigns:leaderboard"))
    assert response.content.decode().count('data-testid="leaderboard-row"') == 10


# --------------------------------------------------------------------------------------------
# Sweepstakes page
# --------------------------------------------------------------------------------------------


def _sweep(**kwargs):
    now = timezone.now()
    kwargs.setdefault("prize", RewardFactory(name="Spa day", points_cost=None))
    kwargs.setdefault("starts_at", now - timedelta(days=1))
    kwargs.setdefault("ends_at", now + timedelta(days=5))
    return Sweepstake.objects.create(**kwargs)


def test_sweepstakes_page_lists_running_draws_with_my_entries(member_client, member, program):
    sweep = _sweep(name="Visit draw", entry_rule="per_visit", max_entries_per_member=7)
    SweepstakeEntry.objects.create(sweepstake=sweep, member=member, entries=3)
    _sweep(name="Not yet", starts_at=timezone.now() + timedelta(days=1))

    page = member_client.get(reverse("campaigns:sweepstakes")).content.decode()

    assert "Visit draw" in page and "Spa day" in page
    assert "3 / 7" in page
    assert "Not yet" not in page


def test_buying_entries_asks_to_confirm_then_buys_once(member_client, member, program):
    sweep = _sweep(name="Bought draw", entry_rule="bought", entry_price_points=20)
    earn(member, 100)
    url = reverse("campaigns:sweepstake_buy", args=[sweep.pk])

    confirm = member_client.get(url + "?count=3")
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "Yes, buy for 60" in html
    token = confirm.context["form"]["token"].value()

    data = {"token": token, "count": 3, "confirm": "1"}
    done = member_client.post(url, data, follow=True)
    assert "You bought 3 entries to Bought draw." in done.content.decode()
    member_client.post(url, data)  # the same form again: nothing more is bought

    member.refresh_from_db()
    assert member.balance == 40
    assert SweepstakeEntry.objects.get(sweepstake=sweep, member=member).entries == 3


def test_buying_with_too_few_points_shows_the_error_and_changes_nothing(
    member_client, member, program
):
    sweep = _sweep(name="Bought draw", entry_rule="bought", entry_price_points=20)
    earn(member, 30)
    url = reverse("campaigns:sweepstake_buy", args=[sweep.pk])
    token = member_client.get(url + "?count=2").context["form"]["token"].value()

    response = member_client.post(url, {"token": token, "count": 2, "confirm": "1"})

    assert response.status_code == 400
    assert "points" in response.context["form"].errors["count"][0].lower()
    member.refresh_from_db()
    assert member.balance == 30
    assert not SweepstakeEntry.objects.filter(member=member, entries__gt=0).exists()


def test_buying_is_only_for_running_bought_sweepstakes(member_client, member, program):
    visit = _sweep(entry_rule="per_visit")
    assert (
        member_client.get(reverse("campaigns:sweepstake_buy", args=[visit.pk])).status_code == 404
    )


def test_past_draws_show_the_winners_count_and_my_voucher(member_client, member, program):
    now = timezone.now()
    sweep = _sweep(
        name="Last month",
        starts_at=now - timedelta(days=40),
        ends_at=now - timedelta(days=10),
        winners_count=1,
    )
    SweepstakeEntry.objects.create(sweepstake=sweep, member=member, entries=1)
    result = sweepstake_draw(sweepstake=sweep)

    page = member_client.get(reverse("campaigns:sweepstakes")).content.decode()

    assert "Last month" in page and "1 winner" in page
    assert "You won!" in page
    assert reverse("portal:voucher", args=[result.winners[0].voucher.code]) in page


def test_the_dashboard_links_to_both_pages(member_client, member, program):
    page = member_client.get(reverse("portal:dashboard")).content.decode()
    assert reverse("campaigns:leaderboard") in page
    assert reverse("campaigns:sweepstakes") in page


def test_sweepstakes_page_runs_a_constant_number_of_queries(
    member_client, member, program, django_assert_max_num_queries
):
    now = timezone.now()
    for i in range(6):
        running = _sweep(name=f"Running {i}", entry_rule="bought", entry_price_points=5)
        SweepstakeEntry.objects.create(sweepstake=running, member=member, entries=1)
        past = _sweep(
            name=f"Past {i}",
            starts_at=now - timedelta(days=40),
            ends_at=now - timedelta(days=10),
        )
        SweepstakeEntry.objects.create(sweepstake=past, member=member, entries=1)
        sweepstake_draw(sweepstake=past)
    member_client.get(reverse("campaigns:sweepstakes"))
    with django_assert_max_num_queries(10):
        response = member_client.get(reverse("campaigns:sweepstakes"))
    html = response.content.decode()
    assert html.count('data-testid="sweepstake"') == 6
    assert html.count('data-testid="you-won"') == 6
