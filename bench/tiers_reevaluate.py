"""Measure ``tiers_reevaluate_all`` over the big data set, and a naive per-member loop.

Run against the database made by bench/generate_data.py (PostgreSQL only):

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench
    .venv/bin/python bench/tiers_reevaluate.py --purchases-per-member 5 --naive-sample 2000

It makes sure the programme has three spend tiers and that every member has purchases
(inserted set-based when missing), clears every tier, runs the set-based re-evaluation (the
first run gives every member a tier: the worst case) and again (a quiet night: nothing
changes), and times ``tier_evaluate`` called member by member on a sample to show the ratio
against the quiet night. Results are printed; copy them into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from loyalty.models import Location, Program, Tier, TierMetric, TierWindow  # noqa: E402
from loyalty.tiers import tier_evaluate, tiers_reevaluate_all  # noqa: E402
from members.models import Member  # noqa: E402


def ensure_tiers() -> None:
    program, _ = Program.objects.get_or_create(pk=1)
    program.tier_metric = TierMetric.SPEND
    program.tier_window = TierWindow.ROLLING
    program.tier_window_months = 12
    program.save()
    for rank, name, threshold, multiplier in [
        (1, "Bronze", 0, 1),
        (2, "Silver", 150, 2),
        (3, "Gold", 400, 3),
    ]:
        Tier.objects.update_or_create(
            rank=rank,
            defaults={
                "name": name,
                "threshold": Decimal(threshold),
                "multiplier": Decimal(multiplier),
            },
        )


def ensure_purchases(per_member: int) -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM loyalty_purchase")
        have = cur.fetchone()[0]
        cur.execute("SELECT count(*), min(id), max(id) FROM members_member")
        members, low, high = cur.fetchone()
    want = members * per_member
    if have >= want * 0.9:
        print(f"purchases: {have:,} present")
        return
    location = Location.objects.order_by("pk").first() or Location.objects.create(
        name="Bench", code="bench"
    )
    started = time.monotonic()
    chunk = 100_000
    with connection.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        for start in range(low, high + 1, chunk):
            # Spend between 0 and 120 per purchase, spread over the last 11 months.
            cur.execute(
                """
                INSERT INTO loyalty_purchase (member_id, location_id, external_id, total, currency,
                    occurred_at, recorded_at, source, points_awarded, awards, refunded_amount,
                    points_clawed_back)
                SELECT m.id, %s, NULL, round((random() * 120 + 1)::numeric, 2), 'EUR',
                    now() - (random() * interval '330 days'), now(), 'import', 0, '[]', 0, 0
                FROM members_member m, generate_series(1, %s) g
                WHERE m.id >= %s AND m.id < %s
                """,
                [location.pk, per_member, start, start + chunk],
            )
    print(f"purchases: inserted {want:,} in {time.monotonic() - started:.1f} s")
    with connection.cursor() as cur:
        cur.execute("ANALYZE loyalty_purchase")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--purchases-per-member", type=int, default=5)
    parser.add_argument("--naive-sample", type=int, default=2000)
    parser.add_argument("--chunk-size", type=int, default=5000)
    parser.add_argument(
        "--worst-case", action="store_true", help="time the run where every member changes tier"
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("PostgreSQL only (the big data set lives there).")
    ensure_tiers()
    ensure_purchases(args.purchases_per_member)
    members = Member.objects.count()
    now = timezone.now()
    if args.worst_case:
        # Every member changes tier at once (tiers introduced on a live programme).
        Member.objects.update(tier=None, tier_valid_until=None)
        started = time.monotonic()
        changed = tiers_reevaluate_all(as_of=now, chunk_size=args.chunk_size)
        first = time.monotonic() - started
        print(f"worst case: {members:,} members, {changed:,} tier changes in {first:.1f} s")
    else:
        # Give every member the tier the data qualifies them for in one statement, as the
        # purchases themselves would have done, so the timed run is an ordinary night.
        started = time.monotonic()
        with connection.cursor() as cur:
            cur.execute(
                """
                UPDATE members_member m SET tier_id = q.tier_id,
                    tier_valid_until = now() + interval '13 months'
                FROM (
                    SELECT s.member_id, (SELECT t.id FROM loyalty_tier t WHERE t.threshold <= s.spend
                                         ORDER BY t.rank DESC LIMIT 1) AS tier_id
                    FROM (SELECT member_id, sum(total - refunded_amount) AS spend FROM loyalty_purchase
                          WHERE occurred_at >= now() - interval '12 months' GROUP BY member_id) s
                ) q
                WHERE q.member_id = m.id
                """
            )
        print(f"tiers assigned set-based in {time.monotonic() - started:.1f} s")

    started = time.monotonic()
    again = tiers_reevaluate_all(as_of=now, chunk_size=args.chunk_size)
    second = time.monotonic() - started
    print(f"second run (a quiet night): {again:,} changes in {second:.1f} s")

    sample = list(Member.objects.order_by("pk").values_list("pk", flat=True)[: args.naive_sample])
    Member.objects.filter(pk__in=sample).update(tier=None, tier_valid_until=None)
    started = time.monotonic()
    for member in Member.objects.filter(pk__in=sample).order_by("pk"):
        tier_evaluate(member=member, as_of=now, allow_downgrade=True)
    naive = time.monotonic() - started
    per_member_naive = naive / len(sample)
    per_member_set = second / members
    print(
        f"naive loop: {len(sample):,} members in {naive:.1f} s "
        f"({per_member_naive * 1000:.2f} ms/member; set-based {per_member_set * 1000:.3f} ms/member, "
        f"{per_member_naive / per_member_set:.0f}x faster); extrapolated naive for all: "
        f"{per_member_naive * members / 60:.0f} min"
    )


if __name__ == "__main__":
    main()
