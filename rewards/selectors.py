"""Reads of the rewards catalogue, vouchers and partner settlement."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from loyalty import errors
from loyalty.models import EntryKind, Location, LotAllocation
from loyalty.selectors import program_get
from rewards import eligibility
from rewards.codes import voucher_code_is_wellformed, voucher_code_normalize
from rewards.models import Partner, Reward, Voucher, VoucherUse


@dataclass(frozen=True)
class RewardOption:
    """A catalogue reward as one member sees it: redeemable now, or the reasons why not."""

    reward: Reward
    reasons: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        return not self.reasons


def catalogue(*, include_inactive: bool = False) -> QuerySet[Reward]:
    """Return the rewards sold for points, in display order."""
    qs = Reward.objects.filter(points_cost__isnull=False).select_related("partner", "min_tier")
    if not include_inactive:
        qs = qs.filter(is_active=True)
    return qs.order_by("display_order", "points_cost", "pk")


def redemptions_in_period(*, member, rewards: list[Reward], as_of: datetime) -> dict[int, int]:
    """Return, per limited reward, how many times the member redeemed it in its limit period."""
    limited = [r for r in rewards if r.limit_per_member is not None]
    if not limited:
        return {}
    starts = {r.pk: eligibility.period_start(r.limit_period, as_of) for r in limited}
    # A mystery redemption counts against the mystery reward, not against the prize drawn.
    rows = (
        Voucher.objects.filter(member=member, origin=Voucher.Origin.REDEEMED)
        .filter(
            Q(reward_id__in=starts, redeemed_reward__isnull=True) | Q(redeemed_reward_id__in=starts)
        )
        .exclude(status=Voucher.Status.CANCELLED)
        .values_list("reward_id", "redeemed_reward_id", "issued_at")
    )
    counts: Counter[int] = Counter()
    for reward_id, mystery_id, issued_at in rows:
        counted = mystery_id or reward_id
        start = starts[counted]
        if start is None or issued_at >= start:
            counts[counted] += 1
    return dict(counts)


def _pool_empty():
    """Return whether a reward's own pool is used up: codes left, mystery prizes in stock."""
    from django.db.models import BooleanField, Case, Exists, OuterRef, Value, When

    from rewards.models import DigitalCode, MysteryPoolEntry

    codes = DigitalCode.objects.filter(reward=OuterRef("pk"))
    prizes = MysteryPoolEntry.objects.filter(mystery=OuterRef("pk"), reward__is_active=True).filter(
        Q(reward__stock__isnull=True) | Q(reward__stock__gt=0)
    )
    return Case(
        When(
            Q(kind=Reward.Kind.DIGITAL)
            & Exists(codes)
            & ~Exists(codes.filter(voucher__isnull=True)),
            then=Value(True),
        ),
        When(Q(kind=Reward.Kind.MYSTERY) & ~Exists(prizes), then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )


def rewards_available_for(*, member, as_of: datetime | None = None) -> list[RewardOption]:
    """Return the catalogue for a member: what they can redeem now and, for the rest, why not.

    Two queries whatever the catalogue's size: the rewards, and the member's redemptions of
    rewards that have a per-member limit.
    """
    as_of = as_of or timezone.now()
    program = program_get()
    rewards = list(catalogue().annotate(pool_empty=_pool_empty()))
    counts = redemptions_in_period(member=member, rewards=rewards, as_of=as_of)
    return [
        RewardOption(
            reward=reward,
            reasons=tuple(
                eligibility.reasons_why_not(
                    eligibility.Context(
                        member=member,
                        reward=reward,
                        as_of=as_of,
                        balance=member.balance,
                        min_redemption_points=program.min_redemption_points,
                        redeemed_in_period=counts,
                    )
                )
            ),
        )
        for reward in rewards
    ]


def member_vouchers(*, member, status: str | None = None) -> QuerySet[Voucher]:
    """Return the member's vouchers, newest first (optionally of one status)."""
    qs = Voucher.objects.filter(member=member).select_related("reward", "reward__partner")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-issued_at", "-pk")


def member_benefit_codes(*, member, as_of: datetime | None = None) -> set[str]:
    """Return the benefit codes of the member's valid perk vouchers (for staff and web shops)."""
    as_of = as_of or timezone.now()
    return set(
        Voucher.objects.filter(
            member=member,
            status=Voucher.Status.ISSUED,
            reward__kind=Reward.Kind.PERK,
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=as_of))
        .exclude(reward__benefit_code="")
        .values_list("reward__benefit_code", flat=True)
    )


def voucher_find(*, code: str) -> Voucher:
    """Return the voucher with this code (typed with or without dash, any case, or scanned)."""
    normalized = voucher_code_normalize(code)
    if not voucher_code_is_wellformed(normalized):
        raise errors.VoucherNotFound()
    voucher = (
        Voucher.objects.select_related("reward", "reward__partner", "member", "used_location")
        .filter(code=normalized)
        .first()
    )
    if voucher is None:
        raise errors.VoucherNotFound()
    return voucher


def voucher_check_usable(
    voucher: Voucher,
    *,
    location: Location | None = None,
    partner: Partner | None = None,
    as_of: datetime | None = None,
) -> None:
    """Raise the error that stops this voucher from being used here and now, if any.

    A partner's voucher is usable only by that partner (its staff, or one of its
    locations); a partner can never use another partner's or the programme's vouchers.
    """
    as_of = as_of or timezone.now()
    reward_partner = voucher.reward.partner_id
    acting_partner = partner.pk if partner else (location.partner_id if location else None)
    if acting_partner is not None and acting_partner != reward_partner:
        # Said the same way as an unknown code: a partner learns nothing of others' vouchers.
        raise errors.VoucherNotFound()
    if reward_partner is not None and acting_partner != reward_partner:
        raise errors.VoucherNotValidHere()
    if voucher.status == Voucher.Status.USED:
        raise errors.VoucherAlreadyUsed()
    if voucher.status == Voucher.Status.CANCELLED:
        raise errors.VoucherCancelled()
    if voucher.status == Voucher.Status.EXPIRED or (
        voucher.expires_at and voucher.expires_at <= as_of
    ):
        raise errors.VoucherExpired()
    if location is not None and partner is None:
        allowed = {loc.pk for loc in voucher.reward.locations.all()}
        if allowed and location.pk not in allowed:
            raise errors.VoucherNotValidHere()


def voucher_validate(
    *,
    code: str,
    location: Location | None = None,
    partner: Partner | None = None,
    as_of: datetime | None = None,
) -> Voucher:
    """Return the voucher if it can be used here and now, else raise why not. Writes nothing."""
    voucher = voucher_find(code=code)
    voucher_check_usable(voucher, location=location, partner=partner, as_of=as_of)
    return voucher


def partner_vouchers_used(*, partner: Partner) -> QuerySet[VoucherUse]:
    """Return the uses of this partner's vouchers, newest first (for the partner page)."""
    return (
        VoucherUse.objects.filter(voucher__reward__partner=partner)
        .select_related("voucher", "voucher__reward", "voucher__member", "used_by")
        .order_by("-used_at", "-pk")
    )


@dataclass(frozen=True)
class Settlement:
    """What the programme and a partner owe each other for a period [start, end)."""

    partner: Partner
    start: datetime
    end: datetime
    vouchers_used: int
    voucher_value: Decimal
    owed_to_partner: Decimal
    points_funded_spent: int
    point_value: Decimal
    owed_by_partner: Decimal
    lines: list[dict] = field(default_factory=list)

    @property
    def net_to_partner(self) -> Decimal:
        """Positive: the programme pays the partner; negative: the partner pays."""
        return self.owed_to_partner - self.owed_by_partner


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def partner_settlement(*, partner: Partner, start: datetime, end: datetime) -> Settlement:
    """Return the settlement of a partner for [start, end).

    * The programme owes the partner for each use of the partner's vouchers in the period:
      the fixed amount per use, or the agreed share of the value used.
    * The partner owes the programme the value (programme's point value) of the points it
      funded (earned at its locations) that members spent in the period on anything other
      than the partner's own rewards. Redemptions cancelled later do not count.
    """
    uses = VoucherUse.objects.filter(
        voucher__reward__partner=partner, used_at__gte=start, used_at__lt=end
    )
    agg = uses.aggregate(n=Count("voucher_id", distinct=True), value=Sum("amount"))
    used = agg["n"] or 0
    value = _cents(agg["value"] or Decimal("0"))
    if partner.settlement == Partner.Settlement.FIXED:
        # Per redemption: a store-credit voucher used in several parts is paid once.
        owed_to = _cents(partner.settlement_fixed * used)
    else:
        owed_to = _cents(value * partner.settlement_share / Decimal(100))
    spent = (
        LotAllocation.objects.filter(
            lot__funded_by=partner,
            entry__kind__in=[EntryKind.REDEEM, EntryKind.SPEND],
            entry__created_at__gte=start,
            entry__created_at__lt=end,
        )
        .exclude(entry__voucher__reward__partner=partner)
        .exclude(entry__voucher__status=Voucher.Status.CANCELLED)
        .aggregate(points=Sum("points"))["points"]
        or 0
    )
    point_value = program_get().point_value
    lines = [
        {
            "used_at": u.used_at,
            "code": u.voucher.formatted_code,
            "reward": str(u.voucher.reward),
            "amount": u.amount,
        }
        for u in uses.select_related("voucher", "voucher__reward").order_by("used_at", "pk")
    ]
    return Settlement(
        partner=partner,
        start=start,
        end=end,
        vouchers_used=used,
        voucher_value=value,
        owed_to_partner=owed_to,
        points_funded_spent=spent,
        point_value=point_value,
        owed_by_partner=_cents(Decimal(spent) * point_value),
        lines=lines,
    )


def settlement_csv(settlements: list[Settlement]) -> str:
    """Return settlements as CSV: one summary row per partner, then its voucher uses."""
    from django.utils.translation import gettext as _

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            _("Partner"),
            _("From"),
            _("Until"),
            _("Vouchers used"),
            _("Value used"),
            _("Owed to partner"),
            _("Partner-funded points spent"),
            _("Owed by partner"),
            _("Net to partner"),
        ]
    )
    for s in settlements:
        writer.writerow(
            [
                s.partner.name,
                s.start.date().isoformat(),
                s.end.date().isoformat(),
                s.vouchers_used,
                s.voucher_value,
                s.owed_to_partner,
                s.points_funded_spent,
                s.owed_by_partner,
                s.net_to_partner,
            ]
        )
    writer.writerow([])
    writer.writerow([_("Partner"), _("Used"), _("Voucher"), _("Reward"), _("Amount")])
    for s in settlements:
        for line in s.lines:
            writer.writerow(
                [
                    s.partner.name,
                    timezone.localtime(line["used_at"]).isoformat(timespec="minutes"),
                    line["code"],
                    line["reward"],
                    line["amount"],
                ]
            )
    return out.getvalue()


def donations_by_cause(*, start: datetime | None = None, end: datetime | None = None) -> list[dict]:
    """Return donations per cause: how many, points and value."""
    qs = Voucher.objects.filter(reward__kind=Reward.Kind.DONATION, status=Voucher.Status.USED)
    if start:
        qs = qs.filter(used_at__gte=start)
    if end:
        qs = qs.filter(used_at__lt=end)
    return list(
        qs.values("reward__cause")
        .annotate(count=Count("pk"), points=Sum("points_spent"), value=Sum("value"))
        .order_by("reward__cause")
    )


def member_vouchers_usable(*, member, as_of: datetime | None = None) -> QuerySet[Voucher]:
    """Return the member's vouchers that can still be used, the soonest to expire first."""
    as_of = as_of or timezone.now()
    return (
        Voucher.objects.filter(member=member, status=Voucher.Status.ISSUED)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=as_of))
        .select_related("reward")
        .order_by(F("expires_at").asc(nulls_last=True), "-pk")
    )


def partners_for_staff(*, user) -> QuerySet[Partner]:
    """Return the active partners whose staff the user is (for the partner page)."""
    if not getattr(user, "is_authenticated", False):
        return Partner.objects.none()
    return Partner.objects.filter(is_active=True, staff=user).order_by("name", "pk")


def partner_month_totals(*, partner: Partner, as_of: datetime | None = None) -> Settlement:
    """Return the partner's settlement for the calendar month (local time) containing ``as_of``."""
    local = timezone.localtime(as_of or timezone.now())
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return partner_settlement(partner=partner, start=start, end=end)
