"""Real threads on PostgreSQL: a challenge completed by two purchases at once rewards once."""

from __future__ import annotations

import pytest

from campaigns import challenges as svc
from campaigns.models import ChallengeProgress, MemberBadge
from campaigns.tests.challenges_support import BadgeFactory, ChallengeFactory
from loyalty.models import EntryKind, LedgerEntry
from loyalty.services import purchase_record
from loyalty.tests.support import assert_ledger_clean, fresh
from loyalty.tests.test_concurrency import outcomes, run_together
from members.tests.factories import MemberFactory
from rewards.models import Voucher
from rewards.tests.factories import RewardFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _quiet_messages(monkeypatch):
    monkeypatch.setattr("campaigns.messaging.message_send", lambda **kwargs: [])


def test_two_purchases_at_once_completing_a_challenge_reward_once(program, location):
    member = MemberFactory()
    reward = RewardFactory(points_cost=None)
    badge = BadgeFactory()
    challenge = ChallengeFactory(target=2, reward_points=40, reward=reward, badge=badge)
    purchase_record(member=member, location=location, total="10.00", external_id="R-0")

    results = run_together(
        2,
        lambda i: purchase_record(
            member=member, location=location, total="10.00", external_id=f"R-{i + 1}"
        ),
    )

    assert outcomes(results) == {"ok": 2}
    row = ChallengeProgress.objects.get(challenge=challenge, member=member)
    assert row.completed_at is not None
    assert (
        LedgerEntry.objects.filter(
            member=member, kind=EntryKind.BONUS, source_type=LedgerEntry.SourceType.CAMPAIGN
        ).count()
        == 1
    )
    assert Voucher.objects.filter(member=member, origin=Voucher.Origin.CAMPAIGN).count() == 1
    assert MemberBadge.objects.filter(member=member).count() == 1
    assert fresh(member).balance == 30 + 40
    assert_ledger_clean()


def test_staff_giving_one_badge_twice_at_once_gives_it_once(program):
    member = MemberFactory()
    badge = BadgeFactory()

    results = run_together(
        4,
        lambda i: svc.badge_award(member=member, badge=badge, source="staff", reason=f"r{i}"),
    )

    assert outcomes(results) == {"ok": 4}
    assert sum(value.newly_earned for _kind, value in results) == 1
    assert MemberBadge.objects.filter(member=member).count() == 1
