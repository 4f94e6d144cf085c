"""Sweepstakes (prize draws) and instant wins: services and hooks.

* Entries come from visits and purchases (``per_visit``: one a day), from earned points
  (``per_points``: one per N points) or are bought with points (``bought``), up to the
  sweepstake's maximum per member, and only while it is open.
* ``sweepstake_draw`` draws the winners once, after the end, from the stored entries with a
  recorded random seed; ``sweepstake_verify`` re-runs the draw and compares. The algorithm
  (``draw_winners``) is documented in docs/campaigns.md so anyone can repeat it.
* Instant wins count sign-ups or purchases under a row lock: every Nth wins.

The hooks run on every purchase, visit and credit; what is running is kept per process for
a few seconds (``games_snapshot``), so they cost nothing while no game runs.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaigns.models import (
    InstantWin,
    InstantWinHit,
    LeaderboardProfile,
    Sweepstake,
    SweepstakeEntry,
    SweepstakeEntryPurchase,
    SweepstakeWinner,
)
from campaigns.translation import text_lazy
from loyalty import errors, hooks
from loyalty.models import EntryKind, LedgerEntry
from loyalty.services import event_record, member_lock, points_credit, points_debit

log = logging.getLogger(__name__)

SEED_BITS = 63  # fits a signed 64-bit column (BigIntegerField)
MAX_BUY = 1000


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class SweepstakeNotOpen(errors.Conflict):
    code = "sweepstake_not_open"
    message = _("This sweepstake is not taking entries now.")


# The draw waits this long after the end: a purchase that added an entry just before the end
# may still be committing, and the draw must see it (entries themselves stop at the end).
DRAW_GRACE = timedelta(seconds=30)


class SweepstakeNotEnded(errors.Conflict):
    code = "sweepstake_not_ended"
    message = _("The draw can only be made after the sweepstake has ended.")


class SweepstakeNotDrawn(errors.Conflict):
    code = "sweepstake_not_drawn"
    message = _("This sweepstake has not been drawn yet.")


class EntriesNotForSale(errors.Conflict):
    code = "entries_not_for_sale"
    message = _("Entries to this sweepstake cannot be bought with points.")


class EntryLimitReached(errors.Conflict):
    code = "entry_limit_reached"
    message = _("You can have at most %(maximum)s entries; you have %(current)s.")


class InvalidEntryCount(errors.InvalidInput):
    code = "invalid_entry_count"
    message = _("Enter a whole number of entries from 1 to %(maximum)s.")


class InvalidSeed(errors.InvalidInput):
    code = "invalid_seed"
    message = _("The seed must be a whole number from 0 to 9223372036854775807.")


# --------------------------------------------------------------------------------------------
# What is running (cached per process)
# --------------------------------------------------------------------------------------------

SNAPSHOT_TTL = 5.0
_GENERATION_KEY = "campaigns:games-generation"


@dataclass(frozen=True)
class _Window:
    pk: int
    kind: str
    starts_at: datetime
    ends_at: datetime | None

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at and (self.ends_at is None or at < self.ends_at)


@dataclass(frozen=True)
class GamesSnapshot:
    leaderboard: bool = False
    sweepstakes: tuple[_Window, ...] = ()
    instant_wins: tuple[_Window, ...] = ()
    loaded: float = 0.0
    generation: int = 0

    def sweepstakes_at(self, at: datetime, *kinds: str) -> list[int]:
        return [w.pk for w in self.sweepstakes if w.kind in kinds and w.covers(at)]

    def instant_wins_at(self, at: datetime, trigger: str) -> list[int]:
        return [w.pk for w in self.instant_wins if w.kind == trigger and w.covers(at)]


_memo: dict = {"snapshot": None}


def games_changed() -> None:
    """Forget what is running, here and (through the cache) in other processes."""
    try:
        cache.incr(_GENERATION_KEY)
    except ValueError:
        cache.set(_GENERATION_KEY, 1, None)
    _memo["snapshot"] = None


def _load(generation: int) -> GamesSnapshot:
    now = timezone.now()
    sweeps = Sweepstake.objects.filter(
        is_active=True, drawn_at__isnull=True, ends_at__gt=now
    ).values_list("pk", "entry_rule", "starts_at", "ends_at")
    wins = InstantWin.objects.filter(is_active=True).filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=now)
    )
    wins = wins.filter(Q(max_winners__isnull=True) | Q(winners_count__lt=F("max_winners")))
    return GamesSnapshot(
        leaderboard=LeaderboardProfile.objects.exists(),
        sweepstakes=tuple(_Window(*row) for row in sweeps),
        instant_wins=tuple(
            _Window(*row) for row in wins.values_list("pk", "trigger", "starts_at", "ends_at")
        ),
        loaded=time.monotonic(),
        generation=generation,
    )


def games_snapshot() -> GamesSnapshot:
    """Return what is running: opted-in leaderboard, open sweepstakes, instant wins."""
    generation = cache.get(_GENERATION_KEY, 0)
    snap = _memo["snapshot"]
    if (
        snap is None
        or snap.generation != generation
        or time.monotonic() - snap.loaded > SNAPSHOT_TTL
    ):
        snap = _memo["snapshot"] = _load(generation)
    return snap


# --------------------------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------------------------


def _entry_row(sweepstake_id: int, member_id: int) -> SweepstakeEntry:
    # The caller holds the member's lock, so nobody else creates this member's row meanwhile.
    row = SweepstakeEntry.objects.filter(sweepstake_id=sweepstake_id, member_id=member_id).first()
    if row is None:
        row = SweepstakeEntry.objects.create(sweepstake_id=sweepstake_id, member_id=member_id)
    return row


def _open_sweepstakes(ids: Sequence[int], at: datetime) -> list[Sweepstake]:
    # Entries freeze at the end: a late upload of an earlier purchase does not add any.
    now = timezone.now()
    return [
        s
        for s in Sweepstake.objects.filter(pk__in=ids).order_by("pk")
        if s.is_open(at=at) and now < s.ends_at
    ]


def _count_visit(*, member, at: datetime) -> None:
    ids = games_snapshot().sweepstakes_at(at, Sweepstake.EntryRule.PER_VISIT)
    if not ids:
        return
    day = timezone.localdate(at)
    for sweep in _open_sweepstakes(ids, at):
        row = _entry_row(sweep.pk, member.pk)
        if row.last_visit_on == day or row.entries >= sweep.max_entries_per_member:
            continue
        row.entries += 1
        row.last_visit_on = day
        row.updated_at = at
        row.save(update_fields=["entries", "last_visit_on", "updated_at"])


def _count_points(*, member_id: int, points: int, at: datetime) -> None:
    ids = games_snapshot().sweepstakes_at(at, Sweepstake.EntryRule.PER_POINTS)
    if not ids or not points:
        return
    for sweep in _open_sweepstakes(ids, at):
        row = _entry_row(sweep.pk, member_id)
        carry = row.points_carry + points
        new = max(carry, 0) // sweep.points_per_entry
        room = max(sweep.max_entries_per_member - row.entries, 0)
        row.points_carry = carry - new * sweep.points_per_entry
        row.entries += min(new, room)
        row.updated_at = at
        row.save(update_fields=["entries", "points_carry", "updated_at"])


def sweepstake_buy_entries(
    *,
    member,
    sweepstake: Sweepstake,
    count: int,
    idempotency_key: str | None = None,
    at: datetime | None = None,
) -> SweepstakeEntryPurchase:
    """Buy ``count`` entries with points (``bought`` sweepstakes), within the maximum.

    The same ``idempotency_key`` again returns the first purchase and spends nothing more.
    Too few points raises ``InsufficientPoints``; nothing is changed on any error.
    """
    at = at or timezone.now()
    try:
        count = int(count)
    except (TypeError, ValueError):
        count = 0
    if not 1 <= count <= MAX_BUY:
        raise InvalidEntryCount(field="count", maximum=MAX_BUY)
    if sweepstake.entry_rule != Sweepstake.EntryRule.BOUGHT:
        raise EntriesNotForSale()
    with transaction.atomic():
        locked = member_lock(member)
        if idempotency_key:
            first = SweepstakeEntryPurchase.objects.filter(
                idempotency_key=idempotency_key, member_id=locked.pk
            ).first()
            if first is not None:
                return first
        current = Sweepstake.objects.get(pk=sweepstake.pk)
        if not current.is_open(at=at):
            raise SweepstakeNotOpen()
        row = _entry_row(current.pk, locked.pk)
        if row.entries + count > current.max_entries_per_member:
            raise EntryLimitReached(
                field="count", maximum=current.max_entries_per_member, current=row.entries
            )
        cost = count * current.entry_price_points
        entry = points_debit(
            member=locked,
            points=cost,
            kind=EntryKind.SPEND,
            source_type=LedgerEntry.SourceType.CAMPAIGN,
            reason=gettext("%(count)s entries to %(name)s")
            % {"count": count, "name": current.name},
            at=at,
        )
        row.entries += count
        row.updated_at = at
        row.save(update_fields=["entries", "updated_at"])
        try:
            with transaction.atomic():
                bought = SweepstakeEntryPurchase.objects.create(
                    sweepstake=current,
                    member_id=locked.pk,
                    count=count,
                    points=cost,
                    ledger_entry=entry,
                    idempotency_key=idempotency_key or None,
                    created_at=at,
                )
        except IntegrityError:
            raise errors.Conflict(_("This form was already sent.")) from None
        member.balance = locked.balance
    return bought


# --------------------------------------------------------------------------------------------
# The draw
# --------------------------------------------------------------------------------------------


def draw_winners(entries: Sequence[tuple[int, int]], *, seed: int, count: int) -> list[int]:
    """Return the winning member ids, in the order drawn (documented in docs/campaigns.md).

    ``entries`` are (member id, entries) pairs. They are sorted by member id and members with
    no entries dropped; then, ``count`` times (or until nobody is left): with
    ``rng = random.Random(seed)``, ``r = rng.randrange(total entries left)``; the winner is
    the first member whose running total of entries exceeds ``r``; they are removed (each
    member wins at most once) and the next winner is drawn from the rest.
    """
    pool = sorted((m, n) for m, n in entries if n > 0)
    rng = random.Random(seed)
    winners: list[int] = []
    while pool and len(winners) < count:
        total = sum(n for _m, n in pool)
        r = rng.randrange(total)
        running = 0
        for index, (member_id, n) in enumerate(pool):
            running += n
            if running > r:
                winners.append(member_id)
                del pool[index]
                break
    return winners


def _seed_clean(seed) -> int:
    try:
        value = int(seed)
    except (TypeError, ValueError):
        raise InvalidSeed(field="seed") from None
    if isinstance(seed, float) or not 0 <= value < 2**SEED_BITS:
        raise InvalidSeed(field="seed")
    return value


@dataclass
class DrawResult:
    sweepstake: Sweepstake
    winners: list[SweepstakeWinner] = field(default_factory=list)
    created: bool = False


def sweepstake_draw(
    *, sweepstake: Sweepstake, seed: int | None = None, at: datetime | None = None, actor=None
) -> DrawResult:
    """Draw the winners once the sweepstake has ended; a second call returns the first result.

    The seed (random when not given) is recorded with the draw. Each winner gets a voucher
    for the prize (unless their membership is closed) and a ``sweepstake_won`` message. If a
    voucher cannot be issued (prize inactive or out of stock) nothing is drawn.
    """
    from campaigns.messaging import message_send
    from members.models import Member
    from rewards.models import Voucher
    from rewards.services import voucher_issue

    at = at or timezone.now()
    if seed is not None:
        seed = _seed_clean(seed)
    with transaction.atomic():
        current = (
            Sweepstake.objects.select_for_update().select_related("prize").get(pk=sweepstake.pk)
        )
        if current.drawn_at is not None:
            result = DrawResult(sweepstake=current, winners=_winners_of(current))
            _sync(sweepstake, current)
            return result
        if at < current.ends_at + DRAW_GRACE:
            raise SweepstakeNotEnded()
        if seed is None:
            seed = secrets.randbits(SEED_BITS)
        entries = list(
            SweepstakeEntry.objects.filter(sweepstake=current, entries__gt=0)
            .order_by("member_id")
            .values_list("member_id", "entries")
        )
        winner_ids = draw_winners(entries, seed=seed, count=current.winners_count)
        # Lock the winners in primary-key order (as the ledger does) before issuing vouchers.
        active = set(
            Member.objects.select_for_update()
            .filter(pk__in=winner_ids, is_active=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        members = Member.objects.in_bulk(winner_ids)
        winners: list[SweepstakeWinner] = []
        for position, member_id in enumerate(winner_ids, start=1):
            voucher = None
            if member_id in active:
                voucher = voucher_issue(
                    member=members[member_id],
                    reward=current.prize,
                    origin=Voucher.Origin.CAMPAIGN,
                    reason=gettext("Won in the draw %(name)s") % {"name": current.name},
                    at=at,
                    actor=actor,
                )
            winners.append(
                SweepstakeWinner.objects.create(
                    sweepstake=current, member_id=member_id, position=position, voucher=voucher
                )
            )
        current.seed = seed
        current.drawn_at = at
        current.entrants_at_draw = len(entries)
        current.entries_at_draw = sum(n for _m, n in entries)
        Sweepstake.objects.filter(pk=current.pk).update(
            seed=seed,
            drawn_at=at,
            entrants_at_draw=current.entrants_at_draw,
            entries_at_draw=current.entries_at_draw,
        )
        for winner in winners:
            event_record(
                type="sweepstake.won",
                member=members[winner.member_id],
                actor=actor,
                payload={
                    "sweepstake": current.pk,
                    "position": winner.position,
                    "voucher": winner.voucher.code if winner.voucher else None,
                    "seed": seed,
                },
                at=at,
            )
            if winner.voucher is None:
                continue
            message_send(
                member=members[winner.member_id],
                type_code="sweepstake_won",
                context={
                    "sweepstake": text_lazy(current, "name"),
                    "prize": current.prize.name,
                    "voucher_code": winner.voucher.code,
                },
                dedupe_key=f"sweepstake_won:{current.pk}:{winner.member_id}",
                at=at,
            )
    games_changed()
    _sync(sweepstake, current)
    return DrawResult(sweepstake=current, winners=winners, created=True)


def _sync(target: Sweepstake, current: Sweepstake) -> None:
    for name in ("seed", "drawn_at", "entrants_at_draw", "entries_at_draw"):
        setattr(target, name, getattr(current, name))


def _winners_of(sweepstake: Sweepstake) -> list[SweepstakeWinner]:
    return list(
        SweepstakeWinner.objects.filter(sweepstake=sweepstake)
        .select_related("voucher")
        .order_by("position")
    )


@dataclass(frozen=True)
class Verification:
    ok: bool
    recorded: list[int]
    recomputed: list[int]
    entrants: int
    entries: int


def sweepstake_verify(*, sweepstake: Sweepstake) -> Verification:
    """Re-run the draw from the stored entries and seed; ``ok`` when the winners match."""
    if sweepstake.drawn_at is None or sweepstake.seed is None:
        raise SweepstakeNotDrawn()
    entries = list(
        SweepstakeEntry.objects.filter(sweepstake=sweepstake, entries__gt=0).values_list(
            "member_id", "entries"
        )
    )
    recomputed = draw_winners(entries, seed=sweepstake.seed, count=sweepstake.winners_count)
    recorded = list(
        SweepstakeWinner.objects.filter(sweepstake=sweepstake)
        .order_by("position")
        .values_list("member_id", flat=True)
    )
    total = sum(n for _m, n in entries)
    ok = (
        recorded == recomputed
        and len(entries) == sweepstake.entrants_at_draw
        and total == sweepstake.entries_at_draw
    )
    return Verification(
        ok=ok, recorded=recorded, recomputed=recomputed, entrants=len(entries), entries=total
    )


def sweepstakes_draw_due(*, as_of: datetime | None = None) -> int:
    """Draw every active sweepstake that has ended and is not drawn; return how many."""
    as_of = as_of or timezone.now()
    done = 0
    due = Sweepstake.objects.filter(
        is_active=True, drawn_at__isnull=True, ends_at__lte=as_of - DRAW_GRACE
    ).order_by("ends_at", "pk")
    for sweep in due:
        try:
            if sweepstake_draw(sweepstake=sweep, at=as_of).created:
                done += 1
        except errors.LoyaltyError as err:
            # E.g. the prize is out of stock: staff fix it, the next run draws.
            log.warning("Sweepstake %s not drawn: %s", sweep.pk, err)
    return done


def sweepstake_entries_total(*, sweepstake: Sweepstake) -> tuple[int, int]:
    """Return (entrants, entries) of a sweepstake."""
    agg = SweepstakeEntry.objects.filter(sweepstake=sweepstake, entries__gt=0).aggregate(
        entries=Sum("entries"), entrants=Count("pk")
    )
    return agg["entrants"] or 0, agg["entries"] or 0


# --------------------------------------------------------------------------------------------
# Instant wins
# --------------------------------------------------------------------------------------------


def _instant_win_count(*, member, trigger: str, at: datetime) -> list[InstantWinHit]:
    """Count a sign-up or purchase for each running instant win; every Nth wins."""
    ids = games_snapshot().instant_wins_at(at, trigger)
    hits: list[InstantWinHit] = []
    for pk in sorted(ids):
        # The row lock makes the count exact: concurrent purchases take numbers one by one.
        win = InstantWin.objects.select_for_update().filter(pk=pk).first()
        if win is None or not win.is_active or win.trigger != trigger:
            continue
        if win.starts_at > at or (win.ends_at is not None and at >= win.ends_at):
            continue
        if win.max_winners is not None and win.winners_count >= win.max_winners:
            continue
        number = win.counter + 1
        wins = number % win.every_n == 0
        InstantWin.objects.filter(pk=pk).update(
            counter=F("counter") + 1, winners_count=F("winners_count") + (1 if wins else 0)
        )
        if wins:
            hits.append(_instant_win_award(win, member=member, number=number, at=at))
            if win.max_winners is not None and win.winners_count + 1 >= win.max_winners:
                transaction.on_commit(games_changed)
    return hits


def _instant_win_award(win: InstantWin, *, member, number: int, at: datetime) -> InstantWinHit:
    from campaigns.messaging import message_send
    from rewards.models import Voucher
    from rewards.services import voucher_issue

    reason = gettext("Instant win: %(name)s") % {"name": win.name}
    voucher = entry = None
    if win.reward_id:
        try:
            with transaction.atomic():
                voucher = voucher_issue(
                    member=member,
                    reward=win.reward,
                    origin=Voucher.Origin.CAMPAIGN,
                    reason=reason,
                    at=at,
                )
        except errors.LoyaltyError as err:
            # Never fail the purchase or sign-up for a prize that ran out: the hit is recorded
            # without a voucher and staff can give one by hand.
            log.warning("Instant win %s: no voucher for member %s: %s", win.pk, member.pk, err)
    if win.points:
        entry = points_credit(
            member=member,
            points=win.points,
            kind=EntryKind.BONUS,
            reason=reason,
            source_type=LedgerEntry.SourceType.CAMPAIGN,
            at=at,
        )
    event_record(
        type="instant_win.won",
        member=member,
        payload={
            "instant_win": win.pk,
            "number": number,
            "voucher": voucher.code if voucher else None,
            "points": win.points,
        },
        at=at,
    )
    hit = InstantWinHit.objects.create(
        instant_win=win,
        member_id=member.pk,
        sequence=number,
        voucher=voucher,
        entry=entry,
        created_at=at,
    )
    message_send(
        member=member,
        type_code="instant_win",
        context={
            "name": text_lazy(win, "name"),
            "number": number,
            "reward": win.reward.name if voucher else "",
            "voucher_code": voucher.code if voucher else "",
            "points": win.points,
        },
        dedupe_key=f"instant_win:{win.pk}:{number}",
        at=at,
    )
    return hit


# --------------------------------------------------------------------------------------------
# Hooks
# --------------------------------------------------------------------------------------------


def _on_purchase(*, member, at: datetime, **_kwargs) -> None:
    snap = games_snapshot()
    if snap.sweepstakes_at(at, Sweepstake.EntryRule.PER_VISIT):
        _count_visit(member=member, at=at)
    if snap.instant_wins_at(at, InstantWin.Trigger.PURCHASE):
        _instant_win_count(member=member, trigger=InstantWin.Trigger.PURCHASE, at=at)


def _on_visit(*, member, at: datetime, **_kwargs) -> None:
    if games_snapshot().sweepstakes_at(at, Sweepstake.EntryRule.PER_VISIT):
        _count_visit(member=member, at=at)


def _on_enrolled(*, member, at: datetime, **_kwargs) -> None:
    if games_snapshot().instant_wins_at(at, InstantWin.Trigger.SIGNUP):
        _instant_win_count(member=member, trigger=InstantWin.Trigger.SIGNUP, at=at)


def _on_points_earned(*, member_id: int, points: int, at: datetime, **_kwargs) -> None:
    if points and games_snapshot().sweepstakes_at(at, Sweepstake.EntryRule.PER_POINTS):
        _count_points(member_id=member_id, points=points, at=at)


def _on_points_earned_bulk(*, rows, **_kwargs) -> None:
    snap = games_snapshot()
    for member_id, points, at in rows:
        if points and snap.sweepstakes_at(at, Sweepstake.EntryRule.PER_POINTS):
            _count_points(member_id=member_id, points=points, at=at)


def _purchase_hooks_active(**_kwargs) -> bool:
    # Any such game not yet over counts: an offline upload may carry earlier times.
    snap = games_snapshot()
    rules = (Sweepstake.EntryRule.PER_VISIT, Sweepstake.EntryRule.PER_POINTS)
    return any(w.kind in rules for w in snap.sweepstakes) or any(
        w.kind == InstantWin.Trigger.PURCHASE for w in snap.instant_wins
    )


def connect() -> None:
    """Register the sweepstakes' and instant wins' hooks."""
    hooks.register("purchase_recorded", _on_purchase)
    hooks.register("visit_recorded", _on_visit)
    hooks.register("member_enrolled", _on_enrolled)
    hooks.register("points_earned", _on_points_earned)
    hooks.register("points_earned_bulk", _on_points_earned_bulk)
    hooks.register("purchase_hooks_active", _purchase_hooks_active)
