"""Measure ``points_expire_due`` on the big bench database: a normal night, the naive
per-member loop on a sample, and the whole backlog.

1. *Naive loop* on ``--naive-sample`` members that have due lots: the same writes as the
   job, but one transaction per member (lock, read the lots, entry, allocations, lots,
   balance), as a per-member Python loop would do.
2. *Backlog*: ``as_of`` = now, every lot past its validity (a year's first run).
3. *A normal night*: then ``as_of`` moves into the future until one night's share of the
   open lots is due (1/365 of the lots that hold points and expire), what a nightly run
   meets on a programme running for years.

The runs change the data; regenerate with ``bench/generate_data.py --reset`` to repeat.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench
    .venv/bin/python bench/points_expiry.py --naive-sample 2000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "false")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from loyalty.models import PointsLot  # noqa: E402
from loyalty.services import _close_lots, _lock_members, points_expire_due  # noqa: E402


def due(as_of) -> tuple[int, int]:
    qs = PointsLot.objects.filter(remaining__gt=0, expires_at__lte=as_of)
    return qs.count(), qs.values("member_id").distinct().count()


def timed(label: str, as_of, chunk_size: int) -> None:
    lots, members = due(as_of)
    t0 = time.perf_counter()
    points = points_expire_due(as_of=as_of, chunk_size=chunk_size)
    elapsed = time.perf_counter() - t0
    print(
        f"{label}: {lots:,} lots of {members:,} members, {points:,} points in {elapsed:.1f}s "
        f"({lots / max(elapsed, 1e-9):,.0f} lots/s, {members / max(elapsed, 1e-9):,.0f} members/s)"
    )


def naive(sample: int, as_of) -> None:
    member_ids = list(
        PointsLot.objects.filter(remaining__gt=0, expires_at__lte=as_of)
        .order_by("member_id")
        .values_list("member_id", flat=True)
        .distinct()[:sample]
    )
    lots_total = 0
    t0 = time.perf_counter()
    for member_id in member_ids:
        with transaction.atomic():
            members = _lock_members([member_id])
            lots = list(
                PointsLot.objects.filter(
                    member_id=member_id, remaining__gt=0, expires_at__lte=as_of
                ).only("pk", "member_id", "remaining", "is_available")
            )
            lots_total += len(lots)
            _close_lots(lots, members=members, as_of=as_of)
    elapsed = time.perf_counter() - t0
    print(
        f"naive loop: {len(member_ids):,} members, {lots_total:,} lots in {elapsed:.1f}s "
        f"({elapsed / max(len(member_ids), 1) * 1000:.1f} ms per member)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--naive-sample", type=int, default=2000)
    parser.add_argument("--chunk-size", type=int, default=5000)
    parser.add_argument("--skip-backlog", action="store_true")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to the PostgreSQL bench database.")
    if connection.settings_dict["HOST"] not in ("127.0.0.1", "localhost"):
        sys.exit("Only a local database (127.0.0.1) is accepted.")

    now = timezone.now()
    if not PointsLot.objects.filter(remaining__gt=0, expires_at__lte=now).exists():
        print("no backlog left (regenerate the data to measure it again)")
    else:
        if args.naive_sample:
            naive(args.naive_sample, now)
        if not args.skip_backlog:
            timed("backlog (every lot past validity)", now, args.chunk_size)
    open_lots = PointsLot.objects.filter(remaining__gt=0, expires_at__gt=now)
    share = open_lots.count() // 365
    ordered = open_lots.order_by("expires_at").values_list("expires_at", flat=True)
    night = next(iter(ordered[share - 1 : share]), None) if share else None
    if night is not None:
        timed("normal night (1/365 of the open lots)", night, args.chunk_size)


if __name__ == "__main__":
    main()
