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

Bonus campaigns (``Rules.campaigns``, docs/campaigns.md "Bonus campaigns"):

* A campaign applies when the purchase falls inside its date window (``starts_at`` ≤ time
  < ``ends_at``), on one of its weekdays and inside its hours, all in the purchase's local
  time (the current time zone). Hours that cross midnight (22:00–02:00) belong to the day
  they start on: Friday 22:00–02:00 covers Saturday 01:00. Its other conditions (minimum
  spend on the purchase total, category or SKU, locations, tiers, VIP, segment) must hold.
* A multiplier campaign gives base points × (multiplier − 1); with a category or SKU, of
  the matching lines' amount only (and nothing when no line matches). A fixed campaign
  gives its points once per purchase. Each applied campaign is its own award line (code
  ``campaign``, the campaign's name in the active language as the label, ``campaign_id``).
* A campaign with a per-member cap never gives more than the cap minus what it has already
  given that member (``MemberState.campaign_points``); once used up it no longer applies.
* Stacking, among the campaigns that would give points: if any is *exclusive*, only the
  best exclusive one applies; otherwise every *stack* campaign applies plus the single best
  of the *best-only* ones. "Best" is most points, then the lower id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import get_language
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
class CampaignSpec:
    """A bonus campaign as the engine sees it (see the module docstring for the rules)."""

    id: int
    name: str  # in the default language
    kind: str = "multiplier"  # "multiplier" or "fixed"
    multiplier: Decimal = Decimal("2")
    points: int = 0
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    weekdays: tuple[int, ...] = ()  # 0 = Monday; empty = every day
    hour_from: time | None = None
    hour_until: time | None = None
    min_spend: Decimal | None = None
    category: str = ""
    sku: str = ""
    location_ids: frozenset[int] = frozenset()
    tier_ids: frozenset[int] = frozenset()
    vip_only: bool = False
    segment_id: int | None = None
    stacking: str = "stack"  # "stack", "best" or "exclusive"
    cap: int | None = None
    # The name in other languages, as (language code, name) pairs; the award line takes the
    # active language's name, else ``name``. The spec is cached for every language.
    names: tuple[tuple[str, str], ...] = ()

    def label(self) -> str:
        """Return the name in the active language, else the default one."""
        return dict(self.names).get(get_language() or "", "") or self.name

    def in_window(self, at: datetime) -> bool:
        """True if ``at`` is inside the date window (ignoring weekdays and hours)."""
        return (self.starts_at is None or self.starts_at <= at) and (
            self.ends_at is None or at < self.ends_at
        )

    def in_time(self, at: datetime) -> bool:
        """True if ``at`` is inside the window, on a chosen weekday and inside the hours."""
        if not self.in_window(at):
            return False
        local = timezone.localtime(at)
        day = local.weekday()
        clock = local.time().replace(tzinfo=None)
        if self.hour_from is not None and self.hour_until is not None:
            if self.hour_from < self.hour_until:
                if not (self.hour_from <= clock < self.hour_until):
                    return False
            elif clock >= self.hour_from:
                pass  # the evening part of a window that crosses midnight
            elif clock < self.hour_until:
                day = (local - timedelta(days=1)).weekday()  # belongs to the day it started
            else:
                return False
        return not self.weekdays or day in self.weekdays

    def matches(self, line: LineIn) -> bool:
        return bool(
            (self.sku and line.sku == self.sku)
            or (self.category and line.category == self.category)
        )

    @property
    def needs_member_state(self) -> bool:
        """True if applying it needs facts the member row does not hold (segment, cap)."""
        return self.segment_id is not None or self.cap is not None


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
    campaigns: tuple[CampaignSpec, ...] = ()


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
    tier_id: int | None = None
    is_vip: bool = False
    segment_ids: frozenset[int] = frozenset()
    # Points already given per capped campaign id.
    campaign_points: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Award:
    """One line of an award: points and the reason, in words and as a stable code."""

    code: str
    label: str
    points: int
    rule_id: int | None = None
    campaign_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "label": self.label, "points": self.points}
        if self.rule_id is not None:
            data["rule_id"] = self.rule_id
        if self.campaign_id is not None:
            data["campaign_id"] = self.campaign_id
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
    location_id: int | None = None,
) -> AwardResult:
    """Return the award lines for a purchase. Lines with zero points are left out.

    ``location_id`` is where the purchase happens; campaigns limited to some locations
    apply only when it is one of them.
    """
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

    awards.extend(
        campaign_awards(
            rules=rules, member=member, total=total, lines=lines, at=at, location_id=location_id
        )
    )

    return AwardResult(tuple(a for a in awards if a.points > 0))


def campaign_applies(
    spec: CampaignSpec,
    *,
    member: MemberState,
    total: Decimal,
    lines: Sequence[LineIn],
    at: datetime,
    location_id: int | None,
) -> bool:
    """True if every condition of ``spec`` holds for this purchase (points aside)."""
    if not spec.in_time(at):
        return False
    if spec.min_spend is not None and total < spec.min_spend:
        return False
    if spec.location_ids and location_id not in spec.location_ids:
        return False
    if spec.tier_ids and member.tier_id not in spec.tier_ids:
        return False
    if spec.vip_only and not member.is_vip:
        return False
    if spec.segment_id is not None and spec.segment_id not in member.segment_ids:
        return False
    return not (spec.category or spec.sku) or any(spec.matches(line) for line in lines)


def _campaign_points(spec: CampaignSpec, *, rules: Rules, total: Decimal, lines) -> int:
    if spec.kind == "fixed":
        points = spec.points
    else:
        if spec.category or spec.sku:
            amount = sum((line.amount for line in lines if spec.matches(line)), Decimal(0))
        else:
            amount = total
        points = round_points(amount * rules.earn_rate * (spec.multiplier - 1), rules.rounding)
    return max(points, 0)


def campaign_awards(
    *,
    rules: Rules,
    member: MemberState,
    total: Decimal,
    lines: Sequence[LineIn] = (),
    at: datetime,
    location_id: int | None = None,
) -> list[Award]:
    """Return the award lines of the bonus campaigns for a purchase, after stacking and caps."""
    candidates: list[tuple[CampaignSpec, int]] = []
    for spec in rules.campaigns:
        if not campaign_applies(
            spec, member=member, total=total, lines=lines, at=at, location_id=location_id
        ):
            continue
        points = _campaign_points(spec, rules=rules, total=total, lines=lines)
        if spec.cap is not None:
            points = min(points, max(spec.cap - member.campaign_points.get(spec.id, 0), 0))
        if points > 0:
            candidates.append((spec, points))

    def best(items):
        return min(items, key=lambda c: (-c[1], c[0].id))

    exclusive = [c for c in candidates if c[0].stacking == "exclusive"]
    if exclusive:
        chosen = [best(exclusive)]
    else:
        chosen = [c for c in candidates if c[0].stacking == "stack"]
        best_only = [c for c in candidates if c[0].stacking == "best"]
        if best_only:
            chosen.append(best(best_only))
        chosen.sort(key=lambda c: c[0].id)
    return [Award("campaign", spec.label(), points, campaign_id=spec.id) for spec, points in chosen]


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
