"""Measure ``loyalty.services.purchase_record`` throughput and latency on PostgreSQL.

Calls the service in-process (no HTTP), for members picked at random from the big bench
database, with one to a few purchase lines each, a receipt number, and the earning rules
of ``bench/generate_data.py``. With ``--processes 2`` the purchases are shared between two
processes that start together. Prints purchases per second and p50/p95/p99 latency.

Outbox events are handed to Celery's in-memory broker (``CELERY_TASK_ALWAYS_EAGER=false``),
as a web process hands them to Redis in production; no worker delivers them here, so the
time measured is the service's own transaction.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench
    .venv/bin/python bench/purchase_record.py --purchases 5000
    .venv/bin/python bench/purchase_record.py --purchases 5000 --processes 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "false")

import django

django.setup()

from django.db import connection  # noqa: E402

from loyalty.models import Location  # noqa: E402
from loyalty.services import purchase_record  # noqa: E402
from members.models import Member  # noqa: E402

ITEMS = [
    ("COF-CAP", "coffee", "Cappuccino", Decimal("3.90")),
    ("COF-LAT", "coffee", "Caffè latte", Decimal("4.20")),
    ("PAS-KOR", "pastry", "Cinnamon bun", Decimal("3.50")),
    ("SAN-SAL", "sandwich", "Smoked salmon on rye", Decimal("8.50")),
    ("BEANS-250", "beans", "House blend beans, 250 g", Decimal("12.90")),
]


def percentile(sorted_values: list[float], pct: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def basket(rng: random.Random) -> list[dict]:
    lines = []
    for sku, category, description, price in rng.sample(ITEMS, rng.randint(1, 3)):
        quantity = rng.randint(1, 3)
        lines.append(
            {
                "sku": sku,
                "category": category,
                "description": description,
                "quantity": quantity,
                "amount": price * quantity,
            }
        )
    return lines


def run(worker: int, count: int, seed: int, run_id: str, start_at: float) -> dict:
    """Record ``count`` purchases and return the latencies (seconds) and the wall time."""
    connection.close()  # a forked process must not share its parent's connection
    rng = random.Random(seed * 1000 + worker)
    locations = list(Location.objects.filter(code__startswith="bench-"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM members_member")
        low, high = cursor.fetchone()
    ids = [rng.randint(low, high) for _ in range(count)]
    members = Member.objects.in_bulk(ids)
    plan = [(members[i], rng.choice(locations), basket(rng)) for i in ids if i in members]
    while time.time() < start_at:
        time.sleep(0.001)
    latencies = []
    t_start = time.perf_counter()
    for n, (member, location, lines) in enumerate(plan):
        total = sum((line["amount"] for line in lines), Decimal(0))
        t0 = time.perf_counter()
        purchase_record(
            member=member,
            location=location,
            total=total,
            lines=lines,
            external_id=f"{run_id}-{worker}-{n}",
            source="api",
        )
        latencies.append(time.perf_counter() - t0)
    return {"latencies": latencies, "wall": time.perf_counter() - t_start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--purchases", type=int, default=5000, help="in total, all processes")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured purchases first")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to the PostgreSQL bench database.")
    if connection.settings_dict["HOST"] not in ("127.0.0.1", "localhost"):
        sys.exit("Only a local database (127.0.0.1) is accepted.")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM members_member")
        print(f"{cursor.fetchone()[0]:,} members in {connection.settings_dict['NAME']}")

    run_id = uuid.uuid4().hex[:8]
    if args.warmup:
        run(0, args.warmup, args.seed + 7, f"{run_id}w", time.time())
    connection.close()

    per_worker = args.purchases // args.processes
    start_at = time.time() + 1.0
    jobs = [(w, per_worker, args.seed, run_id, start_at) for w in range(args.processes)]
    if args.processes == 1:
        results = [run(*jobs[0])]
    else:
        with multiprocessing.get_context("fork").Pool(args.processes) as pool:
            results = pool.starmap(run, jobs)

    latencies = sorted(lat for r in results for lat in r["latencies"])
    wall = max(r["wall"] for r in results)
    print(
        f"{len(latencies):,} purchases, {args.processes} process(es): "
        f"{len(latencies) / wall:,.0f} purchases/s over {wall:.1f}s"
    )
    print(
        "latency ms: "
        f"p50 {percentile(latencies, 50) * 1000:.1f}, "
        f"p95 {percentile(latencies, 95) * 1000:.1f}, "
        f"p99 {percentile(latencies, 99) * 1000:.1f}, "
        f"max {latencies[-1] * 1000:.1f}, "
        f"mean {statistics.fmean(latencies) * 1000:.1f}"
    )


if __name__ == "__main__":
    main()
