"""VIP status: separate from tiers; granted at a threshold, by a manager's invitation, or paid.

Rules (docs/tiers-vip-cards.md): a VIP period has a start and an end; periods of a member
never overlap — granting while a member is VIP renews, starting when the current period
ends. Automatic VIP is granted when the programme's threshold is reached and renewed at the
end of the period if the member still qualifies; otherwise it ends.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.db.models import DecimalField, F, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty import errors
from loyalty.models import Program, Purchase, VipMetric, Visit
from loyalty.selectors import program_get
from members.models import Member, VipMembership

MAX_MONTHS = 120


def vip_metric(*, member: Member, program: Program, as_of: datetime) -> Decimal:
    """Return the member's value for the automatic VIP rule."""
    purchases = Purchase.objects.filter(member_id=member.pk, occurred_at__lte=as_of)
    if program.vip_auto_metric in (VipMetric.WINDOW_SPEND, VipMetric.WINDOW_POINTS):
        start = timezone.localtime(as_of) - relativedelta(months=program.vip_window_months)
        purchases = purchases.filter(occurred_at__gte=start)
    if program.vip_auto_metric == VipMetric.WINDOW_POINTS:
        start = timezone.localtime(as_of) - relativedelta(months=program.vip_window_months)
        points = purchases.aggregate(v=Sum(F("points_awarded") - F("points_clawed_back")))["v"] or 0
        points += (
            Visit.objects.filter(
                member_id=member.pk, occurred_at__gte=start, occurred_at__lte=as_of
            ).aggregate(v=Sum("points_awarded"))["v"]
            or 0
        )
        return Decimal(points)
    zero = Value(Decimal("0"), output_field=DecimalField(max_digits=14, decimal_places=2))
    return purchases.aggregate(v=Coalesce(Sum(F("total") - F("refunded_amount")), zero))["v"]


def vip_grant(
    *,
    member: Member,
    source: str,
    months: Any = None,
    fee: Any = None,
    note: str = "",
    actor=None,
    at: datetime | None = None,
) -> VipMembership:
    """Grant or renew VIP status for ``months`` (default: the programme's VIP period).

    Invitations need a manager (``members.change_member``) and a note; paid memberships
    need the fee. A member who is VIP now gets the new period after the current one.
    """
    from loyalty.services import clean_amount, event_record, member_lock

    at = at or timezone.now()
    program = program_get()
    note = (note or "").strip()
    if source not in VipMembership.Source.values:
        raise errors.InvalidInput(_("Unknown way of granting VIP status."))
    if source == VipMembership.Source.INVITATION:
        if actor is not None and not actor.has_perm("members.change_member"):
            raise errors.NotPermitted()
        if not note:
            raise errors.ReasonRequired(field="note")
    if len(note) > 255:
        raise errors.InvalidInput(_("The note is too long (at most 255 characters)."), field="note")
    paid = None
    if source == VipMembership.Source.PAID:
        if fee in (None, ""):
            raise errors.InvalidAmount(_("Enter the fee paid."), field="fee")
        paid = clean_amount(fee, allow_zero=True)
    try:
        period = program.vip_period_months if months in (None, "") else int(months)
    except (TypeError, ValueError):
        raise errors.InvalidInput(
            _("Enter the period as a whole number of months."), field="months"
        ) from None
    if not 1 <= period <= MAX_MONTHS:
        raise errors.InvalidInput(
            _("The period must be between 1 and %(max)s months.") % {"max": MAX_MONTHS},
            field="months",
        )
    with transaction.atomic():
        locked = member_lock(member)
        if not locked.is_active:
            raise errors.MemberInactive()
        start = max(at, locked.vip_until) if locked.vip_until else at
        end = timezone.localtime(start) + relativedelta(months=period)
        membership = VipMembership.objects.create(
            member=locked,
            source=source,
            starts_at=start,
            ends_at=end,
            fee=paid,
            note=note,
            granted_by=actor if getattr(actor, "is_authenticated", False) else None,
            created_at=at,
        )
        Member.objects.filter(pk=locked.pk).update(vip_until=end)
        was_vip = locked.is_vip(at=at)
        locked.vip_until = member.vip_until = end
        event_record(
            type="vip.changed",
            member=locked,
            actor=actor,
            payload={
                "status": "renewed" if was_vip else "granted",
                "source": source,
                "starts_at": start.isoformat(),
                "ends_at": end.isoformat(),
                "fee": str(paid) if paid is not None else None,
            },
            at=at,
        )
    return membership


def vip_evaluate(
    *, member: Member, as_of: datetime | None = None, program: Program | None = None
) -> VipMembership | None:
    """Grant automatic VIP status when the member reaches the programme's threshold."""
    as_of = as_of or timezone.now()
    program = program or program_get()
    if program.vip_auto_metric == VipMetric.OFF or program.vip_auto_threshold <= 0:
        return None
    if member.is_vip(at=as_of):
        return None
    if vip_metric(member=member, program=program, as_of=as_of) < program.vip_auto_threshold:
        return None
    return vip_grant(member=member, source=VipMembership.Source.THRESHOLD, at=as_of)


def vip_memberships_end_due(
    *, as_of: datetime | None = None, chunk_size: int = 1000
) -> dict[str, int]:
    """Close VIP periods that have ended: renew automatic VIP that still qualifies, else end it.

    Each ended period is handled once (``ended_notified``); running it twice changes nothing.
    """
    from loyalty.models import Event
    from loyalty.services import events_record_bulk

    as_of = as_of or timezone.now()
    program = program_get()
    renewed = ended = 0
    while True:
        with transaction.atomic():
            due = list(
                VipMembership.objects.select_for_update(skip_locked=True)
                .filter(ended_notified=False, ends_at__lte=as_of)
                .select_related("member")
                .order_by("pk")[:chunk_size]
            )
            if not due:
                break
            events = []
            for membership in due:
                m = membership.member
                still_vip = m.vip_until is not None and m.vip_until > membership.ends_at
                if still_vip:
                    pass  # a later period already follows this one
                elif (
                    membership.source == VipMembership.Source.THRESHOLD
                    and m.is_active  # a closed membership is not renewed (vip_grant refuses it)
                    and program.vip_auto_metric != VipMetric.OFF
                    and program.vip_auto_threshold > 0  # 0 is off, as in vip_evaluate
                    and vip_metric(member=m, program=program, as_of=as_of)
                    >= program.vip_auto_threshold
                ):
                    vip_grant(
                        member=m, source=VipMembership.Source.THRESHOLD, at=membership.ends_at
                    )
                    renewed += 1
                else:
                    events.append(
                        Event(
                            type="vip.changed",
                            member_id=m.pk,
                            payload={"status": "ended", "ended_at": membership.ends_at.isoformat()},
                            created_at=as_of,
                        )
                    )
                    ended += 1
            VipMembership.objects.filter(pk__in=[d.pk for d in due]).update(ended_notified=True)
            events_record_bulk(events)
    return {"renewed": renewed, "ended": ended}
