"""VIP status: automatic at a threshold, invited by a manager, or paid; renewal and end."""

from datetime import timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from dateutil.relativedelta import relativedelta
from django.utils import timezone

from loyalty import errors
from loyalty.models import Event, VipMetric
from loyalty.selectors import ledger_drift
from loyalty.services import purchase_record, purchase_refund, visit_record
from loyalty.tests.support import assert_ledger_clean, fresh
from members.models import Member, VipMembership
from members.tests.factories import MemberFactory
from members.vip import vip_evaluate, vip_grant, vip_memberships_end_due
from rewards.eligibility import Context, reasons_why_not
from rewards.tests.factories import RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _ledger_sound(db):
    yield
    assert ledger_drift() == []


def buy(member, location, total, **kwargs):
    return purchase_record(member=member, location=location, total=total, **kwargs)


def auto_vip(program, metric, threshold, **settings):
    program.vip_auto_metric = metric
    program.vip_auto_threshold = Decimal(threshold)
    for name, value in settings.items():
        setattr(program, name, value)
    program.save()


def periods(member):
    return list(
        VipMembership.objects.filter(member=member)
        .order_by("starts_at")
        .values_list("source", "starts_at", "ends_at")
    )


# --------------------------------------------------------------------------------------------
# Automatic VIP
# --------------------------------------------------------------------------------------------


def test_lifetime_spend_grants_vip_on_the_purchase_that_reaches_the_threshold(
    program, member, location
):
    auto_vip(program, VipMetric.LIFETIME_SPEND, "1000", vip_period_months=12)
    buy(member, location, "600.00", occurred_at=timezone.now() - relativedelta(years=3))
    buy(member, location, "399.99")
    assert not fresh(member).is_vip()
    assert not VipMembership.objects.exists()

    buy(member, location, "0.01")

    m = fresh(member)
    assert m.is_vip()
    membership = VipMembership.objects.get(member=member)
    assert membership.source == VipMembership.Source.THRESHOLD
    assert membership.ends_at == m.vip_until
    assert membership.ends_at - membership.starts_at >= timedelta(days=365)
    assert membership.fee is None
    event = Event.objects.get(member=member, type="vip.changed")
    assert event.payload["status"] == "granted"
    assert event.payload["source"] == "threshold"
    assert_ledger_clean()


def test_window_spend_counts_only_the_window(program, member, location):
    auto_vip(program, VipMetric.WINDOW_SPEND, "500", vip_window_months=6)
    buy(member, location, "450.00", occurred_at=timezone.now() - relativedelta(months=7))

    buy(member, location, "100.00")
    assert not fresh(member).is_vip()

    buy(member, location, "400.00")
    assert fresh(member).is_vip()


def test_window_spend_counts_net_of_refunds(program, member, location):
    auto_vip(program, VipMetric.WINDOW_SPEND, "500")
    purchase = buy(member, location, "450.00").purchase
    purchase_refund(purchase=purchase, amount="50.00")

    buy(member, location, "99.00")  # 400 + 99

    assert not fresh(member).is_vip()
    assert_ledger_clean()


def test_window_points_count_points_earned_from_purchases_and_visits(program, member, location):
    auto_vip(program, VipMetric.WINDOW_POINTS, "100", points_per_visit=10)
    buy(member, location, "85.00")
    visit_record(member=member, location=location, source="kiosk")
    assert not fresh(member).is_vip()  # 95 points

    visit_record(member=member, location=location, source="kiosk")

    assert fresh(member).is_vip()
    assert_ledger_clean()


def test_automatic_vip_is_off_by_default(program, member, location):
    buy(member, location, "9999.00")

    assert not fresh(member).is_vip()
    assert vip_evaluate(member=fresh(member)) is None


def test_a_member_already_vip_is_not_granted_again_on_each_purchase(program, member, location):
    auto_vip(program, VipMetric.LIFETIME_SPEND, "100")
    buy(member, location, "150.00")

    buy(member, location, "150.00")
    buy(member, location, "150.00")

    assert VipMembership.objects.filter(member=member).count() == 1


def test_vip_earn_bonus_is_its_own_line_on_later_purchases(program, member, location):
    auto_vip(program, VipMetric.LIFETIME_SPEND, "100", vip_earn_bonus_percent=Decimal("10"))
    granting = buy(member, location, "100.00")
    assert [a["code"] for a in granting.awards] == ["base"]  # not VIP yet when it was earned

    later = buy(member, location, "50.00")

    assert list(later.awards) == [
        {"code": "base", "label": "1 per €1.00 spent", "points": 50},
        {"code": "vip", "label": "VIP bonus +10%", "points": 5},
    ]
    assert fresh(member).balance == 100 + 55
    assert_ledger_clean()


# --------------------------------------------------------------------------------------------
# Paid and invited VIP
# --------------------------------------------------------------------------------------------


def test_paid_vip_needs_the_fee(program, member, cashier_user):
    for fee in (None, "", "abc", "-5", "12.345"):
        with pytest.raises(errors.InvalidAmount):
            vip_grant(member=member, source="paid", fee=fee, months=12, actor=cashier_user)
    assert not VipMembership.objects.exists()
    assert not fresh(member).is_vip()


def test_paid_vip_runs_for_the_period_paid_for(program, member, cashier_user):
    at = timezone.now()

    membership = vip_grant(
        member=member, source="paid", fee="49.90", months=3, actor=cashier_user, at=at
    )

    assert membership.fee == Decimal("49.90")
    assert membership.granted_by == cashier_user
    assert membership.starts_at == at
    assert membership.ends_at == timezone.localtime(at) + relativedelta(months=3)
    m = fresh(member)
    assert m.vip_until == membership.ends_at
    assert m.is_vip(at=at + relativedelta(months=3) - timedelta(seconds=1))
    assert not m.is_vip(at=at + relativedelta(months=3))
    event = Event.objects.get(member=member, type="vip.changed")
    assert event.payload["fee"] == "49.90"
    assert event.actor == cashier_user


def test_invitation_needs_a_manager(program, member, cashier_user):
    with pytest.raises(errors.NotPermitted):
        vip_grant(member=member, source="invitation", note="Regular", actor=cashier_user)
    assert not VipMembership.objects.exists()


def test_invitation_needs_a_note(program, member, manager_user):
    for note in ("", "  ", None):
        with pytest.raises(errors.ReasonRequired):
            vip_grant(member=member, source="invitation", note=note, actor=manager_user)
    assert not VipMembership.objects.exists()


def test_manager_invites_a_member_for_the_programmes_period(program, member, manager_user):
    program.vip_period_months = 6
    program.save()

    membership = vip_grant(
        member=member,
        source="invitation",
        note="Opened our second shop with us",
        actor=manager_user,
    )

    assert membership.source == VipMembership.Source.INVITATION
    assert membership.note == "Opened our second shop with us"
    assert membership.granted_by == manager_user
    assert membership.ends_at == timezone.localtime(membership.starts_at) + relativedelta(months=6)
    assert fresh(member).is_vip()


@pytest.mark.parametrize("months", [0, 121, "x", "1.5", -1])
def test_a_period_out_of_range_or_not_a_number_is_refused(program, member, manager_user, months):
    with pytest.raises(errors.InvalidInput) as exc:
        vip_grant(member=member, source="paid", fee="10", months=months, actor=manager_user)

    assert exc.value.field == "months"
    assert not VipMembership.objects.exists()
    assert not Event.objects.filter(type="vip.changed").exists()


def test_an_unknown_source_and_a_too_long_note_are_refused(program, member, manager_user):
    with pytest.raises(errors.InvalidInput):
        vip_grant(member=member, source="bribe", actor=manager_user)
    with pytest.raises(errors.InvalidInput):
        vip_grant(member=member, source="invitation", note="x" * 256, actor=manager_user)
    assert not VipMembership.objects.exists()


def test_a_closed_membership_cannot_be_made_vip(program, member, manager_user):
    Member.objects.filter(pk=member.pk).update(is_active=False)

    with pytest.raises(errors.MemberInactive):
        vip_grant(member=member, source="invitation", note="Regular", actor=manager_user)
    assert not VipMembership.objects.exists()


# --------------------------------------------------------------------------------------------
# Renewal: periods never overlap
# --------------------------------------------------------------------------------------------


def test_a_grant_while_vip_starts_when_the_current_period_ends(program, member, manager_user):
    t0 = timezone.now()
    first = vip_grant(member=member, source="paid", fee="50", months=12, at=t0)

    second = vip_grant(
        member=member,
        source="invitation",
        note="Renewal gift",
        actor=manager_user,
        months=6,
        at=t0 + relativedelta(months=1),
    )

    assert second.starts_at == first.ends_at
    assert second.ends_at == timezone.localtime(first.ends_at) + relativedelta(months=6)
    assert fresh(member).vip_until == second.ends_at
    assert Event.objects.filter(type="vip.changed").latest("pk").payload["status"] == "renewed"
    spans = periods(member)
    for (_s1, _start1, end1), (_s2, start2, _end2) in pairwise(spans):
        assert start2 >= end1


def test_a_grant_after_the_status_lapsed_starts_at_once(program, member):
    t0 = timezone.now() - relativedelta(months=14)
    vip_grant(member=member, source="paid", fee="50", months=12, at=t0)
    now = timezone.now()

    again = vip_grant(member=member, source="paid", fee="50", months=12, at=now)

    assert again.starts_at == now
    assert Event.objects.filter(type="vip.changed").latest("pk").payload["status"] == "granted"


# --------------------------------------------------------------------------------------------
# End of period: renew automatic VIP that still qualifies, end the rest
# --------------------------------------------------------------------------------------------


def test_end_due_renews_automatic_vip_that_still_qualifies_and_ends_the_rest(
    program, location, manager_user
):
    auto_vip(program, VipMetric.LIFETIME_SPEND, "500", vip_period_months=12)
    still = MemberFactory()
    buy(still, location, "600.00")  # automatic VIP, lifetime spend still qualifies
    invited = MemberFactory()
    vip_grant(member=invited, source="invitation", note="Press", actor=manager_user)
    paid = MemberFactory()
    buy(paid, location, "100.00")
    vip_grant(member=paid, source="paid", fee="20", months=12)
    first_end = fresh(still).vip_until
    as_of = timezone.now() + relativedelta(months=12, days=1)

    result = vip_memberships_end_due(as_of=as_of)

    assert result == {"renewed": 1, "ended": 2}
    assert fresh(still).is_vip(at=as_of)
    renewal = VipMembership.objects.filter(member=still).order_by("starts_at").last()
    assert (renewal.source, renewal.starts_at) == ("threshold", first_end)
    assert not fresh(invited).is_vip(at=as_of)
    assert not fresh(paid).is_vip(at=as_of)
    ended = Event.objects.filter(type="vip.changed", payload__status="ended")
    assert sorted(e.member_id for e in ended) == sorted([invited.pk, paid.pk])


def test_end_due_ends_automatic_vip_that_no_longer_qualifies(program, member, location):
    auto_vip(program, VipMetric.WINDOW_SPEND, "500", vip_window_months=12, vip_period_months=12)
    buy(member, location, "600.00")
    as_of = timezone.now() + relativedelta(months=12, days=1)  # the €600 left the window

    assert vip_memberships_end_due(as_of=as_of) == {"renewed": 0, "ended": 1}
    assert not fresh(member).is_vip(at=as_of)


@pytest.mark.parametrize("setting", [{"vip_auto_metric": "off"}, {"vip_auto_threshold": 0}])
def test_end_due_does_not_renew_once_automatic_vip_is_turned_off(
    program, member, location, setting
):
    auto_vip(program, VipMetric.LIFETIME_SPEND, "500")
    buy(member, location, "600.00")
    for name, value in setting.items():
        setattr(program, name, value)
    program.save()
    as_of = timezone.now() + relativedelta(months=12, days=1)

    assert vip_memberships_end_due(as_of=as_of) == {"renewed": 0, "ended": 1}
    assert not fresh(member).is_vip(at=as_of)


def test_end_due_twice_changes_nothing(program, location, manager_user):
    auto_vip(program, VipMetric.LIFETIME_SPEND, "500")
    buy(MemberFactory(), location, "600.00")
    vip_grant(member=MemberFactory(), source="invitation", note="Press", actor=manager_user)
    as_of = timezone.now() + relativedelta(months=12, days=1)
    vip_memberships_end_due(as_of=as_of)
    rows = (VipMembership.objects.count(), Event.objects.count())

    assert vip_memberships_end_due(as_of=as_of) == {"renewed": 0, "ended": 0}
    assert (VipMembership.objects.count(), Event.objects.count()) == rows


def test_end_due_leaves_periods_followed_by_a_renewal_alone(program, member, manager_user):
    t0 = timezone.now()
    vip_grant(member=member, source="paid", fee="50", months=1, at=t0)
    vip_grant(member=member, source="paid", fee="50", months=1, at=t0)  # the next month
    as_of = t0 + relativedelta(months=1, days=1)

    assert vip_memberships_end_due(as_of=as_of) == {"renewed": 0, "ended": 0}
    assert fresh(member).is_vip(at=as_of)
    assert vip_memberships_end_due(as_of=t0 + relativedelta(months=2, days=1)) == {
        "renewed": 0,
        "ended": 1,
    }


def test_end_due_does_not_renew_a_closed_membership(program, member, location):
    auto_vip(program, VipMetric.LIFETIME_SPEND, "500")
    buy(member, location, "600.00")
    Member.objects.filter(pk=member.pk).update(is_active=False)
    as_of = timezone.now() + relativedelta(months=12, days=1)

    # A closed membership still "qualifies" on lifetime spend, but is not renewed (and the
    # nightly job does not stop on it).
    assert vip_memberships_end_due(as_of=as_of) == {"renewed": 0, "ended": 1}
    assert not fresh(member).is_vip(at=as_of)


# --------------------------------------------------------------------------------------------
# VIP-only rewards and early access (rewards eligibility)
# --------------------------------------------------------------------------------------------


def reasons(member, reward, as_of=None):
    return reasons_why_not(
        Context(member=member, reward=reward, as_of=as_of or timezone.now(), balance=10_000)
    )


def test_vip_only_rewards_are_for_vip_members(program, member):
    reward = RewardFactory(vip_only=True)
    assert reasons(fresh(member), reward) == ["VIP members only"]

    vip_grant(member=member, source="paid", fee="10", months=1)

    assert reasons(fresh(member), reward) == []
    assert reasons(fresh(member), reward, as_of=timezone.now() + relativedelta(months=2)) == [
        "VIP members only"
    ]


def test_vip_members_get_early_access_to_new_rewards(program, member):
    opens = timezone.now() + timedelta(days=5)
    reward = RewardFactory(available_from=opens, vip_early_access_days=7)
    [before] = reasons(fresh(member), reward)
    assert before.startswith("Available from") and "VIP members 7 days earlier" in before

    vip_grant(member=member, source="paid", fee="10", months=1)

    assert reasons(fresh(member), reward) == []
    too_early = reasons(fresh(member), reward, as_of=opens - timedelta(days=8))
    assert len(too_early) == 1 and too_early[0].startswith("VIP members from")
