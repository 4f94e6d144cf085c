"""Scheduled member messages and nudges: the services behind the periodic jobs.

Each service picks its members with a few set-based queries and tells each one through
``campaigns.messaging.message_send`` with a ``dedupe_key``, so running a job twice (or two
beats at once) never sends a message twice: the messaging log is unique on the key. Win-back
offers give something of value, so they are also held by a unique row (``WinBackOffer``)
written under the member's lock.

Message types and the context each passes are listed in docs/messages.md, "Scheduled
messages".
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Min, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from campaigns import messaging
from campaigns.models.nudges import CampaignAnnouncement, NudgeSettings, WinBackOffer
from campaigns.segments import members_eligible, segment_members
from campaigns.translation import text_lazy
from loyalty.models import EntryKind, LedgerEntry, PointsLot
from members.models import Member

logger = logging.getLogger(__name__)

CHUNK = 2000
# Campaigns that started longer ago than this are not announced any more (e.g. when
# announcements are switched on while old campaigns are running).
ANNOUNCE_WITHIN = timedelta(days=7)


def _chunks(ids: Iterable[int], size: int = CHUNK) -> Iterator[list[int]]:
    chunk: list[int] = []
    for pk in ids:
        chunk.append(pk)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _local_date(at: datetime) -> date:
    return timezone.localtime(at).date()


def _month_key(at: datetime) -> str:
    return timezone.localtime(at).strftime("%Y-%m")


def _send(member: Member, type_code: str, context: dict, dedupe_key: str, at: datetime) -> bool:
    """Send one message; a failure for one member is logged and does not stop the job."""
    try:
        messaging.message_send(
            member=member, type_code=type_code, context=context, dedupe_key=dedupe_key, at=at
        )
    except Exception:
        logger.exception("message %s to member %s failed", type_code, member.pk)
        return False
    return True


# --------------------------------------------------------------------------------------------
# Points expiring
# --------------------------------------------------------------------------------------------


def points_expiring_warn(*, as_of: datetime | None = None) -> int:
    """Warn members whose spendable points expire within the configured days; return sends.

    Counted in local calendar days: with 14 days, the warning goes on the day the expiry
    date is 14 days away (or on the first run after that).

    One message per member and expiry date (the dedupe key names the date), whatever the
    number of lots or of runs: a member whose points expire on two dates hears of each.
    """
    as_of = as_of or timezone.now()
    days = NudgeSettings.load().expiry_warning_days
    if not days:
        return 0
    tz = timezone.get_current_timezone()
    # Whole local days: on 6 March with 14 days, points expiring any time on 20 March count.
    until = timezone.make_aware(
        datetime.combine(_local_date(as_of) + timedelta(days=days + 1), datetime.min.time()), tz
    )
    rows = (
        PointsLot.objects.filter(
            remaining__gt=0,
            is_available=True,
            expires_at__gt=as_of,
            expires_at__lt=until,
            member__in=members_eligible(),
        )
        .annotate(day=TruncDate("expires_at", tzinfo=tz))
        .values("member_id", "day")
        .annotate(points=Sum("remaining"))
        .order_by("member_id", "day")
    )
    by_member: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for row in rows.iterator(chunk_size=CHUNK):
        by_member[row["member_id"]].append((row["day"], row["points"]))
    sent = 0
    for ids in _chunks(by_member):
        for member in Member.objects.filter(pk__in=ids).order_by("pk"):
            for day, points in by_member[member.pk]:
                context = {
                    "expiring_points": points,
                    "expiry_date": day,
                    "points": points,
                    "expires_on": day.isoformat(),
                    "days_left": (day - _local_date(as_of)).days,
                    "balance": member.balance,
                }
                sent += _send(
                    member, "points_expiring", context, f"points_expiring:{day.isoformat()}", as_of
                )
    return sent


# --------------------------------------------------------------------------------------------
# Near a reward / a full punch card
# --------------------------------------------------------------------------------------------


def rewards_for_nudges(*, as_of: datetime):
    """Return the catalogue rewards any member could redeem for points now, cheapest first.

    Rewards limited to a tier or to VIP members are left out: a nudge must not promise a
    reward the member cannot have.
    """
    from rewards.selectors import catalogue

    return (
        catalogue()
        .filter(min_tier__isnull=True, vip_only=False)
        .filter(Q(available_from__isnull=True) | Q(available_from__lte=as_of))
        .filter(Q(available_until__isnull=True) | Q(available_until__gt=as_of))
        .filter(Q(stock__isnull=True) | Q(stock__gt=0))
        .order_by("points_cost", "pk")
    )


def near_reward_nudge(*, as_of: datetime | None = None) -> int:
    """Nudge members close to their next reward or a full punch card; return sends.

    A member's *next* reward is the cheapest one they cannot afford yet; they are nudged when
    they miss at most ``near_reward_points`` for it. A punch card is near when it misses at
    most ``near_card_stamps``. Once a month per reward or card (dedupe key).
    """
    from loyalty.models import PunchCard

    as_of = as_of or timezone.now()
    config = NudgeSettings.load()
    month = _month_key(as_of)
    sent = 0
    if config.near_reward_points:
        # One query per distinct price (a catalogue has few): the members whose balance lies
        # between the previous price and this one, within the distance.
        previous = 0
        seen_costs: set[int] = set()
        for reward in rewards_for_nudges(as_of=as_of):
            cost = reward.points_cost
            if cost in seen_costs or cost <= 0:
                continue
            seen_costs.add(cost)
            low = max(cost - config.near_reward_points, previous)
            members = members_eligible().filter(balance__gte=low, balance__lt=cost).order_by("pk")
            for member in members.iterator(chunk_size=CHUNK):
                context = {
                    "next_reward": reward.name,
                    "points_to_next_reward": cost - member.balance,
                    "reward": reward.name,
                    "reward_id": reward.pk,
                    "points_cost": cost,
                    "points_missing": cost - member.balance,
                    "balance": member.balance,
                }
                sent += _send(
                    member, "near_reward", context, f"near_reward:reward-{reward.pk}:{month}", as_of
                )
            previous = cost
    if config.near_card_stamps:
        cards = (
            PunchCard.objects.filter(
                status=PunchCard.Status.ACTIVE,
                card_type__is_active=True,
                member__in=members_eligible(),
                stamps__gt=0,
            )
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=as_of))
            .annotate(missing=F("card_type__stamps_needed") - F("stamps"))
            .filter(missing__gt=0, missing__lte=config.near_card_stamps)
            .select_related("member", "card_type", "card_type__reward")
            .order_by("pk")
        )
        for card in cards.iterator(chunk_size=CHUNK):
            context = {
                "card": card.card_type.name,
                "card_id": card.pk,
                "stamps": card.stamps,
                "stamps_needed": card.card_type.stamps_needed,
                "stamps_missing": card.missing,
                "reward": card.card_type.reward.name if card.card_type.reward_id else "",
            }
            sent += _send(
                card.member, "near_reward", context, f"near_reward:card-{card.pk}:{month}", as_of
            )
    return sent


# --------------------------------------------------------------------------------------------
# Win-back
# --------------------------------------------------------------------------------------------


def win_back_offer(*, as_of: datetime | None = None) -> int:
    """Give the win-back offer to the segment's members outside their cooldown; return count.

    The candidates come from one query (the segment, less members with an offer inside the
    cooldown). Each offer is then written under the member's lock after checking the cooldown
    again, and a unique row per member and day holds against two runs at once.
    """
    from loyalty.services import member_lock, points_credit
    from rewards.models import Voucher
    from rewards.services import voucher_issue

    as_of = as_of or timezone.now()
    config = NudgeSettings.load()
    reward = config.winback_reward
    if config.winback_segment_id is None or (reward is None and not config.winback_points):
        return 0
    if reward is not None and not reward.is_active:
        reward = None
        if not config.winback_points:
            return 0
    today = _local_date(as_of)
    since = today - timedelta(days=max(config.winback_cooldown_days, 1) - 1)
    candidate_ids = list(
        segment_members(config.winback_segment, as_of=as_of)
        .exclude(winback_offers__offered_on__gte=since)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    given = 0
    for member in Member.objects.filter(pk__in=candidate_ids).order_by("pk").iterator(CHUNK):
        try:
            with transaction.atomic():
                locked = member_lock(member)
                if WinBackOffer.objects.filter(member=locked, offered_on__gte=since).exists():
                    continue  # another run gave it while this one was on its way
                offer = WinBackOffer.objects.create(
                    member=locked, offered_on=today, points=config.winback_points
                )
                voucher = None
                if reward is not None:
                    voucher = voucher_issue(
                        member=locked,
                        reward=reward,
                        origin=Voucher.Origin.CAMPAIGN,
                        reason=_("We miss you"),
                        at=as_of,
                    )
                    offer.voucher = voucher
                    offer.save(update_fields=["voucher"])
                if config.winback_points:
                    points_credit(
                        member=locked,
                        points=config.winback_points,
                        kind=EntryKind.BONUS,
                        reason=_("We miss you"),
                        source_type=LedgerEntry.SourceType.CAMPAIGN,
                        at=as_of,
                    )
        except IntegrityError:
            continue  # the unique row: a concurrent run gave today's offer
        except Exception:
            # A reward out of stock or an inactive member: skip this one, keep the job going.
            logger.exception("win-back offer to member %s failed", member.pk)
            continue
        given += 1
        context = {
            "points": offer.points,
            "reward": reward.name if voucher else "",
            "voucher_code": voucher.code if voucher else "",
            "voucher_expires_at": (
                voucher.expires_at.isoformat() if voucher and voucher.expires_at else ""
            ),
        }
        _send(locked, "win_back", context, f"win_back:{offer.pk}", as_of)
    return given


# --------------------------------------------------------------------------------------------
# Monthly statement
# --------------------------------------------------------------------------------------------

EARN_KINDS = (EntryKind.EARN, EntryKind.BONUS, EntryKind.WELCOME, EntryKind.VISIT)
SPEND_KINDS = (EntryKind.REDEEM, EntryKind.SPEND)


def previous_month(as_of: datetime) -> tuple[datetime, datetime]:
    """Return the start and end (exclusive) of the calendar month before ``as_of``, local."""
    local = timezone.localtime(as_of)
    end = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (end - timedelta(days=1)).replace(day=1)
    tz = timezone.get_current_timezone()
    return (
        timezone.make_aware(start.replace(tzinfo=None), tz),
        timezone.make_aware(end.replace(tzinfo=None), tz),
    )


def statement_figures(*, member_ids: list[int], start: datetime, end: datetime) -> dict:
    """Return, per member, the points earned, spent and expired between start and end."""
    from django.db.models import Case, IntegerField, Value, When

    def total(kinds):
        return Sum(
            Case(
                When(kind__in=kinds, then=F("points") + F("pending_points")),
                default=Value(0),
                output_field=IntegerField(),
            )
        )

    rows = (
        LedgerEntry.objects.filter(
            member_id__in=member_ids, created_at__gte=start, created_at__lt=end
        )
        .values("member_id")
        .annotate(
            earned=total(EARN_KINDS), spent=total(SPEND_KINDS), expired=total([EntryKind.EXPIRE])
        )
        .order_by()
    )
    return {
        r["member_id"]: {
            "earned": r["earned"] or 0,
            "spent": -(r["spent"] or 0),
            "expired": -(r["expired"] or 0),
        }
        for r in rows
    }


def monthly_statement_send(*, as_of: datetime | None = None) -> int:
    """Send last calendar month's statement to every member with something to report.

    A member with no balance, no pending points and no ledger entry last month gets none.
    The dedupe key names the month, so the job may run on any day after the 1st.
    """
    from loyalty.selectors import tiers_ordered
    from loyalty.tiers import tier_progress

    as_of = as_of or timezone.now()
    if not NudgeSettings.load().monthly_statement:
        return 0
    start, end = previous_month(as_of)
    month = timezone.localtime(start).strftime("%Y-%m")
    soon_days = settings.LOYALTY_EXPIRING_SOON_DAYS
    has_tiers = bool(tiers_ordered())
    active_last_month = LedgerEntry.objects.filter(created_at__gte=start, created_at__lt=end)
    members = (
        members_eligible()
        .filter(
            Q(balance__gt=0) | Q(pending__gt=0) | Q(pk__in=active_last_month.values("member_id"))
        )
        .order_by("pk")
    )
    sent = 0
    for ids in _chunks(members.values_list("pk", flat=True).iterator(chunk_size=CHUNK)):
        figures = statement_figures(member_ids=ids, start=start, end=end)
        expiring = {
            row["member_id"]: (row["points"], row["first"])
            for row in PointsLot.objects.filter(
                member_id__in=ids,
                remaining__gt=0,
                is_available=True,
                expires_at__gt=as_of,
                expires_at__lte=as_of + timedelta(days=soon_days),
            )
            .values("member_id")
            .annotate(points=Sum("remaining"), first=Min("expires_at"))
            .order_by()
        }
        for member in Member.objects.filter(pk__in=ids).order_by("pk"):
            numbers = figures.get(member.pk, {"earned": 0, "spent": 0, "expired": 0})
            soon, first_expiry = expiring.get(member.pk, (0, None))
            with translation.override(member.language or settings.LANGUAGE_CODE):
                period = date_format(timezone.localtime(start), "YEAR_MONTH_FORMAT")
            context = {
                "period": period,
                "expiring_points": soon,
                "expiry_date": first_expiry or "",
                "month": month,
                "balance": member.balance,
                "pending": member.pending,
                "earned": numbers["earned"],
                "spent": numbers["spent"],
                "expired": numbers["expired"],
                "expiring": soon,
                "expiring_days": soon_days,
                "tier": "",
                "tier_progress": "",
            }
            if has_tiers:
                progress = tier_progress(member=member, as_of=as_of)
                context["tier"] = progress.tier.name if progress.tier else ""
                context["tier_progress"] = str(progress.message)
            sent += _send(member, "monthly_statement", context, f"statement:{month}", as_of)
    return sent


# --------------------------------------------------------------------------------------------
# Campaign announcements
# --------------------------------------------------------------------------------------------


def _started_campaigns(as_of: datetime) -> list[tuple[str, object]]:
    """Return (kind, campaign) for every running campaign that started lately, any area."""
    found: list[tuple[str, object]] = []
    sources = (
        (CampaignAnnouncement.Kind.BONUS, "campaigns.models.bonus", "BonusCampaign"),
        (CampaignAnnouncement.Kind.CHALLENGE, "campaigns.models.challenges", "Challenge"),
        (CampaignAnnouncement.Kind.SWEEPSTAKE, "campaigns.models.games", "Sweepstake"),
    )
    from importlib import import_module

    for kind, module_name, class_name in sources:
        try:
            model = getattr(import_module(module_name), class_name)
        except (ImportError, AttributeError):
            continue  # that area is not installed
        done = CampaignAnnouncement.objects.filter(kind=kind).values("object_id")
        qs = model.objects.filter(
            is_active=True,
            starts_at__lte=as_of,
            starts_at__gt=as_of - ANNOUNCE_WITHIN,
            ends_at__gt=as_of,
        ).exclude(pk__in=done)
        found.extend((kind, campaign) for campaign in qs.order_by("starts_at", "pk"))
    return found


def _announcement_audience(campaign, as_of: datetime):
    """Members with marketing consent whom the campaign is for (its segment, tiers, VIP)."""
    from campaigns.segments import segment_members

    audience = members_eligible().filter(Q(marketing_email=True) | Q(marketing_sms=True))
    segment = getattr(campaign, "segment", None)
    if segment is not None:
        audience = audience.filter(pk__in=segment_members(segment, as_of=as_of).values("pk"))
    tiers = getattr(campaign, "tiers", None)
    if tiers is not None:
        tier_ids = list(tiers.values_list("pk", flat=True))
        if tier_ids:
            audience = audience.filter(tier_id__in=tier_ids)
    if getattr(campaign, "vip_only", False):
        audience = audience.filter(vip_until__gt=as_of)
    return audience


def campaign_announcements(*, as_of: datetime | None = None) -> int:
    """Tell members with marketing consent about campaigns that started; return campaigns.

    Each campaign is announced once: members are told (deduplicated per campaign), then the
    ``CampaignAnnouncement`` row marks it done. A run stopped half way sends the rest the next
    time without telling anyone twice.
    """
    as_of = as_of or timezone.now()
    if not NudgeSettings.load().announcements:
        return 0
    announced = 0
    for kind, campaign in _started_campaigns(as_of):
        audience = _announcement_audience(campaign, as_of).order_by("pk")
        context = {
            "kind": str(kind),
            "campaign": text_lazy(campaign, "name"),
            "campaign_id": campaign.pk,
            "ends": campaign.ends_at,
            "starts_at": campaign.starts_at.isoformat(),
            "ends_at": campaign.ends_at.isoformat(),
        }
        told = 0
        for member in audience.iterator(chunk_size=CHUNK):
            told += _send(
                member, "campaign_started", context, f"campaign:{kind}:{campaign.pk}", as_of
            )
        CampaignAnnouncement.objects.bulk_create(
            [
                CampaignAnnouncement(
                    kind=kind,
                    object_id=campaign.pk,
                    name=campaign.name[:200],
                    recipients=told,
                    announced_at=as_of,
                )
            ],
            ignore_conflicts=True,  # a concurrent run announced it too (messages deduplicated)
        )
        announced += 1
    return announced
