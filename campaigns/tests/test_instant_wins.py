"""Instant wins: every Nth sign-up or purchase wins, exactly, even under concurrent purchases."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.games import games_changed
from campaigns.models import InstantWin, InstantWinHit
from loyalty import hooks
from loyalty.models import EntryKind, LedgerEntry
from loyalty.services import purchase_record
from members.tests.factories import MemberFactory
from rewards.models import Voucher
from rewards.tests.factories import RewardFactory


@pytest.fixture(autouse=True)
def _fresh_games_cache():
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


def instant_win(**kwargs) -> InstantWin:
    kwargs.setdefault("name", "Every 3rd coffee free")
    kwargs.setdefault("trigger", InstantWin.Trigger.PURCHASE)
    kwargs.setdefault("every_n", 3)
    kwargs.setdefault("starts_at", timezone.now() - timedelta(days=1))
    if "reward" not in kwargs and not kwargs.get("points"):
        kwargs["reward"] = RewardFactory(name="Free coffee", points_cost=None)
    return InstantWin.objects.create(**kwargs)


def buy(member, location, total="5.00"):
    return purchase_record(member=member, location=location, total=Decimal(total))


@pytest.mark.django_db
def test_every_nth_purchase_wins_the_reward(program, location, sent):
    win = instant_win(every_n=3)
    members = [MemberFactory() for _ in range(7)]

    for m in members:
        buy(m, location)

    win.refresh_from_db()
    assert (win.counter, win.winners_count) == (7, 2)
    hits = list(InstantWinHit.objects.order_by("sequence"))
    assert [(h.sequence, h.member_id) for h in hits] == [(3, members[2].pk), (6, members[5].pk)]
    assert all(h.voucher.reward_id == win.reward_id for h in hits)
    assert hits[0].voucher.origin == Voucher.Origin.CAMPAIGN
    assert [(c["member"].pk, c["type_code"]) for c in sent] == [
        (members[2].pk, "instant_win"),
        (members[5].pk, "instant_win"),
    ]
    from loyalty.models import Event

    assert sorted(
        Event.objects.filter(type="instant_win.won").values_list("payload__number", flat=True)
    ) == [3, 6]


@pytest.mark.django_db
def test_every_nth_sign_up_wins_points(program, sent):
    win = instant_win(trigger=InstantWin.Trigger.SIGNUP, every_n=2, reward=None, points=50)
    first, second = MemberFactory(), MemberFactory()

    second.refresh_from_db()
    first.refresh_from_db()
    assert (first.balance, second.balance) == (0, 50)
    hit = InstantWinHit.objects.get()
    assert hit.member_id == second.pk and hit.entry.points == 50
    assert hit.entry.kind == EntryKind.BONUS
    assert hit.entry.source_type == LedgerEntry.SourceType.CAMPAIGN
    win.refresh_from_db()
    assert win.counter == 2


@pytest.mark.django_db
def test_no_more_winners_than_the_maximum_and_nothing_outside_the_window(program, location, sent):
    capped = instant_win(every_n=1, max_winners=2)
    later = instant_win(every_n=1, starts_at=timezone.now() + timedelta(days=1))
    over = instant_win(
        every_n=1,
        starts_at=timezone.now() - timedelta(days=3),
        ends_at=timezone.now() - timedelta(days=1),
    )
    off = instant_win(every_n=1, is_active=False)
    m = MemberFactory()
    for _ in range(4):
        buy(m, location)

    capped.refresh_from_db()
    assert capped.winners_count == 2
    assert InstantWinHit.objects.filter(instant_win=capped).count() == 2
    assert not InstantWinHit.objects.filter(instant_win__in=[later, over, off]).exists()


@pytest.mark.django_db
def test_a_prize_out_of_stock_never_fails_the_purchase(program, location, sent):
    reward = RewardFactory(points_cost=None, is_active=False)
    instant_win(every_n=1, reward=reward)
    m = MemberFactory()

    result = buy(m, location, "10.00")

    assert result.created and result.points == 10
    hit = InstantWinHit.objects.get()
    assert hit.voucher is None


@pytest.mark.django_db
def test_purchase_hooks_are_active_while_a_purchase_instant_win_runs(program):
    instant_win(trigger=InstantWin.Trigger.SIGNUP)
    assert not hooks.any_active("purchase_hooks_active")
    instant_win(trigger=InstantWin.Trigger.PURCHASE)
    assert hooks.any_active("purchase_hooks_active")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_purchases_never_make_two_winners_for_one_n(program, location, monkeypatch):
    monkeypatch.setattr("campaigns.messaging.message_send", lambda **kwargs: [])
    win = instant_win(every_n=4)
    members = [MemberFactory() for _ in range(24)]
    barrier = threading.Barrier(len(members))
    failures: list[Exception] = []

    def worker(m):
        try:
            barrier.wait(timeout=30)
            buy(m, location)
        except Exception as exc:  # asserted on below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(m,)) for m in members]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert not failures
    win.refresh_from_db()
    assert (win.counter, win.winners_count) == (24, 6)
    sequences = sorted(InstantWinHit.objects.values_list("sequence", flat=True))
    assert sequences == [4, 8, 12, 16, 20, 24]
    assert len(set(InstantWinHit.objects.values_list("member", flat=True))) == 6
    assert Voucher.objects.filter(reward=win.reward).count() == 6
