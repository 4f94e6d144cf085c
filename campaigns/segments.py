"""Segment services: which members a segment matches, and the nightly RFM scores.

``segment_members`` builds one queryset (subqueries, no Python loop), so the count in the
admin and the targeting of a broadcast or a draw all run in the database, on SQLite and
PostgreSQL alike.

RFM scores (``rfm_scores_refresh``)
-----------------------------------
Every active, not erased member gets three scores from 1 (weakest) to 5 (strongest), from
the 365 days up to ``as_of``:

* recency — days since the member's last purchase or visit (fewer days score higher; a
  member who never came scores 1);
* frequency — purchases plus visits in the 365 days;
* monetary — net spend (purchase totals less refunds) in the 365 days.

Each score is a quintile band: the members are split into five equal groups by that figure
with ``NTILE(5)`` (one SQL window query), the boundary value of each group is kept, and a
member's score is 1 + the number of boundaries their figure is better than. Members with the
same figure therefore always get the same score (NTILE alone would split ties at random),
and a figure most members share (no purchases at all) is scored 1 for all of them. The RFM
score is the sum, 3–15. Scores are written in chunks of member ids with one
``INSERT … SELECT … ON CONFLICT DO UPDATE`` per chunk, so a re-run updates the same rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, DecimalField, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.models import MemberScore, Segment
from loyalty.models import Purchase, Visit
from members.models import Member

RFM_WINDOW_DAYS = 365
NEVER_DAYS = 999_999  # recency figure of a member who never bought or visited


def _start_of_day(day, tz) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()), tz)


def members_eligible() -> QuerySet[Member]:
    """Members that any targeting may pick: active and not erased."""
    return Member.objects.filter(is_active=True, erased_at__isnull=True)


def _related_ids(segment: Segment, name: str, given: list[int] | None) -> list[int]:
    if given is not None:
        return list(given)
    if not segment.pk:
        return []
    # ``.all()`` uses a prefetch when the caller made one.
    return [obj.pk for obj in getattr(segment, name).all()]


def segment_members(
    segment: Segment,
    *,
    as_of: datetime | None = None,
    tier_ids: list[int] | None = None,
    location_ids: list[int] | None = None,
) -> QuerySet[Member]:
    """Return the members ``segment`` matches at ``as_of`` (now by default).

    ``tier_ids`` and ``location_ids`` replace the segment's saved tiers and locations (the
    admin previews an unsaved form with them).
    """
    as_of = as_of or timezone.now()
    tz = timezone.get_current_timezone()
    qs = members_eligible()
    tier_ids = _related_ids(segment, "tiers", tier_ids)
    location_ids = _related_ids(segment, "locations", location_ids)
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
        window = Q(member=OuterRef("pk"), occurred_at__lte=as_of)
        if segment.visits_days:
            window &= Q(occurred_at__gt=as_of - timedelta(days=segment.visits_days))
        purchases = (
            Purchase.objects.filter(window).values("member").annotate(n=Count("pk")).values("n")
        )
        visits = Visit.objects.filter(window).values("member").annotate(n=Count("pk")).values("n")
        qs = qs.alias(
            segment_activity=Coalesce(Subquery(purchases), 0) + Coalesce(Subquery(visits), 0)
        ).filter(segment_activity__gte=segment.min_visits)
    if segment.spend_min is not None or segment.spend_max is not None:
        money = DecimalField(max_digits=14, decimal_places=2)
        spend = Purchase.objects.filter(member=OuterRef("pk"), occurred_at__lte=as_of)
        if segment.spend_days:
            spend = spend.filter(occurred_at__gt=as_of - timedelta(days=segment.spend_days))
        spend = (
            spend.values("member")
            .annotate(s=Sum(F("total") - F("refunded_amount"), output_field=money))
            .values("s")
        )
        qs = qs.alias(
            segment_spend=Coalesce(
                Subquery(spend, output_field=money), Decimal("0"), output_field=money
            )
        )
        if segment.spend_min is not None:
            qs = qs.filter(segment_spend__gte=segment.spend_min)
        if segment.spend_max is not None:
            qs = qs.filter(segment_spend__lte=segment.spend_max)
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
    category = (segment.favourite_category or "").strip()
    if category:
        # Membership of a JSON list, on SQLite and PostgreSQL alike: the element with its
        # quotes as PostgreSQL prints it, or as Python's json escapes it (SQLite keeps the
        # text as written, non-ASCII letters as \\u escapes). Case does not matter.
        qs = qs.filter(
            Q(favourite_categories__icontains=json.dumps(category, ensure_ascii=False))
            | Q(favourite_categories__icontains=json.dumps(category))
        )
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


@dataclass(frozen=True)
class SegmentPreview:
    count: int
    sample: list[Member]


def segment_preview(
    segment: Segment,
    *,
    tier_ids: list[int] | None = None,
    location_ids: list[int] | None = None,
    as_of: datetime | None = None,
    sample_size: int = 5,
) -> SegmentPreview:
    """How many members a (possibly unsaved) segment matches, and the latest few who joined."""
    qs = segment_members(segment, as_of=as_of, tier_ids=tier_ids, location_ids=location_ids)
    count = qs.count()
    sample = list(qs.select_related("tier").order_by("-pk")[:sample_size]) if count else []
    return SegmentPreview(count=count, sample=sample)


# --------------------------------------------------------------------------------------------
# RFM scores
# --------------------------------------------------------------------------------------------


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _dt(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _days_between(later: str, earlier: str) -> str:
    """SQL for the whole days from ``earlier`` to ``later`` (both timestamp expressions)."""
    if connection.vendor == "postgresql":
        return f"FLOOR(EXTRACT(EPOCH FROM ({later} - {earlier})) / 86400)"
    # Whole seconds, then integer division (julianday's floating point can miss by a hair).
    return (
        f"((CAST(strftime('%%s', {later}) AS INTEGER) "
        f"- CAST(strftime('%%s', {earlier}) AS INTEGER)) / 86400)"
    )


def _stats_sql(*, ranged: bool) -> tuple[str, list[str]]:
    """SQL of one row per eligible member: id, recency days, activity count, net spend.

    Returns the SQL and the names of its parameters in order (``as_of``, ``since``,
    ``true`` and, when ``ranged``, ``lo``/``hi``: the first and last member id of a chunk).
    """
    member = _q(Member._meta.db_table)
    purchase = _q(Purchase._meta.db_table)
    visit = _q(Visit._meta.db_table)
    as_of_ts = "CAST(%s AS TIMESTAMP WITH TIME ZONE)" if connection.vendor == "postgresql" else "%s"

    def rng(col: str) -> tuple[str, list[str]]:
        return (f" AND {col} BETWEEN %s AND %s", ["lo", "hi"]) if ranged else ("", [])

    # The last activity: in the window if any, else the member's cached last activity when it
    # is not after as_of (older than the window, it still gives the right recency).
    last = (
        "CASE WHEN pa.last_at IS NOT NULL AND (va.last_at IS NULL OR pa.last_at >= va.last_at) "
        "THEN pa.last_at WHEN va.last_at IS NOT NULL THEN va.last_at "
        f"WHEN m.last_activity_at <= {as_of_ts} THEN m.last_activity_at END"
    )
    days_expr = _days_between(as_of_ts, f"({last})")
    names = ["as_of", "as_of"]
    if connection.vendor == "postgresql":
        # One index range scan per member and table (LATERAL): the plan does not depend on
        # table statistics, which are missing right after a bulk import (a join of grouped
        # subqueries then became a nested loop re-aggregating the chunk for every member).
        p_sql = (
            "LATERAL (SELECT COUNT(*) AS n, SUM(p.total - p.refunded_amount) AS spend, "  # noqa: S608 - fixed names, values bound
            f"MAX(p.occurred_at) AS last_at FROM {purchase} p WHERE p.member_id = m.id "
            "AND p.occurred_at > %s AND p.occurred_at <= %s)"
        )
        v_sql = (
            "LATERAL (SELECT COUNT(*) AS n, MAX(v.occurred_at) AS last_at "  # noqa: S608 - fixed names, values bound
            f"FROM {visit} v WHERE v.member_id = m.id "
            "AND v.occurred_at > %s AND v.occurred_at <= %s)"
        )
        names += ["since", "as_of", "since", "as_of"]
        joins = f"LEFT JOIN {p_sql} pa ON true LEFT JOIN {v_sql} va ON true"
    else:
        # SQLite: purchases and visits in the window, grouped per member, then joined.
        p_range, p_names = rng("p.member_id")
        p_sql = (
            "SELECT p.member_id AS mid, COUNT(*) AS n, SUM(p.total - p.refunded_amount) AS spend, "  # noqa: S608 - fixed names, values bound
            f"MAX(p.occurred_at) AS last_at FROM {purchase} p "
            f"WHERE p.occurred_at > %s AND p.occurred_at <= %s{p_range} GROUP BY p.member_id"
        )
        names += ["since", "as_of", *p_names]
        v_range, v_names = rng("v.member_id")
        v_sql = (
            "SELECT v.member_id AS mid, COUNT(*) AS n, MAX(v.occurred_at) AS last_at "  # noqa: S608 - fixed names, values bound
            f"FROM {visit} v WHERE v.occurred_at > %s AND v.occurred_at <= %s{v_range} "
            "GROUP BY v.member_id"
        )
        names += ["since", "as_of", *v_names]
        joins = f"LEFT JOIN ({p_sql}) pa ON pa.mid = m.id LEFT JOIN ({v_sql}) va ON va.mid = m.id"
    m_range, m_names = rng("m.id")
    sql = (
        f"SELECT m.id AS member_id, COALESCE({days_expr}, {NEVER_DAYS}) AS rdays, "  # noqa: S608 - fixed names, values bound
        "COALESCE(pa.n, 0) + COALESCE(va.n, 0) AS freq, "
        "ROUND(COALESCE(pa.spend, 0), 2) AS spend "
        f"FROM {member} m {joins} "
        f"WHERE m.is_active = %s AND m.erased_at IS NULL AND m.enrolled_at <= %s{m_range}"
    )
    names += ["true", "as_of", *m_names]
    return sql, names


def _params(names: list[str], values: dict) -> list:
    return [values[n] for n in names]


@dataclass(frozen=True)
class RfmBounds:
    """The upper figure of each of the first four quintile groups, per dimension."""

    recency: tuple  # days: a member scores a point for each bound their days are below
    frequency: tuple  # counts: a point for each bound the count is above
    monetary: tuple  # spend: a point for each bound the spend is above


def _rfm_bounds(values: dict) -> RfmBounds | None:
    sql, names = _stats_sql(ranged=False)
    select = []
    for tile in range(1, 5):
        select.append(f"MIN(CASE WHEN rt = {tile} THEN rdays END)")
    for tile in range(1, 5):
        select.append(f"MAX(CASE WHEN ft = {tile} THEN freq END)")
    for tile in range(1, 5):
        select.append(f"MAX(CASE WHEN mt = {tile} THEN spend END)")
    query = (
        f"WITH stats AS ({sql}), tiles AS (SELECT rdays, freq, spend, "  # noqa: S608 - fixed names, values bound
        f"NTILE(5) OVER (ORDER BY rdays DESC) AS rt, "
        f"NTILE(5) OVER (ORDER BY freq) AS ft, "
        f"NTILE(5) OVER (ORDER BY spend) AS mt FROM stats) "
        f"SELECT COUNT(*), {', '.join(select)} FROM tiles"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, _params(names, values))
        row = cursor.fetchone()
    if not row or not row[0]:
        return None

    def clean(seq, *, default):
        # A group can be empty when there are fewer than five members: it then bounds nothing.
        return tuple(default if v is None else v for v in seq)

    return RfmBounds(
        recency=clean(row[1:5], default=-1),
        frequency=clean(row[5:9], default=10**12),
        monetary=clean(row[9:13], default=10**15),
    )


def _score_sql(column: str, bounds: tuple, *, lower_is_better: bool) -> tuple[str, list]:
    op = "<" if lower_is_better else ">"
    parts = " + ".join(f"CASE WHEN {column} {op} %s THEN 1 ELSE 0 END" for _ in bounds)
    if connection.vendor == "sqlite":
        # SQLite compares a number with text as "text is larger": pass numbers, not Decimals.
        bounds = tuple(float(b) if isinstance(b, Decimal) else b for b in bounds)
    return f"(1 + {parts})", list(bounds)


def rfm_scores_refresh(*, as_of: datetime | None = None, chunk_size: int = 5000) -> int:
    """Recompute every eligible member's RFM score as of ``as_of``; return how many were scored.

    Set-based: one window query finds the quintile bounds, then one upsert per chunk of
    member ids writes the scores. Scores of members no longer eligible are deleted.
    """
    as_of = as_of or timezone.now()
    values = {
        "as_of": _dt(as_of),
        "since": _dt(as_of - timedelta(days=RFM_WINDOW_DAYS)),
        "true": True,
    }
    score_table = _q(MemberScore._meta.db_table)
    member_table = _q(Member._meta.db_table)
    with transaction.atomic():
        bounds = _rfm_bounds(values)
    if bounds is None:
        MemberScore.objects.all().delete()
        return 0
    r_sql, r_params = _score_sql("s.rdays", bounds.recency, lower_is_better=True)
    f_sql, f_params = _score_sql("s.freq", bounds.frequency, lower_is_better=False)
    m_sql, m_params = _score_sql("s.spend", bounds.monetary, lower_is_better=False)
    stats_sql, names = _stats_sql(ranged=True)
    insert = (
        f"INSERT INTO {score_table} (member_id, recency, frequency, monetary, score, "  # noqa: S608 - fixed names, values bound
        f"recency_days, activity_count, spend, computed_at) "
        f"SELECT member_id, r, f, m, r + f + m, "
        f"CASE WHEN rdays = {NEVER_DAYS} THEN NULL ELSE rdays END, freq, spend, %s FROM ("
        f"SELECT s.member_id, s.rdays, s.freq, s.spend, {r_sql} AS r, {f_sql} AS f, "
        f"{m_sql} AS m FROM ({stats_sql}) s) scored WHERE true "
        f"ON CONFLICT (member_id) DO UPDATE SET recency = EXCLUDED.recency, "
        f"frequency = EXCLUDED.frequency, monetary = EXCLUDED.monetary, "
        f"score = EXCLUDED.score, recency_days = EXCLUDED.recency_days, "
        f"activity_count = EXCLUDED.activity_count, spend = EXCLUDED.spend, "
        f"computed_at = EXCLUDED.computed_at"
    )
    scored = 0
    eligible = members_eligible().filter(enrolled_at__lte=as_of)
    low = eligible.order_by("pk").values_list("pk", flat=True).first()
    high = eligible.order_by("-pk").values_list("pk", flat=True).first()
    if low is None:
        return 0
    start = low
    while start <= high:
        end = start + chunk_size - 1
        chunk_values = {**values, "lo": start, "hi": end}
        params = [values["as_of"], *r_params, *f_params, *m_params, *_params(names, chunk_values)]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(insert, params)
            scored += max(cursor.rowcount, 0)
        start = end + 1
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {score_table} WHERE member_id IN (SELECT id FROM {member_table} m "  # noqa: S608 - fixed names, values bound
            f"WHERE m.is_active = %s OR m.erased_at IS NOT NULL)",
            [False],
        )
    return scored
