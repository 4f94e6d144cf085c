"""Tiers: qualification, upgrades at once, downgrades only at re-evaluation, staff-set floors.

Rules (docs/tiers-vip-cards.md):

* The qualifying value is the programme's metric — points earned from purchases and visits
  (net of refunds), money spent (net of refunds), or visits (purchases count as visits) —
  over the window: the last N months, the calendar year so far, or the member's lifetime.
  Never the spendable balance, so redeeming never demotes.
* The qualified tier is the highest whose threshold the value reaches.
* Upgrade at once (``tier_evaluate`` runs after every purchase and visit). Each purchase or
  visit at which the member qualifies for their tier extends ``tier_valid_until``: the end
  of the next window plus the grace period (rolling: now + N months + grace; calendar year:
  end of next year + grace; lifetime: now + grace). So a tier is kept for a window plus the
  grace period after the last qualifying activity.
* Downgrade only at re-evaluation (``tiers_reevaluate_all``, nightly) and only once
  ``tier_valid_until`` has passed: one step, or straight to the qualified tier (setting).
  A refund that undoes a qualification is handled by the same rule.
* A tier set by staff is a floor until its date: the member never drops below it meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import TYPE_CHECKING

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.db.models import Count, DecimalField, F, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from loyalty import errors
from loyalty.formatting import money, number
from loyalty.models import (
    Event,
    Program,
    Purchase,
    Tier,
    TierChange,
    TierDowngrade,
    TierMetric,
    TierWindow,
    Visit,
)
from loyalty.selectors import program_get

if TYPE_CHECKING:
    from members.models import Member

_ZERO = Value(Decimal("0"), output_field=DecimalField(max_digits=14, decimal_places=2))


def tiers_ordered() -> list[Tier]:
    """Return the tiers, lowest rank first."""
    from loyalty.selectors import tiers_ordered as cached_tiers

    return cached_tiers()


def tiers_validate(tiers: list[Tier]) -> None:
    """Raise ``InvalidInput`` unless thresholds rise strictly with rank."""
    ordered = sorted(tiers, key=lambda t: t.rank)
    for lower, higher in pairwise(ordered):
        if higher.threshold <= lower.threshold:
            raise errors.InvalidInput(
                _(
                    "Tier thresholds must rise with rank: %(higher)s (rank %(hr)s) needs more than %(lower)s."
                )
                % {"higher": higher.name, "hr": higher.rank, "lower": lower.name},
                field="threshold",
            )


def window_start(*, program: Program, as_of: datetime) -> datetime | None:
    """Return the start of the qualifying window ending at ``as_of`` (None: lifetime)."""
    local = timezone.localtime(as_of)
    if program.tier_window == TierWindow.ROLLING:
        return local - relativedelta(months=program.tier_window_months)
    if program.tier_window == TierWindow.CALENDAR_YEAR:
        return local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return None


def valid_until(*, program: Program, as_of: datetime) -> datetime:
    """Return until when a tier qualified for at ``as_of`` is kept, grace included."""
    local = timezone.localtime(as_of)
    grace = timedelta(days=program.tier_grace_days)
    if program.tier_window == TierWindow.ROLLING:
        return local + relativedelta(months=program.tier_window_months) + grace
    if program.tier_window == TierWindow.CALENDAR_YEAR:
        return (
            local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
            + relativedelta(years=2)
            + grace
        )
    return local + grace


def _metric_querysets(program: Program, start: datetime | None, as_of: datetime):
    purchases = Purchase.objects.filter(occurred_at__lte=as_of)
    visits = Visit.objects.filter(occurred_at__lte=as_of)
    if start is not None:
        purchases = purchases.filter(occurred_at__gte=start)
        visits = visits.filter(occurred_at__gte=start)
    return purchases, visits


def metrics_for(*, member_ids: list[int], program: Program, as_of: datetime) -> dict[int, Decimal]:
    """Return the qualifying value per member (one or two grouped queries for the lot)."""
    start = window_start(program=program, as_of=as_of)
    purchases, visits = _metric_querysets(program, start, as_of)
    purchases = purchases.filter(member_id__in=member_ids).values("member_id").order_by()
    visits = visits.filter(member_id__in=member_ids).values("member_id").order_by()
    values: dict[int, Decimal] = dict.fromkeys(member_ids, Decimal("0"))
    if program.tier_metric == TierMetric.SPEND:
        rows = purchases.annotate(v=Coalesce(Sum(F("total") - F("refunded_amount")), _ZERO))
        values.update({r["member_id"]: r["v"] for r in rows})
    elif program.tier_metric == TierMetric.POINTS:
        rows = purchases.annotate(v=Sum(F("points_awarded") - F("points_clawed_back")))
        for r in rows:
            values[r["member_id"]] += Decimal(r["v"] or 0)
        for r in visits.annotate(v=Sum("points_awarded")):
            values[r["member_id"]] += Decimal(r["v"] or 0)
    else:
        for r in purchases.annotate(v=Count("pk")):
            values[r["member_id"]] += r["v"]
        for r in visits.annotate(v=Count("pk")):
            values[r["member_id"]] += r["v"]
    return values


def qualified_tier(value: Decimal, tiers: list[Tier]) -> Tier | None:
    best = None
    for tier in tiers:
        if value >= tier.threshold:
            best = tier
    return best


def _rank(tier: Tier | None) -> int:
    return tier.rank if tier else 0


def _floor(member: Member, tiers_by_id: dict[int, Tier], as_of: datetime) -> Tier | None:
    if (
        member.tier_floor_id
        and member.tier_floor_until
        and member.tier_floor_until >= timezone.localtime(as_of).date()
    ):
        return tiers_by_id.get(member.tier_floor_id)
    return None


@dataclass(frozen=True)
class Decision:
    new_tier: Tier | None
    valid_until: datetime | None
    reason: str | None  # a TierChange.Reason when the tier changes


def decide(
    *,
    member: Member,
    value: Decimal,
    tiers: list[Tier],
    program: Program,
    as_of: datetime,
    allow_downgrade: bool,
) -> Decision:
    """Return what the member's tier becomes (pure: no database access)."""
    by_id = {t.pk: t for t in tiers}
    current = by_id.get(member.tier_id) if member.tier_id else None
    qualified = qualified_tier(value, tiers)
    floor = _floor(member, by_id, as_of)
    keep_until = member.tier_valid_until
    if _rank(qualified) >= _rank(current) and qualified is not None:
        keep_until = valid_until(program=program, as_of=as_of)
    target = max([t for t in (current, qualified, floor) if t], key=_rank, default=None)
    if _rank(target) > _rank(current):
        return Decision(target, keep_until, TierChange.Reason.UPGRADE)
    if not allow_downgrade or _rank(qualified) >= _rank(current) or current is None:
        return Decision(current, keep_until, None)
    if member.tier_valid_until is not None and as_of < member.tier_valid_until:
        return Decision(current, keep_until, None)
    if floor is not None and _rank(floor) >= _rank(current):
        return Decision(current, keep_until, None)
    if program.tier_downgrade == TierDowngrade.ONE_STEP:
        lower = [t for t in tiers if t.rank < current.rank]
        new = lower[-1] if lower else None
    else:
        new = qualified
    new = max([t for t in (new, floor, qualified) if t], key=_rank, default=None)
    if _rank(new) == _rank(current):
        return Decision(current, keep_until, None)
    return Decision(
        new, valid_until(program=program, as_of=as_of) if new else None, TierChange.Reason.DOWNGRADE
    )


def tier_evaluate(
    *,
    member: Member,
    as_of: datetime | None = None,
    allow_downgrade: bool = False,
    actor=None,
    program: Program | None = None,
    locked: bool = False,
) -> Tier | None:
    """Re-check one member's tier now: upgrade at once; downgrade only if allowed and due.

    Runs after every purchase and visit (without downgrades), inside their transaction:
    ``locked=True`` says the caller already holds the member's row lock. Returns the tier.
    """
    from loyalty.services import event_record, member_lock

    as_of = as_of or timezone.now()
    tiers = tiers_ordered()
    if not tiers:
        return None
    program = program or program_get()
    already_locked = locked
    with transaction.atomic():
        locked = member if already_locked else member_lock(member)
        value = metrics_for(member_ids=[locked.pk], program=program, as_of=as_of)[locked.pk]
        decision = decide(
            member=locked,
            value=value,
            tiers=tiers,
            program=program,
            as_of=as_of,
            allow_downgrade=allow_downgrade,
        )
        _apply(locked, decision, value=value, as_of=as_of, actor=actor, event_record=event_record)
        member.tier_id, member.tier_valid_until = locked.tier_id, locked.tier_valid_until
    return decision.new_tier


def _apply(
    member, decision: Decision, *, value, as_of, actor=None, event_record=None, note=""
) -> bool:
    from members.models import Member

    new_id = decision.new_tier.pk if decision.new_tier else None
    changed = decision.reason is not None and new_id != member.tier_id
    fields = {}
    if decision.valid_until != member.tier_valid_until:
        fields["tier_valid_until"] = decision.valid_until
    if changed:
        fields["tier_id"] = new_id
    if not fields:
        return False
    Member.objects.filter(pk=member.pk).update(**fields)
    old_id = member.tier_id
    for name, v in fields.items():
        setattr(member, name, v)
    if changed:
        TierChange.objects.create(
            member_id=member.pk,
            from_tier_id=old_id,
            to_tier=decision.new_tier,
            reason=decision.reason,
            metric=value,
            note=note,
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            created_at=as_of,
        )
        event_record(
            type="tier.changed",
            member=member,
            actor=actor,
            payload={
                "from": old_id,
                "to": decision.new_tier.pk if decision.new_tier else None,
                "reason": decision.reason,
                "value": str(value),
            },
            at=as_of,
        )
    return changed


def _tier_or_none(member):
    return Tier.objects.filter(pk=member.tier_id).first() if member.tier_id else None


def tiers_reevaluate_all(*, as_of: datetime | None = None, chunk_size: int = 5000) -> int:
    """Re-evaluate every member's tier (nightly); return how many tiers changed.

    Chunked by member id: per chunk, one grouped query computes the qualifying values, the
    members are locked in primary-key order, and the changes are written with bulk
    statements. Running it twice changes nothing the second time.
    """
    from members.models import Member

    as_of = as_of or timezone.now()
    tiers = tiers_ordered()
    if not tiers:
        return 0
    program = program_get()
    changed_total = 0
    last_pk = 0
    while True:
        with transaction.atomic():
            members = list(
                Member.objects.select_for_update()
                .filter(pk__gt=last_pk)
                .order_by("pk")
                .only("pk", "tier_id", "tier_valid_until", "tier_floor_id", "tier_floor_until")[
                    :chunk_size
                ]
            )
            if not members:
                break
            last_pk = members[-1].pk
            values = metrics_for(member_ids=[m.pk for m in members], program=program, as_of=as_of)
            updates: list[Member] = []
            changes: list[TierChange] = []
            events: list[Event] = []
            for m in members:
                d = decide(
                    member=m,
                    value=values[m.pk],
                    tiers=tiers,
                    program=program,
                    as_of=as_of,
                    allow_downgrade=True,
                )
                new_id = d.new_tier.pk if d.new_tier else None
                if new_id == m.tier_id:
                    # Nothing to write: ``tier_valid_until`` is extended by the activity that
                    # qualifies (tier_evaluate after each purchase or visit), so a quiet night
                    # writes only the members whose tier changes.
                    continue
                if new_id != m.tier_id:
                    changes.append(
                        TierChange(
                            member_id=m.pk,
                            from_tier_id=m.tier_id,
                            to_tier_id=new_id,
                            reason=d.reason or TierChange.Reason.DOWNGRADE,
                            metric=values[m.pk],
                            created_at=as_of,
                        )
                    )
                    events.append(
                        Event(
                            type="tier.changed",
                            member_id=m.pk,
                            payload={
                                "from": m.tier_id,
                                "to": new_id,
                                "reason": d.reason,
                                "value": str(values[m.pk]),
                            },
                            created_at=as_of,
                        )
                    )
                m.tier_id, m.tier_valid_until = new_id, d.valid_until
                updates.append(m)
            if updates:
                Member.objects.bulk_update(
                    updates, ["tier_id", "tier_valid_until"], batch_size=1000
                )
                TierChange.objects.bulk_create(changes, batch_size=1000)
                from loyalty.services import events_record_bulk

                events_record_bulk(events)
                changed_total += len(changes)
    return changed_total


def tier_set_manual(
    *,
    member: Member,
    tier: Tier | None,
    until: date | None,
    reason: str,
    actor,
    as_of: datetime | None = None,
) -> Member:
    """Set a member's tier by hand until a date; it acts as a floor meanwhile. Audited.

    ``tier=None`` removes the staff-set floor (the tier is then re-evaluated normally).
    """
    from loyalty.services import event_record, member_lock

    reason = (reason or "").strip()
    if not reason:
        raise errors.ReasonRequired(field="reason")
    if len(reason) > 255:
        raise errors.InvalidInput(_("The reason is too long (at most 255 characters)."))
    if actor is not None and not actor.has_perm("members.change_member"):
        raise errors.NotPermitted()
    as_of = as_of or timezone.now()
    if tier is not None and (until is None or until < timezone.localtime(as_of).date()):
        raise errors.InvalidInput(
            _("Give a date in the future until which the tier holds."), field="until"
        )
    with transaction.atomic():
        locked = member_lock(member)
        from members.models import Member as MemberModel

        old_id = locked.tier_id
        fields = {
            "tier_floor_id": tier.pk if tier else None,
            "tier_floor_until": until if tier else None,
        }
        if tier is not None and _rank(tier) != _rank(_tier_or_none(locked)):
            fields["tier_id"] = tier.pk
            # The kept-until date belonged to the qualified tier; the staff-set tier is held
            # by the floor alone, so it must not outlive the floor's date.
            fields["tier_valid_until"] = None
        MemberModel.objects.filter(pk=locked.pk).update(**fields)
        for k, v in fields.items():
            setattr(locked, k, v)
            setattr(member, k, v)
        if fields.get("tier_id") is not None:
            TierChange.objects.create(
                member_id=locked.pk,
                from_tier_id=old_id,
                to_tier=tier,
                reason=TierChange.Reason.MANUAL,
                note=reason,
                actor=actor if getattr(actor, "is_authenticated", False) else None,
                created_at=as_of,
            )
        event_record(
            type="tier.changed" if fields.get("tier_id") is not None else "tier.floor_changed",
            member=locked,
            actor=actor,
            payload={
                "from": old_id,
                "to": locked.tier_id,
                "reason": "manual",
                "note": reason,
                "until": until.isoformat() if until and tier else None,
            },
            at=as_of,
        )
        if tier is None:
            # In the same transaction: removing the floor and the tier it leads to are one
            # change, never half written.
            tier_evaluate(
                member=locked, as_of=as_of, allow_downgrade=True, actor=actor, locked=True
            )
            member.tier_id, member.tier_valid_until = locked.tier_id, locked.tier_valid_until
    return member


@dataclass(frozen=True)
class TierProgress:
    """Where a member stands: current tier, value, next tier and what it takes."""

    tier: Tier | None
    value: Decimal
    next_tier: Tier | None
    needed_for_next: Decimal
    keep_needed: Decimal
    window_ends: datetime | None
    message: str
    keep_message: str


def _amount_text(program: Program, amount: Decimal) -> str:
    if program.tier_metric == TierMetric.SPEND:
        return money(amount, program.currency)
    if program.tier_metric == TierMetric.POINTS:
        return _("%(n)s %(points)s") % {"n": number(int(amount)), "points": program.points_name}
    return ngettext("%(n)s visit", "%(n)s visits", int(amount)) % {"n": number(int(amount))}


def tier_progress(*, member: Member, as_of: datetime | None = None) -> TierProgress:
    """Return the member's tier progress: "€120 more to Gold by 31 May", "keep Gold: …"."""
    as_of = as_of or timezone.now()
    program = program_get()
    tiers = tiers_ordered()
    value = (
        metrics_for(member_ids=[member.pk], program=program, as_of=as_of)[member.pk]
        if tiers
        else Decimal("0")
    )
    by_id = {t.pk: t for t in tiers}
    current = by_id.get(member.tier_id) if member.tier_id else None
    higher = [t for t in tiers if t.rank > _rank(current)]
    nxt = higher[0] if higher else None
    if program.tier_window == TierWindow.CALENDAR_YEAR:
        local = timezone.localtime(as_of)
        ends = local.replace(month=12, day=31, hour=23, minute=59, second=0, microsecond=0)
    elif program.tier_window == TierWindow.ROLLING:
        ends = member.tier_valid_until
    else:
        ends = None
    needed = max(nxt.threshold - value, Decimal("0")) if nxt else Decimal("0")
    keep = max(current.threshold - value, Decimal("0")) if current else Decimal("0")
    by = date_format(timezone.localtime(ends), "DATE_FORMAT") if ends else ""
    if nxt is None:
        message = _("Top tier reached") if current else ""
    elif by and program.tier_window == TierWindow.CALENDAR_YEAR:
        message = _("%(amount)s more to %(tier)s by %(date)s") % {
            "amount": _amount_text(program, needed),
            "tier": nxt.name,
            "date": by,
        }
    else:
        message = _("%(amount)s more to %(tier)s") % {
            "amount": _amount_text(program, needed),
            "tier": nxt.name,
        }
    keep_message = ""
    if current is not None and keep > 0:
        # In a calendar year the window's end is the deadline; the grace after it does not
        # help, since purchases then count towards the next year.
        keep_by = ends if ends is not None else member.tier_valid_until
        keep_message = _("Keep %(tier)s: %(amount)s more by %(date)s") % {
            "tier": current.name,
            "amount": _amount_text(program, keep),
            "date": date_format(timezone.localtime(keep_by), "DATE_FORMAT") if keep_by else by,
        }
    return TierProgress(
        tier=current,
        value=value,
        next_tier=nxt,
        needed_for_next=needed,
        keep_needed=keep,
        window_ends=ends,
        message=message,
        keep_message=keep_message,
    )


def member_benefits(*, member: Member, as_of: datetime | None = None) -> list[str]:
    """Return the codes of every benefit the member has now: tier, VIP and perk vouchers."""
    from loyalty.models import Benefit
    from rewards.selectors import member_benefit_codes

    as_of = as_of or timezone.now()
    codes: set[str] = set()
    if member.tier_id:
        codes |= set(
            Benefit.objects.filter(tiers__pk=member.tier_id).values_list("code", flat=True)
        )
    if member.is_vip(at=as_of):
        codes |= set(Benefit.objects.filter(for_vip=True).values_list("code", flat=True))
    codes |= member_benefit_codes(member=member, as_of=as_of)
    return sorted(codes)
