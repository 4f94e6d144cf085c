"""The earning engine's bonus campaigns: windows, conditions, stacking and caps (no database)."""

from datetime import datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from loyalty.engine import CampaignSpec, LineIn, MemberState, Rules, purchase_awards

HEL = ZoneInfo("Europe/Helsinki")
# Saturday 2026-06-06 and the days around it, local time in Helsinki.
SAT_NOON = datetime(2026, 6, 6, 12, 0, tzinfo=HEL)
FRI_NOON = datetime(2026, 6, 5, 12, 0, tzinfo=HEL)
MON_NOON = datetime(2026, 6, 8, 12, 0, tzinfo=HEL)

WEEKEND = CampaignSpec(
    id=1,
    name="Double points weekend",
    multiplier=Decimal("2"),
    starts_at=datetime(2026, 6, 6, 0, 0, tzinfo=HEL),
    ends_at=datetime(2026, 6, 8, 0, 0, tzinfo=HEL),
)


@pytest.fixture(autouse=True)
def _helsinki():
    with timezone.override(HEL):
        yield


def campaign_lines(*specs, total="20", at=SAT_NOON, member=None, lines=(), location_id=None):
    result = purchase_awards(
        rules=Rules(campaigns=tuple(specs)),
        member=member or MemberState(),
        total=Decimal(total),
        lines=lines,
        at=at,
        location_id=location_id,
    )
    return [(a.label, a.points) for a in result.awards if a.code == "campaign"]


def test_double_points_weekend_applies_only_inside_its_window():
    assert campaign_lines(WEEKEND, at=SAT_NOON) == [("Double points weekend", 20)]
    assert campaign_lines(WEEKEND, at=FRI_NOON) == []
    assert campaign_lines(WEEKEND, at=MON_NOON) == []
    # The end is exclusive, the start inclusive.
    assert campaign_lines(WEEKEND, at=WEEKEND.starts_at) == [("Double points weekend", 20)]
    assert campaign_lines(WEEKEND, at=WEEKEND.ends_at) == []


def test_award_line_names_the_campaign_with_its_id():
    result = purchase_awards(
        rules=Rules(campaigns=(WEEKEND,)), member=MemberState(), total=Decimal("20"), at=SAT_NOON
    )
    assert [a.as_dict() for a in result.awards] == [
        {"code": "base", "label": "1 per €1.00 spent", "points": 20},
        {"code": "campaign", "label": "Double points weekend", "points": 20, "campaign_id": 1},
    ]
    assert result.points == 40


def test_triple_points_gives_twice_the_base_again_and_fixed_gives_its_points_once():
    triple = CampaignSpec(id=2, name="Triple", multiplier=Decimal("3"))
    fixed = CampaignSpec(id=3, name="+50", kind="fixed", points=50)
    # Like every award line, the extra is computed exactly and rounded on its own:
    # 10.90 × 1 × (3 − 1) = 21.8 → 21 (base line 10.90 → 10).
    assert campaign_lines(triple, fixed, total="10.90") == [("Triple", 21), ("+50", 50)]
    assert campaign_lines(triple, total="10") == [("Triple", 20)]


def test_weekdays_use_local_time():
    sundays = CampaignSpec(id=1, name="Sunday", weekdays=(6,))
    # 23:30 UTC on Saturday is already Sunday in Helsinki.
    late_saturday_utc = datetime(2026, 6, 6, 23, 30, tzinfo=ZoneInfo("UTC"))
    assert campaign_lines(sundays, at=late_saturday_utc) == [("Sunday", 20)]
    assert campaign_lines(sundays, at=SAT_NOON) == []


def test_happy_hour_inside_a_day():
    happy = CampaignSpec(id=1, name="Happy hour", hour_from=time(15), hour_until=time(17))
    assert campaign_lines(happy, at=SAT_NOON.replace(hour=15)) == [("Happy hour", 20)]
    assert campaign_lines(happy, at=SAT_NOON.replace(hour=16, minute=59)) == [("Happy hour", 20)]
    assert campaign_lines(happy, at=SAT_NOON.replace(hour=17)) == []
    assert campaign_lines(happy, at=SAT_NOON.replace(hour=14, minute=59)) == []


def test_happy_hour_across_midnight_belongs_to_the_day_it_starts():
    friday_night = CampaignSpec(
        id=1, name="Late Friday", weekdays=(4,), hour_from=time(22), hour_until=time(2)
    )
    friday_23 = datetime(2026, 6, 5, 23, 0, tzinfo=HEL)
    saturday_01 = datetime(2026, 6, 6, 1, 30, tzinfo=HEL)
    saturday_03 = datetime(2026, 6, 6, 3, 0, tzinfo=HEL)
    saturday_23 = datetime(2026, 6, 6, 23, 0, tzinfo=HEL)
    friday_01 = datetime(2026, 6, 5, 1, 0, tzinfo=HEL)  # Thursday night's tail
    assert campaign_lines(friday_night, at=friday_23) == [("Late Friday", 20)]
    assert campaign_lines(friday_night, at=saturday_01) == [("Late Friday", 20)]
    assert campaign_lines(friday_night, at=saturday_03) == []
    assert campaign_lines(friday_night, at=saturday_23) == []
    assert campaign_lines(friday_night, at=friday_01) == []


def test_minimum_spend_is_on_the_purchase_total():
    big = CampaignSpec(id=1, name="Big basket", kind="fixed", points=100, min_spend=Decimal("50"))
    assert campaign_lines(big, total="49.99") == []
    assert campaign_lines(big, total="50") == [("Big basket", 100)]


def test_category_or_sku_multiplies_only_the_matching_lines():
    lines = [
        LineIn(amount=Decimal("6"), category="coffee"),
        LineIn(amount=Decimal("14"), category="food", sku="SAND-1"),
    ]
    coffee = CampaignSpec(id=1, name="Coffee x3", multiplier=Decimal("3"), category="coffee")
    sandwich = CampaignSpec(id=2, name="Sandwich x2", sku="SAND-1")
    tea = CampaignSpec(id=3, name="Tea x2", category="tea")
    assert campaign_lines(coffee, sandwich, tea, lines=lines) == [
        ("Coffee x3", 12),
        ("Sandwich x2", 14),
    ]
    fixed_tea = CampaignSpec(id=4, name="Tea +10", kind="fixed", points=10, category="tea")
    assert campaign_lines(fixed_tea, lines=lines) == []


def test_location_tier_vip_and_segment_conditions():
    spec = CampaignSpec(id=1, name="Local", location_ids=frozenset({7}))
    assert campaign_lines(spec, location_id=7) == [("Local", 20)]
    assert campaign_lines(spec, location_id=8) == []
    assert campaign_lines(spec, location_id=None) == []

    gold = CampaignSpec(id=2, name="Gold", tier_ids=frozenset({3}))
    assert campaign_lines(gold, member=MemberState(tier_id=3)) == [("Gold", 20)]
    assert campaign_lines(gold, member=MemberState(tier_id=2)) == []
    assert campaign_lines(gold, member=MemberState()) == []

    vip = CampaignSpec(id=3, name="VIP", vip_only=True)
    assert campaign_lines(vip, member=MemberState(is_vip=True)) == [("VIP", 20)]
    assert campaign_lines(vip, member=MemberState(is_vip=False)) == []

    segment = CampaignSpec(id=4, name="Lapsed", segment_id=9)
    assert campaign_lines(segment, member=MemberState(segment_ids=frozenset({9}))) == [
        ("Lapsed", 20)
    ]
    assert campaign_lines(segment, member=MemberState(segment_ids=frozenset({8}))) == []


def test_stack_campaigns_all_apply_and_only_the_best_of_best_only():
    stack_a = CampaignSpec(id=1, name="Stack A", kind="fixed", points=5)
    stack_b = CampaignSpec(id=2, name="Stack B", kind="fixed", points=7)
    best_small = CampaignSpec(id=3, name="Best small", kind="fixed", points=10, stacking="best")
    best_big = CampaignSpec(id=4, name="Best big", kind="fixed", points=30, stacking="best")
    assert campaign_lines(stack_a, stack_b, best_small, best_big) == [
        ("Stack A", 5),
        ("Stack B", 7),
        ("Best big", 30),
    ]


def test_an_exclusive_campaign_shuts_out_the_others_and_the_best_exclusive_wins():
    stack = CampaignSpec(id=1, name="Stack", kind="fixed", points=500)
    best = CampaignSpec(id=2, name="Best", kind="fixed", points=400, stacking="best")
    excl_small = CampaignSpec(
        id=3, name="Excl small", kind="fixed", points=10, stacking="exclusive"
    )
    excl_big = CampaignSpec(id=4, name="Excl big", kind="fixed", points=20, stacking="exclusive")
    assert campaign_lines(stack, best, excl_small, excl_big) == [("Excl big", 20)]
    # An exclusive campaign that does not apply (wrong weekday) shuts out nothing.
    off_day = CampaignSpec(
        id=5, name="Mondays", kind="fixed", points=99, stacking="exclusive", weekdays=(0,)
    )
    assert campaign_lines(stack, best, off_day) == [("Stack", 500), ("Best", 400)]


def test_cap_limits_what_the_member_can_still_get():
    capped = CampaignSpec(id=1, name="Capped", kind="fixed", points=50, cap=120)
    assert campaign_lines(capped, member=MemberState(campaign_points={1: 0})) == [("Capped", 50)]
    assert campaign_lines(capped, member=MemberState(campaign_points={1: 100})) == [("Capped", 20)]
    assert campaign_lines(capped, member=MemberState(campaign_points={1: 120})) == []


def test_a_capped_out_exclusive_campaign_no_longer_shuts_out_the_others():
    excl = CampaignSpec(id=1, name="Excl", kind="fixed", points=50, cap=50, stacking="exclusive")
    stack = CampaignSpec(id=2, name="Stack", kind="fixed", points=5)
    assert campaign_lines(excl, stack, member=MemberState(campaign_points={1: 50})) == [
        ("Stack", 5)
    ]
