"""Services of the rewards catalogue: redeem, issue, use and cancel vouchers, pay with points.

Lock order, everywhere: the member row first; then reward rows — the redeemed reward, and
for a mystery gift its prizes after it in primary-key order; voucher rows are locked only
while their member's row is held (``voucher_use`` and ``voucher_cancel`` lock the voucher
before touching its rewards), so two writers never wait on each other's voucher. Points move
only through the ledger services of ``loyalty.services``.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty import errors
from loyalty.formatting import money
from loyalty.models import EntryKind, LedgerEntry, Location
from loyalty.selectors import program_get
from loyalty.services import (
    clean_amount,
    clean_points,
    event_record,
    events_record_bulk,
    member_lock,
    points_debit,
    points_reverse_debit,
)
from rewards import eligibility
from rewards.codes import voucher_code_generate
from rewards.models import (
    DigitalCode,
    MysteryPoolEntry,
    Partner,
    PointsPayment,
    Reward,
    Voucher,
    VoucherUse,
)
from rewards.selectors import redemptions_in_period, voucher_check_usable, voucher_find

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from members.models import Member


def _actor(actor):
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def _clean_key(key: str | None) -> str | None:
    key = (key or "").strip() or None
    if key is not None and len(key) > 64:
        raise errors.InvalidInput(_("The idempotency key is too long (at most 64 characters)."))
    return key


def _raise_for(check, reason: str, ctx: eligibility.Context) -> None:
    if check is eligibility.check_stock:
        raise errors.OutOfStock()
    if check is eligibility.check_member_limit:
        raise errors.RedemptionLimitReached(reason)
    if check is eligibility.check_points:
        needed = max(ctx.reward.points_cost or 0, ctx.min_redemption_points)
        raise errors.InsufficientPoints(available=ctx.balance, requested=needed)
    raise errors.RewardNotAvailable(reasons=reason)


def _expiry(reward: Reward, at: datetime) -> datetime | None:
    return at + timedelta(days=reward.voucher_valid_days) if reward.voucher_valid_days else None


def _new_voucher(**fields: Any) -> Voucher:
    # Codes are random; a collision with an existing code is astronomically rare but the
    # unique index would catch it, so try again with a fresh code.
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return Voucher.objects.create(code=voucher_code_generate(), **fields)
        except IntegrityError:
            if (
                Voucher.objects.filter(
                    member=fields["member"], idempotency_key=fields.get("idempotency_key")
                )
                .exclude(idempotency_key=None)
                .exists()
            ):
                raise
    raise errors.Conflict(_("Could not create a voucher code, please try again."))


def _take_stock(reward: Reward) -> None:
    if reward.stock is not None:
        if reward.stock <= 0:
            raise errors.OutOfStock()
        Reward.objects.filter(pk=reward.pk).update(stock=F("stock") - 1)
        reward.stock -= 1


def _mystery_draw(mystery: Reward) -> tuple[Reward, dict[str, Any]]:
    """Draw the prize of a mystery gift among the pool's rewards in stock, by weight.

    The seed and the pool are recorded on the voucher, so the draw can be checked later.
    """
    entries = list(
        MysteryPoolEntry.objects.filter(mystery=mystery, reward__is_active=True).order_by(
            "reward_id"
        )
    )
    prizes = {
        r.pk: r
        for r in Reward.objects.select_for_update()
        .filter(pk__in=[e.reward_id for e in entries])
        .order_by("pk")
    }
    pool = [
        (e.reward_id, e.weight)
        for e in entries
        if prizes[e.reward_id].stock is None or prizes[e.reward_id].stock > 0
    ]
    if not pool:
        raise errors.OutOfStock()
    seed = secrets.randbits(64)
    picked = random.Random(seed).choices(
        [pk for pk, _w in pool], weights=[w for _pk, w in pool], k=1
    )[0]
    return prizes[picked], {"seed": seed, "pool": [[pk, w] for pk, w in pool], "picked": picked}


def _deliver(voucher: Voucher, reward: Reward, at: datetime) -> None:
    """Do what the reward's kind needs at issue time."""
    if reward.kind == Reward.Kind.DIGITAL and reward.digital_codes.exists():
        code = (
            DigitalCode.objects.select_for_update(skip_locked=True)
            .filter(reward=reward, voucher__isnull=True)
            .order_by("pk")
            .first()
        )
        if code is None:
            raise errors.OutOfStock()
        code.voucher = voucher
        code.save(update_fields=["voucher"])
    if reward.kind == Reward.Kind.DONATION:
        # A donation is complete the moment it is made: nothing to show at a till.
        voucher.status = Voucher.Status.USED
        voucher.used_at = at
        voucher.save(update_fields=["status", "used_at"])
        VoucherUse.objects.create(voucher=voucher, amount=voucher.value, used_at=at)


def _issue(
    locked: Member,
    current: Reward,
    *,
    origin: str,
    at: datetime,
    actor,
    expires_at: datetime | None = None,
    **fields: Any,
) -> Voucher:
    """Draw the prize (mystery gifts), take stock, create and deliver the voucher, record it.

    The caller holds the member and reward locks and has checked eligibility (and spent the
    points, passing the ledger entry in ``fields``).
    """
    delivered, draw = (current, {})
    if current.kind == Reward.Kind.MYSTERY:
        delivered, draw = _mystery_draw(current)
    _take_stock(current)
    if delivered.pk != current.pk:
        _take_stock(delivered)
    voucher = _new_voucher(
        member=locked,
        reward=delivered,
        redeemed_reward=current if delivered.pk != current.pk else None,
        origin=origin,
        value=delivered.value,
        remaining_value=delivered.value if delivered.kind == Reward.Kind.STORE_CREDIT else None,
        issued_at=at,
        expires_at=expires_at or _expiry(delivered, at),
        issued_by=_actor(actor),
        draw=draw,
        **fields,
    )
    _deliver(voucher, delivered, at)
    event_record(
        type="voucher.issued",
        member=locked,
        actor=actor,
        payload={
            "voucher": voucher.pk,
            "code": voucher.code,
            "reward": delivered.pk,
            "redeemed": current.pk,
            "points": voucher.points_spent,
            "origin": origin,
            "reason": voucher.reason,
        },
        at=at,
    )
    return voucher


def reward_redeem(
    *,
    member: Member,
    reward: Reward,
    idempotency_key: str | None = None,
    actor: AbstractBaseUser | None = None,
    at: datetime | None = None,
) -> Voucher:
    """Spend the member's points on a catalogue reward and return the voucher.

    One transaction: the eligibility checks (window, season, stock, per-member limit, points
    and the checks other apps register) run inside the member and reward locks, then the
    points are debited through the ledger and the voucher issued. A retry with the same
    ``idempotency_key`` returns the first voucher and spends nothing more.
    """
    key = _clean_key(idempotency_key)
    at = at or timezone.now()
    with transaction.atomic():
        locked = member_lock(member)
        if key is not None:
            existing = Voucher.objects.filter(member_id=locked.pk, idempotency_key=key).first()
            if existing is not None:
                if (existing.redeemed_reward_id or existing.reward_id) != reward.pk:
                    raise errors.Conflict(_("This idempotency key was used for another reward."))
                return existing
        if not locked.is_active:
            raise errors.MemberInactive()
        current = Reward.objects.select_for_update().filter(pk=reward.pk).first()
        if current is None:
            raise errors.RewardNotFound()
        program = program_get()
        ctx = eligibility.Context(
            member=locked,
            reward=current,
            as_of=at,
            balance=locked.balance,
            min_redemption_points=program.min_redemption_points,
            redeemed_in_period=redemptions_in_period(member=locked, rewards=[current], as_of=at),
        )
        for check in eligibility.CHECKS:
            reason = check(ctx)
            if reason:
                _raise_for(check, reason, ctx)

        cost = current.points_cost or 0
        entry = None
        if cost:
            entry = points_debit(
                member=locked,
                points=cost,
                kind=EntryKind.REDEEM,
                reason=_("Redeemed: %(reward)s") % {"reward": current.name},
                source_type=LedgerEntry.SourceType.VOUCHER,
                at=at,
                actor=actor,
            )
        voucher = _issue(
            locked,
            current,
            origin=Voucher.Origin.REDEEMED,
            at=at,
            actor=actor,
            points_spent=cost,
            ledger_entry=entry,
            idempotency_key=key,
        )
        member.balance = locked.balance
    return voucher


def voucher_issue(
    *,
    member: Member,
    reward: Reward,
    origin: str,
    actor: AbstractBaseUser | None = None,
    reason: str = "",
    at: datetime | None = None,
    expires_at: datetime | None = None,
) -> Voucher:
    """Give a member a voucher without spending points (punch card, campaign, staff goodwill).

    Staff goodwill needs a reason. Stock still counts: the last unit cannot be given twice.
    """
    reason = (reason or "").strip()
    if origin == Voucher.Origin.STAFF and not reason:
        raise errors.ReasonRequired(field="reason")
    if len(reason) > 255:
        raise errors.InvalidInput(_("The reason is too long (at most 255 characters)."))
    if origin not in Voucher.Origin.values or origin == Voucher.Origin.REDEEMED:
        raise errors.InvalidInput(_("Unknown voucher origin."))
    at = at or timezone.now()
    with transaction.atomic():
        locked = member_lock(member)
        if not locked.is_active:
            raise errors.MemberInactive()
        current = Reward.objects.select_for_update().filter(pk=reward.pk).first()
        if current is None or not current.is_active:
            raise errors.RewardNotAvailable(reasons=_("Not available"))
        voucher = _issue(
            locked, current, origin=origin, at=at, actor=actor, reason=reason, expires_at=expires_at
        )
    return voucher


def voucher_use(
    *,
    code: str,
    location: Location | None = None,
    partner: Partner | None = None,
    amount: Any = None,
    actor: AbstractBaseUser | None = None,
    at: datetime | None = None,
    idempotency_key: str | None = None,
    expected_remaining: Decimal | None = None,
) -> Voucher:
    """Use a voucher at a location or by a partner; store credit may be drawn down in parts.

    The member row, then the voucher row are locked, so two tills using one voucher at once:
    one succeeds, the other is told it is already used. A partner can use only its own vouchers. With an
    ``idempotency_key``, a repeated call (a double submit of a store-credit draw-down) takes
    nothing more and returns the voucher as it is. With ``expected_remaining`` (the value
    a confirmation page showed), a voucher drawn down meanwhile is refused, not drawn again.
    """
    key = _clean_key(idempotency_key)
    at = at or timezone.now()
    found = voucher_find(code=code)
    with transaction.atomic():
        # The member row first, as everywhere: the voucher.used event references the member,
        # and a cancel holding the member's lock while waiting for this voucher would deadlock.
        member_lock(found.member)
        voucher = (
            Voucher.objects.select_for_update(of=("self",))
            .select_related("reward", "reward__partner")
            .get(pk=found.pk)
        )
        if (
            key is not None
            and VoucherUse.objects.filter(voucher=voucher, idempotency_key=key).exists()
        ):
            return voucher
        voucher_check_usable(voucher, location=location, partner=partner, as_of=at)
        if (
            expected_remaining is not None
            and voucher.remaining_value is not None
            and voucher.remaining_value != expected_remaining
        ):
            raise errors.Conflict(
                _("This voucher was used since it was checked. Check it again."), field="code"
            )
        if voucher.remaining_value is not None:
            value = voucher.remaining_value if amount in (None, "") else clean_amount(amount)
            if value > voucher.remaining_value:
                raise errors.AmountAboveRemaining(
                    remaining=money(voucher.remaining_value, program_get().currency)
                )
            if value <= 0:
                raise errors.InvalidAmount()
            voucher.remaining_value -= value
            done = voucher.remaining_value == 0
        else:
            if amount not in (None, ""):
                raise errors.InvalidInput(
                    _("Only store credit can be used in parts."), field="amount"
                )
            value = voucher.value
            done = True
        fields = ["remaining_value"]
        if done:
            voucher.status = Voucher.Status.USED
            voucher.used_at = at
            voucher.used_location = location
            voucher.used_partner = partner or (
                location.partner if location and location.partner_id else None
            )
            voucher.used_by = _actor(actor)
            fields += ["status", "used_at", "used_location", "used_partner", "used_by"]
        voucher.save(update_fields=fields)
        VoucherUse.objects.create(
            voucher=voucher,
            amount=value,
            location=location,
            partner=partner or (location.partner if location and location.partner_id else None),
            used_by=_actor(actor),
            used_at=at,
            idempotency_key=key,
        )
        event_record(
            type="voucher.used",
            member=voucher.member,
            actor=actor,
            payload={
                "voucher": voucher.pk,
                "code": voucher.code,
                "amount": str(value),
                "remaining": str(voucher.remaining_value)
                if voucher.remaining_value is not None
                else None,
                "location": location.code if location else None,
                "partner": partner.pk if partner else None,
            },
            at=at,
        )
    return voucher


def voucher_cancel(
    *,
    voucher: Voucher,
    actor: AbstractBaseUser | None,
    reason: str,
    at: datetime | None = None,
) -> Voucher:
    """Cancel an unused voucher, give back the points it cost and return its stock unit.

    Used, cancelled and expired vouchers cannot be cancelled; expired vouchers keep their
    points spent (docs/rewards.md).
    """
    reason = (reason or "").strip()
    if not reason:
        raise errors.ReasonRequired(field="reason")
    if len(reason) > 255:
        raise errors.InvalidInput(_("The reason is too long (at most 255 characters)."))
    at = at or timezone.now()
    with transaction.atomic():
        member_lock(voucher.member)
        current = (
            Voucher.objects.select_for_update(of=("self",))
            .select_related("reward", "redeemed_reward")
            .get(pk=voucher.pk)
        )
        if current.status == Voucher.Status.USED:
            raise errors.VoucherAlreadyUsed()
        if current.status == Voucher.Status.CANCELLED:
            raise errors.VoucherCancelled()
        if current.status == Voucher.Status.EXPIRED or (
            current.expires_at and current.expires_at <= at
        ):
            raise errors.VoucherExpired()
        if current.remaining_value is not None and current.remaining_value != current.value:
            raise errors.VoucherAlreadyUsed(
                _("Part of this store credit has been used; it cannot be cancelled.")
            )
        if DigitalCode.objects.filter(voucher=current).exists():
            # The member has seen the code: it cannot be taken back or given to someone else.
            raise errors.VoucherAlreadyUsed(
                _("The digital code of this voucher has been revealed; it cannot be cancelled.")
            )
        # Stock goes back in the order redeeming took it: a mystery gift before its prize.
        for reward in (current.redeemed_reward, current.reward):
            if reward is not None and reward.stock is not None:
                Reward.objects.filter(pk=reward.pk).update(stock=F("stock") + 1)
        current.status = Voucher.Status.CANCELLED
        current.cancelled_at = at
        current.cancelled_by = _actor(actor)
        current.cancel_reason = reason
        current.save(update_fields=["status", "cancelled_at", "cancelled_by", "cancel_reason"])
        if current.ledger_entry_id:
            points_reverse_debit(
                entry=current.ledger_entry,
                reason=_("Voucher %(code)s cancelled: %(reason)s")
                % {"code": current.formatted_code, "reason": reason},
                actor=actor,
                at=at,
            )
        event_record(
            type="voucher.cancelled",
            member=current.member,
            actor=actor,
            payload={
                "voucher": current.pk,
                "code": current.code,
                "points_refunded": current.points_spent,
                "reason": reason,
            },
            at=at,
        )
        voucher.status = current.status
    return current


def vouchers_expire_due(*, as_of: datetime | None = None, chunk_size: int = 5000) -> int:
    """Mark issued vouchers past their expiry as expired; return how many. Safe to re-run."""
    as_of = as_of or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            rows = list(
                Voucher.objects.select_for_update(skip_locked=True)
                .filter(status=Voucher.Status.ISSUED, expires_at__lte=as_of)
                .order_by("pk")
                .values_list("pk", "member_id", "code")[:chunk_size]
            )
            if not rows:
                break
            Voucher.objects.filter(
                pk__in=[pk for pk, _m, _c in rows], status=Voucher.Status.ISSUED
            ).update(status=Voucher.Status.EXPIRED)
            from loyalty.models import Event

            events_record_bulk(
                [
                    Event(
                        type="voucher.expired",
                        member_id=member_id,
                        payload={"voucher": pk, "code": code},
                        created_at=as_of,
                    )
                    for pk, member_id, code in rows
                ]
            )
            total += len(rows)
    return total


@dataclass(frozen=True)
class PayQuote:
    """How paying with points works out for a purchase amount."""

    points: int
    discount: Decimal
    max_points: int
    point_value: Decimal


def _point_value() -> Decimal:
    value = program_get().point_value
    if value <= 0:
        raise errors.PayWithPointsDisabled()
    return value


def points_pay_quote(*, member: Member, amount: Any, points: Any = None) -> PayQuote:
    """Return how many points can pay for ``amount`` and the discount they give. No writes.

    Without ``points``, the quote uses as many points as the balance and the amount allow.
    A discount is never more than the amount; points are never split into fractions of cents.
    """
    value = _point_value()
    total = clean_amount(amount, maximum=program_get().max_purchase_amount)
    max_for_amount = int((total / value).to_integral_value(rounding=ROUND_FLOOR))
    max_points = min(member.balance, max_for_amount)
    wanted = max_points if points in (None, "") else clean_points(points)
    if wanted > member.balance:
        raise errors.InsufficientPoints(available=member.balance, requested=wanted)
    if wanted > max_for_amount:
        raise errors.InvalidPoints(
            _("At most %(points)s points can pay for %(amount)s.")
            % {"points": max_for_amount, "amount": money(total, program_get().currency)}
        )
    discount = (Decimal(wanted) * value).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
    return PayQuote(points=wanted, discount=discount, max_points=max_points, point_value=value)


def points_pay(
    *,
    member: Member,
    location: Location,
    amount: Any,
    points: Any,
    external_id: str | None = None,
    actor: AbstractBaseUser | None = None,
    at: datetime | None = None,
) -> PointsPayment:
    """Turn points into a discount on a purchase, through the ledger.

    Idempotent on (location, receipt number): paying for the same receipt again returns the
    first payment.
    """
    external_id = (external_id or "").strip() or None
    if external_id and len(external_id) > 64:
        raise errors.InvalidInput(_("The receipt number is too long (at most 64 characters)."))
    at = at or timezone.now()
    with transaction.atomic():
        locked = member_lock(member)
        if external_id:
            existing = PointsPayment.objects.filter(
                location=location, external_id=external_id
            ).first()
            if existing is not None:
                same = existing.member_id == locked.pk and (
                    points in (None, "") or str(existing.points) == str(points).strip()
                )
                if not same:
                    raise errors.PurchaseConflict(external_id=external_id)
                return existing
        if not locked.is_active:
            raise errors.MemberInactive()
        quote = points_pay_quote(member=locked, amount=amount, points=points)
        if quote.points <= 0:
            raise errors.InsufficientPoints(available=locked.balance, requested=1)
        entry = points_debit(
            member=locked,
            points=quote.points,
            kind=EntryKind.SPEND,
            reason=_("Paid %(amount)s with points at %(location)s")
            % {"amount": money(quote.discount, program_get().currency), "location": location.name},
            source_type=LedgerEntry.SourceType.PURCHASE,
            at=at,
            actor=actor,
        )
        payment = PointsPayment.objects.create(
            member=locked,
            location=location,
            points=quote.points,
            amount=quote.discount,
            external_id=external_id,
            ledger_entry=entry,
            actor=_actor(actor),
            created_at=at,
        )
        member.balance = locked.balance
    return payment
