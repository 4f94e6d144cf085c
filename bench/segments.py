"""Time segment counts (what the admin's "Count members" and a broadcast's preview run) at scale.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench
    .venv/bin/python manage.py migrate            # the campaigns tables, once
    .venv/bin/python bench/segments.py --repeat 3

Works on the data set of ``bench/generate_data.py`` (and the purchases that
``bench/tiers_reevaluate.py`` adds). Each segment is created unsaved-then-saved inside a
transaction that is rolled back at the end, counted ``--repeat`` times through
``campaigns.segments.segment_count``; the median and the match count are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import transaction
    from django.utils import timezone

    from campaigns.models import Segment
    from campaigns.segments import segment_count
    from loyalty.models import Tier
    from members.models import Member

    now = timezone.now()
    print(f"members: {Member.objects.count():,}")
    specs = {
        "everyone (no condition)": {},
        "inactive for 60+ days": {"inactive_days": 60},
        "joined in the last 365 days": {"joined_after": (now - timezone.timedelta(365)).date()},
        "birthday this month": {"birthday_month": Segment.CURRENT_MONTH},
        "email consent": {"email_consent": "yes"},
        "3+ purchases or visits in 90 days": {"min_visits": 3, "visits_days": 90},
        "spent 100+ in 365 days": {"spend_min": Decimal("100"), "spend_days": 365},
        "win-back: 5+ visits in a year, none in 45 days": {
            "min_visits": 5,
            "visits_days": 365,
            "inactive_days": 45,
        },
    }
    with transaction.atomic():
        for name, fields in specs.items():
            segment = Segment.objects.create(name=f"bench {name}", **fields)
            times, count = [], 0
            for _ in range(args.repeat):
                started = time.perf_counter()
                count = segment_count(segment, as_of=now)
                times.append(time.perf_counter() - started)
            print(f"{name:50} {count:>10,}  {statistics.median(times) * 1000:9.0f} ms")
        top = Tier.objects.order_by("-rank").first()
        if top is not None:
            segment = Segment.objects.create(name="bench top tier")
            segment.tiers.set([top])
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                count = segment_count(segment, as_of=now)
                times.append(time.perf_counter() - started)
            label = f"tier {top.name}"
            print(f"{label:50} {count:>10,}  {statistics.median(times) * 1000:9.0f} ms")
        transaction.set_rollback(True)


if __name__ == "__main__":
    main()
