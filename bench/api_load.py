"""Measure the REST API through HTTP: gunicorn, PostgreSQL, load from a second process.

What it does, in order (every loop is bounded and stops by itself):

1. Setup (skipped when the database already has members, or with ``--no-setup``; ``--setup``
   drops the database and starts again): creates the PostgreSQL database (default ``loyalty_apibench`` on 127.0.0.1), migrates it and fills
   it with ``bench/generate_data.py`` (20,000 members with 10 ledger rows each, set-based).
   Then a location API key with ``record_purchases`` is made with ``api_key_create``.
2. For each dispatch mode (``--modes eager,redis``): starts ``gunicorn loyalty.wsgi -w N``
   on 127.0.0.1 with DEBUG=false, a random SECRET_KEY, ALLOWED_HOSTS=127.0.0.1, the
   database URL and CONN_MAX_AGE. *eager*: no Celery broker, so the outbox dispatch task runs
   in the request after commit; *redis*: ``CELERY_BROKER_URL=redis://127.0.0.1:6379/<db>``, the
   dispatch is only queued (no worker runs; the queue is deleted afterwards).
   The API key throttle stays on, with a rate far above the load (``API_RATE_LIMIT``).
3. Closed loop, with ``wrk`` (Debian package) and C connections for T seconds: the trivial
   endpoint ``GET /api/v1/health/`` (no key, no database), then ``POST /api/v1/purchases/``
   (``bench/api_load.lua``: a unique receipt per request, random members, 1-3 lines).
4. Open loop at 70 % of the measured purchase peak for T seconds, from an asyncio client in
   this process: requests are sent on a fixed schedule whatever the server does, and each
   latency is counted from the moment the request was due (no coordinated omission).
5. Batch: ``POST /api/v1/purchases/batch/`` with 1,000 purchases per request, one after the
   other, and purchases per second.

The server is stopped at the end of each mode, also on errors and Ctrl-C.

    createdb -h 127.0.0.1 -U postgres loyalty_apibench       # or let the script do it
    .venv/bin/python bench/api_load.py                        # everything, both modes
    .venv/bin/python bench/api_load.py --modes eager --workers 4 --duration 20
    .venv/bin/python bench/api_load.py --count-queries        # queries of one request

Only 127.0.0.1 is ever loaded or connected to.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LUA = ROOT / "bench" / "api_load.lua"
HOST = "127.0.0.1"
ITEMS = [
    ("COF-CAP", "coffee", "Cappuccino", 390),
    ("COF-LAT", "coffee", "Caffe latte", 420),
    ("PAS-KOR", "pastry", "Cinnamon bun", 350),
    ("SAN-SAL", "sandwich", "Smoked salmon on rye", 850),
    ("BEANS-250", "beans", "House blend beans, 250 g", 1290),
]


def log(message: str) -> None:
    print(message, flush=True)


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def cents(n: int) -> str:
    return f"{n // 100}.{n % 100:02d}"


def purchase_body(rng: random.Random, low: int, high: int, external_id: str) -> dict:
    lines, total = [], 0
    for sku, category, description, price in rng.sample(ITEMS, rng.randint(1, 3)):
        quantity = rng.randint(1, 3)
        total += price * quantity
        lines.append(
            {
                "sku": sku,
                "category": category,
                "description": description,
                "quantity": quantity,
                "amount": cents(price * quantity),
            }
        )
    return {
        "member": rng.randint(low, high),
        "total": cents(total),
        "external_id": external_id,
        "lines": lines,
    }


# --------------------------------------------------------------------------------------------
# Setup (in this process, through Django)
# --------------------------------------------------------------------------------------------


def database_url(name: str) -> str:
    return f"postgres://postgres@{HOST}:5432/{name}"


def django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def run_checked(cmd: list[str], env: dict | None = None) -> None:
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True, cwd=ROOT, env=env)


def setup_database(args) -> None:
    url = database_url(args.db)
    exists = subprocess.run(
        ["psql", "-h", HOST, "-U", "postgres", "-tAc",
         f"SELECT 1 FROM pg_database WHERE datname = '{args.db}'"],
        capture_output=True, text=True, check=True,
    ).stdout.strip() == "1"  # fmt: skip
    env = {**os.environ, "DATABASE_URL": url}
    if exists and args.setup:
        run_checked(["dropdb", "-h", HOST, "-U", "postgres", args.db])
        exists = False
    if not exists:
        run_checked(["createdb", "-h", HOST, "-U", "postgres", args.db])
    members = 0
    if exists:
        members = int(
            subprocess.run(
                ["psql", "-h", HOST, "-U", "postgres", "-d", args.db, "-tAc",
                 "SELECT count(*) FROM members_member"],
                capture_output=True, text=True,
            ).stdout.strip() or 0
        )  # fmt: skip
    if members:
        log(f"{members:,} members already in {args.db}: setup skipped (--setup to start again)")
        return
    run_checked([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env)


def fill_members(args) -> None:
    """The bench programme (rules, locations bench-1..3) and members, in bulk."""
    from django.db import connection, transaction

    from members.identifiers import luhn_check_digit
    from members.models import Member

    if Member.objects.exists():
        return
    sys.path.insert(0, str(ROOT / "bench"))
    from generate_data import ensure_programme  # the rules and locations of the other benches

    t0 = time.perf_counter()
    ensure_programme()
    chunk = 5000
    for start in range(1, args.members + 1, chunk):
        with transaction.atomic():
            Member.objects.bulk_create(
                [
                    Member(
                        phone=f"+35850{i:07d}",
                        email=f"member{i}@apibench.example",
                        first_name=f"Member {i}",
                        card_number=f"8{i:010d}" + luhn_check_digit(f"8{i:010d}"),
                        qr_token=f"a{i:09d}" + uuid.uuid4().hex[:22],
                        enrolled_via="import",
                    )
                    for i in range(start, min(start + chunk, args.members + 1))
                ],
                batch_size=1000,
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    log(f"{args.members:,} members created in {time.perf_counter() - t0:.1f} s")


def bench_key(args) -> dict:
    """Make a fresh location key and return it with the member id range."""
    from django.db import connection

    from loyalty.api_base import api_key_create
    from loyalty.models import ApiKey, Location

    location = Location.objects.filter(code="bench-1").first()
    if location is None:
        sys.exit("No location bench-1: run the setup (--setup).")
    _key, text = api_key_create(
        name=f"api_load {time.strftime('%Y-%m-%d %H:%M')}",
        permissions=[ApiKey.Permission.RECORD_PURCHASES],
        location=location,
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id), count(*) FROM members_member")
        low, high, count = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM loyalty_purchase")
        purchases = cursor.fetchone()[0]
    connection.close()
    return {"key": text, "low": low, "high": high, "members": count, "purchases": purchases}


def count_queries(info: dict) -> None:
    """Post one purchase and one batch of 10 in-process and print the queries they run."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Bearer {info['key']}")
    rng = random.Random(5)
    run = uuid.uuid4().hex[:8]
    for label, url, body in [
        ("health", "/api/v1/health/", None),
        ("purchase (warm-up)", "/api/v1/purchases/",
         purchase_body(rng, info["low"], info["high"], f"q{run}-0")),
        ("purchase", "/api/v1/purchases/",
         purchase_body(rng, info["low"], info["high"], f"q{run}-1")),
        ("batch of 10", "/api/v1/purchases/batch/",
         {"purchases": [purchase_body(rng, info["low"], info["high"], f"q{run}-b{i}")
                        for i in range(10)]}),
    ]:  # fmt: skip
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            if body is None:
                response = client.get(url)
            else:
                response = client.post(url, json.dumps(body), content_type="application/json")
            took = time.perf_counter() - t0
        log(f"{label}: HTTP {response.status_code}, {len(ctx.captured_queries)} queries, "
            f"{took * 1000:.1f} ms")  # fmt: skip
        if label == "purchase" and os.environ.get("SHOW_QUERIES"):
            for q in ctx.captured_queries:
                log("   " + q["sql"][:160])


# --------------------------------------------------------------------------------------------
# CPU accounting: what one request costs, whatever else the machine is doing
# --------------------------------------------------------------------------------------------


def _cpu(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    pids = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            pids += [int(p) for p in (task / "children").read_text().split()]
    return pids


def _pg_backends(db: str) -> list[int]:
    out = subprocess.run(
        ["psql", "-h", HOST, "-U", "postgres", "-d", "postgres", "-tAc",
         f"SELECT pid FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"],
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    return [int(p) for p in out.split()]


class CpuMeter:
    """CPU seconds spent by the gunicorn workers and their PostgreSQL backends in a block."""

    def __init__(self, server: Server | None, db: str):
        self.server, self.db = server, db

    def _snapshot(self) -> dict[int, tuple[str, float]]:
        snap = {}
        if self.server is not None and self.server.proc is not None:
            for pid in [self.server.proc.pid, *_children(self.server.proc.pid)]:
                snap[pid] = ("app", _cpu(pid))
        for pid in _pg_backends(self.db):
            snap[pid] = ("db", _cpu(pid))
        snap[os.getpid()] = ("client", _cpu(os.getpid()))
        return snap

    def __enter__(self) -> CpuMeter:
        self.before = self._snapshot()
        return self

    def __exit__(self, *exc) -> None:
        after = self._snapshot()
        self.used = {"app": 0.0, "db": 0.0, "client": 0.0}
        for pid, (kind, seconds) in after.items():
            self.used[kind] += seconds - self.before.get(pid, (kind, 0.0))[1]

    def per_request(self, requests: int) -> dict:
        n = max(requests, 1)
        return {f"{k}_cpu_ms": round(v * 1000 / n, 2) for k, v in self.used.items()}


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class Server:
    """gunicorn in a process group of its own, stopped by its id."""

    def __init__(self, args, mode: str):
        self.args, self.mode = args, mode
        self.proc: subprocess.Popen | None = None
        self.log_path = RESULTS / f"gunicorn-{mode}.log"

    def env(self) -> dict:
        env = {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": HOST,
            "DATABASE_URL": database_url(self.args.db),
            "CONN_MAX_AGE": str(self.args.conn_max_age),
            "API_RATE_LIMIT": "1000000/min",
            "LOG_LEVEL": "WARNING",
        }
        env.pop("CELERY_TASK_ALWAYS_EAGER", None)
        if self.mode == "redis":
            env["CELERY_BROKER_URL"] = self.args.redis
        else:
            env.pop("CELERY_BROKER_URL", None)
        return env

    def command(self) -> list[str]:
        cmd = [str(ROOT / ".venv" / "bin" / "gunicorn"), "loyalty.wsgi",
               "-w", str(self.args.workers), "-b", f"{HOST}:{self.args.port}",
               "--timeout", "300", "--backlog", "2048"]  # fmt: skip
        if self.args.threads > 1:
            cmd += ["-k", "gthread", "--threads", str(self.args.threads)]
        return cmd

    def __enter__(self) -> Server:
        cmd = self.command()
        log("$ " + " ".join(cmd))
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env(), start_new_session=True,
            stdout=self.log_path.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"gunicorn exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url("/api/v1/health/"), timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        sys.exit("gunicorn did not answer within 60 s")

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.args.port}{path}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # our own process group only
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------------------------


def wrk(
    url: str,
    connections: int,
    seconds: int,
    lua_args: list[str] | None = None,
    meter: CpuMeter | None = None,
) -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if lua_args is not None:
        cmd += ["-s", str(LUA), url, "--", *lua_args]
    else:
        cmd += [url]
    shown = [("<key>" if a.startswith("lk_") else a) for a in cmd]
    log("$ " + " ".join(shown))
    load_before = os.getloadavg()[0]
    meter = meter or CpuMeter(None, "")
    with meter:
        wrk_cpu_before = os.times()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 60)
        wrk_cpu = sum(os.times()[2:4]) - sum(wrk_cpu_before[2:4])
    text = out.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket = re.search(r"Socket errors: (.*)", text)
    statuses = re.search(r"STATUSES (\{.*\})", text)
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", text, re.M))
    result = {
        "rps": rps,
        "requests": requests,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": socket.group(1).strip() if socket else "none",
        "statuses": json.loads(statuses.group(1)) if statuses else None,
        "latency": latency,
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        **meter.per_request(requests),
        "wrk_cpu_ms": round(wrk_cpu * 1000 / max(requests, 1), 3),
    }
    result.pop("client_cpu_ms", None)
    log(
        f"  CPU per request: gunicorn {result.get('app_cpu_ms')} ms, PostgreSQL backends "
        f"{result.get('db_cpu_ms')} ms, wrk {result['wrk_cpu_ms']} ms"
    )
    log(f"  {rps:,.0f} requests/s, {requests:,} requests, non-2xx {result['non_2xx']}, "
        f"socket errors: {result['socket_errors']}, statuses {result['statuses']}, "
        f"latency p50 {latency.get('50')} p99 {latency.get('99')} (closed loop), "
        f"load {result['load_before']} -> {result['load_after']}")  # fmt: skip
    return result


async def _open_loop(port: int, rate: float, seconds: float, bodies: list[bytes]) -> dict:
    """Send len(bodies) requests at ``rate`` per second on a fixed schedule."""
    results: list[tuple[float, float, int]] = []
    in_flight = asyncio.Semaphore(1000)  # bounded; a late request still counts from its due time

    async def one(body: bytes, due: float) -> None:
        sent = None
        status = 0
        async with in_flight:
            try:
                reader, writer = await asyncio.open_connection(HOST, port)
                sent = time.perf_counter()
                writer.write(body)
                await writer.drain()
                data = await asyncio.wait_for(reader.read(), timeout=30)
                writer.close()
                status = int(data[9:12]) if data.startswith(b"HTTP/1.") else 0
            except (TimeoutError, OSError, ValueError):
                status = 0
        end = time.perf_counter()
        results.append((end - due, end - (sent or due), status))

    start = time.perf_counter() + 0.2
    tasks = []
    for i, body in enumerate(bodies):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(body, due)))
    await asyncio.wait(tasks, timeout=60)
    wall = time.perf_counter() - start
    ok = sorted(r[0] for r in results if 200 <= r[2] < 300)
    service = sorted(r[1] for r in results if 200 <= r[2] < 300)
    statuses: dict[str, int] = {}
    for r in results:
        statuses[str(r[2])] = statuses.get(str(r[2]), 0) + 1
    return {
        "target_rate": round(rate, 1),
        "sent": len(bodies),
        "completed_2xx": len(ok),
        "achieved_rate": round(len(ok) / wall, 1) if wall else 0,
        "statuses": statuses,
        "p50_ms": round(percentile(ok, 50) * 1000, 1),
        "p95_ms": round(percentile(ok, 95) * 1000, 1),
        "p99_ms": round(percentile(ok, 99) * 1000, 1),
        "max_ms": round(ok[-1] * 1000, 1) if ok else None,
        "mean_ms": round(statistics.fmean(ok) * 1000, 1) if ok else None,
        "service_p99_ms": round(percentile(service, 99) * 1000, 1),
    }


def open_loop(server: Server, args, info: dict, rate: float, run: str) -> dict:
    rng = random.Random(11)
    count = max(1, int(rate * args.duration))
    bodies = []
    for i in range(count):
        payload = json.dumps(purchase_body(rng, info["low"], info["high"], f"{run}-o{i}"))
        raw = payload.encode()
        bodies.append(
            (
                f"POST /api/v1/purchases/ HTTP/1.1\r\nHost: {HOST}:{args.port}\r\n"
                f"Authorization: Bearer {info['key']}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(raw)}\r\nConnection: close\r\n\r\n"
            ).encode()
            + raw
        )
    log(f"  open loop: {count:,} purchases at {rate:.0f}/s ({args.duration} s)")
    load_before = os.getloadavg()[0]
    with CpuMeter(server, args.db) as meter:
        result = asyncio.run(_open_loop(args.port, rate, args.duration, bodies))
    result.update(meter.per_request(result["sent"]))
    result["load_before"] = round(load_before, 2)
    result["load_after"] = round(os.getloadavg()[0], 2)
    log(f"  {result['achieved_rate']}/s done, statuses {result['statuses']}, latency ms "
        f"p50 {result['p50_ms']} p95 {result['p95_ms']} p99 {result['p99_ms']} "
        f"max {result['max_ms']} (from the due time; server-side p99 "
        f"{result['service_p99_ms']}), load {result['load_before']} -> {result['load_after']}; "
        f"CPU per request: gunicorn {result['app_cpu_ms']} ms, PostgreSQL {result['db_cpu_ms']} "
        f"ms, this client {result['client_cpu_ms']} ms")  # fmt: skip
    return result


def batch(server: Server, args, info: dict, run: str) -> dict:
    rng = random.Random(13)
    created = errors = 0
    times = []
    meter = CpuMeter(server, args.db)
    cpu = {"app": 0.0, "db": 0.0, "client": 0.0}
    for n in range(args.batch_requests):
        body = {
            "purchases": [
                purchase_body(rng, info["low"], info["high"], f"{run}-b{n}-{i}")
                for i in range(args.batch_size)
            ]
        }
        data = json.dumps(body).encode()
        request = urllib.request.Request(
            server.url("/api/v1/purchases/batch/"),
            data=data,
            headers={"Authorization": f"Bearer {info['key']}", "Content-Type": "application/json"},
        )
        t0 = time.perf_counter()
        with meter, urllib.request.urlopen(request, timeout=300) as response:
            answer = json.loads(response.read())
        times.append(time.perf_counter() - t0)
        for k, v in meter.used.items():
            cpu[k] += v
        created += answer["created"]
        errors += answer["errors"] + answer["duplicates"]
    total = sum(times)
    result = {
        "requests": args.batch_requests,
        "per_request": args.batch_size,
        "created": created,
        "not_created": errors,
        "seconds": round(total, 2),
        "purchases_per_s": round(created / total, 1),
        "per_request_s": [round(t, 2) for t in times],
        **{f"{k}_cpu_ms": round(v * 1000 / max(created, 1), 2) for k, v in cpu.items()},
    }
    log(f"  batch: {created:,} created ({errors} not) in {total:.1f} s: "
        f"{result['purchases_per_s']:,.0f} purchases/s; per request {result['per_request_s']}; "
        f"CPU per purchase: gunicorn {result['app_cpu_ms']} ms, PostgreSQL "
        f"{result['db_cpu_ms']} ms")  # fmt: skip
    return result


def redis_cleanup(url: str) -> None:
    """Delete the Celery queues this run filled (only the known keys of that database)."""
    import redis

    client = redis.Redis.from_url(url)
    queued = client.llen("default")
    keys = ["default", "webhooks", *client.scan_iter("_kombu.binding*")]
    client.delete(*keys)
    log(f"  redis: {queued:,} dispatch tasks were queued; queue deleted")


def measure_mode(args, info: dict, mode: str) -> dict:
    run = f"{mode[0]}{uuid.uuid4().hex[:6]}"
    lua_args = [info["key"], str(info["low"]), str(info["high"]), run]
    out: dict = {"mode": mode, "workers": args.workers, "threads": args.threads}
    with Server(args, mode) as server:
        log(f"== {mode}: gunicorn -w {args.workers}, up")
        wrk(server.url("/api/v1/health/"), args.connections, 3)  # warm-up, not kept
        wrk(server.url("/api/v1/purchases/"), args.connections, 3, [*lua_args[:3], run + "w"])
        out["health"] = wrk(
            server.url("/api/v1/health/"), args.connections, args.duration,
            meter=CpuMeter(server, args.db),
        )  # fmt: skip
        out["purchase"] = wrk(
            server.url("/api/v1/purchases/"), args.connections, args.duration, lua_args,
            meter=CpuMeter(server, args.db),
        )  # fmt: skip
        out["ratio"] = round(out["purchase"]["rps"] / out["health"]["rps"], 3)
        log(f"  purchase / health = {out['ratio']:.1%}")
        time.sleep(2)
        out["open_loop"] = open_loop(
            server, args, info, args.fraction * out["purchase"]["rps"], run
        )
        if args.batch_requests:
            time.sleep(2)
            out["batch"] = batch(server, args, info, run)
    if mode == "redis":
        redis_cleanup(args.redis)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="loyalty_apibench")
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--setup", action="store_true", help="drop the database, start again")
    parser.add_argument("--no-setup", action="store_true")
    parser.add_argument("--modes", default="eager,redis")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help=">1: gthread workers")
    parser.add_argument("--conn-max-age", type=int, default=60)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=20, help="seconds per measurement")
    parser.add_argument("--fraction", type=float, default=0.7, help="open-loop rate / peak")
    parser.add_argument("--batch-requests", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--count-queries", action="store_true", help="only count queries")
    args = parser.parse_args()
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", args.db) or args.db in ("postgres", "loyalty"):
        sys.exit("Give a bench database name (letters, digits, underscores).")
    if "127.0.0.1" not in args.redis:
        sys.exit("Only a local Redis (127.0.0.1) is used.")
    RESULTS.mkdir(parents=True, exist_ok=True)

    if not args.no_setup:
        setup_database(args)
    django_setup(database_url(args.db))
    fill_members(args)
    info = bench_key(args)
    log(f"{info['members']:,} members (ids {info['low']}..{info['high']}), "
        f"{info['purchases']:,} purchases so far in {args.db}")  # fmt: skip
    if args.count_queries:
        count_queries(info)
        return

    report = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
        "args": {k: v for k, v in vars(args).items()},
        "modes": [],
    }
    for mode in args.modes.split(","):
        report["modes"].append(measure_mode(args, info, mode.strip()))
    path = RESULTS / f"api_load-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    log(f"\nwritten to {path.relative_to(ROOT)}\n")
    log(
        "| mode | workers | health rps | purchase rps | ratio | rate at 70% | p50 | p95 | p99 "
        "| batch purchases/s | CPU ms per purchase (gunicorn + PostgreSQL) |"
    )
    log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m in report["modes"]:
        o, b, p = m["open_loop"], m.get("batch", {}), m["purchase"]
        log(
            f"| {m['mode']} | {m['workers']} | {m['health']['rps']:,.0f} | {p['rps']:,.0f} | "
            f"{m['ratio']:.1%} | {o['achieved_rate']:,.0f} | {o['p50_ms']} ms | "
            f"{o['p95_ms']} ms | {o['p99_ms']} ms | {b.get('purchases_per_s', '-')} | "
            f"{p['app_cpu_ms']} + {p['db_cpu_ms']} |"
        )


if __name__ == "__main__":
    main()
