"""Games in the admin, as a manager and as a cashier: set up, draw now, verify, counters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.games import games_changed
from campaigns.leaderboard import leaderboard_opt_in
from campaigns.models import (
    InstantWin,
    LeaderboardProfile,
    LeaderboardScore,
    Sweepstake,
    SweepstakeEntry,
    SweepstakeWinner,
)
from members.tests.factories import MemberFactory
from rewards.tests.factories import RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_games_cache(monkeypatch):
    games_changed()
    monkeypatch.setattr("campaigns.messaging.message_send", lambda **kwargs: [])
    yield
    games_changed()


def ended_sweepstake(**kwargs) -> Sweepstake:
    now = timezone.now()
    sweep = Sweepstake.objects.create(
        name="Autumn draw",
        prize=RewardFactory(points_cost=None),
        starts_at=now - timedelta(days=10),
        ends_at=now - timedelta(hours=1),
        winners_count=2,
        **kwargs,
    )
    for n in (1, 2, 3):
        SweepstakeEntry.objects.create(sweepstake=sweep, member=MemberFactory(), entries=n)
    return sweep


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_manager_creates_a_sweepstake_and_bad_rules_are_refused(
    staff_roles, manager_client, program
):
    prize = RewardFactory(points_cost=None)
    url = reverse("admin:campaigns_sweepstake_add")
    data = {
        "name_en": "Big draw",
        "description_en": "",
        "prize": prize.pk,
        "winners_count": 3,
        "is_active": "on",
        "starts_at_0": "2026-12-01",
        "starts_at_1": "00:00:00",
        "ends_at_0": "2026-12-31",
        "ends_at_1": "23:00:00",
        "entry_rule": "per_points",
        "points_per_entry": "",
        "entry_price_points": "",
        "max_entries_per_member": 10,
        "winners-TOTAL_FORMS": 0,
        "winners-INITIAL_FORMS": 0,
    }
    response = manager_client.post(url, data)
    assert response.status_code == 200
    assert "Say how many points earn one entry." in response.content.decode()
    assert not Sweepstake.objects.exists()

    data["points_per_entry"] = 100
    response = manager_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    sweep = Sweepstake.objects.get()
    assert (sweep.entry_rule, sweep.points_per_entry, sweep.winners_count) == ("per_points", 100, 3)


def test_change_page_shows_entries_and_draw_now_draws_once(staff_roles, manager_client, program):
    sweep = ended_sweepstake()
    change = reverse("admin:campaigns_sweepstake_change", args=[sweep.pk])

    page = manager_client.get(change).content.decode()
    assert "6 entries from 3 members." in page
    assert "Draw now" in page

    response = manager_client.post(
        reverse("admin:campaigns_sweepstake_draw", args=[sweep.pk]), follow=True
    )
    sweep.refresh_from_db()
    assert sweep.seed is not None
    assert f"Drawn with seed {sweep.seed}: 2 winners." in _messages(response)
    page = response.content.decode()
    assert f"with seed {sweep.seed}" in page
    assert "Draw now" not in page

    again = manager_client.post(
        reverse("admin:campaigns_sweepstake_draw", args=[sweep.pk]), follow=True
    )
    assert "This sweepstake was already drawn; nothing was changed." in _messages(again)
    assert SweepstakeWinner.objects.filter(sweepstake=sweep).count() == 2

    checked = manager_client.post(
        reverse("admin:campaigns_sweepstake_verify", args=[sweep.pk]), follow=True
    )
    assert any("the same winners, in the same order" in m for m in _messages(checked))


def test_draw_now_before_the_end_is_an_error_message_not_a_draw(
    staff_roles, manager_client, program
):
    sweep = ended_sweepstake()
    Sweepstake.objects.filter(pk=sweep.pk).update(ends_at=timezone.now() + timedelta(days=1))

    page = manager_client.get(reverse("admin:campaigns_sweepstake_change", args=[sweep.pk]))
    assert "Draw now" not in page.content.decode()
    response = manager_client.post(
        reverse("admin:campaigns_sweepstake_draw", args=[sweep.pk]), follow=True
    )
    assert "The draw can only be made after the sweepstake has ended." in _messages(response)
    sweep.refresh_from_db()
    assert sweep.drawn_at is None


def test_saving_a_sweepstake_page_never_undoes_a_draw(
    staff_roles, manager_client, program, monkeypatch
):
    sweep = ended_sweepstake()
    change = reverse("admin:campaigns_sweepstake_change", args=[sweep.pk])
    data = {
        "name_en": "Renamed",
        "description_en": "",
        "prize": sweep.prize_id,
        "winners_count": 2,
        "is_active": "on",
        "starts_at_0": timezone.localtime(sweep.starts_at).date().isoformat(),
        "starts_at_1": "00:00:00",
        "ends_at_0": timezone.localtime(sweep.ends_at).date().isoformat(),
        "ends_at_1": timezone.localtime(sweep.ends_at).strftime("%H:%M:%S"),
        "entry_rule": "per_visit",
        "points_per_entry": "",
        "entry_price_points": "",
        "max_entries_per_member": 10,
        "winners-TOTAL_FORMS": 0,
        "winners-INITIAL_FORMS": 0,
    }
    from campaigns.admin.games import SweepstakeForm
    from campaigns.games import sweepstake_draw

    clean = SweepstakeForm.clean

    def draw_meanwhile(form):
        # The hourly job draws after the page loaded the row and before it saves.
        sweepstake_draw(sweepstake=Sweepstake.objects.get(pk=sweep.pk))
        return clean(form)

    monkeypatch.setattr(SweepstakeForm, "clean", draw_meanwhile)
    response = manager_client.post(change, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    sweep.refresh_from_db()
    assert sweep.name == "Renamed"
    assert sweep.drawn_at is not None and sweep.seed is not None


def test_cashier_cannot_open_or_draw_sweepstakes(staff_roles, cashier_client, program):
    sweep = ended_sweepstake()
    assert (
        cashier_client.get(
            reverse("admin:campaigns_sweepstake_change", args=[sweep.pk])
        ).status_code
        == 403
    )
    response = cashier_client.post(reverse("admin:campaigns_sweepstake_draw", args=[sweep.pk]))
    assert response.status_code in (302, 403)
    sweep.refresh_from_db()
    assert sweep.drawn_at is None


def test_instant_wins_list_shows_counters_and_saving_keeps_them(
    staff_roles, manager_client, program, monkeypatch
):
    win = InstantWin.objects.create(
        name="Every 100th",
        every_n=100,
        points=50,
        starts_at=timezone.now() - timedelta(days=1),
    )
    InstantWin.objects.filter(pk=win.pk).update(counter=250, winners_count=2)

    page = manager_client.get(reverse("admin:campaigns_instantwin_changelist")).content.decode()
    assert "Every 100th" in page and "250" in page

    change = reverse("admin:campaigns_instantwin_change", args=[win.pk])
    assert "See who won" in manager_client.get(change).content.decode()
    from campaigns.admin.games import InstantWinForm

    clean = InstantWinForm.clean

    def purchases_meanwhile(form):
        # Purchases count after the page loaded the row and before it saves.
        InstantWin.objects.filter(pk=win.pk).update(counter=260)
        return clean(form)

    monkeypatch.setattr(InstantWinForm, "clean", purchases_meanwhile)
    response = manager_client.post(
        change,
        {
            "name_en": "Every 100th!",
            "trigger": "purchase",
            "every_n": 100,
            "reward": "",
            "points": 50,
            "starts_at_0": win.starts_at.date().isoformat(),
            "starts_at_1": "00:00:00",
            "ends_at_0": "",
            "ends_at_1": "",
            "max_winners": "",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    win.refresh_from_db()
    assert (win.name, win.counter, win.winners_count) == ("Every 100th!", 260, 2)


def test_staff_can_rename_or_remove_a_leaderboard_name(staff_roles, manager_client, program):
    m = MemberFactory()
    profile = leaderboard_opt_in(member=m, display_name="Rude Name")
    change = reverse("admin:campaigns_leaderboardprofile_change", args=[profile.pk])

    bad = manager_client.post(change, {"display_name": "see www.spam.example"})
    assert bad.status_code == 200
    assert manager_client.post(change, {"display_name": "Player 1"}).status_code == 302
    profile.refresh_from_db()
    assert profile.display_name == "Player 1"

    delete = reverse("admin:campaigns_leaderboardprofile_delete", args=[profile.pk])
    assert manager_client.post(delete, {"post": "yes"}).status_code == 302
    assert not LeaderboardProfile.objects.exists()
    assert not LeaderboardScore.objects.exists()


@pytest.mark.parametrize(
    "name",
    [
        "leaderboardprofile",
        "leaderboardscore",
        "sweepstake",
        "sweepstakeentry",
        "sweepstakeentrypurchase",
        "sweepstakewinner",
        "instantwin",
        "instantwinhit",
    ],
)
def test_every_games_list_opens_for_a_manager(staff_roles, manager_client, program, name):
    ended_sweepstake()
    leaderboard_opt_in(member=MemberFactory(), display_name="Someone")
    response = manager_client.get(reverse(f"admin:campaigns_{name}_changelist"))
    assert response.status_code == 200
