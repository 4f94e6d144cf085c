"""End to end through a real Celery worker: Redis broker, a separate process, PostgreSQL.

The test starts ``celery -A loyalty worker`` as a subprocess pointed at this test's database
(pytest-django's ``test_…`` database, read from the live connection) and at a Redis database
of its own (``/5``), sends a real task with eager mode off, waits for its effect in the
database and stops the worker. The worker consumes a queue named for this test run, so two
runs at once (or another suite's worker on the same Redis) never take each other's tasks.
A run takes a few seconds; the limits (60 s to start, 60 s for the effect) leave room for a
busy CI machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.db import connection
from django.utils import timezone

from loyalty.celery import app
from loyalty.models import EntryKind, LedgerEntry, PointsLot
from loyalty.services import points_credit
from loyalty.tasks import points_expire_due
from loyalty.tests.support import assert_ledger_clean
from members.tests.factories import MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BROKER_URL = os.environ.get("CELERY_TEST_BROKER_URL", "redis://127.0.0.1:6379/5")
ROOT = Path(__file__).resolve().parent.parent


def redis_reachable() -> bool:
    try:
        return bool(redis.Redis.from_url(BROKER_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def database_url_of_test_db() -> str:
    s = connection.settings_dict
    user = quote(s["USER"] or "", safe="")
    password = f":{quote(s['PASSWORD'], safe='')}" if s["PASSWORD"] else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def worker_queue(tmp_path):
    """Start a worker on a queue of its own; stop it (and clean its Redis keys) afterwards."""
    if not redis_reachable():
        pytest.skip(f"Redis is not reachable at {BROKER_URL}")
    queue = f"test-worker-{uuid.uuid4().hex[:12]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DATABASE_REPLICA"))}
    env.update(
        DATABASE_URL=database_url_of_test_db(),
        CELERY_BROKER_URL=BROKER_URL,
        CELERY_TASK_ALWAYS_EAGER="false",
        CONN_MAX_AGE="0",
    )
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "loyalty", "worker",
                "-Q", queue, "--pool", "solo", "-l", "info", "-n", f"{queue}@%h",
                "--without-mingle", "--without-gossip", "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while b" ready." not in log.read_bytes():
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "worker did not start:\n" + log.read_text(
                errors="replace"
            )
            time.sleep(0.2)
        yield queue, log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        client = redis.Redis.from_url(BROKER_URL)
        client.delete(queue, f"_kombu.binding.{queue}")


def test_a_real_worker_expires_points_sent_through_redis(program, worker_queue):
    # given a member whose 40 points expired yesterday
    queue, log = worker_queue
    member = MemberFactory()
    points_credit(member=member, points=40, reason="Welcome")
    PointsLot.objects.filter(member=member).update(expires_at=timezone.now() - timedelta(days=1))

    # when the expiry task goes through Redis to the worker process (not run in-process)
    app.conf.task_always_eager = False  # the autouse fixture sets it again for the next test
    try:
        with app.connection_for_write(BROKER_URL) as conn:
            points_expire_due.apply_async(connection=conn, queue=queue)
    finally:
        app.conf.task_always_eager = True

    # then the worker expires the lot in the test database
    deadline = time.monotonic() + 60
    while not LedgerEntry.objects.filter(member=member, kind=EntryKind.EXPIRE).exists():
        assert time.monotonic() < deadline, "no expiry after 60 s:\n" + log.read_text(
            errors="replace"
        )
        time.sleep(0.2)
    member.refresh_from_db()
    assert member.balance == 0
    assert PointsLot.objects.get(member=member).remaining == 0
    assert b"loyalty.points_expire_due" in log.read_bytes()
    assert_ledger_clean()
