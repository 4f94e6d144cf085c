"""The points leaderboard: opt-in only, ranks with ties, periods, backfill from the ledger."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from campaigns import leaderboard as lb
from campaigns.games import games_changed, games_snapshot
from campaigns.models import LeaderboardProfile, LeaderboardScore
from loyalty import hooks
from loyalty.models import EntryKind
from loyalty.services import points_adjust, points_credit, purchase_record, purchase_refund
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_games_cache():
    # What is running is cached per process; each test has its own database state.
    games_changed()
    yield
    games_changed()


def _at(year, month, day=15, hour=12):
    return datetime(year, month, day, hour, tzinfo=ZoneInfo("UTC"))


def earn(member, points, at=None):
    points_credit(member=member, points=points, kind=EntryKind.EARN, reason="t", at=at)


def names(board):
    return [row.display_name for row in board]


def test_members_who_did_not_opt_in_never_appear_and_get_no_score(program):
    # given three members, only two of them on the leaderboard
    a, b, hidden = MemberFactory(), MemberFactory(), MemberFactory()
    lb.leaderboard_opt_in(member=a, display_name="Alpha")
    lb.leaderboard_opt_in(member=b, display_name="Bravo")
    # when the one who did not opt in earns the most
    earn(hidden, 1000)
    earn(a, 50)
    earn(b, 70)
    # then the board lists only those who opted in, by points
    month, year = lb.period_keys()
    assert names(lb.leaderboard_top(period=month)) == ["Bravo", "Alpha"]
    assert names(lb.leaderboard_top(period=year)) == ["Bravo", "Alpha"]
    assert not LeaderboardScore.objects.filter(member=hidden).exists()
    assert lb.leaderboard_rank(member=hidden, period=month) is None
    assert lb.leaderboard_rank(member=b, period=month) == lb.OwnRank(rank=1, points=70)


def test_ties_share_a_rank_and_the_next_rank_skips(program):
    members = [MemberFactory() for _ in range(4)]
    for i, (m, pts) in enumerate(zip(members, [100, 80, 80, 10], strict=True)):
        lb.leaderboard_opt_in(member=m, display_name=f"Player {i}")
        earn(m, pts)
    month, _year = lb.period_keys()

    board = lb.leaderboard_top(period=month)

    assert [(r.rank, r.points) for r in board] == [(1, 100), (2, 80), (2, 80), (4, 10)]
    assert lb.leaderboard_rank(member=members[2], period=month).rank == 2
    assert lb.leaderboard_rank(member=members[3], period=month).rank == 4
    assert [r.points for r in lb.leaderboard_top(period=month, n=2)] == [100, 80]


def test_display_names_only_never_real_names(program):
    m = MemberFactory(first_name="Realname", last_name="Secret")
    lb.leaderboard_opt_in(member=m, display_name="  Coffee   Fan ")
    earn(m, 5)
    row = lb.leaderboard_top(period=lb.period_keys()[0])[0]
    assert row.display_name == "Coffee Fan"
    assert "Realname" not in repr(row)


@pytest.mark.parametrize(
    "bad",
    ["", " ", "x", "a" * 31, "visit www.spam.example", "http://x.y", "buy at shop.com", "me@x"],
)
def test_bad_display_names_are_refused_and_nothing_is_saved(program, bad):
    m = MemberFactory()
    with pytest.raises(lb.InvalidDisplayName):
        lb.leaderboard_opt_in(member=m, display_name=bad)
    assert not LeaderboardProfile.objects.filter(member=m).exists()
    assert not LeaderboardScore.objects.filter(member=m).exists()


def test_a_new_month_starts_a_new_score_and_the_year_keeps_adding(program):
    m = MemberFactory()
    lb.leaderboard_opt_in(member=m, display_name="Roller", at=_at(2026, 1, 1))
    earn(m, 30, at=_at(2026, 1, 20))
    earn(m, 12, at=_at(2026, 2, 3))
    earn(m, 5, at=_at(2027, 1, 2))

    def score(period):
        return LeaderboardScore.objects.get(member=m, period=period).points

    assert score("2026-01") == 30
    assert score("2026-02") == 12
    assert score("2026") == 42
    assert score("2027-01") == 5
    assert score("2027") == 5


def test_opting_in_late_counts_what_was_earned_this_month_and_year(program, location):
    # given points earned before opting in: last year, earlier this year, this month
    m = MemberFactory()
    now = timezone.now()
    month_start = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0)
    earn(m, 7, at=month_start.replace(year=month_start.year - 1))
    earlier = month_start.replace(month=1) if month_start.month > 1 else None
    if earlier is not None:
        earn(m, 20, at=earlier)
    purchase_record(member=m, location=location, total=Decimal("40.00"))
    earn(m, 3)
    # adjustments are not "earned"; a refund takes points back
    points_adjust(member=m, points=500, reason="goodwill", actor=None)
    purchase = m.purchases.get()
    purchase_refund(purchase=purchase, amount=Decimal("10.00"))
    # when they opt in
    lb.leaderboard_opt_in(member=m, display_name="Latecomer", at=now)
    # then both scores start from the ledger
    month, year = lb.period_keys(now)
    assert LeaderboardScore.objects.get(member=m, period=month).points == 40 + 3 - 10
    assert LeaderboardScore.objects.get(member=m, period=year).points == 40 + 3 - 10 + (
        20 if earlier else 0
    )


def test_a_refund_lowers_the_score_but_never_below_zero(program, location):
    m = MemberFactory()
    lb.leaderboard_opt_in(member=m, display_name="Refunder")
    result = purchase_record(member=m, location=location, total=Decimal("25.00"))
    month, _year = lb.period_keys()
    assert LeaderboardScore.objects.get(member=m, period=month).points == 25
    purchase_refund(purchase=result.purchase, amount=Decimal("5.00"))
    assert LeaderboardScore.objects.get(member=m, period=month).points == 20
    lb.scores_add(member_id=m.pk, points=-999, at=timezone.now())
    assert LeaderboardScore.objects.get(member=m, period=month).points == 0
    assert lb.leaderboard_rank(member=m, period=month) == lb.OwnRank(rank=None, points=0)


def test_opting_out_removes_the_member_and_their_scores(program):
    m, other = MemberFactory(), MemberFactory()
    lb.leaderboard_opt_in(member=m, display_name="Leaver")
    lb.leaderboard_opt_in(member=other, display_name="Stayer")
    earn(m, 10)
    assert lb.leaderboard_opt_out(member=m) is True
    earn(m, 10)
    month, _year = lb.period_keys()
    assert names(lb.leaderboard_top(period=month)) == []
    assert not LeaderboardScore.objects.filter(member=m).exists()
    assert lb.leaderboard_rank(member=m, period=month) is None
    assert lb.leaderboard_opt_out(member=m) is False


def test_renaming_keeps_the_scores(program):
    m = MemberFactory()
    lb.leaderboard_opt_in(member=m, display_name="Old Name")
    earn(m, 10)
    lb.leaderboard_opt_in(member=m, display_name="New Name")
    assert names(lb.leaderboard_top(period=lb.period_keys()[0])) == ["New Name"]
    assert LeaderboardScore.objects.get(member=m, period=lb.period_keys()[0]).points == 10


def test_nobody_opted_in_means_no_query_for_earned_points(program, django_assert_num_queries):
    m = MemberFactory()
    games_snapshot()  # warm the per-process cache
    with django_assert_num_queries(0):
        lb._on_points_earned(member_id=m.pk, points=10, at=timezone.now())
        lb._on_points_earned_bulk(rows=[(m.pk, 10, timezone.now())])


def test_an_earned_credit_costs_one_query_once_someone_opted_in(program, django_assert_num_queries):
    m, other = MemberFactory(), MemberFactory()
    lb.leaderboard_opt_in(member=other, display_name="Someone")
    games_snapshot()
    with django_assert_num_queries(1):
        lb._on_points_earned(member_id=m.pk, points=10, at=timezone.now())
    with django_assert_num_queries(1):
        lb._on_points_earned(member_id=other.pk, points=10, at=timezone.now())
    assert not LeaderboardScore.objects.filter(member=m).exists()


def test_the_purchase_batch_hook_adds_per_member_and_period(program):
    a, b, hidden = MemberFactory(), MemberFactory(), MemberFactory()
    lb.leaderboard_opt_in(member=a, display_name="Alpha")
    lb.leaderboard_opt_in(member=b, display_name="Bravo")
    now = timezone.now()
    hooks.fire("points_earned_bulk", rows=[(a.pk, 5, now), (a.pk, 6, now), (hidden.pk, 9, now)])
    month, year = lb.period_keys(now)
    assert LeaderboardScore.objects.get(member=a, period=month).points == 11
    assert LeaderboardScore.objects.get(member=a, period=year).points == 11
    assert LeaderboardScore.objects.get(member=b, period=month).points == 0
    assert not LeaderboardScore.objects.filter(member=hidden).exists()


def test_periods_must_be_a_month_or_a_year(program):
    with pytest.raises(lb.PeriodInvalid):
        lb.leaderboard_top(period="2026-13")
    with pytest.raises(lb.PeriodInvalid):
        lb.leaderboard_top(period="drop table")


def test_an_erased_member_leaves_the_leaderboard(program):
    from members.services import member_erase

    m, other = MemberFactory(), MemberFactory()
    lb.leaderboard_opt_in(member=m, display_name="Forget Me")
    lb.leaderboard_opt_in(member=other, display_name="Stay")
    earn(m, 10)
    earn(other, 5)

    member_erase(member=m)

    assert names(lb.leaderboard_top(period=lb.period_keys()[0])) == ["Stay"]
    assert not LeaderboardProfile.objects.filter(member=m).exists()
    assert not LeaderboardScore.objects.filter(member=m).exists()


def test_far_down_the_board_the_rank_is_a_percentile(program, monkeypatch):
    from django.core.cache import cache

    cache.clear()
    monkeypatch.setattr(lb, "EXACT_RANK_LIMIT", 3)
    members = [MemberFactory() for _ in range(10)]
    for i, m in enumerate(members):
        lb.leaderboard_opt_in(member=m, display_name=f"Player {i}")
        earn(m, 10 * (i + 1))  # 10, 20, ... 100
    month, _year = lb.period_keys()

    # the first places are exact, ties included
    assert lb.leaderboard_rank(member=members[9], period=month) == lb.OwnRank(rank=1, points=100)
    assert lb.leaderboard_rank(member=members[7], period=month).rank == 3
    # further down: the smallest k for which the member is among the first ceil(k % x 10)
    assert lb.leaderboard_rank(member=members[1], period=month) == lb.OwnRank(
        rank=None, points=20, top_percent=81
    )
    assert lb.leaderboard_rank(member=members[0], period=month).top_percent == 91
    assert lb.leaderboard_rank(member=members[5], period=month).top_percent == 41
