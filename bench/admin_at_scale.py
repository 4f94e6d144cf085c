"""Time the staff admin's busiest pages on the big data set (1M members, 10M ledger rows).

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench
    .venv/bin/python bench/admin_at_scale.py --repeat 5

Requests go through Django's test client in this process (no network), as a superuser,
against the real database. For each page: the median time of the repeats and the number
of SQL queries. Results are printed; copy them into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from members.models import Member  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True}
    )
    user.is_staff = user.is_superuser = True
    user.save()
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)

    sample = Member.objects.filter(pk__gte=500_000).exclude(phone=None).order_by("pk").first()
    national = "0" + sample.phone[4:] if sample.phone.startswith("+358") else sample.phone
    pages = [
        ("member list, first page", "/admin/members/member/"),
        ("member list, page 2,000", "/admin/members/member/?p=2000"),
        ("member search by phone (national notation)", f"/admin/members/member/?q={national}"),
        ("member search by card number", f"/admin/members/member/?q={sample.card_number}"),
        ("member search by last-name prefix", f"/admin/members/member/?q={sample.last_name[:4]}"),
        ("member page (balance, lots, timeline)", f"/admin/members/member/{sample.pk}/change/"),
        ("ledger list, first page", "/admin/loyalty/ledgerentry/"),
        ("ledger of one member", f"/admin/loyalty/ledgerentry/?member__id__exact={sample.pk}"),
        ("purchase list", "/admin/loyalty/purchase/"),
        ("lots list", "/admin/loyalty/pointslot/"),
    ]
    print(f"{'page':48} {'median ms':>10} {'queries':>8}  status")
    for label, url in pages:
        times = []
        queries = 0
        status = None
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as ctx:
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            queries = len(ctx)
            status = response.status_code
        print(f"{label:48} {statistics.median(times):10.1f} {queries:8d}  {status}")


if __name__ == "__main__":
    main()
