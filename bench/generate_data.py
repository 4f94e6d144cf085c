"""Generate a large, consistent data set on PostgreSQL with set-based SQL.

Members, points lots, ledger entries and lot allocations are written by
``INSERT ... SELECT ... FROM generate_series(...)`` in chunks of members, never by a Python
loop per row. Every member gets the same pattern of ``entries / members`` ledger rows spread
over their active months: a welcome bonus, purchase earnings and, every fifth row, a
redemption that uses up the member's oldest lot (with its allocation row). The cached
balances are computed from the same rows, so ``check_ledger`` passes on the result.

Some lots are left where the nightly jobs find work: lots older than the 12-month validity
still holding points (for ``points_expire_due``) and lots whose 14 pending days ended during
the last day (for ``points_release_pending``).

Run it against a database of its own (never a real one)::

    createdb -h 127.0.0.1 -U postgres loyalty_bench
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench
    .venv/bin/python manage.py migrate
    .venv/bin/python bench/generate_data.py --members 1000000 --entries 10000000

Bulk-load shortcuts, for this bench database only: foreign-key triggers are skipped
(``session_replication_role = replica``; the rows are built consistent) and commits are
asynchronous. The release entries of lots that are already spendable are folded into their
credit entries (the credit counts as spendable at once); the sums are the same.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402

from loyalty.models import EarnRule, Location, Program  # noqa: E402

FIRST_NAMES = [
    "Aino", "Eero", "Helmi", "Juho", "Kaisa", "Lauri", "Maria", "Mikko", "Noora", "Onni",
    "Kadri", "Margus", "Liis", "Tõnu", "Anna", "Piotr", "Zofia", "Krzysztof", "Agnieszka",
    "Tomasz", "怡君", "志明", "淑芬", "家豪",
]  # fmt: skip
LAST_NAMES = [
    "Korhonen", "Virtanen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen", "Laine", "Tamm",
    "Saar", "Sepp", "Kask", "Nowak", "Kowalski", "Wiśniewska", "Wójcik", "Kamińska",
    "陳", "林", "黃", "張",
]  # fmt: skip
LANGUAGES = ["fi", "et", "pl", "zh-hant", "en"]

TABLES = [
    "loyalty_lotallocation",
    "loyalty_ledgerentry",
    "loyalty_pointslot",
    "loyalty_refund",
    "loyalty_purchaseline",
    "loyalty_purchase",
    "loyalty_visit",
    "loyalty_event",
    "members_member",
]


def sql_array(values: list[str]) -> str:
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def ensure_programme() -> list[Location]:
    """Set up a programme like the demo café: expiry, pending days and earning rules."""
    program, _created = Program.objects.get_or_create(pk=1)
    program.name = "Bench Café"
    program.points_name = "beans"
    program.validity = "rolling"
    program.validity_months = 12
    program.pending_days = 14
    program.welcome_bonus = 50
    program.first_purchase_bonus = 25
    program.points_per_visit = 5
    program.save()
    rules = [
        ("Pastries earn double", {"kind": "multiplier", "category": "pastry", "multiplier": 2}),
        ("Bag of beans bonus", {"kind": "fixed_per_item", "sku": "BEANS-250", "points": 15}),
        ("Spend over €30 bonus", {"kind": "threshold", "min_total": Decimal(30), "points": 20}),
    ]
    for name, spec in rules:
        EarnRule.objects.get_or_create(name=name, defaults=spec)
    return [
        Location.objects.get_or_create(code=f"bench-{n}", defaults={"name": f"Bench shop {n}"})[0]
        for n in (1, 2, 3)
    ]


def next_id(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
        return cursor.fetchone()[0]


def chunk_sql(*, lo: int, hi: int, k: int, now: str, base: dict[str, int], home: list[int]) -> dict:
    """Return the INSERT statements for the members ``lo..hi`` (1-based within this run)."""
    redeems = k // 5
    credits = k - redeems
    # Per member: a pseudo-random end of activity (most members were active lately, some
    # lapsed up to 300 days ago) and an active span of 30 to 400 days.
    members_cte = f"""
        mem AS (
            SELECT i,
                {base["member"]} + i AS member_id,
                '{now}'::timestamptz - make_interval(
                    secs => power(((i * 2654435761) % 4294967296)::float8 / 4294967296, 3)
                            * 300 * 86400) AS end_at,
                (30 + ((i * 40503 + 977) % 65536)::float8 / 65536 * 370) * 86400 AS span_s
            FROM generate_series({lo}::bigint, {hi}::bigint) AS i
        )"""
    # Row p of a member: every fifth row (p % 5 = 4) is the redemption number r = p / 5,
    # which uses up credit lot number r; the others are credit number c = p - p / 5.
    rows_cte = f"""
        {members_cte},
        pos AS (
            SELECT mem.*, p,
                p % 5 = 4 AS is_redeem,
                p / 5 AS r,
                p - p / 5 AS c,
                end_at - make_interval(secs => span_s * ({k - 1} - p) / {max(k - 1, 1)}) AS at
            FROM mem CROSS JOIN generate_series(0, {k - 1}) AS p
        ),
        credit AS (
            SELECT pos.*,
                CASE WHEN c = 0 THEN 50 ELSE 1 + ((i * 7919 + c * 104729) % 40) END AS amount,
                CASE WHEN c = 0 THEN at ELSE at + interval '14 days' END AS available_at
            FROM pos WHERE NOT is_redeem
        ),
        lot AS (
            SELECT credit.*,
                {base["lot"]} + (i - 1) * {credits} + c + 1 AS lot_id,
                c < {redeems} AS used_up,
                c < {redeems} OR available_at <= '{now}'::timestamptz - interval '1 day'
                    AS spendable
            FROM credit
        )"""
    first_names = sql_array(FIRST_NAMES)
    last_names = sql_array(LAST_NAMES)
    languages = sql_array(LANGUAGES)
    homes = "ARRAY[" + ",".join(str(h) for h in home) + "]::bigint[]"
    members = f"""
        WITH {rows_cte},
        agg AS (
            SELECT i, member_id, end_at,
                sum(CASE WHEN spendable AND NOT used_up THEN amount ELSE 0 END) AS balance,
                sum(CASE WHEN spendable THEN 0 ELSE amount END) AS pending,
                sum(amount) AS lifetime,
                min(at) AS enrolled_at,
                min(at) FILTER (WHERE c = 1) AS first_purchase_at
            FROM lot GROUP BY i, member_id, end_at
        )
        INSERT INTO members_member (
            id, phone, email, first_name, last_name, birth_date, language, card_number,
            qr_token, balance, pending, points_debt, lifetime_points, first_purchase_at,
            last_activity_at, enrolled_at, enrolled_via, is_active, home_location_id,
            marketing_email, marketing_sms, message_frequency, favourite_categories)
        SELECT member_id,
            '+35850' || lpad(member_id::text, 7, '0'),
            'member' || member_id || '@bench.example',
            ({first_names})[1 + (i * 7) % {len(FIRST_NAMES)}],
            ({last_names})[1 + (i * 13) % {len(LAST_NAMES)}],
            date '1950-01-01' + ((i * 7919) % 20000)::int,
            ({languages})[1 + i % {len(LANGUAGES)}],
            body || pg_temp.luhn(body),
            'q' || lpad(member_id::text, 9, '0') || substr(md5(member_id::text), 1, 22),
            balance, pending, 0, lifetime, first_purchase_at, end_at, enrolled_at,
            'import', true,
            ({homes})[1 + i % {len(home)}],
            false, false, 'any', '[]'::jsonb
        FROM agg CROSS JOIN LATERAL (SELECT '9' || lpad(member_id::text, 10, '0') AS body) b
    """
    lots = f"""
        WITH {rows_cte}
        INSERT INTO loyalty_pointslot (
            id, member_id, amount, remaining, is_available, available_at, expires_at, created_at)
        SELECT lot_id, member_id, amount, CASE WHEN used_up THEN 0 ELSE amount END,
            spendable, available_at, at + interval '12 months', at
        FROM lot
    """
    entries = f"""
        WITH {rows_cte},
        entry AS (
            SELECT pos.i, pos.member_id, pos.p, pos.at, pos.is_redeem,
                {base["entry"]} + (pos.i - 1) * {k} + pos.p + 1 AS entry_id,
                lot.lot_id, lot.c,
                CASE
                    WHEN pos.is_redeem THEN -used.amount
                    WHEN lot.spendable THEN lot.amount
                    ELSE 0
                END AS points,
                CASE WHEN NOT pos.is_redeem AND NOT lot.spendable THEN lot.amount ELSE 0 END
                    AS pending_points
            FROM pos
            LEFT JOIN lot ON lot.i = pos.i AND lot.p = pos.p
            LEFT JOIN lot AS used ON pos.is_redeem AND used.i = pos.i AND used.c = pos.r
        )
        INSERT INTO loyalty_ledgerentry (
            id, member_id, kind, points, pending_points, debt_points, balance_after, reason,
            source_type, lot_id, created_at)
        SELECT entry_id, member_id,
            CASE WHEN is_redeem THEN 'redeem' WHEN c = 0 THEN 'welcome' ELSE 'earn' END,
            points, pending_points, 0,
            sum(points) OVER (PARTITION BY i ORDER BY p),
            CASE WHEN is_redeem THEN 'Free coffee' WHEN c = 0 THEN 'Welcome bonus'
                 ELSE 'Receipt B-' || entry_id END,
            CASE WHEN is_redeem THEN 'staff' WHEN c = 0 THEN 'system' ELSE 'purchase' END,
            lot_id, at
        FROM entry
    """
    allocations = f"""
        WITH {rows_cte}
        INSERT INTO loyalty_lotallocation (id, entry_id, lot_id, points)
        SELECT {base["allocation"]} + (pos.i - 1) * {redeems} + pos.r + 1,
            {base["entry"]} + (pos.i - 1) * {k} + pos.p + 1,
            lot.lot_id, lot.amount
        FROM pos JOIN lot ON lot.i = pos.i AND lot.c = pos.r
        WHERE pos.is_redeem
    """
    return {
        "members": members,
        "lots": lots,
        "entries": entries,
        "allocations": allocations,
    }


LUHN_FUNCTION = """
CREATE OR REPLACE FUNCTION pg_temp.luhn(body text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT ((10 - sum(CASE WHEN d > 9 THEN d - 9 ELSE d END) % 10) % 10)::text
    FROM (
        SELECT substr(body, length(body) - n, 1)::int * (CASE WHEN n % 2 = 0 THEN 2 ELSE 1 END)
            AS d
        FROM generate_series(0, length(body) - 1) AS n
    ) digits
$$
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--chunk", type=int, default=50_000, help="members per transaction")
    parser.add_argument(
        "--reset",
        action="store_true",
        help="empty the member and ledger tables first (only in a database named *bench*)",
    )
    args = parser.parse_args()

    db = connection.settings_dict
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database (e.g. .../loyalty_bench).")
    if db["HOST"] not in ("127.0.0.1", "localhost", ""):
        sys.exit("Only a local database (127.0.0.1) is accepted.")
    k = args.entries // args.members
    if k < 5:
        sys.exit("Give at least 5 entries per member.")
    print(f"database {db['NAME']} on {db['HOST']}: {args.members:,} members × {k} entries")

    started = time.monotonic()
    if args.reset:
        if "bench" not in db["NAME"]:
            sys.exit("--reset works only on a database whose name contains 'bench'.")
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE " + ", ".join(TABLES) + " CASCADE")
        print("tables emptied")
    locations = ensure_programme()
    base = {
        "member": next_id("members_member"),
        "lot": next_id("loyalty_pointslot"),
        "entry": next_id("loyalty_ledgerentry"),
        "allocation": next_id("loyalty_lotallocation"),
    }
    now = datetime.now(UTC).isoformat()
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("SET work_mem = '256MB'")
        cursor.execute(LUHN_FUNCTION)

    totals: dict[str, float] = {}
    for lo in range(1, args.members + 1, args.chunk):
        hi = min(lo + args.chunk - 1, args.members)
        statements = chunk_sql(
            lo=lo, hi=hi, k=k, now=now, base=base, home=[loc.pk for loc in locations]
        )
        timings = []
        t_chunk = time.monotonic()
        with transaction.atomic(), connection.cursor() as cursor:
            for name, sql in statements.items():
                t0 = time.monotonic()
                cursor.execute(sql)
                elapsed = time.monotonic() - t0
                totals[name] = totals.get(name, 0) + elapsed
                timings.append(f"{name} {cursor.rowcount:,} in {elapsed:.1f}s")
        print(
            f"members {lo:,}-{hi:,}: {'; '.join(timings)} "
            f"(chunk {time.monotonic() - t_chunk:.1f}s, total {time.monotonic() - started:.0f}s)",
            flush=True,
        )

    with connection.cursor() as cursor:
        cursor.execute("RESET session_replication_role")
        for table in ("members_member", "loyalty_pointslot", "loyalty_ledgerentry",
                      "loyalty_lotallocation"):  # fmt: skip
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        t0 = time.monotonic()
        for table in ("members_member", "loyalty_pointslot", "loyalty_ledgerentry",
                      "loyalty_lotallocation"):  # fmt: skip
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        print(f"vacuum analyze in {time.monotonic() - t0:.1f}s")
        cursor.execute(
            """
            SELECT relname, n_live_tup, pg_size_pretty(pg_total_relation_size(relid))
            FROM pg_stat_user_tables
            WHERE relname IN ('members_member', 'loyalty_pointslot', 'loyalty_ledgerentry',
                              'loyalty_lotallocation')
            ORDER BY relname
            """
        )
        for name, rows, size in cursor.fetchall():
            print(f"  {name}: {rows:,} rows, {size} with indexes")
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        print(f"  database size {cursor.fetchone()[0]}")
    print("per table: " + ", ".join(f"{name} {sec:.0f}s" for name, sec in totals.items()))
    print(f"done in {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
