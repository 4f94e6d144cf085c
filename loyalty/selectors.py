"""Reads shared by the interfaces and the services of the programme core."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Min, QuerySet, Sum
from django.utils import timezone

from loyalty.engine import Rules, RuleSpec
from loyalty.models import EarnRule, LedgerEntry, Location, PointsLot, Program, Purchase

# The programme's configuration (settings, earning rules, tiers) is read on every purchase
# but changes rarely, so each process keeps it for a few seconds. Saving a configuration
# model calls ``config_changed()``, which bumps a generation number in Django's cache: the
# process that saved sees the change at once, others within CONFIG_TTL seconds (at once
# when CACHE_URL points at a shared cache such as Redis).
CONFIG_TTL = 5.0
_GENERATION_KEY = "loyalty:config-generation"
_memo: dict = {"generation": None, "loaded_at": 0.0, "values": {}}


def _config(name: str, load):
    generation = cache.get(_GENERATION_KEY, 0)
    now = time.monotonic()
    if _memo["generation"] != generation or now - _memo["loaded_at"] > CONFIG_TTL:
        _memo.update(generation=generation, loaded_at=now, values={})
    values = _memo["values"]
    if name not in values:
        values[name] = load()
    return values[name]


def config_changed() -> None:
    """Forget the cached configuration, here and (through the cache) in other processes."""
    try:
        cache.incr(_GENERATION_KEY)
    except ValueError:
        cache.set(_GENERATION_KEY, 1, None)
    _memo.update(generation=None, values={})


def program_get() -> Program:
    """Return the programme, creating it with defaults on first use."""
    return _config("program", lambda: Program.objects.get_or_create(pk=1)[0])


def program_rules(*, program: Program | None = None) -> Rules:
    """Return the snapshot of settings and earning rules that the engine works from."""
    program = program or program_get()
    specs = _config("earn_rules", _earn_rule_specs)
    campaigns = _config("campaign_specs", _campaign_specs)
    return Rules(
        currency=program.currency,
        earn_rate=program.earn_rate,
        rounding=program.rounding,
        first_purchase_bonus=program.first_purchase_bonus,
        points_per_visit=program.points_per_visit,
        welcome_bonus=program.welcome_bonus,
        earn_rules=specs,
        campaigns=campaigns,
    )


def _campaign_specs() -> tuple:
    from loyalty import hooks

    return tuple(hooks.provided("campaign_specs", ()))


def _earn_rule_specs() -> tuple[RuleSpec, ...]:
    return tuple(
        RuleSpec(
            id=r.pk,
            name=r.name,
            kind=r.kind,
            category=r.category,
            sku=r.sku,
            multiplier=r.multiplier,
            points=r.points,
            min_total=r.min_total,
            valid_from=r.valid_from,
            valid_until=r.valid_until,
        )
        for r in EarnRule.objects.filter(is_active=True).order_by("pk")
    )


def tiers_ordered() -> list:
    """Return the tiers, lowest rank first (cached like the rest of the configuration)."""
    from loyalty.models import Tier

    return _config("tiers", lambda: list(Tier.objects.order_by("rank")))


def locations_for_staff(*, user) -> QuerySet[Location]:
    """Return the active locations a staff user works at (all of them for superusers)."""
    qs = Location.objects.filter(is_active=True)
    if user.is_superuser:
        return qs
    return qs.filter(staff=user)


@dataclass(frozen=True)
class Expiring:
    points: int
    first_expiry: datetime | None


def member_expiring_soon(
    *, member, as_of: datetime | None = None, days: int | None = None
) -> Expiring:
    """Return how many spendable points expire within ``days`` and the first expiry time."""
    as_of = as_of or timezone.now()
    days = settings.LOYALTY_EXPIRING_SOON_DAYS if days is None else days
    agg = PointsLot.objects.filter(
        member=member,
        remaining__gt=0,
        is_available=True,
        expires_at__isnull=False,
        expires_at__lte=as_of + timedelta(days=days),
    ).aggregate(points=Sum("remaining"), first=Min("expires_at"))
    return Expiring(points=agg["points"] or 0, first_expiry=agg["first"])


def member_open_lots(*, member) -> QuerySet[PointsLot]:
    """Return the member's lots that still hold points, in the order debits draw them."""
    return PointsLot.objects.filter(member=member, remaining__gt=0).order_by(
        "-is_available", "expires_at", "available_at", "pk"
    )


def member_next_release(*, member) -> datetime | None:
    """Return when the member's next pending points become spendable."""
    return (
        PointsLot.objects.filter(member=member, remaining__gt=0, is_available=False)
        .aggregate(first=Min("available_at"))
        .get("first")
    )


def member_timeline(*, member, limit: int = 50) -> QuerySet[LedgerEntry]:
    """Return the member's latest ledger entries, newest first, with who made them."""
    return (
        LedgerEntry.objects.filter(member=member)
        .select_related("actor", "purchase", "purchase__location")
        .order_by("-id")[:limit]
    )


def member_recent_purchases(*, member, limit: int = 10) -> QuerySet[Purchase]:
    return (
        Purchase.objects.filter(member=member)
        .select_related("location")
        .order_by("-occurred_at", "-id")[:limit]
    )


@dataclass(frozen=True)
class Drift:
    """A member whose cached balances disagree with the ledger, or a lot out of bounds."""

    member_id: int
    problem: str


def ledger_drift(*, member_ids: list[int] | None = None) -> list[Drift]:
    """Return every breach of the ledger invariants (empty when the ledger is sound).

    For each member: cached balance = sum of entries = sum of remaining spendable lots;
    cached pending = sum of pending entries = sum of remaining pending lots; owed points =
    sum of debt entries. For each lot: 0 <= remaining <= amount, and amount - remaining =
    the points allocations took from it. Each check is one aggregate query.
    """
    from django.db.models import F, OuterRef, Q, Subquery, Value
    from django.db.models.functions import Coalesce

    from loyalty.models import LotAllocation
    from members.models import Member

    def total(qs, field):
        return Coalesce(
            Subquery(qs.values("member_id").annotate(s=Sum(field)).values("s")[:1]), Value(0)
        )

    members = Member.objects.all()
    if member_ids is not None:
        members = members.filter(pk__in=member_ids)
    entries = LedgerEntry.objects.filter(member_id=OuterRef("pk")).order_by()
    lots = PointsLot.objects.filter(member_id=OuterRef("pk")).order_by()
    rows = (
        members.annotate(
            e_points=total(entries, "points"),
            e_pending=total(entries, "pending_points"),
            e_debt=total(entries, "debt_points"),
            l_available=total(lots.filter(is_available=True), "remaining"),
            l_pending=total(lots.filter(is_available=False), "remaining"),
        )
        .filter(
            ~Q(balance=F("e_points"))
            | ~Q(balance=F("l_available"))
            | ~Q(pending=F("e_pending"))
            | ~Q(pending=F("l_pending"))
            | ~Q(points_debt=F("e_debt"))
        )
        .values(
            "pk",
            "balance",
            "e_points",
            "l_available",
            "pending",
            "e_pending",
            "l_pending",
            "points_debt",
            "e_debt",
        )
    )
    found = [
        Drift(
            r["pk"],
            "balance {balance} / entries {e_points} / spendable lots {l_available}; "
            "pending {pending} / entries {e_pending} / pending lots {l_pending}; "
            "owed {points_debt} / entries {e_debt}".format(**r),
        )
        for r in rows
    ]
    allocated = Coalesce(
        Subquery(
            LotAllocation.objects.filter(lot_id=OuterRef("pk"))
            .order_by()
            .values("lot_id")
            .annotate(s=Sum("points"))
            .values("s")[:1]
        ),
        Value(0),
    )
    lot_qs = PointsLot.objects.all()
    if member_ids is not None:
        lot_qs = lot_qs.filter(member_id__in=member_ids)
    bad_lots = (
        lot_qs.annotate(allocated=allocated)
        .filter(
            Q(remaining__lt=0)
            | Q(remaining__gt=F("amount"))
            | ~Q(allocated=F("amount") - F("remaining"))
        )
        .values("pk", "member_id", "amount", "remaining", "allocated")
    )
    found.extend(
        Drift(
            r["member_id"],
            "lot {pk}: amount {amount}, remaining {remaining}, allocated {allocated}".format(**r),
        )
        for r in bad_lots
    )
    return found


def member_expiry_schedule(
    *, member, as_of: datetime | None = None, days: int | None = None, limit: int = 3
) -> list[dict]:
    """Return the next dates on which spendable points expire, with how many (soonest first)."""
    from django.db.models.functions import TruncDate

    as_of = as_of or timezone.now()
    days = settings.LOYALTY_EXPIRING_SOON_DAYS if days is None else days
    return list(
        PointsLot.objects.filter(
            member=member,
            remaining__gt=0,
            is_available=True,
            expires_at__isnull=False,
            expires_at__lte=as_of + timedelta(days=days),
        )
        .annotate(day=TruncDate("expires_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(points=Sum("remaining"))
        .order_by("day")[:limit]
    )
