"""Races on PostgreSQL: real threads, each with its own connection, started together.

Each test shows that a row lock holds: the last stock unit, the last points, one voucher and
one store credit are never spent twice, and the ledger stays sound.
"""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

from loyalty.models import EntryKind, LedgerEntry
from loyalty.tests.support import fresh
from members.tests.factories import MemberFactory
from rewards.models import Reward, Voucher, VoucherUse
from rewards.services import reward_redeem, voucher_cancel, voucher_use
from rewards.tests.factories import RewardFactory, give_points, redeemed_voucher

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("ledger_stays_clean"),
]


@pytest.fixture
def clerk(django_user_model):
    # Role groups come from a data migration that transactional tests flush away.
    return django_user_model.objects.create_user(username="clerk", password="pw-for-tests")


def race(calls):
    """Run the calls at once, one thread and connection each; return each result or error."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait(timeout=30)
            results[i] = call()
        except Exception as exc:  # the outcome under test, checked by the caller
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread is stuck (deadlock?)"
    return results


def outcomes(results) -> Counter:
    return Counter(type(r).__name__ for r in results)


def test_ten_members_racing_for_the_last_unit_one_wins(program):
    members = [MemberFactory() for _ in range(10)]
    for m in members:
        give_points(m, 100)
    reward = RewardFactory(points_cost=100, stock=1)

    results = race([lambda m=m: reward_redeem(member=m, reward=reward) for m in members])

    assert outcomes(results) == {"Voucher": 1, "OutOfStock": 9}
    assert Reward.objects.get(pk=reward.pk).stock == 0
    assert Voucher.objects.filter(reward=reward).count() == 1
    winner = next(r for r in results if isinstance(r, Voucher)).member_id
    assert sorted(fresh(m).balance for m in members) == [0] + [100] * 9
    assert fresh(next(m for m in members if m.pk == winner)).balance == 0


def test_two_tills_using_one_voucher_one_wins(member, location, other_location):
    voucher = redeemed_voucher(member)

    results = race(
        [
            lambda: voucher_use(code=voucher.code, location=location),
            lambda: voucher_use(code=voucher.formatted_code, location=other_location),
        ]
    )

    assert outcomes(results) == {"Voucher": 1, "VoucherAlreadyUsed": 1}
    assert VoucherUse.objects.filter(voucher=voucher).count() == 1
    assert Voucher.objects.get(pk=voucher.pk).status == Voucher.Status.USED


def test_ten_redemptions_with_points_for_three_three_win(member):
    give_points(member, 300)
    reward = RewardFactory(points_cost=100, stock=None)

    results = race([lambda: reward_redeem(member=member, reward=reward) for _ in range(10)])

    assert outcomes(results) == {"Voucher": 3, "InsufficientPoints": 7}
    assert fresh(member).balance == 0
    assert Voucher.objects.filter(member=member).count() == 3
    assert LedgerEntry.objects.filter(member=member, kind=EntryKind.REDEEM).count() == 3


def test_five_draw_downs_of_four_from_ten_two_succeed(member):
    credit = RewardFactory(kind=Reward.Kind.STORE_CREDIT, value=Decimal("10.00"))
    voucher = redeemed_voucher(member, credit)

    results = race([lambda: voucher_use(code=voucher.code, amount="4.00") for _ in range(5)])

    assert outcomes(results) == {"Voucher": 2, "AmountAboveRemaining": 3}
    stored = Voucher.objects.get(pk=voucher.pk)
    assert (stored.status, stored.remaining_value) == (Voucher.Status.ISSUED, Decimal("2.00"))
    assert VoucherUse.objects.filter(voucher=voucher).count() == 2


def test_retries_with_one_idempotency_key_at_once_spend_once(member):
    give_points(member, 500)
    reward = RewardFactory(points_cost=100, stock=10)

    results = race(
        [
            lambda: reward_redeem(member=member, reward=reward, idempotency_key="pos-7")
            for _ in range(5)
        ]
    )

    assert outcomes(results) == {"Voucher": 5}
    assert len({v.pk for v in results}) == 1
    assert fresh(member).balance == 400
    assert Reward.objects.get(pk=reward.pk).stock == 9


def test_cancel_and_use_at_once_one_wins_without_a_deadlock(member, location, clerk):
    # A few rounds: the deadlock this guards against (cancel holds the member and waits for
    # the voucher, use holds the voucher and needs the member) shows up only sometimes.
    for _ in range(5):
        voucher = redeemed_voucher(member)
        balance = fresh(member).balance

        results = race(
            [
                lambda v=voucher: voucher_use(code=v.code, location=location),
                lambda v=voucher: voucher_cancel(voucher=v, actor=clerk, reason="Race"),
            ]
        )

        stored = Voucher.objects.get(pk=voucher.pk)
        if stored.status == Voucher.Status.USED:
            assert outcomes(results) == {"Voucher": 1, "VoucherAlreadyUsed": 1}
            assert fresh(member).balance == balance
        else:
            assert stored.status == Voucher.Status.CANCELLED
            assert outcomes(results) == {"Voucher": 1, "VoucherCancelled": 1}
            assert fresh(member).balance == balance + 100
            assert not VoucherUse.objects.filter(voucher=voucher).exists()


def test_two_cancels_at_once_refund_once(member, clerk):
    voucher = redeemed_voucher(member)

    results = race(
        [
            lambda: voucher_cancel(voucher=voucher, actor=clerk, reason="One"),
            lambda: voucher_cancel(voucher=voucher, actor=clerk, reason="Two"),
        ]
    )

    assert outcomes(results) == {"Voucher": 1, "VoucherCancelled": 1}
    assert fresh(member).balance == 100
    assert LedgerEntry.objects.filter(member=member, kind=EntryKind.REVERSE).count() == 1
