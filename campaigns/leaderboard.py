"""The points leaderboard: who earned the most points this month and this year.

Members opt in with a display name; only they have score rows, so a member who did not opt
in can never appear. Scores are kept up to date by the ``points_earned`` hooks with one
upsert per credit (nothing at all while nobody has opted in); the board and a member's rank
are read from the ``(period, -points, member)`` index, never by sorting a period.
See docs/campaigns.md, "Leaderboard".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import LeaderboardProfile, LeaderboardScore
from loyalty import errors, hooks
from loyalty.models import EntryKind, LedgerEntry
from loyalty.services import member_lock

DISPLAY_NAME_MIN = 2
DISPLAY_NAME_MAX = 30
TOP_DEFAULT = 10
TOP_MAX = 100
# A web address or a bare domain ("shop.example", "www.x") is not a name.
_URL_RE = re.compile(
    r"(://|www\.|\b[a-z0-9-]+\.(com|net|org|info|io|biz|ru|cn|xyz|top|ly|me|co|de|fi|ee|pl|tw|eu|app|shop|link)\b)",
    re.IGNORECASE,
)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f<>]")
# Ledger kinds that count as earned points (the same credits that fire ``points_earned``).
EARNED_KINDS = (EntryKind.EARN, EntryKind.BONUS, EntryKind.VISIT, EntryKind.WELCOME)


class InvalidDisplayName(errors.InvalidInput):
    code = "invalid_display_name"
    message = _("Choose a display name of 2 to 30 characters, without web addresses.")


class PeriodInvalid(errors.InvalidInput):
    code = "invalid_period"
    message = _("A period is a month (2026-11) or a year (2026).")


# --------------------------------------------------------------------------------------------
# Periods
# --------------------------------------------------------------------------------------------


def period_keys(at: datetime | None = None) -> tuple[str, str]:
    """Return the month and year keys ("2026-11", "2026") of ``at`` in the local time zone."""
    local = timezone.localtime(at or timezone.now())
    return f"{local.year:04d}-{local.month:02d}", f"{local.year:04d}"


_PERIOD_RE = re.compile(r"\d{4}(-(0[1-9]|1[0-2]))?")


def period_clean(value: str) -> str:
    """Return ``value`` if it is a month or year key, else raise ``PeriodInvalid``."""
    value = (value or "").strip()
    if not _PERIOD_RE.fullmatch(value):
        raise PeriodInvalid(field="period")
    return value


def _period_starts(at: datetime) -> tuple[datetime, datetime]:
    local = timezone.localtime(at)
    month = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return month, month.replace(month=1)


# --------------------------------------------------------------------------------------------
# Opt in and out
# --------------------------------------------------------------------------------------------


def display_name_clean(value: str) -> str:
    """Return the display name tidied (spaces collapsed) or raise ``InvalidDisplayName``."""
    name = " ".join(str(value or "").split())
    if not (DISPLAY_NAME_MIN <= len(name) <= DISPLAY_NAME_MAX):
        raise InvalidDisplayName(field="display_name")
    if _URL_RE.search(name) or _CONTROL_RE.search(name) or "@" in name:
        raise InvalidDisplayName(field="display_name")
    return name


def _earned_since(member_id: int, *, month_start: datetime, year_start: datetime):
    """Sum the member's earned points since the start of the month and of the year.

    Earned = credits of kind earn/bonus/visit/welcome (pending ones too) minus what refunds
    took back (including points the member now owes); adjustments and spending do not count.
    """
    earned = Q(kind__in=EARNED_KINDS)
    refund = Q(kind=EntryKind.REFUND)
    rows = LedgerEntry.objects.filter(member_id=member_id, created_at__gte=year_start)
    totals = rows.aggregate(
        year_earned=Sum("points", filter=earned) + Sum("pending_points", filter=earned),
        year_refund=Sum("points", filter=refund)
        + Sum("pending_points", filter=refund)
        - Sum("debt_points", filter=refund),
        month_earned=Sum("points", filter=earned & Q(created_at__gte=month_start))
        + Sum("pending_points", filter=earned & Q(created_at__gte=month_start)),
        month_refund=Sum("points", filter=refund & Q(created_at__gte=month_start))
        + Sum("pending_points", filter=refund & Q(created_at__gte=month_start))
        - Sum("debt_points", filter=refund & Q(created_at__gte=month_start)),
    )
    month = (totals["month_earned"] or 0) + (totals["month_refund"] or 0)
    year = (totals["year_earned"] or 0) + (totals["year_refund"] or 0)
    return max(month, 0), max(year, 0)


def leaderboard_opt_in(
    *, member, display_name: str, at: datetime | None = None
) -> LeaderboardProfile:
    """Put the member on the leaderboard under ``display_name`` (or rename them).

    A first opt-in counts the points already earned this month and this year from the ledger,
    so joining late does not start from zero.
    """
    name = display_name_clean(display_name)
    at = at or timezone.now()
    with transaction.atomic():
        locked = member_lock(member)
        if not locked.is_active:
            raise errors.MemberInactive()
        profile = LeaderboardProfile.objects.filter(member_id=locked.pk).first()
        if profile is not None:
            if profile.display_name != name:
                profile.display_name = name
                profile.save(update_fields=["display_name"])
            return profile
        profile = LeaderboardProfile.objects.create(
            member_id=locked.pk, display_name=name, opted_in_at=at
        )
        month_key, year_key = period_keys(at)
        month_start, year_start = _period_starts(at)
        month, year = _earned_since(locked.pk, month_start=month_start, year_start=year_start)
        LeaderboardScore.objects.bulk_create(
            [
                LeaderboardScore(member_id=locked.pk, period=month_key, points=month),
                LeaderboardScore(member_id=locked.pk, period=year_key, points=year),
            ]
        )
    _mark_opted_in()
    return profile


def leaderboard_opt_out(*, member) -> bool:
    """Take the member off the leaderboard: their profile and every score are deleted."""
    with transaction.atomic():
        locked = member_lock(member)
        LeaderboardScore.objects.filter(member_id=locked.pk).delete()
        deleted, _rows = LeaderboardProfile.objects.filter(member_id=locked.pk).delete()
    if deleted:
        from campaigns.games import games_changed

        games_changed()
    return bool(deleted)


# --------------------------------------------------------------------------------------------
# Keeping scores (hooks)
# --------------------------------------------------------------------------------------------


def _any_opted_in() -> bool:
    from campaigns.games import games_snapshot

    return games_snapshot().leaderboard


def _mark_opted_in() -> None:
    from campaigns.games import games_changed, games_snapshot

    if not games_snapshot().leaderboard:
        games_changed()


def _upsert_sql() -> str:
    score = LeaderboardScore._meta.db_table
    profile = LeaderboardProfile._meta.db_table
    # One statement for both periods: a member without a profile selects no rows, so
    # nothing is written for members who did not opt in. A refund never takes a score
    # below zero.
    one = f"SELECT member_id, CAST(%s AS varchar(7)), CAST(%s AS integer) FROM {profile} WHERE member_id = %s"  # noqa: S608
    return (
        f"INSERT INTO {score} (member_id, period, points) {one} UNION ALL {one} "
        f"ON CONFLICT (member_id, period) DO UPDATE SET points = CASE "
        f"WHEN {score}.points + %s < 0 THEN 0 ELSE {score}.points + %s END"
    )


def scores_add(*, member_id: int, points: int, at: datetime) -> None:
    """Add ``points`` (negative for a refund) to the member's month and year scores."""
    if not points:
        return
    month_key, year_key = period_keys(at)
    start = max(points, 0)
    with connection.cursor() as cursor:
        cursor.execute(
            _upsert_sql(),
            [month_key, start, member_id, year_key, start, member_id, points, points],
        )


def _on_points_earned(*, member_id: int, points: int, at: datetime, **_kwargs) -> None:
    if points and _any_opted_in():
        scores_add(member_id=member_id, points=points, at=at)


def _on_points_earned_bulk(*, rows, **_kwargs) -> None:
    if not rows or not _any_opted_in():
        return
    ids = {member_id for member_id, points, _at in rows if points}
    opted = set(
        LeaderboardProfile.objects.filter(member_id__in=ids).values_list("member_id", flat=True)
    )
    if not opted:
        return
    deltas: dict[tuple[int, str], int] = {}
    for member_id, points, at in rows:
        if member_id not in opted or not points:
            continue
        if points < 0:
            # The purchase batch only credits; a take-back goes the clamped way all the same.
            scores_add(member_id=member_id, points=points, at=at)
            continue
        for key in period_keys(at):
            deltas[(member_id, key)] = deltas.get((member_id, key), 0) + points
    if not deltas:
        return
    table = LeaderboardScore._meta.db_table
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (member_id, period, points) VALUES (%s, %s, %s) "  # noqa: S608
            f"ON CONFLICT (member_id, period) DO UPDATE SET points = {table}.points + excluded.points",
            [(member_id, key, delta) for (member_id, key), delta in sorted(deltas.items())],
        )


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardRow:
    rank: int
    display_name: str
    points: int
    member_id: int


def leaderboard_top(*, period: str, n: int = TOP_DEFAULT) -> list[BoardRow]:
    """Return the top ``n`` of a period (members with points only); ties share a rank."""
    period = period_clean(period)
    n = max(1, min(int(n), TOP_MAX))
    rows = (
        LeaderboardScore.objects.filter(period=period, points__gt=0)
        .order_by("-points", "member_id")
        .values_list("member_id", "points", "member__leaderboard_profile__display_name")[:n]
    )
    board: list[BoardRow] = []
    for index, (member_id, points, name) in enumerate(rows):
        rank = board[-1].rank if board and board[-1].points == points else index + 1
        board.append(
            BoardRow(rank=rank, display_name=name or "", points=points, member_id=member_id)
        )
    return board


@dataclass(frozen=True)
class OwnRank:
    rank: int | None
    points: int
    # Below the first EXACT_RANK_LIMIT places: "in the top N %" instead of an exact rank.
    top_percent: int | None = None


# An exact rank counts the scores above the member's; that stays cheap near the top. Further
# down the member's place is given as a percentile, from cut points computed once per
# PERCENTILES_TTL seconds per period (one sort of the period, never one per request).
EXACT_RANK_LIMIT = 1000
PERCENTILES_TTL = 600


def _percentile_cuts(period: str) -> list[int]:
    """Return the points at the top 1 %, 2 %, ... 99 % positions of a period (descending)."""
    key = f"campaigns:leaderboard-percentiles:{period}"
    cuts = cache.get(key)
    if cuts is not None:
        return cuts
    scores = LeaderboardScore.objects.filter(period=period, points__gt=0)
    if connection.vendor == "postgresql":
        table = LeaderboardScore._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT percentile_disc(%s::float8[]) WITHIN GROUP (ORDER BY points DESC) "  # noqa: S608
                f"FROM {table} WHERE period = %s AND points > 0",
                [[k / 100 for k in range(1, 100)], period],
            )
            cuts = list(cursor.fetchone()[0] or [])
    else:
        values = list(scores.order_by("-points").values_list("points", flat=True))
        # As PostgreSQL's percentile_disc: the value at position ceil(fraction × n).
        n = len(values)
        cuts = [values[max(math.ceil(n * k / 100) - 1, 0)] for k in range(1, 100)] if n else []
    cache.set(key, cuts, PERCENTILES_TTL)
    return cuts


def _top_percent(period: str, points: int) -> int:
    for k, cut in enumerate(_percentile_cuts(period), start=1):
        if points >= cut:
            return k
    return 100


def leaderboard_rank(*, member, period: str) -> OwnRank | None:
    """Return the member's rank and points in a period, or None when they did not opt in.

    The rank is 1 + how many scored strictly more (ties share a rank); no rank before the
    member has any points in the period. Beyond the first ``EXACT_RANK_LIMIT`` places the
    rank is None and ``top_percent`` says where the member stands.
    """
    period = period_clean(period)
    if not LeaderboardProfile.objects.filter(member_id=member.pk).exists():
        return None
    points = (
        LeaderboardScore.objects.filter(member_id=member.pk, period=period)
        .values_list("points", flat=True)
        .first()
    ) or 0
    if points <= 0:
        return OwnRank(rank=None, points=0)
    higher = (
        LeaderboardScore.objects.filter(period=period, points__gt=points)
        .values("pk")[:EXACT_RANK_LIMIT]
        .count()
    )
    if higher < EXACT_RANK_LIMIT:
        return OwnRank(rank=higher + 1, points=points)
    return OwnRank(rank=None, points=points, top_percent=_top_percent(period, points))


def _on_member_erased(*, member, **_kwargs) -> None:
    # An erased member leaves the board: the display name they chose is theirs to take away.
    LeaderboardScore.objects.filter(member_id=member.pk).delete()
    LeaderboardProfile.objects.filter(member_id=member.pk).delete()


def connect() -> None:
    """Register the leaderboard's hooks."""
    hooks.register("points_earned", _on_points_earned)
    hooks.register("points_earned_bulk", _on_points_earned_bulk)
    hooks.register("member_erased", _on_member_erased)
