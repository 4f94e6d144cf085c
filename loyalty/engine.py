"""The earning engine: a pure function from rules, member state, purchase and time to awards.

Nothing here reads or writes the database. ``loyalty.selectors.program_rules()`` builds the
``Rules`` snapshot; ``purchase_quote`` and ``purchase_record`` both call ``purchase_awards``,
so a quote is always what recording would award.

Rounding and stacking (also in docs/ledger.md):

* Every award line is computed in exact decimals and rounded to whole points on its own,
  with the programme's rounding rule. The points of a purchase are the sum of its lines.
* Base points: purchase total × base rate.
* Tier multiplier: the member's tier multiplies the base points; the extra, base ×
  (multiplier − 1), is its own line ("×2 Gold"). VIP bonus: a percentage of the base points.
* Multiplier rules: each purchase line gets the *highest* multiplier among the active rules
  that match its SKU or category (multipliers do not stack with each other); the extra
  points, line amount × rate × (multiplier − 1), form one award line per rule.
* Fixed-per-item rules all apply: points × quantity of the matching lines.
* Threshold rules: only the highest threshold the total reaches applies.
* First-purchase bonus: once, on the member's first purchase.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from django.utils.translation import gettext as _

from loyalty.formatting import money, number

_ROUNDING = {"down": ROUND_FLOOR, "half_up": ROUND_HALF_UP, "up": ROUND_CEILING}


@dataclass(frozen=True)
class RuleSpec:
    """An ``EarnRule`` as the engine sees it."""

    id: int
    name: str
    kind: str
    category: str = ""
    sku: str = ""
    multiplier: Decimal = Decimal("1")
    points: int = 0
    min_total: Decimal | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    def active_at(self, at: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_until is None or at < self.valid_until
        )

    def matches(self, line: LineIn) -> bool:
        return bool(
            (self.sku and line.sku == self.sku)
            or (self.category and line.category == self.category)
        )


@dataclass(frozen=True)
class Rules:
    """A snapshot of the programme settings that earning depends on."""

    currency: str = "EUR"
    earn_rate: Decimal = Decimal("1")
    rounding: str = "down"
    first_purchase_bonus: int = 0
    points_per_visit: int = 0
    welcome_bonus: int = 0
    earn_rules: tuple[RuleSpec, ...] = ()


@dataclass(frozen=True)
class LineIn:
    """A purchase line as the engine sees it."""

    amount: Decimal
    quantity: int = 1
    sku: str = ""
    category: str = ""
    description: str = ""


@dataclass(frozen=True)
class MemberState:
    """What the engine needs to know about the member."""

    is_first_purchase: bool = False
    tier_name: str = ""
    tier_multiplier: Decimal = Decimal("1")
    vip_bonus_percent: Decimal = Decimal("0")


@dataclass(frozen=True)
class Award:
    """One line of an award: points and the reason, in words and as a stable code."""

    code: str
    label: str
    points: int
    rule_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "label": self.label, "points": self.points}
        if self.rule_id is not None:
            data["rule_id"] = self.rule_id
        return data


@dataclass(frozen=True)
class AwardResult:
    awards: tuple[Award, ...] = field(default_factory=tuple)

    @property
    def points(self) -> int:
        return sum(a.points for a in self.awards)


def round_points(value: Decimal, rounding: str) -> int:
    """Round an exact number of points to a whole number by the programme's rule."""
    return int(value.quantize(Decimal(1), rounding=_ROUNDING[rounding]))


def _base_label(rules: Rules) -> str:
    return _("%(rate)s per %(money)s spent") % {
        "rate": number(rules.earn_rate.normalize()),
        "money": money(Decimal(1), rules.currency),
    }


def purchase_awards(
    *,
    rules: Rules,
    member: MemberState,
    total: Decimal,
    lines: Sequence[LineIn] = (),
    at: datetime,
) -> AwardResult:
    """Return the award lines for a purchase. Lines with zero points are left out."""
    awards: list[Award] = []
    rate = rules.earn_rate
    active = [r for r in rules.earn_rules if r.active_at(at)]

    awards.append(Award("base", _base_label(rules), round_points(total * rate, rules.rounding)))
    if member.tier_multiplier > 1:
        awards.append(
            Award(
                "tier",
                _("×%(multiplier)s %(tier)s")
                % {
                    "multiplier": number(member.tier_multiplier.normalize()),
                    "tier": member.tier_name,
                },
                round_points(total * rate * (member.tier_multiplier - 1), rules.rounding),
            )
        )
    if member.vip_bonus_percent > 0:
        awards.append(
            Award(
                "vip",
                _("VIP bonus +%(percent)s%%")
                % {"percent": number(member.vip_bonus_percent.normalize())},
                round_points(total * rate * member.vip_bonus_percent / 100, rules.rounding),
            )
        )

    # Multipliers: the best one per line; extra points grouped by the rule that gave them.
    multipliers = [r for r in active if r.kind == "multiplier" and r.multiplier > 1]
    extra_by_rule: dict[int, Decimal] = {}
    for line in lines:
        best = max(
            (r for r in multipliers if r.matches(line)),
            key=lambda r: (r.multiplier, -r.id),
            default=None,
        )
        if best is not None:
            extra_by_rule[best.id] = extra_by_rule.get(best.id, Decimal(0)) + line.amount * rate * (
                best.multiplier - 1
            )
    for rule in multipliers:
        if rule.id in extra_by_rule:
            awards.append(
                Award(
                    "multiplier",
                    rule.name,
                    round_points(extra_by_rule[rule.id], rules.rounding),
                    rule.id,
                )
            )

    for rule in active:
        if rule.kind == "fixed_per_item" and rule.points:
            quantity = sum(line.quantity for line in lines if rule.matches(line))
            if quantity:
                awards.append(Award("item_bonus", rule.name, rule.points * quantity, rule.id))

    reached = [
        r
        for r in active
        if r.kind == "threshold" and r.min_total is not None and total >= r.min_total
    ]
    if reached:
        best_threshold = max(reached, key=lambda r: (r.min_total, r.points))
        awards.append(
            Award("threshold", best_threshold.name, best_threshold.points, best_threshold.id)
        )

    if member.is_first_purchase and rules.first_purchase_bonus:
        awards.append(
            Award("first_purchase", _("First purchase bonus"), rules.first_purchase_bonus)
        )

    return AwardResult(tuple(a for a in awards if a.points > 0))


def visit_awards(*, rules: Rules) -> AwardResult:
    """Return the award lines for a check-in without a purchase."""
    if not rules.points_per_visit:
        return AwardResult()
    return AwardResult((Award("visit", _("Visit"), rules.points_per_visit),))


def enrolment_awards(*, rules: Rules) -> AwardResult:
    """Return the award lines for a new member."""
    if not rules.welcome_bonus:
        return AwardResult()
    return AwardResult((Award("welcome", _("Welcome bonus"), rules.welcome_bonus),))
