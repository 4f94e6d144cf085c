"""Services of the programme core: the only writers of purchases, visits and the points ledger.

Every service runs in ``transaction.atomic``, locks the member row before it reads a balance
(``select_for_update``; in primary-key order when several), re-checks its rule inside the
lock, writes ledger entries, lots and allocations together with the cached balances, and
records an ``Event`` that is dispatched after commit. Bad input raises a ``LoyaltyError``
before anything is written. The rules are described in docs/ledger.md.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from dateutil.relativedelta import relativedelta
from django.db import IntegrityError, transaction
from django.db.models import Case, F, IntegerField, Sum, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty import engine, errors, hooks
from loyalty.formatting import money, number
from loyalty.models import (
    EntryKind,
    Event,
    LedgerEntry,
    Location,
    LotAllocation,
    PointsLot,
    Program,
    Purchase,
    PurchaseLine,
    Refund,
    Source,
    Validity,
    Visit,
)
from loyalty.selectors import program_get, program_rules

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from members.models import Member

# Far above any real programme, low enough that sums stay inside a 32-bit integer column.
MAX_POINTS = 10_000_000
MAX_LINES = 500
MAX_QUANTITY = 100_000
SourceType = LedgerEntry.SourceType


# --------------------------------------------------------------------------------------------
# Events (outbox)
# --------------------------------------------------------------------------------------------


def _dispatch_after_commit() -> None:
    from loyalty.tasks import event_dispatch_pending

    event_dispatch_pending.delay()


def _schedule_dispatch() -> None:
    # One dispatch per transaction is enough: the task delivers every undispatched event.
    # Django keeps the pending callbacks as (savepoint ids, callable, robust) tuples.
    connection = transaction.get_connection()
    if any(cb[1] is _dispatch_after_commit for cb in connection.run_on_commit):
        return
    from loyalty.models import WebhookSubscription

    # With nobody subscribed there is nothing to deliver now: the periodic "Dispatch
    # events" job marks the events handed over, and a till's request stays short.
    if not WebhookSubscription.objects.filter(is_active=True).exists():
        return
    transaction.on_commit(_dispatch_after_commit)


def event_record(
    *,
    type: str,
    member: Member | None = None,
    actor: AbstractBaseUser | None = None,
    payload: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> Event:
    """Write an outbox event in the current transaction; it is dispatched after commit."""
    event = Event.objects.create(
        type=type,
        member=member,
        actor=_actor(actor),
        payload=dict(payload or {}),
        created_at=at or timezone.now(),
    )
    _schedule_dispatch()
    return event


def events_record_bulk(events: Sequence[Event]) -> None:
    """Write many outbox events at once (nightly jobs)."""
    if events:
        Event.objects.bulk_create(events, batch_size=1000)
        _schedule_dispatch()


def event_dispatch_pending(*, limit: int = 1000) -> int:
    """Deliver undispatched events and mark them dispatched; return how many.

    Dispatching creates the webhook deliveries in the same transaction (see
    loyalty/webhooks.py), so an event is handed over exactly once and its deliveries are
    queued after commit. ``skip_locked`` lets several workers share the outbox.
    """
    from loyalty.webhooks import deliveries_for_events

    with transaction.atomic():
        ids = list(
            Event.objects.select_for_update(skip_locked=True)
            .filter(dispatched_at__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            Event.objects.filter(pk__in=ids).update(dispatched_at=timezone.now())
            deliveries_for_events(Event.objects.filter(pk__in=ids).order_by("pk"))
    return len(ids)


# --------------------------------------------------------------------------------------------
# Input cleaning
# --------------------------------------------------------------------------------------------


_AMOUNT_TEXT = re.compile(r"-?\d+([.,]\d*)?|-?[.,]\d+")


def clean_amount(
    value: Any, *, maximum: Decimal | None = None, allow_zero: bool = False
) -> Decimal:
    """Return ``value`` as a money ``Decimal`` or raise ``InvalidAmount`` with the reason."""
    if isinstance(value, bool) or value is None:
        raise errors.InvalidAmount(_("Enter an amount."))
    if isinstance(value, str) and not _AMOUNT_TEXT.fullmatch(value.strip()):
        # Plain decimal notation only: "1e3" or "12.50 €" typed at a till is a mistake.
        raise errors.InvalidAmount(_("Enter the amount as a number, e.g. 12.50."))
    try:
        amount = (
            Decimal(str(value).strip().replace(",", "."))
            if isinstance(value, str)
            else Decimal(str(value))
        )
    except (InvalidOperation, ValueError):
        raise errors.InvalidAmount(_("Enter the amount as a number, e.g. 12.50.")) from None
    if not amount.is_finite():
        raise errors.InvalidAmount(_("Enter the amount as a number, e.g. 12.50."))
    if amount < 0 or (amount == 0 and not allow_zero):
        raise errors.InvalidAmount(_("Enter a positive amount."))
    try:
        whole_cents = amount == amount.quantize(Decimal("0.01"))
    except InvalidOperation:  # more digits than any amount of money (e.g. 1e100)
        raise errors.InvalidAmount(_("Enter a smaller amount.")) from None
    if not whole_cents:
        raise errors.InvalidAmount(_("Use at most two decimal places."))
    if maximum is not None and amount > maximum:
        raise errors.InvalidAmount(
            _("%(amount)s is more than the largest amount accepted (%(maximum)s).")
            % {"amount": number(amount), "maximum": number(maximum)}
        )
    return amount.quantize(Decimal("0.01"))


def clean_points(value: Any, *, maximum: int = MAX_POINTS, allow_negative: bool = False) -> int:
    """Return ``value`` as a whole number of points or raise ``InvalidPoints``."""
    if isinstance(value, bool):
        raise errors.InvalidPoints()
    try:
        if isinstance(value, str):
            value = value.strip()
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise errors.InvalidPoints() from None
    if not number.is_finite() or number != number.to_integral_value() or number == 0:
        raise errors.InvalidPoints()
    points = int(number)
    if points < 0 and not allow_negative:
        raise errors.InvalidPoints(_("Enter a positive number of points."))
    if abs(points) > maximum:
        raise errors.InvalidPoints(
            _("%(points)s points is more than the largest amount allowed (%(maximum)s).")
            % {"points": points, "maximum": maximum}
        )
    return points


def _clean_text(value: Any, *, max_length: int, label: str) -> str:
    text = "" if value is None else str(value).strip()
    if len(text) > max_length:
        raise errors.InvalidInput(
            _("%(field)s is too long (at most %(max)s characters).")
            % {"field": label, "max": max_length}
        )
    return text


def clean_lines(
    lines: Iterable[Mapping[str, Any] | engine.LineIn], *, total: Decimal
) -> list[engine.LineIn]:
    """Validate purchase lines; when given, their amounts must add up to the total."""
    cleaned: list[engine.LineIn] = []
    if lines is None:
        lines = ()
    if isinstance(lines, (str, bytes, Mapping)) or not isinstance(lines, Iterable):
        raise errors.InvalidInput(_("Send the purchase lines as a list."), field="lines")
    for raw in lines:
        data = raw.__dict__ if isinstance(raw, engine.LineIn) else raw
        if not isinstance(data, Mapping):
            raise errors.InvalidInput(_("Each purchase line must be an object."))
        quantity_raw = data.get("quantity", 1)
        try:
            quantity = int(quantity_raw)
        except (TypeError, ValueError, OverflowError):
            raise errors.InvalidInput(_("Enter the quantity as a whole number.")) from None
        if (
            isinstance(quantity_raw, bool)
            or quantity < 1
            or quantity > MAX_QUANTITY
            or str(quantity_raw).strip() not in {str(quantity), f"{quantity}.0"}
        ):
            raise errors.InvalidInput(
                _("Enter a quantity between 1 and %(max)s.") % {"max": MAX_QUANTITY}
            )
        cleaned.append(
            engine.LineIn(
                amount=clean_amount(data.get("amount"), allow_zero=True),
                quantity=quantity,
                sku=_clean_text(data.get("sku"), max_length=64, label=_("SKU")),
                category=_clean_text(data.get("category"), max_length=64, label=_("Category")),
                description=_clean_text(
                    data.get("description"), max_length=200, label=_("Description")
                ),
            )
        )
        if len(cleaned) > MAX_LINES:
            raise errors.InvalidInput(
                _("A purchase can have at most %(max)s lines.") % {"max": MAX_LINES}
            )
    if cleaned:
        line_sum = sum((line.amount for line in cleaned), Decimal(0))
        if line_sum != total:
            raise errors.InvalidInput(
                _("The lines add up to %(lines)s but the total is %(total)s.")
                % {"lines": line_sum, "total": total}
            )
    return cleaned


def _clean_time(value: datetime | None, *, now: datetime) -> datetime:
    if value is None:
        return now
    if not isinstance(value, datetime):
        raise errors.InvalidInput(_("Give the time as a date and time."), field="occurred_at")
    if timezone.is_naive(value):
        raise errors.InvalidInput(_("Give the time with its time zone."))
    if value > now + timedelta(minutes=5):
        raise errors.InvalidInput(_("The time cannot be in the future."))
    return value


def _actor(actor: AbstractBaseUser | None) -> AbstractBaseUser | None:
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


# --------------------------------------------------------------------------------------------
# Ledger internals (callers hold the member's row lock)
# --------------------------------------------------------------------------------------------


def lot_expiry(*, program: Program, earned_at: datetime) -> datetime | None:
    """Return when points earned at ``earned_at`` expire under the programme's validity rule."""
    if program.validity == Validity.NEVER:
        return None
    # The installation's zone, not whatever zone a request may have activated.
    local = timezone.localtime(earned_at, timezone.get_default_timezone())
    after = local + relativedelta(months=program.validity_months)
    if program.validity == Validity.ROLLING:
        return after
    start_of_day = after.replace(hour=0, minute=0, second=0, microsecond=0)
    if program.validity == Validity.END_OF_MONTH:
        return start_of_day.replace(day=1) + relativedelta(months=1)
    return start_of_day.replace(month=1, day=1) + relativedelta(years=1)


def _lock_member(member: Member) -> Member:
    from members.models import Member

    locked = Member.objects.select_for_update().get(pk=member.pk)
    return locked


def _sync(member: Member, locked: Member) -> None:
    """Copy the cached ledger fields of the locked row onto the caller's instance."""
    for name in (
        "balance",
        "pending",
        "points_debt",
        "lifetime_points",
        "first_purchase_at",
        "last_activity_at",
        # Tier and VIP status may change after a purchase or visit (tier_evaluate, vip_evaluate).
        "tier_id",
        "tier_valid_until",
        "vip_until",
    ):
        setattr(member, name, getattr(locked, name))


def _save_member_counters(locked: Member, **deltas: int) -> None:
    """Apply balance deltas in SQL (``F``) and mirror them on the locked instance."""
    from members.models import Member

    if not any(deltas.values()):
        return
    Member.objects.filter(pk=locked.pk).update(**{k: F(k) + v for k, v in deltas.items() if v})
    for k, v in deltas.items():
        setattr(locked, k, getattr(locked, k) + v)


def _draw_down(
    locked: Member, *, points: int, entry: LedgerEntry, lots: Sequence[PointsLot] | None = None
) -> None:
    """Take ``points`` from the member's available lots, earliest expiry first."""
    if lots is None:
        lots = list(
            PointsLot.objects.filter(
                member_id=locked.pk, is_available=True, remaining__gt=0
            ).order_by(F("expires_at").asc(nulls_last=True), "available_at", "pk")
        )
    allocations: list[LotAllocation] = []
    touched: list[PointsLot] = []
    left = points
    for lot in lots:
        if left == 0:
            break
        take = min(lot.remaining, left)
        if take <= 0:
            continue
        lot.remaining -= take
        left -= take
        touched.append(lot)
        allocations.append(LotAllocation(entry=entry, lot=lot, points=take))
    if left:
        # The balance said the points were there; the lots disagree. Never paper over it.
        raise errors.LoyaltyError(_("The points ledger is inconsistent for this member."))
    PointsLot.objects.bulk_update(touched, ["remaining"])
    LotAllocation.objects.bulk_create(allocations)


def _credit(
    locked: Member,
    *,
    points: int,
    kind: str,
    source_type: str,
    at: datetime,
    available_at: datetime | None = None,
    expires_at: datetime | None,
    reason: str = "",
    purchase: Purchase | None = None,
    visit: Visit | None = None,
    actor: AbstractBaseUser | None = None,
    earned: bool = True,
    funded_by_id: int | None = None,
) -> LedgerEntry:
    available_at = available_at or at
    # A till clock a little ahead (``at`` in the near future) does not make points pending.
    pending = available_at > max(at, timezone.now())
    lot = PointsLot.objects.create(
        member_id=locked.pk,
        amount=points,
        remaining=points,
        is_available=not pending,
        available_at=available_at,
        expires_at=expires_at,
        created_at=at,
        purchase=purchase,
        funded_by_id=funded_by_id,
    )
    entry = LedgerEntry.objects.create(
        member_id=locked.pk,
        kind=kind,
        points=0 if pending else points,
        pending_points=points if pending else 0,
        balance_after=locked.balance + (0 if pending else points),
        reason=reason[:255],
        source_type=source_type,
        purchase=purchase,
        visit=visit,
        lot=lot,
        actor=_actor(actor),
        created_at=at,
    )
    _save_member_counters(
        locked,
        balance=0 if pending else points,
        pending=points if pending else 0,
        lifetime_points=points if earned else 0,
    )
    if not pending and locked.points_debt:
        _repay_debt(locked, lot=lot, at=at)
    if earned:
        hooks.fire("points_earned", member_id=locked.pk, points=points, at=at)
    return entry


def _repay_debt(locked: Member, *, lot: PointsLot, at: datetime) -> None:
    """Pay owed points (from refunds of spent points) out of a newly spendable lot."""
    lot.refresh_from_db(fields=["remaining"])
    pay = min(locked.points_debt, lot.remaining)
    if pay <= 0:
        return
    entry = LedgerEntry.objects.create(
        member_id=locked.pk,
        kind=EntryKind.DEBT_REPAY,
        points=-pay,
        debt_points=-pay,
        balance_after=locked.balance - pay,
        source_type=SourceType.SYSTEM,
        created_at=at,
    )
    _draw_down(locked, points=pay, entry=entry, lots=[lot])
    _save_member_counters(locked, balance=-pay, points_debt=-pay)


def _debit(
    locked: Member,
    *,
    points: int,
    kind: str,
    source_type: str,
    at: datetime,
    reason: str = "",
    actor: AbstractBaseUser | None = None,
    purchase: Purchase | None = None,
) -> LedgerEntry:
    if locked.balance < points:
        raise errors.InsufficientPoints(available=locked.balance, requested=points)
    entry = LedgerEntry.objects.create(
        member_id=locked.pk,
        kind=kind,
        points=-points,
        balance_after=locked.balance - points,
        reason=reason[:255],
        source_type=source_type,
        purchase=purchase,
        actor=_actor(actor),
        created_at=at,
    )
    _draw_down(locked, points=points, entry=entry)
    _save_member_counters(locked, balance=-points)
    return entry


def _ensure_active(locked: Member) -> None:
    if not locked.is_active:
        raise errors.MemberInactive()


# --------------------------------------------------------------------------------------------
# Ledger services
# --------------------------------------------------------------------------------------------


_PROGRAMME_DEFAULT: Any = object()


def points_credit(
    *,
    member: Member,
    points: int,
    kind: str = EntryKind.BONUS,
    reason: str = "",
    source_type: str = SourceType.SYSTEM,
    at: datetime | None = None,
    available_at: datetime | None = None,
    expires_at: datetime | None = _PROGRAMME_DEFAULT,
    actor: AbstractBaseUser | None = None,
    earned: bool = True,
) -> LedgerEntry:
    """Add points to a member as a new lot; pending until ``available_at`` when that is later.

    ``expires_at`` defaults to the programme's validity rule. Owed points are repaid first.
    """
    points = clean_points(points)
    at = at or timezone.now()
    with transaction.atomic():
        locked = _lock_member(member)
        _ensure_active(locked)
        if expires_at is _PROGRAMME_DEFAULT:
            expires_at = lot_expiry(program=program_get(), earned_at=at)
        entry = _credit(
            locked,
            points=points,
            kind=kind,
            source_type=source_type,
            at=at,
            available_at=available_at,
            expires_at=expires_at,
            reason=reason,
            actor=actor,
            earned=earned,
        )
        event_record(
            type="points.earned",
            member=locked,
            actor=actor,
            payload={
                "entry": entry.pk,
                "kind": kind,
                "points": points,
                "reason": reason,
                "balance": locked.balance,
            },
            at=at,
        )
        _sync(member, locked)
    return entry


def points_debit(
    *,
    member: Member,
    points: int,
    kind: str = EntryKind.REDEEM,
    reason: str = "",
    source_type: str = SourceType.SYSTEM,
    at: datetime | None = None,
    actor: AbstractBaseUser | None = None,
) -> LedgerEntry:
    """Take spendable points from a member, earliest-expiring lots first.

    Raises ``InsufficientPoints`` (and writes nothing) when the balance is too low.
    """
    points = clean_points(points)
    at = at or timezone.now()
    with transaction.atomic():
        locked = _lock_member(member)
        _ensure_active(locked)
        entry = _debit(
            locked,
            points=points,
            kind=kind,
            source_type=source_type,
            at=at,
            reason=reason,
            actor=actor,
        )
        event_record(
            type="points.redeemed" if kind == EntryKind.REDEEM else "points.spent",
            member=locked,
            actor=actor,
            payload={
                "entry": entry.pk,
                "kind": kind,
                "points": -points,
                "reason": reason,
                "balance": locked.balance,
            },
            at=at,
        )
        _sync(member, locked)
    return entry


def points_adjust(
    *,
    member: Member,
    points: int,
    reason: str,
    actor: AbstractBaseUser | None,
    at: datetime | None = None,
) -> LedgerEntry:
    """Add or remove points by hand. Staff only (``members.adjust_points``), reason required.

    Positive adjustments are a new lot under the programme's validity rule; negative ones
    draw down like a debit and cannot take the balance below zero.
    """
    if actor is not None and not actor.has_perm("members.adjust_points"):
        raise errors.NotPermitted()
    reason = (reason or "").strip()
    if not reason:
        raise errors.ReasonRequired(field="reason")
    program = program_get()
    points = clean_points(points, allow_negative=True, maximum=program.max_adjustment_points)
    reason = _clean_text(reason, max_length=255, label=_("Reason"))
    at = at or timezone.now()
    with transaction.atomic():
        locked = _lock_member(member)
        if points > 0:
            entry = _credit(
                locked,
                points=points,
                kind=EntryKind.ADJUST,
                source_type=SourceType.STAFF,
                at=at,
                expires_at=lot_expiry(program=program, earned_at=at),
                reason=reason,
                actor=actor,
                earned=False,
            )
        else:
            entry = _debit(
                locked,
                points=-points,
                kind=EntryKind.ADJUST,
                source_type=SourceType.STAFF,
                at=at,
                reason=reason,
                actor=actor,
            )
        event_record(
            type="points.adjusted",
            member=locked,
            actor=actor,
            payload={
                "entry": entry.pk,
                "points": points,
                "reason": reason,
                "balance": locked.balance,
            },
            at=at,
        )
        _sync(member, locked)
    return entry


def _lock_members(member_ids: Iterable[int]) -> dict[int, Member]:
    from members.models import Member

    return {
        m.pk: m
        for m in Member.objects.select_for_update()
        .filter(pk__in=sorted(set(member_ids)))
        .order_by("pk")
        .only("pk", "balance", "pending", "points_debt")
    }


def _bulk_counter_update(field: str, deltas: Mapping[int, int]) -> None:
    """Apply per-member deltas to one counter in a single UPDATE."""
    from members.models import Member

    if not deltas:
        return
    from django.db import connection

    if connection.vendor == "postgresql":
        # A join with a VALUES list, as the batch does, instead of a CASE with one branch per
        # member; what is left is the cost of the write itself (docs/benchmarks.md, expiry).
        table = Member._meta.db_table
        column = Member._meta.get_field(field).column
        values = ", ".join(["(%s::bigint, %s::integer)"] * len(deltas))
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS m SET {column} = m.{column} + v.delta "  # noqa: S608 - fixed names, values bound
                f"FROM (VALUES {values}) AS v(id, delta) WHERE m.id = v.id",
                [x for pk, d in sorted(deltas.items()) for x in (pk, d)],
            )
        return
    Member.objects.filter(pk__in=list(deltas)).update(
        **{
            field: F(field)
            + Case(
                *[When(pk=pk, then=Value(d)) for pk, d in deltas.items()],
                default=Value(0),
                output_field=IntegerField(),
            )
        }
    )


def points_expire_due(*, as_of: datetime | None = None, chunk_size: int = 5000) -> int:
    """Expire every lot whose expiry time has come; return the number of points expired.

    Set-based and chunked: each chunk locks its members (primary-key order), re-checks the
    lots inside the lock, and writes one entry per member, one allocation per lot and the
    balances in a handful of statements. Running it twice expires nothing the second time.
    """
    as_of = as_of or timezone.now()
    expired_total = 0
    while True:
        with transaction.atomic():
            candidates = list(
                PointsLot.objects.filter(remaining__gt=0, expires_at__lte=as_of)
                # In the order of the partial index lot_open_expiry: primary-key order made
                # each chunk rescan the lots that earlier chunks had already emptied.
                .order_by("expires_at", "pk")
                .values_list("pk", "member_id")[:chunk_size]
            )
            if not candidates:
                break
            members = _lock_members(m for _pk, m in candidates)
            lots = list(
                PointsLot.objects.filter(
                    pk__in=[pk for pk, _m in candidates], remaining__gt=0, expires_at__lte=as_of
                )
                .order_by("pk")
                .only("pk", "member_id", "remaining", "is_available")
            )
            expired_total += _close_lots(lots, members=members, as_of=as_of)
    return expired_total


def _close_lots(
    lots: Sequence[PointsLot], *, members: Mapping[int, Member], as_of: datetime
) -> int:
    by_member: dict[int, list[PointsLot]] = defaultdict(list)
    for lot in lots:
        by_member[lot.member_id].append(lot)
    entries: dict[int, LedgerEntry] = {}
    balance_deltas: dict[int, int] = {}
    pending_deltas: dict[int, int] = {}
    for member_id, member_lots in by_member.items():
        available = sum(lot.remaining for lot in member_lots if lot.is_available)
        pending = sum(lot.remaining for lot in member_lots if not lot.is_available)
        entries[member_id] = LedgerEntry(
            member_id=member_id,
            kind=EntryKind.EXPIRE,
            points=-available,
            pending_points=-pending,
            balance_after=members[member_id].balance - available,
            source_type=SourceType.SYSTEM,
            created_at=as_of,
        )
        if available:
            balance_deltas[member_id] = -available
        if pending:
            pending_deltas[member_id] = -pending
    LedgerEntry.objects.bulk_create(entries.values())
    LotAllocation.objects.bulk_create(
        [
            LotAllocation(entry=entries[lot.member_id], lot=lot, points=lot.remaining)
            for lot in lots
        ],
        batch_size=1000,
    )
    PointsLot.objects.filter(pk__in=[lot.pk for lot in lots]).update(remaining=0)
    _bulk_counter_update("balance", balance_deltas)
    _bulk_counter_update("pending", pending_deltas)
    events_record_bulk(
        [
            Event(
                type="points.expired",
                member_id=member_id,
                payload={"entry": entry.pk, "points": entry.points + entry.pending_points},
                created_at=as_of,
            )
            for member_id, entry in entries.items()
        ]
    )
    return sum(lot.remaining for lot in lots)


def points_release_pending(*, as_of: datetime | None = None, chunk_size: int = 2000) -> int:
    """Make pending lots spendable once their ``available_at`` has come; return the points.

    Set-based and chunked like ``points_expire_due``; owed points are repaid from what is
    released. Running it twice releases nothing the second time.
    """
    as_of = as_of or timezone.now()
    released_total = 0
    while True:
        with transaction.atomic():
            candidates = list(
                PointsLot.objects.filter(
                    is_available=False, remaining__gt=0, available_at__lte=as_of
                )
                # In the order of the partial index lot_pending_release (see expiry).
                .order_by("available_at", "pk")
                .values_list("pk", "member_id")[:chunk_size]
            )
            if not candidates:
                break
            members = _lock_members(m for _pk, m in candidates)
            lots = list(
                PointsLot.objects.filter(
                    pk__in=[pk for pk, _m in candidates],
                    is_available=False,
                    remaining__gt=0,
                    available_at__lte=as_of,
                ).only("pk", "member_id", "remaining")
            )
            per_member: dict[int, int] = defaultdict(int)
            for lot in lots:
                per_member[lot.member_id] += lot.remaining
            entries = [
                LedgerEntry(
                    member_id=member_id,
                    kind=EntryKind.RELEASE,
                    points=points,
                    pending_points=-points,
                    balance_after=members[member_id].balance + points,
                    source_type=SourceType.SYSTEM,
                    created_at=as_of,
                )
                for member_id, points in per_member.items()
            ]
            LedgerEntry.objects.bulk_create(entries)
            PointsLot.objects.filter(pk__in=[lot.pk for lot in lots]).update(is_available=True)
            _bulk_counter_update("balance", per_member)
            _bulk_counter_update("pending", {m: -p for m, p in per_member.items()})
            events_record_bulk(
                [
                    Event(
                        type="points.released",
                        member_id=e.member_id,
                        payload={"entry": e.pk, "points": e.points},
                        created_at=as_of,
                    )
                    for e in entries
                ]
            )
            # Owed points are rare: repay them member by member, only for those who owe.
            for member_id, member in members.items():
                if member.points_debt and member_id in per_member:
                    member.balance += per_member[member_id]
                    for lot in sorted(
                        (lot for lot in lots if lot.member_id == member_id), key=lambda x: x.pk
                    ):
                        if member.points_debt:
                            _repay_debt(member, lot=lot, at=as_of)
            released_total += sum(per_member.values())
    return released_total


# --------------------------------------------------------------------------------------------
# Purchases, refunds, visits
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurchaseResult:
    """What ``purchase_record`` did: the purchase, its award lines, and whether it is new."""

    purchase: Purchase
    awards: tuple[dict[str, Any], ...]
    points: int
    created: bool
    stamps: tuple[Any, ...] = ()

    @property
    def vouchers(self) -> list[Any]:
        """Vouchers issued because the purchase completed punch cards."""
        return [v for stamp in self.stamps for v in stamp.vouchers]


def _member_state(
    member: Member, *, program: Program, at: datetime, rules: engine.Rules | None = None
) -> engine.MemberState:
    from loyalty.selectors import tiers_ordered

    tier = (
        next((t for t in tiers_ordered() if t.pk == member.tier_id), None)
        if member.tier_id
        else None
    )
    is_vip = member.is_vip(at=at)
    # Segments and per-member caps of bonus campaigns need queries: asked only when a
    # campaign running at ``at`` has one.
    needing = [
        c for c in (rules.campaigns if rules else ()) if c.needs_member_state and c.in_window(at)
    ]
    campaign_state = (
        hooks.provided("member_campaign_state", {}, member=member, campaigns=needing, at=at)
        if needing
        else {}
    )
    return engine.MemberState(
        is_first_purchase=member.first_purchase_at is None,
        tier_name=tier.name if tier else "",
        tier_multiplier=tier.multiplier if tier else Decimal("1"),
        vip_bonus_percent=program.vip_earn_bonus_percent if is_vip else Decimal("0"),
        tier_id=member.tier_id,
        is_vip=is_vip,
        segment_ids=frozenset(campaign_state.get("segment_ids", ())),
        campaign_points=dict(campaign_state.get("campaign_points", {})),
    )


def _after_activity(
    locked: Member, *, at: datetime, actor, location, program: Program, **activity: Any
) -> tuple[Any, ...]:
    """Stamp punch cards, then check tier and VIP status after a purchase or a visit."""
    from loyalty.punch_cards import punch_cards_for_activity
    from loyalty.tiers import tier_evaluate
    from members.vip import vip_evaluate

    stamps = punch_cards_for_activity(
        member=locked, location=location, at=at, actor=actor, **activity
    )
    now = timezone.now()
    tier_evaluate(member=locked, as_of=now, program=program, locked=True)
    vip_evaluate(member=locked, as_of=now, program=program)
    return tuple(stamps)


def purchase_quote(
    *,
    member: Member,
    location: Location | None = None,
    total: Any,
    lines: Iterable[Mapping[str, Any] | engine.LineIn] = (),
    at: datetime | None = None,
) -> engine.AwardResult:
    """Return what recording this purchase would award, writing nothing."""
    program = program_get()
    total = clean_amount(total, maximum=program.max_purchase_amount)
    cleaned = clean_lines(lines, total=total)
    at = _clean_time(at, now=timezone.now())
    rules = program_rules(program=program)
    return engine.purchase_awards(
        rules=rules,
        member=_member_state(member, program=program, at=at, rules=rules),
        total=total,
        lines=cleaned,
        at=at,
        location_id=location.pk if location is not None else None,
    )


def purchase_record(
    *,
    member: Member,
    location: Location,
    total: Any,
    lines: Iterable[Mapping[str, Any] | engine.LineIn] = (),
    occurred_at: datetime | None = None,
    external_id: str | None = None,
    actor: AbstractBaseUser | None = None,
    source: str = Source.API,
) -> PurchaseResult:
    """Record a purchase once and award its points through the earning engine.

    The same ``external_id`` at the same location returns the first result and awards
    nothing more; with a different member or total it is refused (``PurchaseConflict``).
    """
    program = program_get()
    total = clean_amount(total, maximum=program.max_purchase_amount)
    cleaned = clean_lines(lines, total=total)
    now = timezone.now()
    at = _clean_time(occurred_at, now=now)
    external_id = _clean_text(external_id, max_length=64, label=_("Receipt number")) or None

    with transaction.atomic():
        locked = _lock_member(member)
        if external_id is not None:
            existing = _existing_purchase(
                location=location, external_id=external_id, member=member, total=total
            )
            if existing is not None:
                return existing
        _ensure_active(locked)
        if not location.is_active:
            raise errors.LocationInactive()

        rules = program_rules(program=program)
        result = engine.purchase_awards(
            rules=rules,
            member=_member_state(locked, program=program, at=at, rules=rules),
            total=total,
            lines=cleaned,
            at=at,
            location_id=location.pk,
        )
        awards = tuple(a.as_dict() for a in result.awards)
        try:
            with transaction.atomic():
                purchase = Purchase.objects.create(
                    member_id=locked.pk,
                    location=location,
                    external_id=external_id,
                    total=total,
                    currency=program.currency,
                    occurred_at=at,
                    recorded_by=_actor(actor),
                    source=source,
                    points_awarded=result.points,
                    awards=list(awards),
                )
        except IntegrityError:
            # Another transaction recorded this receipt for another member meanwhile.
            existing = _existing_purchase(
                location=location, external_id=external_id, member=member, total=total
            )
            if existing is None:
                raise
            return existing
        if cleaned:
            PurchaseLine.objects.bulk_create(
                [
                    PurchaseLine(
                        purchase=purchase,
                        sku=line.sku,
                        category=line.category,
                        description=line.description,
                        quantity=line.quantity,
                        amount=line.amount,
                    )
                    for line in cleaned
                ]
            )
        entry = None
        if result.points:
            entry = _credit(
                locked,
                points=result.points,
                kind=EntryKind.EARN,
                source_type=SourceType.PURCHASE,
                at=at,
                available_at=at + timedelta(days=program.pending_days),
                expires_at=lot_expiry(program=program, earned_at=at),
                reason=_("Receipt %(receipt)s at %(location)s")
                % {"receipt": external_id or f"#{purchase.pk}", "location": location.name},
                purchase=purchase,
                actor=actor,
                funded_by_id=location.partner_id,
            )
        changes: dict[str, Any] = {
            "last_activity_at": max(filter(None, [locked.last_activity_at, at]))
        }
        if locked.first_purchase_at is None or at < locked.first_purchase_at:
            changes["first_purchase_at"] = at
        type(locked).objects.filter(pk=locked.pk).update(**changes)
        for name, value in changes.items():
            setattr(locked, name, value)
        event_record(
            type="purchase.recorded",
            member=locked,
            actor=actor,
            payload={
                "purchase": purchase.pk,
                "location": location.code,
                "external_id": external_id,
                "total": str(total),
                "currency": program.currency,
                "points": result.points,
                "awards": list(awards),
            },
            at=at,
        )
        if entry is not None:
            event_record(
                type="points.earned",
                member=locked,
                actor=actor,
                payload={
                    "entry": entry.pk,
                    "purchase": purchase.pk,
                    "points": result.points,
                    "pending": entry.pending_points > 0,
                    "balance": locked.balance,
                },
                at=at,
            )
        stamps = _after_activity(
            locked,
            at=at,
            actor=actor,
            location=location,
            program=program,
            purchase=purchase,
            total=total,
            lines=cleaned,
        )
        hooks.fire(
            "purchase_recorded",
            member=locked,
            purchase=purchase,
            total=total,
            lines=cleaned,
            location=location,
            at=at,
            actor=actor,
        )
        _sync(member, locked)
    return PurchaseResult(
        purchase=purchase, awards=awards, points=result.points, created=True, stamps=stamps
    )


def _existing_purchase(
    *, location: Location, external_id: str, member: Member, total: Decimal
) -> PurchaseResult | None:
    existing = Purchase.objects.filter(location=location, external_id=external_id).first()
    if existing is None:
        return None
    if existing.member_id != member.pk or existing.total != total:
        raise errors.PurchaseConflict(external_id=external_id)
    return PurchaseResult(
        purchase=existing,
        awards=tuple(existing.awards),
        points=existing.points_awarded,
        created=False,
    )


def _clawback_target(purchase: Purchase, refunded_after: Decimal) -> int:
    """Points to have taken back in total once ``refunded_after`` of the purchase is refunded.

    Proportional and cumulative, rounded down in the member's favour; a full refund takes
    back exactly what was awarded, so partial refunds never drift.
    """
    if refunded_after >= purchase.total:
        return purchase.points_awarded
    share = Decimal(purchase.points_awarded) * refunded_after / purchase.total
    return int(share.to_integral_value(rounding=ROUND_FLOOR))


def purchase_refund(
    *,
    purchase: Purchase,
    amount: Any = None,
    actor: AbstractBaseUser | None = None,
    reason: str = "",
    at: datetime | None = None,
) -> Refund:
    """Refund a purchase in full (``amount=None``) or in part, taking back points in proportion.

    Points are taken back from the purchase's own lot first (pending or spendable), then
    from the member's other spendable points; what the member has already spent and cannot
    cover becomes owed points, repaid from future earnings (docs/ledger.md).
    """
    at = at or timezone.now()
    reason = _clean_text(reason, max_length=255, label=_("Reason"))
    with transaction.atomic():
        locked = _lock_member(purchase.member)
        current = Purchase.objects.select_for_update().get(pk=purchase.pk)
        refundable = current.total - current.refunded_amount
        if refundable <= 0:
            raise errors.AlreadyRefunded()
        value = refundable if amount is None else clean_amount(amount)
        if value > refundable:
            raise errors.RefundTooLarge(refundable=money(refundable, current.currency))
        refunded_after = current.refunded_amount + value
        claw = _clawback_target(current, refunded_after) - current.points_clawed_back
        forgiven = 0
        if claw > 0:
            forgiven = _clawback(
                locked, purchase=current, points=claw, at=at, actor=actor, amount=value
            )
        Purchase.objects.filter(pk=current.pk).update(
            refunded_amount=refunded_after,
            points_clawed_back=F("points_clawed_back") + max(claw, 0),
        )
        from loyalty.punch_cards import punch_cards_refund

        stamps_removed = punch_cards_refund(
            purchase=current, refunded_after=refunded_after, at=at, actor=actor
        )
        refund = Refund.objects.create(
            purchase=current,
            amount=value,
            points_clawed_back=max(claw, 0),
            points_forgiven=forgiven,
            reason=reason,
            created_at=at,
            actor=_actor(actor),
        )
        hooks.fire(
            "purchase_refunded", member=locked, purchase=current, refund=refund, at=at, actor=actor
        )
        event_record(
            type="purchase.refunded",
            member=locked,
            actor=actor,
            payload={
                "purchase": current.pk,
                "refund": refund.pk,
                "amount": str(value),
                "points_taken_back": max(claw, 0),
                "stamps_taken_back": stamps_removed,
                "balance": locked.balance,
                "owed": locked.points_debt,
            },
            at=at,
        )
        purchase.refunded_amount = refunded_after
        purchase.points_clawed_back = current.points_clawed_back + max(claw, 0)
        _sync(purchase.member, locked)
    return refund


def _clawback(
    locked: Member, *, purchase: Purchase, points: int, at: datetime, actor, amount: Decimal
) -> int:
    """Take back ``points`` for a refund; return how many were forgiven because they expired."""
    own_lots = list(PointsLot.objects.filter(purchase=purchase, remaining__gt=0).order_by("pk"))
    from_pending = 0
    from_available = 0
    allocations: list[tuple[PointsLot, int]] = []
    left = points
    for lot in own_lots:
        take = min(lot.remaining, left)
        if take <= 0:
            continue
        allocations.append((lot, take))
        if lot.is_available:
            from_available += take
        else:
            from_pending += take
        left -= take
    # Points of this purchase that already expired are gone: taking them again from other
    # points would make the member lose them twice, so they are forgiven.
    expired = (
        LotAllocation.objects.filter(
            lot__purchase=purchase, entry__kind=EntryKind.EXPIRE
        ).aggregate(n=Sum("points"))["n"]
        or 0
    )
    already_forgiven = purchase.refunds.aggregate(n=Sum("points_forgiven"))["n"] or 0
    forgiven = min(left, max(expired - already_forgiven, 0))
    left -= forgiven
    from_others = min(left, locked.balance - from_available)
    owed = left - from_others
    if not (from_available or from_pending or from_others or owed):
        return forgiven
    entry = LedgerEntry.objects.create(
        member_id=locked.pk,
        kind=EntryKind.REFUND,
        points=-(from_available + from_others),
        pending_points=-from_pending,
        debt_points=owed,
        balance_after=locked.balance - from_available - from_others,
        reason=_("Refund of %(amount)s on receipt %(receipt)s")
        % {
            "amount": money(amount, purchase.currency),
            "receipt": purchase.external_id or f"#{purchase.pk}",
        },
        source_type=SourceType.PURCHASE,
        purchase=purchase,
        actor=_actor(actor),
        created_at=at,
    )
    for lot, take in allocations:
        lot.remaining -= take
    PointsLot.objects.bulk_update([lot for lot, _take in allocations], ["remaining"])
    LotAllocation.objects.bulk_create(
        [LotAllocation(entry=entry, lot=lot, points=take) for lot, take in allocations]
    )
    if from_others:
        # The purchase lot is already drawn down above; draw the rest from other lots.
        _draw_down(locked, points=from_others, entry=entry)
    hooks.fire("points_earned", member_id=locked.pk, points=-points, at=at)
    _save_member_counters(
        locked,
        balance=-(from_available + from_others),
        pending=-from_pending,
        points_debt=owed,
        lifetime_points=-min(points, locked.lifetime_points),
    )
    return forgiven


def visit_record(
    *,
    member: Member,
    location: Location,
    source: str,
    actor: AbstractBaseUser | None = None,
    at: datetime | None = None,
) -> Visit:
    """Record a check-in without a purchase and award the programme's points per visit."""
    at = _clean_time(at, now=timezone.now())
    with transaction.atomic():
        locked = _lock_member(member)
        _ensure_active(locked)
        if not location.is_active:
            raise errors.LocationInactive()
        program = program_get()
        result = engine.visit_awards(rules=program_rules(program=program))
        visit = Visit.objects.create(
            member_id=locked.pk,
            location=location,
            occurred_at=at,
            source=source,
            recorded_by=_actor(actor),
            points_awarded=result.points,
        )
        if result.points:
            _credit(
                locked,
                points=result.points,
                kind=EntryKind.VISIT,
                source_type=SourceType.VISIT,
                at=at,
                expires_at=lot_expiry(program=program, earned_at=at),
                reason=_("Visit at %(location)s") % {"location": location.name},
                visit=visit,
                actor=actor,
            )
        type(locked).objects.filter(pk=locked.pk).update(last_activity_at=at)
        locked.last_activity_at = at
        # Not a model field: what the visit did to punch cards, for the page that recorded it.
        visit.stamp_results = _after_activity(
            locked, at=at, actor=actor, location=location, program=program, visit=visit
        )
        hooks.fire(
            "visit_recorded", member=locked, visit=visit, location=location, at=at, actor=actor
        )
        event_record(
            type="visit.recorded",
            member=locked,
            actor=actor,
            payload={
                "visit": visit.pk,
                "location": location.code,
                "points": result.points,
                "balance": locked.balance,
            },
            at=at,
        )
        _sync(member, locked)
    return visit


def points_reverse_debit(
    *,
    entry: LedgerEntry,
    reason: str,
    actor: AbstractBaseUser | None = None,
    at: datetime | None = None,
) -> list[LedgerEntry]:
    """Give back the points a debit took, lot by lot, as counter-entries (kind *reversal*).

    Each lot the debit drew from is restored as a new lot with the same expiry and the same
    funder, so cancelling a redemption neither extends nor shortens the points' life and
    partner settlement still knows who funded them. The debit itself is never changed;
    callers make sure a debit is reversed once (a voucher is cancelled once, under its lock).
    """
    at = at or timezone.now()
    with transaction.atomic():
        locked = _lock_member(entry.member)
        allocations = list(entry.allocations.select_related("lot").order_by("lot_id"))
        created = []
        for allocation in allocations:
            created.append(
                _credit(
                    locked,
                    points=allocation.points,
                    kind=EntryKind.REVERSE,
                    source_type=entry.source_type,
                    at=at,
                    expires_at=allocation.lot.expires_at,
                    reason=reason,
                    actor=actor,
                    earned=False,
                    funded_by_id=allocation.lot.funded_by_id,
                )
            )
        event_record(
            type="points.reversed",
            member=locked,
            actor=actor,
            payload={
                "entry": entry.pk,
                "points": sum(a.points for a in allocations),
                "balance": locked.balance,
            },
            at=at,
        )
        _sync(entry.member, locked)
    return created


def member_lock(member: Member) -> Member:
    """Lock the member's row for the rest of the transaction and return the fresh row.

    For services of other apps that must check and write under the same lock as the ledger.
    """
    return _lock_member(member)


# Tiers and punch cards live in their own modules; these are their public services.
from loyalty.punch_cards import punch_card_stamp, punch_cards_expire_due  # noqa: E402
from loyalty.tiers import tier_evaluate, tier_set_manual, tiers_reevaluate_all  # noqa: E402

__all__ = [
    "event_record",
    "member_lock",
    "points_adjust",
    "points_credit",
    "points_debit",
    "points_expire_due",
    "points_release_pending",
    "points_reverse_debit",
    "punch_card_stamp",
    "punch_cards_expire_due",
    "purchase_quote",
    "purchase_record",
    "purchase_refund",
    "tier_evaluate",
    "tier_set_manual",
    "tiers_reevaluate_all",
    "visit_record",
]


# --------------------------------------------------------------------------------------------
# Batch of purchases (an offline till's queue)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchItem:
    """One purchase of a batch, as the caller validated its shape."""

    member_id: int | None
    total: Any
    external_id: str
    lines: Any = ()
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class BatchResult:
    """What happened to one item: created, duplicate (recorded before) or error."""

    status: str
    purchase: Purchase | None = None
    points: int = 0
    error: errors.LoyaltyError | None = None


def purchases_record_batch(
    *,
    location: Location,
    items: Sequence[BatchItem],
    source: str = Source.API,
    actor: AbstractBaseUser | None = None,
) -> list[BatchResult]:
    """Record many purchases in one transaction with the same rules as ``purchase_record``.

    Set-based where it can be: the members are locked in one query, the purchases, lines,
    lots, ledger entries and events are inserted in bulk and the cached balances written
    once per member. Members who owe points go through ``purchase_record`` one by one (their
    earnings repay the debt first). Each item is idempotent on its receipt number; a bad
    item gets its own error and changes nothing.
    """
    with transaction.atomic():
        return _record_batch(location=location, items=items, source=source, actor=actor)


def _record_batch(*, location, items, source, actor) -> list[BatchResult]:
    from members.models import Member

    program = program_get()
    rules = program_rules(program=program)
    now = timezone.now()
    results: list[BatchResult | None] = [None] * len(items)
    cleaned: dict[int, tuple[Decimal, list[engine.LineIn], datetime, str]] = {}
    for index, item in enumerate(items):
        try:
            total = clean_amount(item.total, maximum=program.max_purchase_amount)
            cleaned[index] = (
                total,
                clean_lines(item.lines or (), total=total),
                _clean_time(item.occurred_at, now=now),
                _clean_text(item.external_id, max_length=64, label=_("Receipt number")),
            )
            if not cleaned[index][3]:
                raise errors.InvalidInput(_("A receipt number is required."), field="external_id")
        except errors.LoyaltyError as exc:
            cleaned.pop(index, None)
            results[index] = BatchResult("error", error=exc)

    members = {
        m.pk: m
        for m in Member.objects.select_for_update()
        .filter(pk__in=sorted({items[i].member_id for i in cleaned if items[i].member_id}))
        .order_by("pk")
    }
    existing = {
        p.external_id: p
        for p in Purchase.objects.filter(
            location=location, external_id__in=[c[3] for c in cleaned.values()]
        )
    }
    fast: list[int] = []
    slow: list[int] = []
    # A member's second purchase in the upload may earn at a tier or VIP status the first
    # one gave: with tiers or automatic VIP in use, such members go one purchase at a time.
    per_member: dict[int | None, int] = defaultdict(int)
    for index in cleaned:
        per_member[items[index].member_id] += 1
    from loyalty.models import VipMetric
    from loyalty.selectors import tiers_ordered

    status_changes = bool(tiers_ordered()) or program.vip_auto_metric != VipMetric.OFF
    # Campaigns, referrals, challenges and games act per purchase: while any of them is
    # running, every purchase of the upload goes through ``purchase_record``.
    one_by_one = hooks.any_active("purchase_hooks_active", members=list(members.values()))
    for index, (total, _lines, _at, external_id) in cleaned.items():
        member = members.get(items[index].member_id)
        first = existing.get(external_id)
        if first is not None:
            if member is None or first.member_id != member.pk or first.total != total:
                results[index] = BatchResult(
                    "error", error=errors.PurchaseConflict(external_id=external_id)
                )
            else:
                results[index] = BatchResult("duplicate", first, first.points_awarded)
        elif member is None:
            results[index] = BatchResult(
                "error", error=errors.MemberNotFound(_("No member has this id."), field="member")
            )
        elif not member.is_active:
            results[index] = BatchResult("error", error=errors.MemberInactive())
        elif not location.is_active:
            results[index] = BatchResult("error", error=errors.LocationInactive())
        elif one_by_one or member.points_debt or (status_changes and per_member[member.pk] > 1):
            slow.append(index)
        else:
            fast.append(index)

    created = _batch_insert(
        [(i, members[items[i].member_id], *cleaned[i]) for i in fast],
        location=location,
        program=program,
        rules=rules,
        source=source,
        actor=actor,
        now=now,
    )
    for index, outcome in created.items():
        results[index] = outcome
    for index in slow:
        total, lines, at, external_id = cleaned[index]
        try:
            with transaction.atomic():
                done = purchase_record(
                    member=members[items[index].member_id],
                    location=location,
                    total=total,
                    lines=lines,
                    occurred_at=at,
                    external_id=external_id,
                    actor=actor,
                    source=source,
                )
            results[index] = BatchResult(
                "created" if done.created else "duplicate", done.purchase, done.points
            )
        except errors.LoyaltyError as exc:
            results[index] = BatchResult("error", error=exc)
    return [r for r in results if r is not None]


def _members_write_counters(members: Sequence[Member]) -> None:
    """Write the cached counters of locked members in one statement.

    Django's ``bulk_update`` builds a CASE expression per field and row, which costs more
    than the whole rest of a batch; a VALUES list (PostgreSQL) or one prepared statement run
    for every row (SQLite) does the same write cheaply. The callers hold the row locks and
    computed the values from the locked rows.
    """
    from django.db import connection

    as_db = connection.ops.adapt_datetimefield_value  # naive UTC text on SQLite, as the ORM
    rows = [
        (
            m.balance,
            m.pending,
            m.lifetime_points,
            as_db(m.first_purchase_at),
            as_db(m.last_activity_at),
            m.pk,
        )
        for m in members
    ]
    table = members[0]._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            values = ", ".join(
                [
                    "(%s::bigint, %s::integer, %s::integer, %s::integer, %s::timestamptz, %s::timestamptz)"
                ]
                + ["(%s, %s, %s, %s, %s, %s)"] * (len(rows) - 1)
            )
            cursor.execute(
                f"UPDATE {table} AS m SET balance = v.balance, pending = v.pending, "  # noqa: S608 - fixed names, values bound
                "lifetime_points = v.lifetime, first_purchase_at = v.first_at, "
                "last_activity_at = v.last_at "
                f"FROM (VALUES {values}) AS v(id, balance, pending, lifetime, first_at, last_at) "
                "WHERE m.id = v.id",
                [x for b, p, lt, f, la, pk in rows for x in (pk, b, p, lt, f, la)],
            )
        else:
            cursor.executemany(
                f"UPDATE {table} SET balance = %s, pending = %s, lifetime_points = %s, "  # noqa: S608
                "first_purchase_at = %s, last_activity_at = %s WHERE id = %s",
                rows,
            )


def _batch_insert(rows, *, location, program, rules, source, actor, now) -> dict[int, BatchResult]:
    """Insert the new purchases of a batch in bulk (the members are locked by the caller)."""
    from loyalty.punch_cards import punch_cards_for_activity
    from loyalty.tiers import tier_evaluate
    from members.vip import vip_evaluate

    results: dict[int, BatchResult] = {}
    seen: dict[str, tuple[int, Decimal, int]] = {}
    purchases: list[tuple[int, Member, Purchase, list[engine.LineIn], int]] = []
    for index, member, total, lines, at, external_id in rows:
        if external_id in seen:
            # The same receipt twice in one upload: the second is a duplicate of the first.
            first_index, first_total, first_member = seen[external_id]
            if first_total != total or first_member != member.pk:
                results[index] = BatchResult(
                    "error", error=errors.PurchaseConflict(external_id=external_id)
                )
            else:
                results[index] = ("duplicate_of", first_index)  # resolved below
            continue
        seen[external_id] = (index, total, member.pk)
        state = _member_state(member, program=program, at=at, rules=rules)
        award = engine.purchase_awards(
            rules=rules, member=state, total=total, lines=lines, at=at, location_id=location.pk
        )
        if member.first_purchase_at is None or at < member.first_purchase_at:
            member.first_purchase_at = at
        member.last_activity_at = max(filter(None, [member.last_activity_at, at]))
        awards = [a.as_dict() for a in award.awards]
        purchases.append(
            (
                index,
                member,
                Purchase(
                    member_id=member.pk,
                    location=location,
                    external_id=external_id,
                    total=total,
                    currency=program.currency,
                    occurred_at=at,
                    recorded_by=_actor(actor),
                    source=source,
                    points_awarded=award.points,
                    awards=awards,
                ),
                lines,
                award.points,
            )
        )
    if not purchases:
        return {i: r for i, r in results.items() if isinstance(r, BatchResult)}
    Purchase.objects.bulk_create([p for _i, _m, p, _l, _pts in purchases])
    PurchaseLine.objects.bulk_create(
        [
            PurchaseLine(
                purchase=p,
                sku=line.sku,
                category=line.category,
                description=line.description,
                quantity=line.quantity,
                amount=line.amount,
            )
            for _i, _m, p, lines, _pts in purchases
            for line in lines
        ]
    )
    lots: list[PointsLot] = []
    entries: list[LedgerEntry] = []
    events: list[Event] = []
    for _index, member, purchase, _lines, points in purchases:
        at = purchase.occurred_at
        entry = None
        if points:
            available_at = at + timedelta(days=program.pending_days)
            pending = available_at > now
            lot = PointsLot(
                member_id=member.pk,
                amount=points,
                remaining=points,
                is_available=not pending,
                available_at=available_at,
                expires_at=lot_expiry(program=program, earned_at=at),
                created_at=at,
                purchase=purchase,
                funded_by_id=location.partner_id,
            )
            lots.append(lot)
            if pending:
                member.pending += points
            else:
                member.balance += points
            member.lifetime_points += points
            entry = LedgerEntry(
                member_id=member.pk,
                kind=EntryKind.EARN,
                points=0 if pending else points,
                pending_points=points if pending else 0,
                balance_after=member.balance,
                reason=_("Receipt %(receipt)s at %(location)s")
                % {"receipt": purchase.external_id, "location": location.name},
                source_type=SourceType.PURCHASE,
                purchase=purchase,
                lot=lot,
                actor=_actor(actor),
                created_at=at,
            )
            entries.append(entry)
        payload = {
            "purchase": purchase.pk,
            "location": location.code,
            "external_id": purchase.external_id,
            "total": str(purchase.total),
            "currency": program.currency,
            "points": points,
            "awards": purchase.awards,
        }
        events.append(
            Event(type="purchase.recorded", member_id=member.pk, payload=payload, created_at=at)
        )
    PointsLot.objects.bulk_create(lots)
    for entry in entries:
        entry.lot_id = entry.lot.pk
    LedgerEntry.objects.bulk_create(entries)
    events += [
        Event(
            type="points.earned",
            member_id=e.member_id,
            payload={
                "entry": e.pk,
                "purchase": e.purchase_id,
                "points": e.points + e.pending_points,
                "pending": e.pending_points > 0,
                "balance": e.balance_after,
            },
            created_at=e.created_at,
        )
        for e in entries
    ]
    touched = {m.pk: m for _i, m, _p, _l, _pts in purchases}
    _members_write_counters(list(touched.values()))
    events_record_bulk(events)
    hooks.fire(
        "points_earned_bulk",
        rows=[(e.member_id, e.points + e.pending_points, e.created_at) for e in entries],
    )
    hooks.fire("purchases_recorded_bulk", purchases=[p for _i, _m, p, _l, _pts in purchases])
    from loyalty.models import PunchCardType

    stamping = PunchCardType.objects.filter(is_active=True).exists()
    for index, member, purchase, lines, points in purchases:
        if stamping:
            punch_cards_for_activity(
                member=member,
                location=location,
                at=purchase.occurred_at,
                actor=actor,
                purchase=purchase,
                total=purchase.total,
                lines=lines,
            )
        results[index] = BatchResult("created", purchase, points)
    evaluated_at = timezone.now()
    for member in touched.values():
        tier_evaluate(member=member, as_of=evaluated_at, program=program, locked=True)
        vip_evaluate(member=member, as_of=evaluated_at, program=program)
    for index, outcome in list(results.items()):
        if isinstance(outcome, tuple):
            first = results[outcome[1]]
            results[index] = BatchResult("duplicate", first.purchase, first.points)
    return results
