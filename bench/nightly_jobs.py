"""Measure the nightly ledger jobs and the ledger check on the big bench database.

Runs ``points_release_pending`` and ``points_expire_due`` as the nightly Celery tasks do
(``as_of`` = now), reporting the lots and points each handled and the time; then times
``ledger_drift`` (what ``manage.py check_ledger`` runs) on the first ``--check-members``
members, or on all of them with ``--check-members 0``.

The jobs change the data (they release and expire for real); regenerate the database with
``bench/generate_data.py --reset`` to measure them again on the same backlog.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench
    .venv/bin/python bench/nightly_jobs.py --check-members 100000
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

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from loyalty.models import PointsLot  # noqa: E402
from loyalty.selectors import ledger_drift  # noqa: E402
from loyalty.services import points_expire_due, points_release_pending  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check-members",
        type=int,
        default=100_000,
        help="check the ledger of the first N members (0: all members)",
    )
    parser.add_argument("--skip-jobs", action="store_true", help="only time the ledger check")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to the PostgreSQL bench database.")
    if connection.settings_dict["HOST"] not in ("127.0.0.1", "localhost"):
        sys.exit("Only a local database (127.0.0.1) is accepted.")

    as_of = timezone.now()
    if not args.skip_jobs:
        due_release = PointsLot.objects.filter(
            is_available=False, remaining__gt=0, available_at__lte=as_of
        ).count()
        t0 = time.perf_counter()
        released = points_release_pending(as_of=as_of)
        elapsed = time.perf_counter() - t0
        print(
            f"points_release_pending: {due_release:,} lots, {released:,} points "
            f"in {elapsed:.1f}s ({due_release / max(elapsed, 1e-9):,.0f} lots/s)"
        )

        due_expiry = PointsLot.objects.filter(remaining__gt=0, expires_at__lte=as_of).count()
        members = (
            PointsLot.objects.filter(remaining__gt=0, expires_at__lte=as_of)
            .values("member_id")
            .distinct()
            .count()
        )
        t0 = time.perf_counter()
        expired = points_expire_due(as_of=as_of)
        elapsed = time.perf_counter() - t0
        print(
            f"points_expire_due: {due_expiry:,} lots of {members:,} members, {expired:,} points "
            f"in {elapsed:.1f}s ({due_expiry / max(elapsed, 1e-9):,.0f} lots/s)"
        )

    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM members_member")
        low = cursor.fetchone()[0]
    member_ids = None
    label = "all members"
    if args.check_members:
        member_ids = list(range(low, low + args.check_members))
        label = f"{args.check_members:,} members"
    t0 = time.perf_counter()
    drift = ledger_drift(member_ids=member_ids)
    elapsed = time.perf_counter() - t0
    print(f"ledger_drift ({label}): {len(drift)} problems in {elapsed:.1f}s")


if __name__ == "__main__":
    main()
