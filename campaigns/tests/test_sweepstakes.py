"""Sweepstakes: entries by each rule, the maximum, buying entries, and the reproducible draw."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns import games
from campaigns.games import (
    EntriesNotForSale,
    EntryLimitReached,
    InvalidEntryCount,
    InvalidSeed,
    SweepstakeNotEnded,
    SweepstakeNotOpen,
    draw_winners,
    games_changed,
    sweepstake_buy_entries,
    sweepstake_draw,
    sweepstake_verify,
    sweepstakes_draw_due,
)
from campaigns.models import Sweepstake, SweepstakeEntry, SweepstakeEntryPurchase, SweepstakeWinner
from loyalty import errors, hooks
from loyalty.models import EntryKind, LedgerEntry
from loyalty.services import points_credit, purchase_record, visit_record
from members.tests.factories import MemberFactory
from rewards.models import Voucher
from rewards.tests.factories import RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_games_cache():
    # What is running is cached per process; each test has its own database state.
    games_changed()
    yield
    games_changed()


@pytest.fixture
def sent(monkeypatch):
    calls = []
    monkeypatch.setattr(
        "campaigns.messaging.message_send", lambda **kwargs: calls.append(kwargs) or []
    )
    return calls


def sweepstake(**kwargs) -> Sweepstake:
    now = timezone.now()
    kwargs.setdefault("name", "Summer draw")
    kwargs.setdefault("prize", RewardFactory(name="Weekend for two", points_cost=None))
    kwargs.setdefault("starts_at", now - timedelta(days=10))
    kwargs.setdefault("ends_at", now + timedelta(days=10))
    kwargs.setdefault("winners_count", 1)
    kwargs.setdefault("max_entries_per_member", 10)
    return Sweepstake.objects.create(**kwargs)


def entries_of(sweep, member) -> int:
    row = SweepstakeEntry.objects.filter(sweepstake=sweep, member=member).first()
    return row.entries if row else 0


def earn(member, points, at=None):
    points_credit(member=member, points=points, kind=EntryKind.EARN, reason="t", at=at)


def ended(entries: dict, **kwargs) -> Sweepstake:
    """An ended sweepstake with these entries per member (stored as they were collected)."""
    now = timezone.now()
    sweep = sweepstake(
        starts_at=now - timedelta(days=30), ends_at=now - timedelta(minutes=1), **kwargs
    )
    for member, n in entries.items():
        SweepstakeEntry.objects.create(sweepstake=sweep, member=member, entries=n)
    return sweep


# --------------------------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------------------------


def test_per_visit_gives_one_entry_per_day_for_a_visit_or_a_purchase(program, location):
    sweep = sweepstake(entry_rule=Sweepstake.EntryRule.PER_VISIT)
    m = MemberFactory()
    today = timezone.now() - timedelta(minutes=5)
    yesterday = today - timedelta(days=1)

    visit_record(member=m, location=location, source="kiosk", at=yesterday)
    visit_record(member=m, location=location, source="kiosk", at=today)
    purchase_record(member=m, location=location, total=Decimal("5.00"), occurred_at=today)
    visit_record(member=m, location=location, source="kiosk", at=today)

    assert entries_of(sweep, m) == 2


def test_a_purchase_alone_counts_as_a_visit(program, location):
    sweep = sweepstake(entry_rule=Sweepstake.EntryRule.PER_VISIT)
    m = MemberFactory()
    purchase_record(member=m, location=location, total=Decimal("5.00"))
    assert entries_of(sweep, m) == 1


def test_per_points_gives_one_entry_per_n_points_and_carries_the_rest(program):
    sweep = sweepstake(entry_rule=Sweepstake.EntryRule.PER_POINTS, points_per_entry=50)
    m = MemberFactory()
    earn(m, 120)
    row = SweepstakeEntry.objects.get(sweepstake=sweep, member=m)
    assert (row.entries, row.points_carry) == (2, 20)
    earn(m, 30)
    row.refresh_from_db()
    assert (row.entries, row.points_carry) == (3, 0)


def test_a_refund_reduces_the_carry_but_never_takes_entries_back(program, location):
    sweep = sweepstake(entry_rule=Sweepstake.EntryRule.PER_POINTS, points_per_entry=10)
    m = MemberFactory()
    result = purchase_record(member=m, location=location, total=Decimal("25.00"))
    from loyalty.services import purchase_refund

    purchase_refund(purchase=result.purchase, amount=Decimal("10.00"))
    row = SweepstakeEntry.objects.get(sweepstake=sweep, member=m)
    assert (row.entries, row.points_carry) == (2, -5)
    earn(m, 14)
    row.refresh_from_db()
    assert (row.entries, row.points_carry) == (2, 9)


def test_entries_stop_at_the_maximum_per_member(program, location):
    sweep = sweepstake(
        entry_rule=Sweepstake.EntryRule.PER_POINTS, points_per_entry=1, max_entries_per_member=3
    )
    m = MemberFactory()
    earn(m, 100)
    earn(m, 100)
    assert entries_of(sweep, m) == 3


def test_no_entries_outside_the_window_or_for_an_inactive_sweepstake(program, location):
    now = timezone.now()
    later = sweepstake(entry_rule=Sweepstake.EntryRule.PER_VISIT, starts_at=now + timedelta(days=1))
    over = sweepstake(
        entry_rule=Sweepstake.EntryRule.PER_VISIT,
        starts_at=now - timedelta(days=5),
        ends_at=now - timedelta(days=1),
    )
    off = sweepstake(entry_rule=Sweepstake.EntryRule.PER_VISIT, is_active=False)
    m = MemberFactory()
    visit_record(member=m, location=location, source="kiosk")
    # a late upload of a purchase made while ``over`` was open adds nothing either
    purchase_record(
        member=m, location=location, total=Decimal("5.00"), occurred_at=now - timedelta(days=2)
    )
    assert not SweepstakeEntry.objects.filter(sweepstake__in=[later, over, off]).exists()


def test_purchase_hooks_are_active_only_while_a_visit_or_points_sweepstake_runs(program):
    assert not hooks.any_active("purchase_hooks_active")
    sweepstake(entry_rule=Sweepstake.EntryRule.BOUGHT, entry_price_points=10)
    assert not hooks.any_active("purchase_hooks_active")
    sweepstake(entry_rule=Sweepstake.EntryRule.PER_VISIT)
    assert hooks.any_active("purchase_hooks_active")


# --------------------------------------------------------------------------------------------
# Buying entries
# --------------------------------------------------------------------------------------------


def test_buying_entries_spends_points_and_adds_entries(program):
    sweep = sweepstake(entry_rule=Sweepstake.EntryRule.BOUGHT, entry_price_points=25)
    m = MemberFactory()
    earn(m, 100)

    bought = sweepstake_buy_entries(member=m, sweepstake=sweep, count=3)

    assert entries_of(sweep, m) == 3
    assert bought.points == 75
    m.refresh_from_db()
    assert m.balance == 25
    entry = LedgerEntry.objects.get(member=m, kind=EntryKind.SPEND)
    assert entry.points == -75
    assert entry.source_type == LedgerEntry.SourceType.CAMPAIGN


def test_buying_with_too_few_points_is_refused_and_changes_nothing(program):
    sweep = sweepstake(entry_rule=Sweepstake.EntryRule.BOUGHT, entry_price_points=25)
    m = MemberFactory()
    earn(m, 60)

    with pytest.raises(errors.InsufficientPoints):
        sweepstake_buy_entries(member=m, sweepstake=sweep, count=3)

    m.refresh_from_db()
    assert m.balance == 60
    assert entries_of(sweep, m) == 0
    assert not SweepstakeEntryPurchase.objects.exists()
    assert not LedgerEntry.objects.filter(member=m, kind=EntryKind.SPEND).exists()


def test_buying_beyond_the_maximum_is_refused_and_changes_nothing(program):
    sweep = sweepstake(
        entry_rule=Sweepstake.EntryRule.BOUGHT, entry_price_points=1, max_entries_per_member=5
    )
    m = MemberFactory()
    earn(m, 100)
    sweepstake_buy_entries(member=m, sweepstake=sweep, count=4)
    with pytest.raises(EntryLimitReached) as err:
        sweepstake_buy_entries(member=m, sweepstake=sweep, count=2)
    assert "at most 5" in err.value.detail
    m.refresh_from_db()
    assert (m.balance, entries_of(sweep, m)) == (96, 4)


@pytest.mark.parametrize("count", [0, -1, "x", None, 1001])
def test_a_bad_entry_count_is_refused(program, count):
    sweep = sweepstake(entry_rule=Sweepstake.EntryRule.BOUGHT, entry_price_points=1)
    m = MemberFactory()
    earn(m, 100)
    with pytest.raises(InvalidEntryCount):
        sweepstake_buy_entries(member=m, sweepstake=sweep, count=count)
    assert entries_of(sweep, m) == 0


def test_entries_are_not_for_sale_in_other_sweepstakes_or_after_the_end(program):
    m = MemberFactory()
    earn(m, 100)
    with pytest.raises(EntriesNotForSale):
        sweepstake_buy_entries(member=m, sweepstake=sweepstake(), count=1)
    over = ended({}, entry_rule=Sweepstake.EntryRule.BOUGHT, entry_price_points=1)
    with pytest.raises(SweepstakeNotOpen):
        sweepstake_buy_entries(member=m, sweepstake=over, count=1)
    m.refresh_from_db()
    assert m.balance == 100


def test_the_same_form_sent_twice_buys_once(program):
    sweep = sweepstake(entry_rule=Sweepstake.EntryRule.BOUGHT, entry_price_points=10)
    m = MemberFactory()
    earn(m, 100)
    first = sweepstake_buy_entries(member=m, sweepstake=sweep, count=2, idempotency_key="k1")
    again = sweepstake_buy_entries(member=m, sweepstake=sweep, count=2, idempotency_key="k1")
    assert again.pk == first.pk
    m.refresh_from_db()
    assert (m.balance, entries_of(sweep, m)) == (80, 2)


# --------------------------------------------------------------------------------------------
# The draw
# --------------------------------------------------------------------------------------------


def test_the_draw_is_reproducible_from_its_seed(program, sent):
    members = [MemberFactory() for _ in range(8)]
    sweep = ended({m: i + 1 for i, m in enumerate(members)}, winners_count=3)

    result = sweepstake_draw(sweepstake=sweep)

    sweep.refresh_from_db()
    assert sweep.seed is not None and sweep.drawn_at is not None
    winners = [w.member_id for w in result.winners]
    assert len(winners) == len(set(winners)) == 3
    # anyone re-running the documented algorithm on the stored entries gets the same winners
    stored = list(SweepstakeEntry.objects.filter(sweepstake=sweep).values_list("member", "entries"))
    assert draw_winners(stored, seed=sweep.seed, count=3) == winners
    assert draw_winners(list(reversed(stored)), seed=sweep.seed, count=3) == winners
    check = sweepstake_verify(sweepstake=sweep)
    assert check.ok and check.recomputed == winners and check.entries == 36
    # and another sweepstake with the same entries and seed draws the same members
    twin = ended({m: i + 1 for i, m in enumerate(members)}, winners_count=3)
    twin_result = sweepstake_draw(sweepstake=twin, seed=sweep.seed)
    assert [w.member_id for w in twin_result.winners] == winners


def test_the_draw_algorithm_is_pinned(program):
    # The documented algorithm must never drift: these are its answers for fixed inputs.
    assert draw_winners([(3, 1), (1, 2), (2, 0)], seed=42, count=5) == draw_winners(
        [(1, 2), (3, 1)], seed=42, count=5
    )
    import random

    rng = random.Random(7)
    r1 = rng.randrange(6)  # entries 1:1, 2:2, 3:3 -> running totals 1, 3, 6
    expected_first = 1 if r1 < 1 else 2 if r1 < 3 else 3
    assert draw_winners([(1, 1), (2, 2), (3, 3)], seed=7, count=1) == [expected_first]


def test_a_verify_notices_tampered_entries(program, sent):
    a, b = MemberFactory(), MemberFactory()
    sweep = ended({a: 1, b: 1})
    sweepstake_draw(sweepstake=sweep, seed=1)
    SweepstakeEntry.objects.filter(sweepstake=sweep, member=a).update(entries=50)
    sweep.refresh_from_db()
    assert not sweepstake_verify(sweepstake=sweep).ok


def test_drawing_twice_returns_the_first_result_and_gives_nothing_more(program, sent):
    members = [MemberFactory() for _ in range(5)]
    sweep = ended({m: 1 for m in members}, winners_count=2)
    first = sweepstake_draw(sweepstake=sweep)
    seed = sweep.seed

    again = sweepstake_draw(sweepstake=sweep)
    other_seed = sweepstake_draw(sweepstake=sweep, seed=seed + 1)

    assert first.created and not again.created and not other_seed.created
    assert [w.pk for w in again.winners] == [w.pk for w in first.winners]
    assert [w.pk for w in other_seed.winners] == [w.pk for w in first.winners]
    sweep.refresh_from_db()
    assert sweep.seed == seed
    assert SweepstakeWinner.objects.filter(sweepstake=sweep).count() == 2
    assert Voucher.objects.filter(reward=sweep.prize).count() == 2
    assert len(sent) == 2


def test_a_draw_before_the_end_is_refused(program):
    m = MemberFactory()
    sweep = sweepstake()
    SweepstakeEntry.objects.create(sweepstake=sweep, member=m, entries=1)
    with pytest.raises(SweepstakeNotEnded):
        sweepstake_draw(sweepstake=sweep)
    sweep.refresh_from_db()
    assert sweep.drawn_at is None and sweep.seed is None
    assert not SweepstakeWinner.objects.exists()


@pytest.mark.parametrize("seed", [-1, 2**63, "abc", 1.5])
def test_a_bad_seed_is_refused(program, seed):
    sweep = ended({MemberFactory(): 1})
    with pytest.raises(InvalidSeed):
        sweepstake_draw(sweepstake=sweep, seed=seed)
    sweep.refresh_from_db()
    assert sweep.drawn_at is None


def test_winners_get_the_prize_voucher_and_a_message(program, sent):
    a, b = MemberFactory(), MemberFactory()
    sweep = ended({a: 3, b: 0}, winners_count=5)

    result = sweepstake_draw(sweepstake=sweep)

    assert [w.member_id for w in result.winners] == [a.pk]  # no entries, no chance
    voucher = result.winners[0].voucher
    assert voucher.member_id == a.pk and voucher.reward_id == sweep.prize_id
    assert voucher.origin == Voucher.Origin.CAMPAIGN
    assert [(c["member"].pk, c["type_code"]) for c in sent] == [(a.pk, "sweepstake_won")]
    assert sent[0]["context"]["voucher_code"] == voucher.code
    from loyalty.models import Event

    event = Event.objects.get(type="sweepstake.won")
    assert event.member_id == a.pk and event.payload["voucher"] == voucher.code


def test_a_draw_without_entries_records_no_winners(program, sent):
    sweep = ended({})
    result = sweepstake_draw(sweepstake=sweep)
    assert result.created and result.winners == []
    sweep.refresh_from_db()
    assert sweep.drawn_at is not None and sweep.entries_at_draw == 0


def test_a_prize_that_cannot_be_issued_draws_nothing(program, sent):
    sweep = ended({MemberFactory(): 1})
    sweep.prize.is_active = False
    sweep.prize.save()
    with pytest.raises(errors.RewardNotAvailable):
        sweepstake_draw(sweepstake=sweep)
    sweep.refresh_from_db()
    assert sweep.drawn_at is None and not SweepstakeWinner.objects.exists()
    assert sent == []


def test_the_periodic_job_draws_ended_sweepstakes_once(program, sent):
    due = ended({MemberFactory(): 1})
    running = sweepstake()
    broken = ended({MemberFactory(): 1})
    broken.prize.is_active = False
    broken.prize.save()

    from campaigns.tasks import sweepstakes_draw_due as task

    task.delay()
    assert sweepstakes_draw_due() == 0

    due.refresh_from_db()
    running.refresh_from_db()
    broken.refresh_from_db()
    assert due.drawn_at is not None
    assert running.drawn_at is None and broken.drawn_at is None
    assert SweepstakeWinner.objects.filter(sweepstake=due).count() == 1


def test_saving_a_sweepstake_updates_what_the_hooks_see_at_once(program):
    sweep = sweepstake(entry_rule=Sweepstake.EntryRule.PER_VISIT)
    assert games.games_snapshot().sweepstakes_at(timezone.now(), "per_visit") == [sweep.pk]
    sweep.is_active = False
    sweep.save()
    assert games.games_snapshot().sweepstakes_at(timezone.now(), "per_visit") == []


def test_the_draw_and_an_instant_win_work_with_the_real_messages(program, location):
    # No monkeypatch: the messaging service renders the sweepstake_won and instant_win texts.
    from campaigns.models import InstantWin, InstantWinHit

    a = MemberFactory()
    result = sweepstake_draw(sweepstake=ended({a: 1}))
    assert [w.member_id for w in result.winners] == [a.pk]
    InstantWin.objects.create(
        name="Every one",
        every_n=1,
        points=5,
        starts_at=timezone.now() - timedelta(days=1),
    )
    purchase_record(member=a, location=location, total=Decimal("1.00"))
    assert InstantWinHit.objects.filter(member=a).count() == 1


def test_games_hooks_cost_no_query_while_nothing_runs(program, django_assert_num_queries):
    m = MemberFactory()
    now = timezone.now()
    games.games_snapshot()  # warm the per-process cache
    with django_assert_num_queries(0):
        games._on_purchase(member=m, at=now)
        games._on_visit(member=m, at=now)
        games._on_enrolled(member=m, at=now)
        games._on_points_earned(member_id=m.pk, points=10, at=now)
        games._on_points_earned_bulk(rows=[(m.pk, 10, now)])
        assert games._purchase_hooks_active() is False


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_draws_make_one_set_of_winners(program, monkeypatch):
    import threading

    from django.db import connection

    monkeypatch.setattr("campaigns.messaging.message_send", lambda **kwargs: [])
    sweep = ended({MemberFactory(): n for n in (1, 2, 3, 4)}, winners_count=2)
    barrier = threading.Barrier(4)
    results, failures = [], []

    def worker():
        try:
            barrier.wait(timeout=30)
            results.append(sweepstake_draw(sweepstake=Sweepstake.objects.get(pk=sweep.pk)))
        except Exception as exc:  # asserted on below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert not failures
    assert sorted(r.created for r in results) == [False, False, False, True]
    assert SweepstakeWinner.objects.filter(sweepstake=sweep).count() == 2
    assert Voucher.objects.filter(reward=sweep.prize).count() == 2
    winners = {tuple(w.pk for w in r.winners) for r in results}
    assert len(winners) == 1
