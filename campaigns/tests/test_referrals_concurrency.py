"""Referral pay-outs and the monthly cap under real concurrency (PostgreSQL threads)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Referral, ReferralMilestone, ReferralMilestoneAward, ReferralSettings
from campaigns.referrals import referral_code_for, referral_reward_pay, referrals_reward_due
from loyalty.models import LedgerEntry
from loyalty.services import purchase_record
from loyalty.tests.support import assert_ledger_clean
from loyalty.tests.test_concurrency import outcomes, run_together
from members.services import member_enroll

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def config(program):
    return ReferralSettings.objects.update_or_create(
        pk=1,
        defaults={
            "is_active": True,
            "min_spend": Decimal("10.00"),
            "referrer_points": 200,
            "friend_points": 100,
            "revoke_window_days": 14,
        },
    )[0]


def campaign_points(member) -> list[int]:
    return list(
        LedgerEntry.objects.filter(
            member=member, source_type=LedgerEntry.SourceType.CAMPAIGN
        ).values_list("points", flat=True)
    )


def test_two_runs_of_the_pay_out_at_once_pay_each_referral_once(config, location):
    ReferralMilestone.objects.create(count=3, points=500)
    referrer = member_enroll(phone="+358401000000")
    code = referral_code_for(referrer).code
    friends = [member_enroll(phone=f"+35840100000{i}", referral_code=code) for i in range(1, 4)]
    for friend in friends:
        purchase_record(member=friend, location=location, total="12.00")
    as_of = timezone.now() + timedelta(days=15)

    results = run_together(4, lambda i: referrals_reward_due(as_of=as_of))

    assert outcomes(results) == {"ok": 4}
    assert sum(value for _kind, value in results) == 3
    assert sorted(campaign_points(referrer)) == [200, 200, 200, 500]
    for friend in friends:
        assert campaign_points(friend) == [100]
    assert ReferralMilestoneAward.objects.count() == 1
    assert set(Referral.objects.values_list("status", flat=True)) == {Referral.Status.REWARDED}
    assert_ledger_clean()


def test_one_referral_paid_by_many_threads_at_once_is_paid_once(config, location):
    referrer = member_enroll(phone="+358402000000")
    friend = member_enroll(phone="+358402000001", referral_code=referral_code_for(referrer).code)
    purchase_record(member=friend, location=location, total="12.00")
    referral = Referral.objects.get(referred=friend)
    as_of = timezone.now() + timedelta(days=15)

    results = run_together(6, lambda i: referral_reward_pay(referral_id=referral.pk, as_of=as_of))

    assert sorted(value for _kind, value in results) == [False] * 5 + [True]
    assert campaign_points(referrer) == [200] and campaign_points(friend) == [100]
    assert_ledger_clean()


def test_friends_joining_at_once_with_one_code_respect_the_monthly_cap(config):
    config.monthly_cap = 2
    config.save()
    referrer = member_enroll(phone="+358403000000")
    code = referral_code_for(referrer).code

    results = run_together(
        5, lambda i: member_enroll(phone=f"+35840300000{i + 1}", referral_code=code)
    )

    assert outcomes(results) == {"ok": 5}
    statuses = sorted(Referral.objects.values_list("status", flat=True))
    assert statuses == ["pending", "pending", "refused", "refused", "refused"]


def test_many_first_views_at_once_make_one_code(config):
    from campaigns.models import ReferralCode

    member = member_enroll(phone="+358404000000")

    results = run_together(6, lambda i: referral_code_for(member).code)

    assert outcomes(results) == {"ok": 6}
    assert len({value for _kind, value in results}) == 1
    assert ReferralCode.objects.filter(member=member).count() == 1
