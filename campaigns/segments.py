"""Segment services: which members a segment matches, and whether one member is in it.

``segment_members`` builds one queryset (subqueries, no Python loop), so the count in the
admin and the targeting of a broadcast or a draw all run in the database.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, DecimalField, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.models import Segment
from loyalty.models import Purchase, Visit
from members.models import Member


def _start_of_day(day, tz) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()), tz)


def members_eligible() -> QuerySet[Member]:
    """Members that any targeting may pick: active and not erased."""
    return Member.objects.filter(is_active=True, erased_at__isnull=True)


def segment_members(segment: Segment, *, as_of: datetime | None = None) -> QuerySet[Member]:
    """Return the members ``segment`` matches at ``as_of`` (now by default)."""
    as_of = as_of or timezone.now()
    tz = timezone.get_current_timezone()
    qs = members_eligible()
    if segment.pk:
        tier_ids = list(segment.tiers.values_list("pk", flat=True))
        location_ids = list(segment.locations.values_list("pk", flat=True))
    else:
        tier_ids, location_ids = [], []
    if tier_ids:
        qs = qs.filter(tier_id__in=tier_ids)
    if segment.vip == "yes":
        qs = qs.filter(vip_until__gt=as_of)
    elif segment.vip == "no":
        qs = qs.filter(Q(vip_until__isnull=True) | Q(vip_until__lte=as_of))
    if location_ids:
        qs = qs.filter(
            Q(home_location_id__in=location_ids)
            | Exists(Purchase.objects.filter(member=OuterRef("pk"), location_id__in=location_ids))
            | Exists(Visit.objects.filter(member=OuterRef("pk"), location_id__in=location_ids))
        )
    if segment.joined_after:
        qs = qs.filter(enrolled_at__gte=_start_of_day(segment.joined_after, tz))
    if segment.joined_before:
        qs = qs.filter(enrolled_at__lt=_start_of_day(segment.joined_before, tz))
    if segment.last_activity_after:
        qs = qs.filter(last_activity_at__gte=_start_of_day(segment.last_activity_after, tz))
    if segment.last_activity_before:
        qs = qs.filter(last_activity_at__lt=_start_of_day(segment.last_activity_before, tz))
    if segment.inactive_days is not None:
        cutoff = as_of - timedelta(days=segment.inactive_days)
        qs = qs.filter(Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=cutoff))
    if segment.min_visits:
        since = as_of - timedelta(days=segment.visits_days or 36500)
        purchases = (
            Purchase.objects.filter(member=OuterRef("pk"), occurred_at__gte=since)
            .values("member")
            .annotate(n=Count("pk"))
            .values("n")
        )
        visits = (
            Visit.objects.filter(member=OuterRef("pk"), occurred_at__gte=since)
            .values("member")
            .annotate(n=Count("pk"))
            .values("n")
        )
        qs = qs.annotate(
            _activity=Coalesce(Subquery(purchases), 0) + Coalesce(Subquery(visits), 0)
        ).filter(_activity__gte=segment.min_visits)
    if segment.spend_min is not None or segment.spend_max is not None:
        spend = Purchase.objects.filter(member=OuterRef("pk"))
        if segment.spend_days:
            spend = spend.filter(occurred_at__gte=as_of - timedelta(days=segment.spend_days))
        spend = (
            spend.values("member")
            .annotate(s=Sum(F("total") - F("refunded_amount")))
            .values("s")
        )
        qs = qs.annotate(
            _spend=Coalesce(
                Subquery(spend, output_field=DecimalField(max_digits=14, decimal_places=2)),
                0,
                output_field=DecimalField(max_digits=14, decimal_places=2),
            )
        )
        if segment.spend_min is not None:
            qs = qs.filter(_spend__gte=segment.spend_min)
        if segment.spend_max is not None:
            qs = qs.filter(_spend__lte=segment.spend_max)
    if segment.rfm_min is not None:
        qs = qs.filter(rfm__score__gte=segment.rfm_min)
    if segment.rfm_max is not None:
        qs = qs.filter(rfm__score__lte=segment.rfm_max)
    if segment.birthday_month:
        month = (
            timezone.localtime(as_of).month
            if segment.birthday_month == Segment.CURRENT_MONTH
            else segment.birthday_month
        )
        qs = qs.filter(birth_date__month=month)
    if segment.favourite_category:
        # JSON list membership that works on SQLite and PostgreSQL alike.
        qs = qs.filter(favourite_categories__icontains=f'"{segment.favourite_category}"')
    if segment.email_consent == "yes":
        qs = qs.filter(marketing_email=True, email__isnull=False)
    elif segment.email_consent == "no":
        qs = qs.filter(marketing_email=False)
    if segment.sms_consent == "yes":
        qs = qs.filter(marketing_sms=True, phone__isnull=False)
    elif segment.sms_consent == "no":
        qs = qs.filter(marketing_sms=False)
    return qs


def segment_count(segment: Segment, *, as_of: datetime | None = None) -> int:
    """How many members ``segment`` matches now."""
    return segment_members(segment, as_of=as_of).count()


def segment_contains(segment: Segment, *, member: Member, as_of: datetime | None = None) -> bool:
    """True if ``member`` is in ``segment`` (one query)."""
    return segment_members(segment, as_of=as_of).filter(pk=member.pk).exists()


def segment_ids_for(
    *, member: Member, segment_ids: list[int], as_of: datetime | None = None
) -> frozenset[int]:
    """The subset of ``segment_ids`` whose segments contain ``member``."""
    if not segment_ids:
        return frozenset()
    found = set()
    for segment in Segment.objects.filter(pk__in=segment_ids).prefetch_related(
        "tiers", "locations"
    ):
        if segment_contains(segment, member=member, as_of=as_of):
            found.add(segment.pk)
    return frozenset(found)
