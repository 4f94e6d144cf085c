"""Time the leaderboard's reads at a million opted-in members (PostgreSQL).

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_lbbench
    .venv/bin/python bench/leaderboard.py --members 1000000 --repeat 20

Creates the database if needed, migrates it, and fills it set-based (``INSERT ... SELECT
generate_series``): N members, N leaderboard profiles and one score per member for this
month and for this year (2N score rows; points spread 0..99,999 with many ties). Then it
times, in this process through the real selectors, the top 10, a member's rank near the
top, in the middle and at the bottom, and one earned-points upsert (the hook), and prints
the plans of the two read queries. Results are printed; copy them into docs/benchmarks.md.
Run ``--refill`` to rebuild the data.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")


def ensure_database() -> None:
    """Create the database named in DATABASE_URL when it does not exist yet."""
    import psycopg

    url = urlparse(os.environ.get("DATABASE_URL", ""))
    if url.scheme not in ("postgres", "postgresql"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database, e.g. .../loyalty_lbbench")
    name = url.path.lstrip("/")
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


ensure_database()

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from campaigns.leaderboard import (  # noqa: E402
    leaderboard_rank,
    leaderboard_top,
    period_keys,
    scores_add,
)
from campaigns.models import LeaderboardProfile, LeaderboardScore  # noqa: E402
from members.models import Member  # noqa: E402


def _member_columns() -> tuple[str, str]:
    """Column list and SELECT expressions for members_member, whatever fields it has now.

    Every NOT NULL column gets a plain value of its type; the unique ones are made from the
    row number ``g``.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT column_name, data_type, is_nullable
            FROM information_schema.columns
            WHERE table_name = 'members_member' ORDER BY ordinal_position
            """
        )
        columns = cursor.fetchall()
    unique_text = {
        "phone": "'+35851' || lpad(g::text, 7, '0')",
        "card_number": "'8' || lpad(g::text, 11, '0')",
        "qr_token": "'lb' || lpad(g::text, 10, '0') || substr(md5(g::text), 1, 20)",
    }
    by_type = {
        "integer": "0",
        "bigint": "0",
        "smallint": "0",
        "boolean": "true",
        "timestamp with time zone": "now()",
        "date": "current_date",
        "jsonb": "'[]'::jsonb",
        "numeric": "0",
    }
    names, values = [], []
    for name, data_type, nullable in columns:
        if name == "id":
            names.append(name)
            values.append("g")
        elif name in unique_text:
            names.append(name)
            values.append(unique_text[name])
        elif name == "is_active":
            names.append(name)
            values.append("true")
        elif nullable == "NO":
            names.append(name)
            values.append(by_type.get(data_type, "''"))
    return ", ".join(names), ", ".join(values)


def fill(members: int) -> None:
    month, year = period_keys()
    names, values = _member_columns()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE campaigns_leaderboardscore, campaigns_leaderboardprofile, "
            "members_member RESTART IDENTITY CASCADE"
        )
        cursor.execute(
            f"INSERT INTO members_member ({names}) "
            f"SELECT {values} FROM generate_series(1, %s) AS g",
            [members],
        )
        cursor.execute(
            "INSERT INTO campaigns_leaderboardprofile (member_id, display_name, opted_in_at) "
            "SELECT g, 'Player ' || g, now() FROM generate_series(1, %s) AS g",
            [members],
        )
        # Points: a spread with many ties (100,000 distinct values for a million members).
        cursor.execute(
            "INSERT INTO campaigns_leaderboardscore (member_id, period, points) "
            "SELECT g, %s, (g::bigint * 7919) %% 100000 FROM generate_series(1, %s) AS g "
            "UNION ALL "
            "SELECT g, %s, (g::bigint * 7919) %% 100000 + (g %% 50) "
            "FROM generate_series(1, %s) AS g",
            [month, members, year, members],
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('members_member', 'id'), %s)", [members]
        )
        cursor.execute("ANALYZE members_member")
        cursor.execute("ANALYZE campaigns_leaderboardprofile")
        cursor.execute("ANALYZE campaigns_leaderboardscore")
    print(
        f"filled {members:,} members, profiles and {2 * members:,} scores "
        f"in {time.perf_counter() - started:.1f} s"
    )


def vacuum() -> None:
    # An index-only scan needs the visibility map that VACUUM sets (autovacuum would, later).
    old = connection.connection.autocommit
    connection.connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) campaigns_leaderboardscore")
    finally:
        connection.connection.autocommit = old


def timed(fn, repeat: int) -> tuple[float, object]:
    fn()  # warm
    samples = []
    result = None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples), result


def explain(sql: str, params) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
        return [row[0] for row in cursor.fetchall()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--refill", action="store_true")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    month, _year = period_keys()
    if args.refill or LeaderboardScore.objects.filter(period=month).count() != args.members:
        fill(args.members)
        vacuum()

    # Members at the top, in the middle and at the bottom of this month's board.
    scores = LeaderboardScore.objects.filter(period=month)
    top_id = scores.order_by("-points", "member_id").values_list("member_id", flat=True)[5]
    mid_id = scores.order_by("-points", "member_id").values_list("member_id", flat=True)[
        args.members // 2
    ]
    low_id = (
        scores.filter(points__gt=0)
        .order_by("points", "member_id")
        .values_list("member_id", flat=True)[0]
    )

    print(
        f"\nleaderboard, {args.members:,} opted-in members, period {month}, median of {args.repeat}"
    )
    ms, board = timed(lambda: leaderboard_top(period=month, n=10), args.repeat)
    print(
        f"  top 10                      {ms:7.2f} ms   (first: {board[0].display_name}, "
        f"{board[0].points} points)"
    )
    from django.core.cache import cache

    from campaigns import leaderboard as lb

    cache.delete(f"campaigns:leaderboard-percentiles:{month}")
    t = time.perf_counter()
    lb._percentile_cuts(month)
    cold = (time.perf_counter() - t) * 1000
    print(f"  percentile cut points       {cold:7.2f} ms   (cold; cached 10 minutes)")
    for label, pk in (
        ("rank near the top", top_id),
        ("rank in the middle", mid_id),
        ("rank at the bottom", low_id),
    ):
        member = Member(pk=pk)
        ms, own = timed(lambda m=member: leaderboard_rank(member=m, period=month), args.repeat)
        where = f"rank {own.rank:,}" if own.rank else f"top {own.top_percent} %"
        print(f"  {label:<27} {ms:7.2f} ms   ({where}, {own.points} points)")

    now = timezone.now()
    ms, _ = timed(lambda: scores_add(member_id=mid_id, points=1, at=now), args.repeat)
    print(f"  earned-points upsert (hook) {ms:7.2f} ms")

    qs = (
        LeaderboardScore.objects.filter(period=month, points__gt=0)
        .order_by("-points", "member_id")
        .values_list("member_id", "points", "member__leaderboard_profile__display_name")[:10]
    )
    sql, params = qs.query.sql_with_params()
    print("\nplan, top 10:")
    for line in explain(sql, params):
        print("  " + line)
    points = LeaderboardScore.objects.get(member_id=low_id, period=month).points
    capped = LeaderboardScore.objects.filter(period=month, points__gt=points).values("pk")[
        : lb.EXACT_RANK_LIMIT
    ]
    sql, params = capped.query.sql_with_params()
    print("\nplan, rank at the bottom (capped COUNT of higher scores):")
    for line in explain(f"SELECT COUNT(*) FROM ({sql}) AS higher", params):
        print("  " + line)
    print(f"\nprofiles: {LeaderboardProfile.objects.count():,}")


if __name__ == "__main__":
    main()
