"""Punch (stamp) cards: stamps from purchases, visits and staff; a full card issues a voucher.

Rules (docs/tiers-vip-cards.md):

* A member holds at most one collecting card per card type; the first stamp starts it (and
  its validity). When it is full, its reward is issued through ``voucher_issue`` and a new
  card starts at once; stamps beyond the full card carry over to the new card.
* Automatic stamps (purchases, visits) respect the card's daily limit quietly; a stamp by
  hand beyond the limit is refused. Stamps by hand need a reason.
* A refund takes back the stamps its purchase gave, in proportion to the refunded share.
  They come off the collecting card; if that is not enough because the purchase helped
  complete an earlier card whose voucher is still unused, that voucher is cancelled and
  the earlier card's remaining stamps move back to the collecting card. A voucher already
  used, or one that cannot be cancelled (store credit partly spent, a digital code shown),
  is not taken back (the missing stamps are forgiven).
* Expired cards are closed by ``punch_cards_expire_due`` (a scheduled job).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty import errors
from loyalty.engine import LineIn
from loyalty.models import Location, PunchCard, PunchCardType, Purchase, Stamp, Visit

if TYPE_CHECKING:
    from members.models import Member
    from rewards.models import Voucher

MAX_MANUAL_STAMPS = 50


@dataclass
class StampResult:
    """What stamping did: stamps given, the card now collecting, vouchers of completed cards."""

    given: int = 0
    card: PunchCard | None = None
    vouchers: list[Voucher] = field(default_factory=list)


def stamps_for_purchase(card_type: PunchCardType, *, total: Decimal, lines: list[LineIn]) -> int:
    """Return how many stamps a purchase earns on a card type (pure)."""
    kind = card_type.earn_on
    if kind in (PunchCardType.EarnOn.VISIT, PunchCardType.EarnOn.PURCHASE):
        return 1
    if kind == PunchCardType.EarnOn.SPEND:
        step = card_type.spend_step or Decimal("0")
        return int((total / step).to_integral_value(rounding=ROUND_FLOOR)) if step > 0 else 0
    matching = [
        line
        for line in lines
        if (card_type.sku and line.sku == card_type.sku)
        or (card_type.category and line.category == card_type.category)
    ]
    if not matching:
        return 0
    return sum(line.quantity for line in matching) if card_type.per_item else 1


def _types_at(location: Location | None) -> list[PunchCardType]:
    qs = (
        PunchCardType.objects.filter(is_active=True)
        .select_related("reward")
        .prefetch_related("locations")
    )
    return [
        t for t in qs if location is None or not t.locations.all() or location in t.locations.all()
    ]


def _stamped_today(member_id: int, card_type: PunchCardType, at: datetime) -> int:
    start = timezone.localtime(at).replace(hour=0, minute=0, second=0, microsecond=0)
    return (
        Stamp.objects.filter(
            card__member_id=member_id,
            card__card_type=card_type,
            created_at__gte=start,
            created_at__lte=at,
            count__gt=0,
        )
        # Stamps moved back by a refund that reopened a card were earned on other days.
        .exclude(source=Stamp.Source.REFUND)
        .aggregate(n=Sum("count"))["n"]
        or 0
    )


def _collecting_card(member_id: int, card_type: PunchCardType, at: datetime) -> PunchCard:
    card = PunchCard.objects.filter(
        member_id=member_id, card_type=card_type, status=PunchCard.Status.ACTIVE
    ).first()
    if card is not None and card.expires_at is not None and card.expires_at <= at:
        card.status = PunchCard.Status.EXPIRED
        card.save(update_fields=["status"])
        card = None
    if card is None:
        card = PunchCard.objects.create(member_id=member_id, card_type=card_type)
    return card


def _add(
    member: Member,
    card_type: PunchCardType,
    count: int,
    *,
    source: str,
    at: datetime,
    actor=None,
    reason: str = "",
    purchase: Purchase | None = None,
    visit: Visit | None = None,
) -> StampResult:
    from loyalty.services import event_record
    from rewards.models import Voucher
    from rewards.services import voucher_issue

    result = StampResult()
    card = _collecting_card(member.pk, card_type, at)
    left = count
    while left > 0:
        if card.started_at is None:
            card.started_at = at
            if card_type.validity_days:
                card.expires_at = at + timedelta(days=card_type.validity_days)
        take = min(card_type.stamps_needed - card.stamps, left)
        card.stamps += take
        left -= take
        result.given += take
        Stamp.objects.create(
            card=card,
            count=take,
            source=source,
            purchase=purchase,
            visit=visit,
            reason=reason,
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            created_at=at,
        )
        if card.stamps >= card_type.stamps_needed:
            voucher = voucher_issue(
                member=member,
                reward=card_type.reward,
                origin=Voucher.Origin.PUNCH_CARD,
                reason=_("Full card: %(card)s") % {"card": card_type.name},
                at=at,
            )
            card.status = PunchCard.Status.COMPLETED
            card.completed_at = at
            card.voucher = voucher
            card.save()
            result.vouchers.append(voucher)
            event_record(
                type="punchcard.completed",
                member=member,
                actor=actor,
                payload={"card": card.pk, "card_type": card_type.pk, "voucher": voucher.pk},
                at=at,
            )
            card = PunchCard.objects.create(member_id=member.pk, card_type=card_type)
        else:
            card.save()
    result.card = card
    return result


def punch_card_stamp(
    *,
    member: Member,
    card_type: PunchCardType,
    count: int = 1,
    source: str = Stamp.Source.MANUAL,
    reason: str = "",
    actor=None,
    card: PunchCard | None = None,
    at: datetime | None = None,
) -> StampResult:
    """Add stamps by hand (at the counter) to the member's card of ``card_type``.

    A reason is required; the card's daily limit applies. Naming an expired or finished
    ``card`` is refused: stamps go to the card that is collecting.
    """
    from loyalty.services import event_record, member_lock

    at = at or timezone.now()
    reason = (reason or "").strip()
    if source == Stamp.Source.MANUAL and not reason:
        raise errors.ReasonRequired(field="reason")
    if len(reason) > 255:
        raise errors.InvalidInput(
            _("The reason is too long (at most 255 characters)."), field="reason"
        )
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_MANUAL_STAMPS:
        raise errors.InvalidInput(
            _("Enter between 1 and %(max)s stamps.") % {"max": MAX_MANUAL_STAMPS}, field="count"
        )
    if not card_type.is_active:
        raise errors.InvalidInput(_("This card is not in use."))
    with transaction.atomic():
        locked = member_lock(member)
        if not locked.is_active:
            raise errors.MemberInactive()
        if card is not None:
            card = PunchCard.objects.get(pk=card.pk)
            if card.member_id != locked.pk or card.card_type_id != card_type.pk:
                raise errors.InvalidInput(_("This card belongs to another member or card type."))
            if card.status == PunchCard.Status.EXPIRED or (
                card.expires_at and card.expires_at <= at
            ):
                raise errors.Conflict(_("This card has expired; stamps go on a new card."))
            if card.status == PunchCard.Status.COMPLETED:
                raise errors.Conflict(_("This card is already full."))
        if card_type.max_stamps_per_day is not None:
            allowed = card_type.max_stamps_per_day - _stamped_today(locked.pk, card_type, at)
            if count > allowed:
                raise errors.Conflict(
                    _("At most %(max)s stamps a day on this card; %(left)s left today.")
                    % {"max": card_type.max_stamps_per_day, "left": max(allowed, 0)}
                )
        result = _add(locked, card_type, count, source=source, at=at, actor=actor, reason=reason)
        event_record(
            type="punchcard.stamped",
            member=locked,
            actor=actor,
            payload={"card_type": card_type.pk, "stamps": result.given, "reason": reason},
            at=at,
        )
    return result


def punch_cards_for_activity(
    *,
    member: Member,
    location: Location | None,
    at: datetime,
    purchase: Purchase | None = None,
    total: Decimal | None = None,
    lines: list[LineIn] | None = None,
    visit: Visit | None = None,
    actor=None,
) -> list[StampResult]:
    """Give the automatic stamps of a purchase or a visit (the caller holds the member lock)."""
    results = []
    for card_type in _types_at(location):
        if visit is not None:
            wanted = 1 if card_type.earn_on == PunchCardType.EarnOn.VISIT else 0
        else:
            wanted = stamps_for_purchase(card_type, total=total or Decimal("0"), lines=lines or [])
        if card_type.max_stamps_per_day is not None and wanted:
            wanted = min(
                wanted,
                max(card_type.max_stamps_per_day - _stamped_today(member.pk, card_type, at), 0),
            )
        if wanted > 0:
            try:
                with transaction.atomic():
                    results.append(
                        _add(
                            member,
                            card_type,
                            wanted,
                            source=Stamp.Source.VISIT
                            if visit is not None
                            else Stamp.Source.PURCHASE,
                            at=at,
                            actor=actor,
                            purchase=purchase,
                            visit=visit,
                        )
                    )
            except errors.RewardNotAvailable:
                # The card's reward cannot be issued now (out of stock, withdrawn): the purchase
                # or visit is still recorded; this card type gives no stamps for it.
                continue
    return results


def punch_cards_refund(
    *, purchase: Purchase, refunded_after: Decimal, at: datetime, actor=None
) -> int:
    """Take back the stamps of a refunded purchase, in proportion (caller holds the lock)."""
    from rewards.services import voucher_cancel

    removed_total = 0
    given = (
        Stamp.objects.filter(purchase=purchase)
        .values("card__card_type_id")
        .annotate(
            given=Sum("count", filter=Q(count__gt=0)), taken=Sum("count", filter=Q(count__lt=0))
        )
        .order_by()
    )
    for row in given:
        earned = row["given"] or 0
        if refunded_after >= purchase.total:
            target = earned
        else:
            target = int(
                (Decimal(earned) * refunded_after / purchase.total).to_integral_value(
                    rounding=ROUND_FLOOR
                )
            )
        remove = target + (row["taken"] or 0)  # "taken" is negative
        if remove <= 0:
            continue
        card_type = PunchCardType.objects.get(pk=row["card__card_type_id"])
        card = _collecting_card(purchase.member_id, card_type, at)
        note = _("Refund of receipt %(receipt)s") % {
            "receipt": purchase.external_id or f"#{purchase.pk}"
        }
        if remove > card.stamps:
            completed = (
                PunchCard.objects.filter(
                    member_id=purchase.member_id,
                    card_type=card_type,
                    status=PunchCard.Status.COMPLETED,
                )
                .select_related("voucher")
                .order_by("-completed_at", "-pk")
                .first()
            )
            reopen = False
            if completed and completed.voucher and completed.voucher.is_usable(at=at):
                try:
                    voucher_cancel(
                        voucher=completed.voucher,
                        actor=actor,
                        reason=_("Purchase refunded: the card is no longer full"),
                        at=at,
                    )
                    reopen = True
                except errors.VoucherAlreadyUsed:
                    # Part of a store credit spent, or a digital code already shown: the
                    # reward counts as used, so its stamps are forgiven as for a used one.
                    pass
            if reopen:
                completed.status = PunchCard.Status.EXPIRED
                completed.save(update_fields=["status"])
                # The earlier card's stamps move back onto the collecting card.
                _log(
                    card,
                    completed.stamps,
                    reason=_("Stamps of a card reopened by a refund"),
                    at=at,
                    actor=actor,
                )
                card.stamps += completed.stamps
                card.started_at = completed.started_at or card.started_at
        taken = min(card.stamps, remove)  # beyond this, a used reward's stamps are forgiven
        card.stamps -= taken
        card.save()
        if taken:
            _log(card, -taken, reason=note, at=at, actor=actor, purchase=purchase)
        removed_total += taken
    return removed_total


def _log(
    card: PunchCard, count: int, *, reason: str, at: datetime, actor=None, purchase=None
) -> None:
    Stamp.objects.create(
        card=card,
        count=count,
        source=Stamp.Source.REFUND,
        purchase=purchase,
        reason=reason,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        created_at=at,
    )


def punch_cards_expire_due(*, as_of: datetime | None = None) -> int:
    """Close collecting cards whose validity has ended; return how many. Safe to re-run."""
    as_of = as_of or timezone.now()
    return PunchCard.objects.filter(status=PunchCard.Status.ACTIVE, expires_at__lte=as_of).update(
        status=PunchCard.Status.EXPIRED
    )


def member_punch_cards(*, member: Member) -> list[PunchCard]:
    """Return the member's collecting cards (with their type), one per active card type."""
    return list(
        PunchCard.objects.filter(
            member=member, status=PunchCard.Status.ACTIVE, card_type__is_active=True
        )
        .select_related("card_type")
        .order_by("card_type__name")
    )
