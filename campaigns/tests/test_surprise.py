"""Surprise and delight: random members of a segment rewarded once, the draw reproducible."""

from __future__ import annotations

import random
from datetime import date

import pytest

from campaigns.models import Segment, SurpriseDraw, SurpriseWinner
from campaigns.surprise import (
    SurpriseBadCount,
    SurpriseBadSeed,
    SurpriseNothingToGive,
    SurpriseSegmentEmpty,
    candidates_decode,
    candidates_encode,
    candidates_sha256,
    surprise_draw,
    surprise_draw_verify,
)
from loyalty import errors
from loyalty.models import EntryKind, LedgerEntry
from loyalty.tests.support import assert_ledger_clean
from members.models import Member
from members.tests.factories import MemberFactory
from rewards.models import Voucher
from rewards.tests.factories import RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    calls = []

    def fake(**kwargs):
        calls.append(kwargs)
        return []

    monkeypatch.setattr("campaigns.messaging.message_send", fake)
    return calls


@pytest.fixture
def members(program):
    return [MemberFactory() for _ in range(12)]


@pytest.fixture
def everyone(db):
    return Segment.objects.create(name="Everyone")


def nothing_written():
    return (
        SurpriseDraw.objects.count(),
        SurpriseWinner.objects.count(),
        Voucher.objects.count(),
        LedgerEntry.objects.filter(source_type=LedgerEntry.SourceType.CAMPAIGN).count(),
    ) == (0, 0, 0, 0)


def test_draw_rewards_the_chosen_number_with_voucher_points_and_a_message(
    members, everyone, manager_user, sent
):
    reward = RewardFactory(name="Free coffee")
    # when
    draw = surprise_draw(
        segment=everyone,
        count=3,
        reward=reward,
        points=50,
        seed=12345,
        actor=manager_user,
        name="Monday smile",
    )
    # then
    winners = list(draw.winners.order_by("position"))
    assert [w.position for w in winners] == [1, 2, 3]
    assert draw.members_matched == 12
    assert draw.seed == "12345"
    assert draw.drawn_by == manager_user
    for winner in winners:
        assert winner.voucher.reward == reward
        assert winner.voucher.origin == Voucher.Origin.CAMPAIGN
        assert winner.voucher.member_id == winner.member_id
        assert winner.entry.points == 50
        assert winner.entry.kind == EntryKind.BONUS
        assert winner.entry.source_type == LedgerEntry.SourceType.CAMPAIGN
        assert Member.objects.get(pk=winner.member_id).balance == 50
    assert Voucher.objects.count() == 3
    assert sorted(c["member"].pk for c in sent) == sorted(w.member_id for w in winners)
    assert {c["type_code"] for c in sent} == {"surprise"}
    assert len({c["dedupe_key"] for c in sent}) == 3
    assert sent[0]["context"]["draw"] == "Monday smile"
    assert_ledger_clean()


def test_the_winners_follow_from_the_seed_as_documented(members, everyone, sent):
    draw = surprise_draw(segment=everyone, count=4, points=10, seed=987654321)
    # Anyone can re-run it: the candidates' ids in ascending order, Python's random.Random.
    ids = sorted(m.pk for m in members)
    expected = random.Random(987654321).sample(ids, 4)
    assert list(draw.winners.order_by("position").values_list("member_id", flat=True)) == expected


def test_the_same_seed_over_the_same_segment_draws_the_same_winners(members, everyone, sent):
    first = surprise_draw(segment=everyone, count=5, points=1, seed=42)
    second = surprise_draw(segment=everyone, count=5, points=1, seed=42)
    third = surprise_draw(segment=everyone, count=5, points=1, seed=43)

    def winners(draw):
        return list(draw.winners.order_by("position").values_list("member_id", flat=True))

    assert winners(first) == winners(second)
    assert winners(first) != winners(third)


def test_without_a_seed_a_random_64_bit_one_is_recorded(members, everyone, sent):
    draw = surprise_draw(segment=everyone, count=2, points=5)
    seed = int(draw.seed)
    assert 0 <= seed < 2**64
    assert surprise_draw_verify(draw=draw).ok


def test_a_count_larger_than_the_segment_surprises_everyone(members, sent):
    june = Segment.objects.create(name="June birthdays", birthday_month=6)
    in_june = members[:2]
    for member in in_june:
        Member.objects.filter(pk=member.pk).update(birth_date=date(1990, 6, 3))
    draw = surprise_draw(segment=june, count=50, points=10, seed=1)
    assert draw.members_matched == 2
    assert {w.member_id for w in draw.winners.all()} == {m.pk for m in in_june}


def test_an_empty_segment_is_refused_and_nothing_is_written(members, sent):
    nobody = Segment.objects.create(name="Nobody", birthday_month=2, vip="yes")
    with pytest.raises(SurpriseSegmentEmpty):
        surprise_draw(segment=nobody, count=3, points=10)
    assert nothing_written()
    assert sent == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"count": 3}, SurpriseNothingToGive),
        ({"count": 0, "points": 5}, SurpriseBadCount),
        ({"count": 1_001, "points": 5}, SurpriseBadCount),
        ({"count": 3, "points": -5}, errors.InvalidPoints),
        ({"count": 3, "points": 5, "seed": "lucky"}, SurpriseBadSeed),
        ({"count": 3, "points": 5, "seed": 2**64}, SurpriseBadSeed),
        ({"count": 3, "points": 5, "name": "x" * 101}, errors.InvalidInput),
    ],
)
def test_bad_input_is_refused_with_nothing_written(members, everyone, sent, kwargs, error):
    with pytest.raises(error):
        surprise_draw(segment=everyone, **kwargs)
    assert nothing_written()


def test_an_inactive_reward_is_refused(members, everyone, sent):
    reward = RewardFactory(is_active=False)
    with pytest.raises(errors.RewardNotAvailable):
        surprise_draw(segment=everyone, count=2, reward=reward)
    assert nothing_written()


def test_a_reward_running_out_of_stock_undoes_the_whole_draw(members, everyone, sent):
    reward = RewardFactory(stock=2)
    with pytest.raises(errors.OutOfStock):
        surprise_draw(segment=everyone, count=3, reward=reward, points=10)
    assert nothing_written()
    reward.refresh_from_db()
    assert reward.stock == 2


def test_a_double_submit_with_the_same_request_key_rewards_once(members, everyone, sent):
    first = surprise_draw(segment=everyone, count=3, points=10, request_key="form-1")
    again = surprise_draw(segment=everyone, count=3, points=10, request_key="form-1")
    assert again.pk == first.pk
    assert SurpriseDraw.objects.count() == 1
    assert LedgerEntry.objects.filter(source_type=LedgerEntry.SourceType.CAMPAIGN).count() == 3
    assert len(sent) == 3


def test_a_member_cannot_win_twice_in_one_draw(members, everyone, sent):
    from django.db import IntegrityError, transaction

    draw = surprise_draw(segment=everyone, count=1, points=10, seed=7)
    winner = draw.winners.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        SurpriseWinner.objects.create(draw=draw, member=winner.member, position=2)


def test_verify_re_runs_from_the_record_even_after_the_segment_changed(members, everyone, sent):
    draw = surprise_draw(segment=everyone, count=4, points=10, seed=2024)
    assert surprise_draw_verify(draw=draw).segment_unchanged is True
    # when: the segment changes afterwards (a new member, another leaves)
    MemberFactory()
    Member.objects.filter(pk=members[0].pk).update(is_active=False)
    check = surprise_draw_verify(draw=draw)
    # then
    assert check.ok
    assert check.segment_unchanged is False
    assert check.recomputed == check.recorded


def test_verify_notices_a_tampered_record(members, everyone, sent):
    draw = surprise_draw(segment=everyone, count=4, points=10, seed=2024)
    ids = candidates_decode(draw.candidates)
    SurpriseDraw.objects.filter(pk=draw.pk).update(candidates=candidates_encode(ids[1:]))
    draw.refresh_from_db()
    assert not surprise_draw_verify(draw=draw).ok
    # A different seed with the true candidates gives other winners.
    SurpriseDraw.objects.filter(pk=draw.pk).update(candidates=candidates_encode(ids), seed="1")
    draw.refresh_from_db()
    check = surprise_draw_verify(draw=draw)
    assert check.candidates_intact
    assert not check.ok


def test_candidate_snapshot_round_trips_and_stays_small():
    ids = list(range(1, 200_001, 2))
    data = candidates_encode(ids)
    assert candidates_decode(data) == ids
    assert len(data) < 10_000
    assert candidates_sha256(ids) == candidates_sha256(list(ids))
