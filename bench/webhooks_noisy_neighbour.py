"""Noisy neighbour: does one dead endpoint hold up delivery to the others?

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/9 \
        python bench/webhooks_noisy_neighbour.py [--subscriptions 50 --events 400 --workers 2 --concurrency 16 \
            --tasks 4 --slow-after 10 --timeout-ms 5000]

The real pipeline (trigger -> outbox -> Redis -> Celery workers -> signed POST -> attempt recorded), 50 subscriptions
of one tenant on one local receiver (an asyncio HTTP/1.1 server in its own process), every event matching all of
them. Two phases with the same workers:

1. all fifty endpoints healthy (they answer 200 at once): the rate of deliveries to forty-nine of them;
2. the fiftieth endpoint answers only after ``--slow-after`` seconds, beyond its ``--timeout-ms``: the rate of
   deliveries to the same forty-nine (its breaker starts closed: the phase includes the timeouts that open it).

Run in the order 1 2 2 1 (``--rounds 2``) so that a drift of the machine's load weighs on both. Prints the rates,
their means, the ratio and the floor (90 % of phase 1's mean rate, measured in the same run), and what happened to
the slow endpoint (requests it received, messages waiting). Defaults: WEBHOOK_* settings as shipped. The schema is
made in a throw-away database with migrations disabled, dropped at the end. A benchmark, not a timed test: on a
shared machine, run it more than once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from webhooks_throughput import BENCH_ENV, _db_url, schema_without_migrations, start_workers, stop_workers  # noqa: E402

FLOOR = 0.90


def run_receiver(slow_after: float) -> None:
    """Keep-alive HTTP/1.1: records (path, webhook-id, arrival); answers 200 at once, or after ``slow_after`` s for a
    path under /slow/. GET /__stats returns the records as JSON; POST /__reset clears them."""
    records: list[tuple[str, str, float]] = []
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            self.buffer = b""

        def reply(self, data: bytes) -> None:
            if not self.transport.is_closing():
                self.transport.write(data)

        def data_received(self, data):
            self.buffer += data
            while True:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buffer[:end].decode("latin-1").split("\r\n")
                headers = {}
                for line in head[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                if len(self.buffer) < end + 4 + length:
                    return
                self.buffer = self.buffer[end + 4 + length :]
                path = head[0].split(" ")[1]
                if path == "/__stats":
                    body = json.dumps(records).encode()
                    self.reply(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                        + body
                    )
                elif path == "/__reset":
                    records.clear()
                    self.reply(ok)
                else:
                    records.append((path, headers.get("webhook-id", ""), time.time()))
                    if path.startswith("/slow/"):
                        asyncio.get_running_loop().call_later(slow_after, self.reply, ok)
                    else:
                        self.reply(ok)

    async def main():
        server = await asyncio.get_running_loop().create_server(Protocol, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())


class ReceiverProcess:
    def __init__(self, slow_after: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--receiver", str(slow_after)], stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        self.base = f"http://127.0.0.1:{int(self.proc.stdout.readline())}"

    def records(self) -> list[tuple[str, str, float]]:
        import requests

        return [tuple(r) for r in requests.get(f"{self.base}/__stats", timeout=30).json()]

    def reset(self) -> None:
        import requests

        requests.post(f"{self.base}/__reset", timeout=10)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def healthy_records(receiver: ReceiverProcess, healthy: set[str]) -> list:
    return [r for r in receiver.records() if r[0] in healthy]


def phase(services, tenant, receiver, healthy: set[str], events: int, label: str) -> dict:
    """Trigger ``events`` events (one transaction each) and wait until the healthy endpoints got all of them."""
    from django.db import transaction

    receiver.reset()
    expected = len(healthy) * events
    started = time.time()
    for n in range(events):
        with transaction.atomic():
            services.trigger(
                tenant,
                "application.created",
                {"applicationId": f"{label}-{n}", "candidateId": f"c-{n}", "jobId": "job-1", "stageId": "applied"},
            )
    triggered = time.time()
    deadline = time.time() + 900
    while True:
        records = healthy_records(receiver, healthy)
        if len(records) >= expected:
            break
        if time.time() > deadline:
            raise SystemExit(f"{label}: timed out with {len(records)} of {expected} healthy deliveries")
        time.sleep(0.5)
    finished = max(r[2] for r in records)
    unique = len({(path, wid) for path, wid, _ in records})
    return {
        "rate": expected / (finished - started),
        "seconds": finished - started,
        "trigger_seconds": triggered - started,
        "duplicates": len(records) - unique,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscriptions", type=int, default=50)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2, help="celery worker processes")
    parser.add_argument("--concurrency", type=int, default=16, help="send threads per worker process")
    parser.add_argument("--tasks", type=int, default=4, help="celery task threads per worker process")
    parser.add_argument("--slow-after", type=float, default=10.0, help="seconds the slow endpoint takes to answer")
    parser.add_argument("--timeout-ms", type=int, default=5000, help="every subscription's timeout")
    parser.add_argument("--rounds", type=int, default=2, choices=(1, 2), help="1: healthy, noisy; 2: A B B A")
    args = parser.parse_args()

    import psycopg

    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9")
    dbname = f"bench_noisy_{os.getpid()}"
    with psycopg.connect(_db_url(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    env = {**os.environ, **BENCH_ENV, "DATABASE_URL": _db_url(base_url, dbname), "REDIS_URL": redis_url}
    env["WEBHOOK_SEND_THREADS"] = str(args.concurrency)
    os.environ.update({k: v for k, v in env.items() if k in BENCH_ENV or k in ("DATABASE_URL", "REDIS_URL")})
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    receiver = ReceiverProcess(args.slow_after)
    workers: list[subprocess.Popen] = []
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_noisy_{os.getpid()}"
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        schema_without_migrations()
        import redis
        from django.conf import settings

        from tenants.models import Tenant
        from webhooks import services
        from webhooks.models import Delivery, WebhookEvent

        redis.Redis.from_url(redis_url).delete("webhooks", "unacked", "unacked_index")
        tenant = Tenant.objects.create(name="Bench", slug=f"bench-{os.getpid()}")
        secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        subscriptions = [
            services.webhook_create(
                tenant=tenant,
                name=f"sub {n}",
                url=f"{receiver.base}/s/{n}",
                events=["application.*"],
                secret=secret,
                timeout_ms=args.timeout_ms,
            )[0]
            for n in range(args.subscriptions)
        ]
        noisy = subscriptions[0]
        healthy = {f"/s/{n}" for n in range(1, args.subscriptions)}
        workers = start_workers(env, count=args.workers, concurrency=args.tasks, log_dir=log_dir)

        services.trigger(tenant, "application.created", {"warmup": True})
        deadline = time.time() + 120
        while len(receiver.records()) < args.subscriptions:
            if time.time() > deadline:
                raise SystemExit("warm-up timed out")
            time.sleep(0.5)

        def clean():
            Delivery.objects.all().delete()
            WebhookEvent.objects.all().delete()

        # A B B A: the two conditions alternate so that a drift of the machine's load weighs on both alike
        runs: dict[str, list[dict]] = {"healthy": [], "noisy": []}
        slow_requests, waiting, failed, breaker = 0, 0, 0, []
        for n, kind in enumerate(["healthy", "noisy", "noisy", "healthy"][: 2 * args.rounds]):
            clean()
            url = f"{receiver.base}/s/0" if kind == "healthy" else f"{receiver.base}/slow/0?run={n}"
            services.webhook_update(webhook=noisy, data={"url": url})  # a new URL: a closed breaker
            runs[kind].append(phase(services, tenant, receiver, healthy, args.events, f"{kind}-{n}"))
            if kind == "noisy":
                slow_requests += len([r for r in receiver.records() if r[0].startswith("/slow/")])
                waiting += Delivery.objects.filter(webhook=noisy, status="pending").count()
                failed += Delivery.objects.filter(webhook=noisy, status="failed").count()
                noisy.refresh_from_db()
                breaker.append(noisy.circuit_state)
        stop_workers(workers)
        workers = []

        def mean(kind: str, key: str) -> float:
            return sum(r[key] for r in runs[kind]) / len(runs[kind])

        all_healthy = {key: mean("healthy", key) for key in ("rate", "seconds", "duplicates")}
        one_slow = {key: mean("noisy", key) for key in ("rate", "seconds", "duplicates")}
        ratio = one_slow["rate"] / all_healthy["rate"]
        print(
            f"\nNoisy neighbour: {args.subscriptions} subscriptions x {args.events} events; {args.workers} worker "
            f"processes x {args.tasks} task threads x {args.concurrency} send threads; timeouts {args.timeout_ms} ms; "
            f"breaker after {settings.WEBHOOK_BREAKER_FAILURES} failures, cooldown "
            f"{settings.WEBHOOK_BREAKER_COOLDOWN_SECONDS:g} s, cap {settings.WEBHOOK_ENDPOINT_MAX_CONCURRENCY} in "
            f"flight per endpoint; {os.cpu_count()} CPUs"
        )
        for kind, label in (("healthy", "all healthy"), ("noisy", "one slow")):
            rates = ", ".join(f"{r['rate']:.0f}" for r in runs[kind])
            print(f"runs, {label}: {rates} deliveries/s")
        print(f"{'mean':<48} {'deliveries/s':>13} {'seconds':>8} {'duplicates':>11}")
        for label, figures in (
            (f"{len(healthy)} healthy, all {args.subscriptions} healthy", all_healthy),
            (f"{len(healthy)} healthy, one answering after {args.slow_after:g} s", one_slow),
        ):
            print(f"{label:<48} {figures['rate']:>13.0f} {figures['seconds']:>8.1f} {figures['duplicates']:>11}")
        print(
            f"ratio {ratio:.2f} (floor {FLOOR:.2f}: {FLOOR * all_healthy['rate']:.0f} deliveries/s): "
            f"{'kept' if ratio >= FLOOR else 'BELOW THE FLOOR'}"
        )
        print(
            f"the slow endpoint over the slow runs: {slow_requests} requests, {waiting} messages waiting (pending), "
            f"{failed} failed; its breaker at the end of each: {', '.join(breaker)}"
        )
    finally:
        stop_workers(workers)
        receiver.stop()
        from django.db import connections

        connections.close_all()
        with psycopg.connect(_db_url(base_url, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--receiver":
        run_receiver(float(sys.argv[2]))
    else:
        main()
