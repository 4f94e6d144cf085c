"""Every event type the code writes can be chosen by a webhook subscription."""

from __future__ import annotations

import re
from pathlib import Path

from loyalty.webhooks import WEBHOOK_EVENT_TYPES

ROOT = Path(__file__).resolve().parents[2]
EVENT_TYPE = re.compile(r'type="([a-z_]+\.[a-z_]+)"')


def test_every_event_type_written_by_the_code_is_a_webhook_event_type():
    written = set()
    for app in ("loyalty", "members", "rewards", "campaigns"):
        for path in (ROOT / app).rglob("*.py"):
            if "tests" in path.parts or "migrations" in path.parts:
                continue
            written |= set(EVENT_TYPE.findall(path.read_text(encoding="utf-8")))

    assert written, "the scan found no event types at all"
    assert sorted(written - set(WEBHOOK_EVENT_TYPES)) == []
