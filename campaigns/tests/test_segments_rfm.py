"""RFM scores: quintile bands of recency, frequency and net spend, refreshed set-based."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from campaigns.models import MemberScore, Segment
from campaigns.segments import rfm_scores_refresh, segment_members
from campaigns.tasks import rfm_scores_refresh as rfm_task
from loyalty.models import Source
from loyalty.schedules import SCHEDULES
from loyalty.services import purchase_record, purchase_refund, visit_record
from members.models import Member
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

# UTC: "days since" counts elapsed 24-hour periods, which wall-clock arithmetic across a
# daylight-saving change would not give.
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def buy(member, location, total, *, days_ago):
    return purchase_record(
        member=member,
        location=location,
        total=Decimal(total),
        occurred_at=NOW - timedelta(days=days_ago),
        source=Source.ADMIN,
    )


def visit(member, location, *, days_ago):
    visit_record(
        member=member, location=location, source=Source.ADMIN, at=NOW - timedelta(days=days_ago)
    )


def scores() -> dict[int, tuple]:
    return {
        s.member_id: (s.recency, s.frequency, s.monetary, s.score)
        for s in MemberScore.objects.all()
    }


@pytest.fixture
def five(program, location):
    """Five members from the weakest (never came) to the strongest (often, much, lately)."""
    never = MemberFactory(at=NOW - timedelta(days=400))
    lapsed = MemberFactory(at=NOW - timedelta(days=400))
    buy(lapsed, location, "10", days_ago=300)
    some = MemberFactory(at=NOW - timedelta(days=400))
    buy(some, location, "20", days_ago=100)
    visit(some, location, days_ago=90)
    good = MemberFactory(at=NOW - timedelta(days=400))
    for days in (40, 30, 20):
        buy(good, location, "30", days_ago=days)
    best = MemberFactory(at=NOW - timedelta(days=400))
    for days in (10, 8, 6, 4):
        buy(best, location, "100", days_ago=days)
    visit(best, location, days_ago=1)
    return never, lapsed, some, good, best


def test_five_members_get_one_to_five_in_each_dimension(five):
    never, lapsed, some, good, best = five
    # when
    scored = rfm_scores_refresh(as_of=NOW)
    # then
    assert scored == 5
    assert scores() == {
        never.pk: (1, 1, 1, 3),
        lapsed.pk: (2, 2, 2, 6),
        some.pk: (3, 3, 3, 9),
        good.pk: (4, 4, 4, 12),
        best.pk: (5, 5, 5, 15),
    }
    row = MemberScore.objects.get(member=best)
    assert row.recency_days == 1
    assert row.activity_count == 5
    assert row.spend == Decimal("400.00")
    assert row.computed_at == NOW
    assert MemberScore.objects.get(member=never).recency_days is None


def test_equal_figures_get_equal_scores(program, location):
    # given: eight members who never came and two who did, identically
    idle = [MemberFactory(at=NOW - timedelta(days=30)) for _ in range(8)]
    active = [MemberFactory(at=NOW - timedelta(days=30)) for _ in range(2)]
    for member in active:
        buy(member, location, "25", days_ago=3)
    # when
    rfm_scores_refresh(as_of=NOW)
    # then: NTILE alone would have spread the idle members over three groups
    got = scores()
    assert {got[m.pk] for m in idle} == {(1, 1, 1, 3)}
    assert {got[m.pk] for m in active} == {(5, 5, 5, 15)}


def test_only_the_365_days_before_as_of_count_and_refunds_reduce_spend(program, location):
    member = MemberFactory(at=NOW - timedelta(days=800))
    buy(member, location, "1000", days_ago=500)  # outside the window
    result = buy(member, location, "100", days_ago=30)
    purchase_refund(purchase=result.purchase, amount=Decimal("60"))
    buy(member, location, "70", days_ago=-0.0)  # at as_of itself: counts
    rfm_scores_refresh(as_of=NOW)
    row = MemberScore.objects.get(member=member)
    assert row.activity_count == 2
    assert row.spend == Decimal("110.00")
    assert row.recency_days == 0


def test_recency_beyond_the_window_comes_from_the_last_activity(program, location):
    member = MemberFactory(at=NOW - timedelta(days=800))
    buy(member, location, "10", days_ago=500)
    rfm_scores_refresh(as_of=NOW)
    assert MemberScore.objects.get(member=member).recency_days == 500


def test_refresh_again_is_idempotent_and_drops_inactive_members(five):
    lapsed = five[1]
    rfm_scores_refresh(as_of=NOW)
    first = scores()
    # when: run again, with one member deactivated
    assert rfm_scores_refresh(as_of=NOW) == 5
    assert scores() == first
    Member.objects.filter(pk=lapsed.pk).update(is_active=False)
    rfm_scores_refresh(as_of=NOW, chunk_size=2)  # small chunks: several upserts
    # then
    assert MemberScore.objects.count() == 4
    assert lapsed.pk not in scores()


def test_members_who_joined_after_as_of_are_not_scored(program):
    MemberFactory(at=NOW - timedelta(days=3))
    MemberFactory(at=NOW + timedelta(days=3))
    assert rfm_scores_refresh(as_of=NOW) == 1


def test_refresh_with_no_members_writes_nothing(db):
    assert rfm_scores_refresh(as_of=NOW) == 0
    assert MemberScore.objects.count() == 0


def test_segments_use_the_refreshed_scores(five):
    good, best = five[3:]
    rfm_scores_refresh(as_of=NOW)
    segment = Segment.objects.create(name="Champions", rfm_min=12)
    assert set(segment_members(segment, as_of=NOW).values_list("pk", flat=True)) == {
        good.pk,
        best.pk,
    }


def test_nightly_task_and_schedule(five):
    rfm_task.delay()
    assert MemberScore.objects.count() == 5
    assert any(s.task == "campaigns.rfm_scores_refresh" for s in SCHEDULES)
