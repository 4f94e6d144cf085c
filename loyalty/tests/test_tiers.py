"""Tiers: qualification by metric and window, upgrade at once, downgrade only at re-evaluation."""

from datetime import timedelta
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from django.utils import timezone
from django.utils.formats import date_format

from loyalty import errors
from loyalty.models import (
    Benefit,
    Event,
    Tier,
    TierChange,
    TierDowngrade,
    TierMetric,
    TierWindow,
)
from loyalty.selectors import ledger_drift, program_get
from loyalty.services import (
    purchase_record,
    purchase_refund,
    tier_evaluate,
    tier_set_manual,
    tiers_reevaluate_all,
    visit_record,
)
from loyalty.tests.support import assert_ledger_clean, fresh
from loyalty.tiers import member_benefits, metrics_for, tier_progress, tiers_validate
from members.tests.factories import MemberFactory
from members.vip import vip_grant
from rewards.eligibility import Context, reasons_why_not
from rewards.models import Reward
from rewards.services import reward_redeem, voucher_issue
from rewards.tests.factories import RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _ledger_sound(db):
    yield
    assert ledger_drift() == []


@pytest.fixture
def tiers(program):
    """A shop: Bronze from €100 (1 point per euro), Silver from €500 (×2), Gold from €1000 (×3)."""
    return (
        Tier.objects.create(rank=1, name="Bronze", threshold=Decimal("100")),
        Tier.objects.create(rank=2, name="Silver", threshold=Decimal("500"), multiplier=2),
        Tier.objects.create(rank=3, name="Gold", threshold=Decimal("1000"), multiplier=3),
    )


def buy(member, location, total, **kwargs):
    return purchase_record(member=member, location=location, total=total, **kwargs)


def tier_of(member):
    return fresh(member).tier


def value_of(member, as_of=None):
    program = program_get()
    return metrics_for(member_ids=[member.pk], program=program, as_of=as_of or timezone.now())[
        member.pk
    ]


def later(**kwargs):
    return timezone.now() + relativedelta(**kwargs)


def history(member):
    return [
        (c.from_tier.name if c.from_tier else None, c.to_tier.name if c.to_tier else None, c.reason)
        for c in TierChange.objects.filter(member=member).order_by("created_at", "pk")
    ]


# --------------------------------------------------------------------------------------------
# Upgrades and the multiplier line
# --------------------------------------------------------------------------------------------


def test_the_purchase_that_crosses_the_threshold_upgrades_at_once(member, location, tiers):
    bronze, silver, _gold = tiers
    buy(member, location, "400.00")
    assert tier_of(member) == bronze

    crossing = buy(member, location, "150.00")

    assert tier_of(member) == silver
    # The crossing purchase was earned at the old tier's rate (Bronze: ×1, no tier line).
    assert [a["code"] for a in crossing.awards] == ["base"]
    assert crossing.points == 150
    assert history(member) == [(None, "Bronze", "upgrade"), ("Bronze", "Silver", "upgrade")]
    change = TierChange.objects.filter(member=member).latest("pk")
    assert change.metric == Decimal("550.00")
    event = Event.objects.filter(member=member, type="tier.changed").latest("pk")
    assert event.payload["from"] == bronze.pk
    assert event.payload["to"] == silver.pk
    assert event.payload["reason"] == "upgrade"
    assert_ledger_clean()


def test_the_tier_multiplier_applies_from_the_next_purchase_as_its_own_line(
    member, location, tiers
):
    buy(member, location, "600.00")

    nxt = buy(member, location, "10.00")

    assert list(nxt.awards) == [
        {"code": "base", "label": "1 per €1.00 spent", "points": 10},
        {"code": "tier", "label": "×2 Silver", "points": 10},
    ]
    assert nxt.points == 20
    assert fresh(member).balance == 600 + 20
    assert_ledger_clean()


def test_the_callers_member_shows_the_new_tier_and_vip_status_after_a_purchase(
    program, member, location, tiers
):
    program.vip_auto_metric = "lifetime_spend"
    program.vip_auto_threshold = Decimal("500")
    program.save()

    buy(member, location, "600.00")

    assert member.tier == tiers[1]
    assert member.tier_valid_until == fresh(member).tier_valid_until
    assert member.is_vip()
    assert tier_progress(member=member).message == "€400.00 more to Gold"


def test_a_purchase_may_jump_several_tiers_at_once(member, location, tiers):
    buy(member, location, "1200.00")

    assert tier_of(member) == tiers[2]
    assert history(member) == [(None, "Gold", "upgrade")]


def test_no_tiers_configured_leaves_members_without_a_tier(program, member, location):
    buy(member, location, "5000.00")

    assert tier_of(member) is None
    assert tiers_reevaluate_all(as_of=later(years=3)) == 0


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def test_spend_counts_net_of_refunds(member, location, tiers):
    first = buy(member, location, "450.00").purchase
    purchase_refund(purchase=first, amount="100.00")

    buy(member, location, "100.00")  # 450 - 100 + 100 = 450: still short of Silver

    assert tier_of(member) == tiers[0]
    assert value_of(member) == Decimal("450.00")
    assert_ledger_clean()


def test_points_metric_counts_points_earned_from_purchases_and_visits(program, member, location):
    program.tier_metric = TierMetric.POINTS
    program.points_per_visit = 5
    program.save()
    Tier.objects.create(rank=1, name="Silver", threshold=Decimal("100"))
    buy(member, location, "90.00")
    visit_record(member=member, location=location, source="kiosk")
    assert tier_of(member) is None  # 90 + 5 points

    visit_record(member=member, location=location, source="kiosk")

    assert fresh(member).tier.name == "Silver"
    assert value_of(member) == Decimal("100")
    assert_ledger_clean()


def test_points_metric_counts_earned_points_net_of_refunds(program, member, location):
    program.tier_metric = TierMetric.POINTS
    program.save()
    Tier.objects.create(rank=1, name="Silver", threshold=Decimal("100"))
    purchase = buy(member, location, "80.00").purchase
    purchase_refund(purchase=purchase, amount="30.00")

    buy(member, location, "40.00")  # 80 - 30 + 40 = 90 points earned

    assert tier_of(member) is None
    assert value_of(member) == Decimal("90")
    assert_ledger_clean()


def test_visits_metric_counts_check_ins_and_purchases(program, member, location):
    program.tier_metric = TierMetric.VISITS
    program.save()
    Tier.objects.create(rank=1, name="Regular", threshold=Decimal("3"))
    visit_record(member=member, location=location, source="kiosk")
    visit_record(member=member, location=location, source="staff")
    assert tier_of(member) is None

    buy(member, location, "4.50")

    assert tier_of(member).name == "Regular"
    assert value_of(member) == Decimal("3")


def test_the_metric_of_one_member_ignores_other_members(member, location, tiers):
    other = MemberFactory()
    buy(other, location, "2000.00")

    buy(member, location, "150.00")

    assert tier_of(member) == tiers[0]
    assert tier_of(other) == tiers[2]


# --------------------------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------------------------


def test_rolling_window_counts_only_the_last_n_months(program, member, location, tiers):
    now = timezone.now()
    buy(member, location, "600.00", occurred_at=now - relativedelta(months=12, days=1))
    buy(member, location, "50.00", occurred_at=now - relativedelta(months=11, days=27))

    buy(member, location, "60.00")

    assert value_of(member, as_of=now + timedelta(minutes=1)) == Decimal("110.00")
    assert tier_of(member) == tiers[0]  # the €600 is out of the window: Bronze, not Silver


def test_rolling_window_length_is_a_setting(program, member, location, tiers):
    program.tier_window_months = 3
    program.save()
    now = timezone.now()
    buy(member, location, "600.00", occurred_at=now - relativedelta(months=4))

    buy(member, location, "60.00")

    assert tier_of(member) is None  # €60 in the last 3 months


def test_calendar_year_window_starts_on_the_first_of_january(program, member, location, tiers):
    program.tier_window = TierWindow.CALENDAR_YEAR
    program.save()
    new_year = timezone.localtime().replace(month=1, day=1, hour=0, minute=0, second=0)
    new_year = new_year.replace(microsecond=0)
    buy(member, location, "900.00", occurred_at=new_year - timedelta(minutes=1))
    buy(member, location, "120.00", occurred_at=new_year)

    assert value_of(member) == Decimal("120.00")
    assert tier_of(member) == tiers[0]
    # On 31 December of last year the €900 counted (and that year's €120 did not).
    assert value_of(member, as_of=new_year - timedelta(seconds=1)) == Decimal("900.00")


def test_lifetime_window_counts_everything(program, member, location, tiers):
    program.tier_window = TierWindow.LIFETIME
    program.save()
    buy(member, location, "450.00", occurred_at=timezone.now() - relativedelta(years=6))

    buy(member, location, "60.00")

    assert tier_of(member) == tiers[1]


# --------------------------------------------------------------------------------------------
# No downgrade by redeeming or by tier_evaluate
# --------------------------------------------------------------------------------------------


def test_redeeming_points_never_demotes(program, member, location):
    program.tier_metric = TierMetric.POINTS
    program.save()
    silver = Tier.objects.create(rank=1, name="Silver", threshold=Decimal("500"))
    buy(member, location, "600.00")
    reward = RewardFactory(points_cost=600)

    reward_redeem(member=member, reward=reward)

    assert fresh(member).balance == 0
    assert value_of(member) == Decimal("600")
    assert tier_evaluate(member=fresh(member), allow_downgrade=True) == silver
    assert tiers_reevaluate_all(as_of=later(days=1)) == 0
    assert tier_of(member) == silver
    assert_ledger_clean()


def test_tier_evaluate_never_downgrades(program, member, location, tiers):
    purchase = buy(member, location, "1200.00").purchase
    purchase_refund(purchase=purchase)

    tier_evaluate(member=member, as_of=later(years=5))
    buy(member, location, "10.00")

    assert tier_of(member) == tiers[2]
    assert history(member) == [(None, "Gold", "upgrade")]
    assert_ledger_clean()


# --------------------------------------------------------------------------------------------
# Downgrade at re-evaluation: window + grace, one step or straight to what is qualified
# --------------------------------------------------------------------------------------------


def test_reevaluation_keeps_the_tier_until_window_and_grace_have_passed(member, location, tiers):
    buy(member, location, "1200.00")  # Gold; rolling 12 months, 30 days' grace
    kept_until = fresh(member).tier_valid_until
    assert kept_until == pytest.approx(later(months=12, days=30), abs=timedelta(minutes=1))

    # Out of the window but inside the grace period: still Gold.
    assert tiers_reevaluate_all(as_of=later(months=12, days=2)) == 0
    assert tier_of(member) == tiers[2]

    assert tiers_reevaluate_all(as_of=later(months=12, days=31)) == 1
    assert tier_of(member) == tiers[1]  # one step down, though nothing qualifies any more
    assert history(member)[-1] == ("Gold", "Silver", "downgrade")


def test_one_step_downgrade_steps_again_only_after_another_window(member, location, tiers):
    buy(member, location, "1200.00")
    first = later(months=12, days=31)
    tiers_reevaluate_all(as_of=first)
    assert tier_of(member) == tiers[1]

    tiers_reevaluate_all(as_of=first + relativedelta(months=6))
    assert tier_of(member) == tiers[1]

    tiers_reevaluate_all(as_of=first + relativedelta(months=13, days=1))
    assert tier_of(member) == tiers[0]
    tiers_reevaluate_all(as_of=first + relativedelta(months=26, days=2))
    assert tier_of(member) is None
    assert [h[1] for h in history(member)] == ["Gold", "Silver", "Bronze", None]


def test_downgrade_straight_to_the_qualified_tier_is_a_setting(program, member, location, tiers):
    program.tier_downgrade = TierDowngrade.QUALIFIED
    program.save()
    buy(member, location, "1200.00")

    changed = tiers_reevaluate_all(as_of=later(months=12, days=31))

    assert changed == 1
    assert tier_of(member) is None  # nothing in the window any more: straight down from Gold
    assert history(member)[-1] == ("Gold", None, "downgrade")


def test_downgrade_straight_lands_on_the_tier_still_qualified_for(program, member, location, tiers):
    program.tier_downgrade = TierDowngrade.QUALIFIED
    program.tier_window = TierWindow.LIFETIME
    program.save()
    gold_purchase = buy(member, location, "1000.00").purchase
    buy(member, location, "150.00")
    purchase_refund(purchase=gold_purchase)  # lifetime value now €150: Bronze

    tiers_reevaluate_all(as_of=later(days=31))

    assert tier_of(member) == tiers[0]
    assert_ledger_clean()


def test_a_member_who_keeps_qualifying_keeps_the_tier(member, location, tiers):
    buy(member, location, "1200.00")

    # Eleven months on, the purchase is still in the rolling window: Gold stays, and a
    # quiet night writes nothing.
    assert tiers_reevaluate_all(as_of=later(months=11)) == 0
    assert tier_of(member) == tiers[2]
    # The qualifying purchase protects the tier for a window plus the grace period.
    assert fresh(member).tier_valid_until >= later(months=12, days=29)


def test_the_tier_is_kept_for_window_and_grace_after_the_last_qualifying_activity(
    member, location, tiers
):
    buy(member, location, "1200.00")

    assert tiers_reevaluate_all(as_of=later(months=12, days=29)) == 0
    assert tier_of(member) == tiers[2]
    assert tiers_reevaluate_all(as_of=later(months=12, days=31)) == 1
    assert tier_of(member) == tiers[1]


def test_a_refund_that_undoes_qualification_does_not_demote_at_once(
    program, member, location, tiers
):
    program.tier_window = TierWindow.LIFETIME
    program.save()
    purchase = buy(member, location, "600.00").purchase
    assert tier_of(member) == tiers[1]

    purchase_refund(purchase=purchase, amount="200.00")

    # Same rules as any loss of qualification: kept until the grace period has passed.
    assert tier_of(member) == tiers[1]
    buy(member, location, "5.00")
    assert tiers_reevaluate_all(as_of=later(days=10)) == 0
    assert tier_of(member) == tiers[1]
    assert tiers_reevaluate_all(as_of=later(days=31)) == 1
    assert tier_of(member) == tiers[0]
    assert_ledger_clean()


def test_reevaluation_upgrades_members_who_qualify(member, location, tiers):
    buy(member, location, "1200.00")
    other = MemberFactory()
    # A tier created after the purchases: the nightly run catches members up.
    from members.models import Member

    Member.objects.filter(pk__in=[member.pk, other.pk]).update(tier=None, tier_valid_until=None)

    assert tiers_reevaluate_all(as_of=later(minutes=1)) == 1
    assert tier_of(member) == tiers[2]
    assert tier_of(other) is None
    assert history(member)[-1] == (None, "Gold", "upgrade")


def test_reevaluating_twice_changes_nothing_the_second_time(member, location, tiers):
    members = [member, MemberFactory(), MemberFactory()]
    for m, total in zip(members, ["1200.00", "600.00", "150.00"], strict=True):
        buy(m, location, total)
    as_of = later(months=12, days=31)

    first = tiers_reevaluate_all(as_of=as_of, chunk_size=2)
    rows = (TierChange.objects.count(), Event.objects.filter(type="tier.changed").count())
    second = tiers_reevaluate_all(as_of=as_of, chunk_size=2)

    assert first == 3
    assert second == 0
    assert (TierChange.objects.count(), Event.objects.filter(type="tier.changed").count()) == rows
    assert [tier_of(m).name if tier_of(m) else None for m in members] == ["Silver", "Bronze", None]


def test_reevaluation_records_history_and_events(member, location, tiers):
    buy(member, location, "1200.00")
    as_of = later(months=12, days=31)

    tiers_reevaluate_all(as_of=as_of)

    change = TierChange.objects.filter(member=member).latest("created_at")
    assert (change.from_tier, change.to_tier, change.reason) == (tiers[2], tiers[1], "downgrade")
    assert change.metric == Decimal("0")
    assert change.created_at == as_of
    event = Event.objects.filter(member=member, type="tier.changed").latest("pk")
    assert event.payload == {
        "from": tiers[2].pk,
        "to": tiers[1].pk,
        "reason": "downgrade",
        "value": "0",
    }


# --------------------------------------------------------------------------------------------
# Tiers set by staff: a floor until a date
# --------------------------------------------------------------------------------------------


def test_staff_set_tier_needs_a_reason(member, tiers, manager_user):
    for reason in ("", "   ", None):
        with pytest.raises(errors.ReasonRequired):
            tier_set_manual(
                member=member,
                tier=tiers[2],
                until=later(months=1).date(),
                reason=reason,
                actor=manager_user,
            )
    assert tier_of(member) is None
    assert not TierChange.objects.exists()


def test_staff_set_tier_needs_a_manager(member, tiers, cashier_user):
    with pytest.raises(errors.NotPermitted):
        tier_set_manual(
            member=member,
            tier=tiers[2],
            until=later(months=1).date(),
            reason="Complaint",
            actor=cashier_user,
        )
    assert tier_of(member) is None


def test_staff_set_tier_needs_a_date_in_the_future(member, tiers, manager_user):
    for until in (None, (timezone.localtime() - timedelta(days=1)).date()):
        with pytest.raises(errors.InvalidInput) as exc:
            tier_set_manual(
                member=member, tier=tiers[2], until=until, reason="Complaint", actor=manager_user
            )
        assert exc.value.field == "until"
    assert tier_of(member) is None


def test_staff_set_tier_is_audited(member, tiers, manager_user):
    until = later(months=2).date()

    tier_set_manual(
        member=member,
        tier=tiers[2],
        until=until,
        reason="Hotel guest complaint",
        actor=manager_user,
    )

    m = fresh(member)
    assert (m.tier, m.tier_floor, m.tier_floor_until) == (tiers[2], tiers[2], until)
    change = TierChange.objects.get(member=member)
    assert (change.from_tier, change.to_tier, change.reason) == (None, tiers[2], "manual")
    assert (change.note, change.actor) == ("Hotel guest complaint", manager_user)
    event = Event.objects.get(member=member, type="tier.changed")
    assert event.actor == manager_user
    assert event.payload["note"] == "Hotel guest complaint"
    assert event.payload["until"] == until.isoformat()


def test_staff_set_tier_is_a_floor_until_its_date_and_drops_after(
    member, location, tiers, manager_user
):
    # The member qualified for Bronze (kept for a year), then staff gave Gold for ten days.
    buy(member, location, "150.00")
    until = (timezone.localtime() + timedelta(days=10)).date()
    tier_set_manual(
        member=member, tier=tiers[2], until=until, reason="Launch guest", actor=manager_user
    )

    assert tiers_reevaluate_all(as_of=later(days=9)) == 0
    buy(member, location, "5.00")
    assert tier_of(member) == tiers[2]

    # After its date the staff-set tier holds no more: the usual downgrade rule applies.
    assert tiers_reevaluate_all(as_of=later(days=12)) == 1
    assert tier_of(member) == tiers[1]
    assert history(member)[-1] == ("Gold", "Silver", "downgrade")


def test_staff_set_floor_keeps_the_tier_through_a_downgrade_due_meanwhile(
    member, location, tiers, manager_user
):
    buy(member, location, "1200.00")  # Gold until 12 months + 30 days from now
    until = later(months=14).date()
    tier_set_manual(
        member=member, tier=tiers[2], until=until, reason="Contract", actor=manager_user
    )
    assert not TierChange.objects.filter(reason="manual").exists()  # already Gold

    assert tiers_reevaluate_all(as_of=later(months=13)) == 0
    assert tier_of(member) == tiers[2]
    assert tiers_reevaluate_all(as_of=later(months=14, days=2)) == 1
    assert tier_of(member) == tiers[1]


def test_removing_the_staff_set_tier_reevaluates_at_once(member, location, tiers, manager_user):
    buy(member, location, "150.00")
    tier_set_manual(
        member=member,
        tier=tiers[2],
        until=later(months=1).date(),
        reason="Trial",
        actor=manager_user,
    )

    tier_set_manual(member=member, tier=None, until=None, reason="Trial over", actor=manager_user)

    m = fresh(member)
    assert (m.tier_floor, m.tier_floor_until) == (None, None)
    assert m.tier == tiers[1]  # one step down from the staff-set Gold (the programme's rule)
    assert Event.objects.filter(member=member, type="tier.floor_changed").exists()


# --------------------------------------------------------------------------------------------
# Configuration checks
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "thresholds",
    [("100", "500", "300"), ("100", "100", "1000"), ("500", "100", "1000")],
)
def test_thresholds_out_of_order_are_refused(db, thresholds):
    tiers = [
        Tier(rank=rank, name=name, threshold=Decimal(t))
        for rank, name, t in zip((1, 2, 3), ("Bronze", "Silver", "Gold"), thresholds, strict=True)
    ]

    with pytest.raises(errors.InvalidInput) as exc:
        tiers_validate(tiers)

    assert exc.value.field == "threshold"
    assert "must rise with rank" in exc.value.detail


def test_thresholds_rising_with_rank_are_accepted_in_any_order(db):
    tiers_validate(
        [
            Tier(rank=3, name="Gold", threshold=Decimal("1000")),
            Tier(rank=1, name="Bronze", threshold=Decimal("0")),
            Tier(rank=2, name="Silver", threshold=Decimal("500")),
        ]
    )


# --------------------------------------------------------------------------------------------
# Progress and benefits
# --------------------------------------------------------------------------------------------


def test_progress_says_what_the_next_tier_takes(member, location, tiers):
    buy(member, location, "380.00")

    progress = tier_progress(member=member)

    assert progress.tier == tiers[0]
    assert progress.next_tier == tiers[1]
    assert progress.value == Decimal("380.00")
    assert progress.needed_for_next == Decimal("120.00")
    assert progress.message == "€120.00 more to Silver"
    assert progress.keep_message == ""


def test_progress_before_any_tier_and_at_the_top(member, location, tiers):
    assert tier_progress(member=member).message == "€100.00 more to Bronze"

    buy(member, location, "1500.00")

    progress = tier_progress(member=member)
    assert (progress.next_tier, progress.needed_for_next) == (None, Decimal("0"))
    assert progress.message == "Top tier reached"


def test_progress_in_a_calendar_year_gives_the_date(program, member, location, tiers):
    program.tier_window = TierWindow.CALENDAR_YEAR
    program.save()
    buy(member, location, "700.00")

    progress = tier_progress(member=member)

    year_end = timezone.localtime().replace(month=12, day=31)
    assert progress.message == f"€300.00 more to Gold by {date_format(year_end, 'DATE_FORMAT')}"


def test_progress_tells_how_to_keep_the_tier_by_the_end_of_the_year(
    program, member, location, tiers
):
    program.tier_window = TierWindow.CALENDAR_YEAR
    program.save()
    last_year = timezone.localtime() - relativedelta(years=1)
    buy(member, location, "1200.00", occurred_at=last_year)
    tier_evaluate(member=member, as_of=last_year + timedelta(minutes=1))
    assert tier_of(member) == tiers[2]
    buy(member, location, "200.00")

    progress = tier_progress(member=fresh(member))

    year_end = timezone.localtime().replace(month=12, day=31)
    assert progress.keep_needed == Decimal("800.00")
    # The qualifying window is this calendar year: its end is the deadline, not the grace.
    deadline = date_format(year_end, "DATE_FORMAT")
    assert progress.keep_message == f"Keep Gold: €800.00 more by {deadline}"


def test_progress_in_points_and_visits(program, member, location):
    program.tier_metric = TierMetric.POINTS
    program.points_name = "stars"
    program.save()
    Tier.objects.create(rank=1, name="Silver", threshold=Decimal("100"))
    buy(member, location, "40.00")
    assert tier_progress(member=member).message == "60 stars more to Silver"

    program.tier_metric = TierMetric.VISITS
    program.save()
    assert tier_progress(member=member).message == "99 visits more to Silver"


def test_benefits_come_from_the_tier_vip_status_and_perk_vouchers(member, location, tiers):
    shipping = Benefit.objects.create(code="free_shipping", name="Free shipping")
    priority = Benefit.objects.create(code="priority_service", name="Priority service")
    Benefit.objects.create(code="lounge", name="Lounge", for_vip=True)
    tiers[1].benefits.add(shipping, priority)
    tiers[2].benefits.add(shipping)
    perk = RewardFactory(kind=Reward.Kind.PERK, benefit_code="extended_returns")
    assert member_benefits(member=member) == []

    buy(member, location, "600.00")
    assert member_benefits(member=fresh(member)) == ["free_shipping", "priority_service"]

    vip_grant(member=member, source="paid", fee="50.00", months=12)
    voucher_issue(member=member, reward=perk, origin="staff", reason="Loyal customer")

    assert member_benefits(member=fresh(member)) == [
        "extended_returns",
        "free_shipping",
        "lounge",
        "priority_service",
    ]
    # VIP status ends; so does its benefit.
    assert "lounge" not in member_benefits(member=fresh(member), as_of=later(months=13))


def test_minimum_tier_rewards_are_refused_below_the_tier(member, location, tiers):
    reward = RewardFactory(points_cost=10, min_tier=tiers[1])
    buy(member, location, "150.00")
    m = fresh(member)

    assert reasons_why_not(Context(member=m, reward=reward, as_of=timezone.now(), balance=150)) == [
        "Silver members only"
    ]

    buy(member, location, "400.00")
    m = fresh(member)
    assert (
        reasons_why_not(Context(member=m, reward=reward, as_of=timezone.now(), balance=550)) == []
    )
