"""Whether a member can redeem a reward now, and if not, why.

A check takes the context and returns a translated reason or ``None``. The checks run in
order: the window (with VIP early access), VIP only, minimum tier, season, stock, the
per-member limit, and points last, so that "40 more points" is shown only when points are
all that is missing. ``CHECKS`` is open: other apps add checks with ``register``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.dates import MONTHS
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from rewards.models import Reward


@dataclass
class Context:
    """What the checks look at. ``redeemed_in_period`` maps reward id to the member's count."""

    member: object
    reward: Reward
    as_of: datetime
    balance: int
    min_redemption_points: int = 0
    redeemed_in_period: dict[int, int] = field(default_factory=dict)


Check = Callable[[Context], str | None]


def period_start(period: str, as_of: datetime) -> datetime | None:
    """Return the start of the limit period containing ``as_of`` (local time); None for ever."""
    local = timezone.localtime(as_of).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == Reward.Period.DAY:
        return local
    if period == Reward.Period.WEEK:
        return local - timedelta(days=local.weekday())
    if period == Reward.Period.MONTH:
        return local.replace(day=1)
    if period == Reward.Period.YEAR:
        return local.replace(month=1, day=1)
    return None


def check_active(ctx: Context) -> str | None:
    if not ctx.reward.is_active:
        return _("Not available")
    if ctx.reward.points_cost is None:
        return _("Not for sale with points")
    return None


def _is_vip(ctx: Context) -> bool:
    is_vip = getattr(ctx.member, "is_vip", None)
    return bool(is_vip and is_vip(at=ctx.as_of))


def check_window(ctx: Context) -> str | None:
    reward = ctx.reward
    opens = reward.available_from
    if opens and reward.vip_early_access_days and _is_vip(ctx):
        # VIP early access: VIP members may redeem this many days before everyone else.
        opens = opens - timedelta(days=reward.vip_early_access_days)
    if opens and ctx.as_of < opens:
        if opens != reward.available_from:
            return _("VIP members from %(date)s") % {
                "date": date_format(timezone.localtime(opens), "SHORT_DATE_FORMAT")
            }
        if reward.vip_early_access_days:
            return _("Available from %(date)s (VIP members %(days)s days earlier)") % {
                "date": date_format(timezone.localtime(reward.available_from), "SHORT_DATE_FORMAT"),
                "days": reward.vip_early_access_days,
            }
        return _("Available from %(date)s") % {
            "date": date_format(timezone.localtime(reward.available_from), "SHORT_DATE_FORMAT")
        }
    if reward.available_until and ctx.as_of >= reward.available_until:
        return _("No longer available")
    return None


def check_season(ctx: Context) -> str | None:
    months = ctx.reward.months
    if not months:
        return None
    month = timezone.localtime(ctx.as_of).month
    if month in months:
        return None
    upcoming = next(m for m in [*range(month + 1, 13), *range(1, month)] if m in months)
    return _("Back in %(month)s") % {"month": MONTHS[upcoming]}


def check_vip_only(ctx: Context) -> str | None:
    if ctx.reward.vip_only and not _is_vip(ctx):
        return _("VIP members only")
    return None


def check_min_tier(ctx: Context) -> str | None:
    tier = ctx.reward.min_tier
    if tier is None:
        return None
    member_tier = (
        getattr(ctx.member, "tier", None) if getattr(ctx.member, "tier_id", None) else None
    )
    if member_tier is None or member_tier.rank < tier.rank:
        return _("%(tier)s members only") % {"tier": tier.name}
    return None


def check_stock(ctx: Context) -> str | None:
    if ctx.reward.stock is not None and ctx.reward.stock <= 0:
        return _("Out of stock")
    # Set by the catalogue: a digital reward's codes or a mystery gift's prizes have run out.
    if getattr(ctx.reward, "pool_empty", False):
        return _("Out of stock")
    return None


def check_member_limit(ctx: Context) -> str | None:
    limit = ctx.reward.limit_per_member
    if limit is not None and ctx.redeemed_in_period.get(ctx.reward.pk, 0) >= limit:
        return {
            Reward.Period.DAY: _("Limit reached for today"),
            Reward.Period.WEEK: _("Limit reached for this week"),
            Reward.Period.MONTH: _("Limit reached for this month"),
            Reward.Period.YEAR: _("Limit reached for this year"),
        }.get(ctx.reward.limit_period, _("Already redeemed"))
    return None


def check_points(ctx: Context) -> str | None:
    cost = ctx.reward.points_cost or 0
    needed = max(cost, ctx.min_redemption_points if cost else 0)
    if ctx.balance < needed:
        missing = needed - ctx.balance
        return ngettext("%(count)s more point", "%(count)s more points", missing) % {
            "count": missing
        }
    return None


CHECKS: list[Check] = [
    check_active,
    check_window,
    check_vip_only,
    check_min_tier,
    check_season,
    check_stock,
    check_member_limit,
    check_points,
]


def register(check: Check, *, before: Check | None = check_points) -> None:
    """Add an eligibility check (by default just before the points check)."""
    if check in CHECKS:
        return
    index = CHECKS.index(before) if before in CHECKS else len(CHECKS)
    CHECKS.insert(index, check)


def reasons_why_not(ctx: Context) -> list[str]:
    """Return every reason the member cannot redeem the reward now (empty: they can)."""
    return [reason for check in CHECKS if (reason := check(ctx))]
