"""The earning engine: a pure function of rules, member state, purchase and time.

Everything but the last section runs without a database.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from loyalty import services
from loyalty.engine import (
    LineIn,
    MemberState,
    Rules,
    RuleSpec,
    enrolment_awards,
    purchase_awards,
    round_points,
    visit_awards,
)
from loyalty.models import EarnRule, PointsLot, Purchase
from loyalty.tests.factories import EarnRuleFactory

AT = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
NEW = MemberState(is_first_purchase=False)
D = Decimal


def award(total, *, rules=None, lines=(), member=NEW, at=AT):
    return purchase_awards(
        rules=rules or Rules(), member=member, total=D(total), lines=lines, at=at
    )


def by_code(result):
    out = {}
    for a in result.awards:
        out.setdefault(a.code, []).append(a.points)
    return out


# --------------------------------------------------------------------------------------------
# round_points
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "down", "half_up", "up"),
    [
        ("0", 0, 0, 0),
        ("0.01", 0, 0, 1),
        ("12.49", 12, 12, 13),
        ("12.50", 12, 13, 13),
        ("12.51", 12, 13, 13),
        ("12.99", 12, 13, 13),
        ("13.00", 13, 13, 13),
        ("0.4999", 0, 0, 1),
        ("0.5", 0, 1, 1),
        ("99999999.99", 99999999, 100000000, 100000000),
    ],
)
def test_round_points_follows_each_rounding_rule_at_the_edges(value, down, half_up, up):
    assert round_points(D(value), "down") == down
    assert round_points(D(value), "half_up") == half_up
    assert round_points(D(value), "up") == up


def test_round_points_returns_a_plain_int():
    assert type(round_points(D("3.7"), "down")) is int


# --------------------------------------------------------------------------------------------
# Base rate
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "rate", "rounding", "points"),
    [
        ("12.49", "1", "down", 12),
        ("12.49", "1", "half_up", 12),
        ("12.49", "1", "up", 13),
        ("12.50", "1", "down", 12),
        ("12.50", "1", "half_up", 13),
        ("12.50", "1", "up", 13),
        ("12.99", "1", "down", 12),
        ("12.99", "1", "half_up", 13),
        ("12.99", "1", "up", 13),
        ("13.00", "1", "up", 13),
        # 1.5 per unit: 9.99 × 1.5 = 14.985
        ("9.99", "1.5", "down", 14),
        ("9.99", "1.5", "half_up", 15),
        ("9.99", "1.5", "up", 15),
        # 1.5 per unit, exactly half: 9.00 × 1.5 = 13.5
        ("9.00", "1.5", "down", 13),
        ("9.00", "1.5", "half_up", 14),
        # 0.1 per unit: 14.99 × 0.1 = 1.499, 15.00 × 0.1 = 1.5
        ("14.99", "0.1", "down", 1),
        ("14.99", "0.1", "half_up", 1),
        ("14.99", "0.1", "up", 2),
        ("15.00", "0.1", "half_up", 2),
        ("9.99", "0.1", "down", 0),
        # Exact decimals, no binary floating point error: 0.3 × 10 is 3, not 2.9999.
        ("0.30", "10", "down", 3),
        ("1.10", "3", "down", 3),
        # Large totals stay exact.
        ("9999999999.99", "1", "down", 9999999999),
        ("9999999999.99", "1", "half_up", 10000000000),
        ("10000.00", "2.5", "down", 25000),
    ],
)
def test_base_points_are_total_times_rate_rounded_by_the_programme_rule(
    total, rate, rounding, points
):
    result = award(total, rules=Rules(earn_rate=D(rate), rounding=rounding))

    assert by_code(result).get("base", [0]) == [points]
    assert result.points == points


def test_base_line_is_labelled_with_the_rate_and_currency():
    result = award("10.00", rules=Rules(earn_rate=D("1.5000"), currency="EUR"))

    (base,) = result.awards
    assert base.code == "base"
    assert "1.5" in base.label
    assert "€" in base.label
    assert base.rule_id is None
    assert base.as_dict() == {"code": "base", "label": base.label, "points": 15}


@pytest.mark.parametrize("rate", ["10.0000", "100", "0.0025"])
def test_base_label_shows_the_rate_as_a_plain_number(rate):
    result = award("1000.00", rules=Rules(earn_rate=D(rate)))

    label = result.awards[0].label
    assert "E+" not in label
    assert str(D(rate).normalize().to_eng_string()) in label.replace(",", "")


def test_a_purchase_below_one_point_awards_nothing():
    assert award("0.99").awards == ()
    assert award("0.99").points == 0


def test_zero_rate_awards_nothing_from_the_base():
    result = award("100.00", rules=Rules(earn_rate=D("0")))

    assert result.awards == ()


# --------------------------------------------------------------------------------------------
# Multipliers
# --------------------------------------------------------------------------------------------


def mult(id, multiplier, *, category="", sku="", name=None, **kw):
    return RuleSpec(
        id=id,
        name=name or f"x{multiplier} {category or sku}",
        kind="multiplier",
        category=category,
        sku=sku,
        multiplier=D(multiplier),
        **kw,
    )


def test_multiplier_gives_extra_points_on_matching_lines_only():
    rules = Rules(earn_rules=(mult(1, "2", category="pastry", name="Double pastry"),))
    lines = [LineIn(amount=D("4.00"), category="pastry"), LineIn(amount=D("6.00"), category="tea")]

    result = award("10.00", rules=rules, lines=lines)

    assert by_code(result) == {"base": [10], "multiplier": [4]}
    extra = result.awards[1]
    assert extra.label == "Double pastry"
    assert extra.rule_id == 1
    assert extra.as_dict()["rule_id"] == 1
    assert result.points == 14


def test_multipliers_do_not_stack_the_best_one_per_line_wins():
    rules = Rules(
        earn_rules=(
            mult(1, "2", category="pastry"),
            mult(2, "3", sku="CROISSANT"),
            mult(3, "1.5", category="pastry"),
        )
    )
    lines = [LineIn(amount=D("10.00"), sku="CROISSANT", category="pastry")]

    result = award("10.00", rules=rules, lines=lines)

    # ×3 from the SKU rule only: base 10 + extra 20, not 10 + 10 + 20 + 5.
    assert by_code(result) == {"base": [10], "multiplier": [20]}
    assert result.awards[1].rule_id == 2


def test_category_rule_beats_a_weaker_sku_rule_on_the_same_line():
    rules = Rules(earn_rules=(mult(1, "4", category="pastry"), mult(2, "2", sku="CROISSANT")))
    lines = [LineIn(amount=D("5.00"), sku="CROISSANT", category="pastry")]

    result = award("5.00", rules=rules, lines=lines)

    assert by_code(result) == {"base": [5], "multiplier": [15]}
    assert result.awards[1].rule_id == 1


def test_each_line_gets_its_own_best_multiplier_grouped_per_rule():
    rules = Rules(earn_rules=(mult(1, "2", category="pastry"), mult(2, "3", sku="CAKE")))
    lines = [
        LineIn(amount=D("2.00"), category="pastry"),
        LineIn(amount=D("3.00"), category="pastry"),
        LineIn(amount=D("4.00"), sku="CAKE", category="pastry"),
        LineIn(amount=D("1.00"), category="drinks"),
    ]

    result = award("10.00", rules=rules, lines=lines)

    extras = {a.rule_id: a.points for a in result.awards if a.code == "multiplier"}
    assert extras == {1: 5, 2: 8}
    assert result.points == 10 + 5 + 8


def test_equal_multipliers_pick_one_rule_not_both():
    rules = Rules(earn_rules=(mult(7, "2", category="pastry"), mult(3, "2", sku="BUN")))
    lines = [LineIn(amount=D("5.00"), sku="BUN", category="pastry")]

    result = award("5.00", rules=rules, lines=lines)

    assert [a.rule_id for a in result.awards if a.code == "multiplier"] == [3]
    assert result.points == 10


def test_multiplier_extra_uses_the_base_rate_and_rounds_on_its_own():
    rules = Rules(
        earn_rate=D("1.5"),
        rounding="down",
        earn_rules=(mult(1, "2", category="pastry"),),
    )
    lines = [LineIn(amount=D("3.33"), category="pastry")]

    result = award("3.33", rules=rules, lines=lines)

    # base 3.33 × 1.5 = 4.995 -> 4; extra 3.33 × 1.5 × 1 = 4.995 -> 4
    assert by_code(result) == {"base": [4], "multiplier": [4]}


def test_multiplier_of_one_or_a_rule_matching_nothing_gives_no_line():
    rules = Rules(earn_rules=(mult(1, "1", category="pastry"), mult(2, "5", category="wine")))
    lines = [LineIn(amount=D("10.00"), category="pastry")]

    assert by_code(award("10.00", rules=rules, lines=lines)) == {"base": [10]}


def test_multiplier_without_lines_gives_nothing_extra():
    rules = Rules(earn_rules=(mult(1, "2", category="pastry"),))

    assert by_code(award("10.00", rules=rules)) == {"base": [10]}


def test_multiplier_extra_rounding_to_zero_is_dropped():
    rules = Rules(earn_rules=(mult(1, "1.5", category="pastry"),))
    lines = [LineIn(amount=D("1.00"), category="pastry")]

    result = award("1.00", rules=rules, lines=lines)

    assert by_code(result) == {"base": [1]}
    assert all(a.points > 0 for a in result.awards)


# --------------------------------------------------------------------------------------------
# Fixed points per item
# --------------------------------------------------------------------------------------------


def fixed(id, points, *, category="", sku="", name=None, **kw):
    return RuleSpec(
        id=id,
        name=name or f"{points} per {category or sku}",
        kind="fixed_per_item",
        category=category,
        sku=sku,
        points=points,
        **kw,
    )


def test_fixed_bonus_is_points_times_quantity_of_matching_lines():
    rules = Rules(earn_rules=(fixed(1, 5, sku="COFFEE", name="5 per coffee"),))
    lines = [
        LineIn(amount=D("9.00"), quantity=3, sku="COFFEE"),
        LineIn(amount=D("1.00"), quantity=2, sku="WATER"),
        LineIn(amount=D("3.00"), quantity=1, sku="COFFEE"),
    ]

    result = award("13.00", rules=rules, lines=lines)

    assert by_code(result) == {"base": [13], "item_bonus": [20]}
    item = result.awards[1]
    assert item.label == "5 per coffee"
    assert item.rule_id == 1


def test_all_fixed_bonuses_apply_and_stack_with_a_multiplier():
    rules = Rules(
        earn_rules=(
            fixed(1, 5, sku="COFFEE"),
            fixed(2, 1, category="drinks"),
            mult(3, "2", category="drinks"),
        )
    )
    lines = [LineIn(amount=D("6.00"), quantity=2, sku="COFFEE", category="drinks")]

    result = award("6.00", rules=rules, lines=lines)

    assert by_code(result) == {"base": [6], "multiplier": [6], "item_bonus": [10, 2]}
    assert result.points == 24


def test_fixed_bonus_of_zero_points_gives_no_line():
    rules = Rules(earn_rules=(fixed(1, 0, sku="COFFEE"),))
    lines = [LineIn(amount=D("3.00"), sku="COFFEE")]

    assert by_code(award("3.00", rules=rules, lines=lines)) == {"base": [3]}


def test_fixed_bonus_applies_to_a_free_item():
    rules = Rules(earn_rules=(fixed(1, 10, sku="SAMPLE"),))
    lines = [LineIn(amount=D("0.00"), quantity=2, sku="SAMPLE"), LineIn(amount=D("2.00"))]

    assert by_code(award("2.00", rules=rules, lines=lines)) == {"base": [2], "item_bonus": [20]}


# --------------------------------------------------------------------------------------------
# Thresholds
# --------------------------------------------------------------------------------------------


def threshold(id, min_total, points, *, name=None, **kw):
    return RuleSpec(
        id=id,
        name=name or f"Spend over {min_total}",
        kind="threshold",
        min_total=D(min_total),
        points=points,
        **kw,
    )


THRESHOLDS = Rules(
    earn_rate=D("0"),
    earn_rules=(
        threshold(1, "50.00", 10, name="Over 50"),
        threshold(2, "100.00", 25, name="Over 100"),
        threshold(3, "20.00", 3, name="Over 20"),
    ),
)


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        ("19.99", []),
        ("20.00", [("Over 20", 3)]),
        ("49.99", [("Over 20", 3)]),
        ("50.00", [("Over 50", 10)]),
        ("99.99", [("Over 50", 10)]),
        ("100.00", [("Over 100", 25)]),
        ("5000.00", [("Over 100", 25)]),
    ],
)
def test_only_the_highest_threshold_reached_applies_and_exactly_at_it_counts(total, expected):
    result = award(total, rules=THRESHOLDS)

    assert [(a.label, a.points) for a in result.awards] == expected
    assert all(a.code == "threshold" for a in result.awards)


def test_threshold_bonus_adds_to_the_base_points():
    rules = Rules(earn_rules=(threshold(9, "50.00", 10),))

    result = award("50.00", rules=rules)

    assert by_code(result) == {"base": [50], "threshold": [10]}
    assert result.awards[1].rule_id == 9


# --------------------------------------------------------------------------------------------
# First purchase, visits, enrolment
# --------------------------------------------------------------------------------------------


def test_first_purchase_bonus_only_on_the_first_purchase():
    rules = Rules(first_purchase_bonus=50)

    first = award("10.00", rules=rules, member=MemberState(is_first_purchase=True))
    later = award("10.00", rules=rules, member=MemberState(is_first_purchase=False))

    assert by_code(first) == {"base": [10], "first_purchase": [50]}
    assert first.awards[-1].label
    assert by_code(later) == {"base": [10]}


def test_first_purchase_bonus_comes_even_when_the_base_rounds_to_nothing():
    rules = Rules(first_purchase_bonus=20)

    result = award("0.50", rules=rules, member=MemberState(is_first_purchase=True))

    assert by_code(result) == {"first_purchase": [20]}


def test_no_first_purchase_line_when_the_programme_has_no_bonus():
    result = award("10.00", member=MemberState(is_first_purchase=True))

    assert by_code(result) == {"base": [10]}


def test_visit_awards_the_points_per_visit_with_a_label():
    result = visit_awards(rules=Rules(points_per_visit=3))

    assert [(a.code, a.points) for a in result.awards] == [("visit", 3)]
    assert result.awards[0].label
    assert visit_awards(rules=Rules()).awards == ()
    assert visit_awards(rules=Rules()).points == 0


def test_enrolment_awards_the_welcome_bonus_with_a_label():
    result = enrolment_awards(rules=Rules(welcome_bonus=100))

    assert [(a.code, a.points) for a in result.awards] == [("welcome", 100)]
    assert result.awards[0].label
    assert enrolment_awards(rules=Rules()).awards == ()


# --------------------------------------------------------------------------------------------
# Validity windows, labels, zero lines
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("valid_from", "valid_until", "applies"),
    [
        (None, None, True),
        (AT, None, True),  # from is inclusive
        (AT + timedelta(seconds=1), None, False),
        (None, AT, False),  # until is exclusive
        (None, AT + timedelta(seconds=1), True),
        (AT - timedelta(days=2), AT - timedelta(days=1), False),
    ],
)
def test_rules_apply_only_inside_their_validity_window(valid_from, valid_until, applies):
    window = {"valid_from": valid_from, "valid_until": valid_until}
    rules = Rules(
        earn_rules=(
            mult(1, "2", category="pastry", **window),
            fixed(2, 5, category="pastry", **window),
            threshold(3, "1.00", 7, **window),
        )
    )
    lines = [LineIn(amount=D("10.00"), category="pastry")]

    result = award("10.00", rules=rules, lines=lines)

    expected = (
        {"base": [10], "multiplier": [10], "item_bonus": [5], "threshold": [7]}
        if applies
        else {"base": [10]}
    )
    assert by_code(result) == expected


def test_every_award_line_has_a_label_and_positive_points():
    rules = Rules(
        earn_rate=D("1"),
        first_purchase_bonus=5,
        earn_rules=(
            mult(1, "2", category="pastry"),
            fixed(2, 3, sku="BUN"),
            threshold(3, "10.00", 4),
            fixed(4, 0, sku="BUN"),
        ),
    )
    lines = [
        LineIn(amount=D("8.00"), sku="BUN", category="pastry"),
        LineIn(amount=D("2.00"), category="tea"),
    ]

    result = award("10.00", rules=rules, lines=lines, member=MemberState(is_first_purchase=True))

    assert {a.code for a in result.awards} == {
        "base",
        "multiplier",
        "item_bonus",
        "threshold",
        "first_purchase",
    }
    for a in result.awards:
        assert a.points > 0
        assert isinstance(a.label, str)
        assert a.label.strip()
    assert result.points == sum(a.points for a in result.awards) == 10 + 8 + 3 + 4 + 5


def test_engine_is_pure_same_input_same_output():
    rules = Rules(earn_rate=D("1.25"), rounding="half_up", earn_rules=(fixed(1, 2, sku="A"),))
    lines = (LineIn(amount=D("7.77"), sku="A"),)

    assert award("7.77", rules=rules, lines=lines) == award("7.77", rules=rules, lines=lines)


# --------------------------------------------------------------------------------------------
# purchase_quote == purchase_record (database)
# --------------------------------------------------------------------------------------------


QUOTE_CASES = [
    ("12.49", [], "half_up"),
    ("12.50", [], "half_up"),
    ("9.99", [{"amount": "4.99", "category": "pastry"}, {"amount": "5.00", "sku": "COFFEE"}], "up"),
    (
        "60.00",
        [{"amount": "50.00", "sku": "COFFEE", "quantity": 4}, {"amount": "10.00"}],
        "down",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("total", "lines", "rounding"), QUOTE_CASES)
def test_quote_is_exactly_what_recording_awards_and_writes_nothing(
    program, member, location, total, lines, rounding
):
    program.earn_rate = D("1.5")
    program.rounding = rounding
    program.first_purchase_bonus = 25
    program.save()
    EarnRuleFactory(kind=EarnRule.Kind.MULTIPLIER, category="pastry", multiplier=D("2"))
    EarnRuleFactory(kind=EarnRule.Kind.FIXED_PER_ITEM, category="", sku="COFFEE", points=3)
    EarnRuleFactory(kind=EarnRule.Kind.THRESHOLD, category="", min_total=D("50"), points=10)
    EarnRuleFactory(
        kind=EarnRule.Kind.MULTIPLIER, category="pastry", multiplier=D("9"), is_active=False
    )

    quote = services.purchase_quote(member=member, location=location, total=total, lines=lines)

    assert Purchase.objects.count() == 0
    assert PointsLot.objects.filter(member=member).count() == 0
    result = services.purchase_record(
        member=member, location=location, total=total, lines=lines, external_id="Q1"
    )
    assert result.points == quote.points
    assert list(result.awards) == [a.as_dict() for a in quote.awards]
    assert any(a["code"] == "first_purchase" for a in result.awards)

    # The second purchase is not a first purchase any more, for the quote as for the record.
    quote2 = services.purchase_quote(member=member, location=location, total=total, lines=lines)
    result2 = services.purchase_record(
        member=member, location=location, total=total, lines=lines, external_id="Q2"
    )
    assert result2.points == quote2.points == quote.points - 25
    assert list(result2.awards) == [a.as_dict() for a in quote2.awards]
