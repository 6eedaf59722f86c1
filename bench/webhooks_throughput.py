"""Outbound webhook throughput: the real pipeline (trigger -> outbox rows -> Redis -> Celery workers -> signed POST ->
attempt recorded) against a bare sender (plain `requests` + the same signing, same receiver, same concurrency).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/9 \
        python bench/webhooks_throughput.py [--subscriptions 100 --events 200 --workers 2 --concurrency 16 \
            --tasks 4 --chunk 0]

100 subscriptions on one local receiver (an asyncio HTTP/1.1 server in its own process), 200 triggers of one event
each matching all of them: 20,000 deliveries. Prints deliveries/s and trigger-to-receipt p50/p95 for the pipeline,
the bare sender's figures, the ratio, and CPU seconds per delivery of the producer, the workers and the bare sender.
Each worker process runs ``--tasks`` Celery task threads (a fan-out chunk each: one claim, records in batches) that
send through ``--concurrency`` send threads, the bare sender's thread count. The schema is made in a throw-away
database with migrations disabled (like pytest --nomigrations), which is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "bench-secret-key-" + "x" * 40,
    "JWT_SIGNING_KEY": "bench-jwt-signing-key-" + "x" * 40,
    "ENCRYPTION_KEYS": "eW3ms9fz6jeiUbyY4HU7gLwmc8CPhtoBXavM3hH24hc=",
    "RATE_LIMIT_ENABLED": "false",
    "LOG_LEVEL": "WARNING",
    "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    "PYTHONUNBUFFERED": "1",
    "DB_CONN_MAX_AGE": "600",
}


# --------------------------------------------------------------------------- the receiver (its own process)


def schema_without_migrations() -> None:
    """Set Django up and make the schema straight from the models (like pytest --nomigrations): the benches' throw-away
    database needs the tables, not their history."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    class NoMigrations:
        def __contains__(self, item):
            return True

        def __getitem__(self, item):
            return None

    settings.MIGRATION_MODULES = NoMigrations()
    call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)


def run_receiver() -> None:
    """A minimal keep-alive HTTP/1.1 server: records (path, webhook-id, arrival time) and answers 200 at once.

    GET /__stats returns the records as JSON; POST /__reset clears them.
    """
    records: list[tuple[str, str, float]] = []
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            self.buffer = b""

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
                    self.transport.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                        + body
                    )
                elif path == "/__reset":
                    records.clear()
                    self.transport.write(ok)
                else:
                    records.append((path, headers.get("webhook-id", ""), time.time()))
                    self.transport.write(ok)

    async def main():
        server = await asyncio.get_running_loop().create_server(Protocol, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())


class ReceiverProcess:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--receiver"], stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        self.port = int(self.proc.stdout.readline())
        self.base = f"http://127.0.0.1:{self.port}"

    def records(self) -> list[tuple[str, str, float]]:
        import requests

        return [tuple(r) for r in requests.get(f"{self.base}/__stats", timeout=30).json()]

    def count(self) -> int:
        return len(self.records())

    def reset(self) -> None:
        import requests

        requests.post(f"{self.base}/__reset", timeout=10)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


# --------------------------------------------------------------------------- bare sender (its own processes)


def run_bare_sender(spec_path: str) -> None:
    """One process of the bare sender: ``threads`` threads, one requests.Session each... shared like the worker."""
    import requests
    from requests.adapters import HTTPAdapter

    from webhooks.signing import build_headers

    spec = json.loads(Path(spec_path).read_text())
    jobs = spec["jobs"]  # [url, event_id, event, body, release_offset]
    secrets = [spec["secret"]]
    start_at = spec["start_at"]
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=10, pool_maxsize=max(10, spec["threads"]), max_retries=0)
    session.mount("http://", adapter)
    lock = threading.Lock()
    position = [0]
    errors = [0]

    def worker():
        while True:
            with lock:
                if position[0] >= len(jobs):
                    return
                url, event_id, event, body, offset = jobs[position[0]]
                position[0] += 1
            wait = start_at + offset - time.time()
            if wait > 0:
                time.sleep(wait)
            data = body.encode()
            headers = build_headers(
                msg_id=event_id, event=event, attempt=1, timestamp=int(time.time()), body=data, secrets=secrets
            )
            try:
                response = session.post(url, data=data, headers=headers, timeout=10, allow_redirects=False)
                response.content  # noqa: B018 - read it, like the worker does
                if response.status_code >= 300:
                    errors[0] += 1
            except requests.RequestException:
                errors[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(spec["threads"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"errors": errors[0], "cpu": time.process_time()}), flush=True)


def bare_run(*, jobs, secret, processes, threads, paced, tmp: Path) -> dict:
    start_at = time.time() + 1.0  # all processes start together
    procs = []
    for n in range(processes):
        share = jobs[n::processes]
        if not paced:
            share = [[*job[:4], 0.0] for job in share]
        spec = tmp / f"bare{n}.json"
        spec.write_text(json.dumps({"jobs": share, "secret": secret, "threads": threads, "start_at": start_at}))
        procs.append(
            subprocess.Popen(
                [sys.executable, __file__, "--bare-sender", str(spec)], stdout=subprocess.PIPE, text=True, cwd=ROOT
            )
        )
    errors, cpu = 0, 0.0
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        result = json.loads(out.strip().splitlines()[-1])
        errors += result["errors"]
        cpu += result["cpu"]
    return {"start_at": start_at, "errors": errors, "cpu": cpu}


# --------------------------------------------------------------------------- the pipeline


def _db_url(base: str, name: str) -> str:
    return urlunparse(urlparse(base)._replace(path=f"/{name}"))


def start_workers(env: dict, *, count: int, concurrency: int, log_dir: Path) -> list[subprocess.Popen]:
    procs = []
    for n in range(count):
        log = open(log_dir / f"worker{n}.log", "wb")  # noqa: SIM115 - lives as long as the worker
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "-Q",
                    "webhooks",
                    "-P",
                    "threads",
                    "-c",
                    str(concurrency),
                    "-n",
                    f"bench{n}-{os.getpid()}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-l",
                    "WARNING",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    return procs


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (Linux /proc), 0.0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_workers(procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]


def wait_for(receiver: ReceiverProcess, count: int, timeout: float) -> list:
    deadline = time.time() + timeout
    while time.time() < deadline:
        records = receiver.records()
        if len(records) >= count:
            return records
        time.sleep(0.5)
    raise SystemExit(f"timed out: the receiver has {receiver.count()} of {count} deliveries")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="celery worker processes")
    parser.add_argument("--concurrency", type=int, default=16, help="send threads per worker process")
    parser.add_argument(
        "--tasks", type=int, default=4, help="celery task threads per worker process (each runs a chunk's claim/record)"
    )
    parser.add_argument(
        "--chunk", type=int, default=0, help="WEBHOOK_FANOUT_CHUNK: deliveries per fan-out task (0: the setting)"
    )
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    import psycopg

    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9")
    dbname = f"bench_webhooks_{os.getpid()}"
    with psycopg.connect(_db_url(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    env = {**os.environ, **BENCH_ENV, "DATABASE_URL": _db_url(base_url, dbname), "REDIS_URL": redis_url}
    if args.chunk:
        env["WEBHOOK_FANOUT_CHUNK"] = str(args.chunk)
    os.environ.update(
        {k: v for k, v in env.items() if k in BENCH_ENV or k in ("DATABASE_URL", "REDIS_URL", "WEBHOOK_FANOUT_CHUNK")}
    )
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    receiver = ReceiverProcess()
    workers: list[subprocess.Popen] = []
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_webhooks_{os.getpid()}"
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        schema_without_migrations()
        import redis
        from django.conf import settings
        from django.db import transaction

        from tenants.models import Tenant
        from webhooks import services
        from webhooks.models import Delivery, DeliveryAttempt, WebhookEvent

        redis.Redis.from_url(redis_url).delete("webhooks", "unacked", "unacked_index")
        tenant = Tenant.objects.create(name="Bench", slug=f"bench-{os.getpid()}")
        secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        for n in range(args.subscriptions):
            services.webhook_create(
                tenant=tenant, name=f"sub {n}", url=f"{receiver.base}/s/{n}", events=["application.*"], secret=secret
            )
        # same concurrency as the bare sender: a worker's fan-out tasks send through WEBHOOK_SEND_THREADS threads
        env["WEBHOOK_SEND_THREADS"] = str(args.concurrency)
        workers = start_workers(env, count=args.workers, concurrency=args.tasks, log_dir=log_dir)

        # warm-up: workers up, connections open
        services.trigger(tenant, "application.created", {"warmup": True})
        wait_for(receiver, args.subscriptions, timeout=120)
        receiver.reset()
        Delivery.objects.all().delete()
        WebhookEvent.objects.all().delete()

        # the run
        total = args.subscriptions * args.events
        trigger_times: dict[str, float] = {}
        workers_cpu = sum(process_cpu_seconds(w.pid) for w in workers)
        producer_cpu = time.process_time()
        started = time.time()
        for n in range(args.events):
            with transaction.atomic():
                event = services.trigger(
                    tenant,
                    "application.created",
                    {"applicationId": f"app-{n}", "candidateId": f"cand-{n}", "jobId": "job-1", "stageId": "applied"},
                )
            trigger_times[str(event.pk)] = time.time()
        triggered = time.time()
        producer_cpu = time.process_time() - producer_cpu
        records = wait_for(receiver, total, timeout=900)
        workers_cpu = sum(process_cpu_seconds(w.pid) for w in workers) - workers_cpu
        finished = max(r[2] for r in records)
        time.sleep(1.0)
        success = Delivery.objects.filter(status="success").count()
        attempts = DeliveryAttempt.objects.count()
        stop_workers(workers)
        workers = []

        pipeline_latency = [(at - trigger_times[wid]) * 1000 for _path, wid, at in records]
        unique = len({(path, wid) for path, wid, _ in records})
        pipeline = {
            "rate": total / (finished - started),
            "p50": statistics.median(pipeline_latency),
            "p95": percentile(pipeline_latency, 95),
            "seconds": finished - started,
        }

        # bare sender: same deliveries (same bytes), same receiver, same processes x threads
        events = {str(e.pk): e for e in WebhookEvent.objects.all()}
        offsets = {wid: t - started for wid, t in trigger_times.items()}
        jobs = [
            [f"{receiver.base}/s/{n}", wid, "application.created", events[wid].body, offsets[wid]]
            for wid in trigger_times
            for n in range(args.subscriptions)
        ]
        bare = {}
        for label, paced in (("bare sender (all at once)", False), ("bare sender (paced like the triggers)", True)):
            receiver.reset()
            run = bare_run(
                jobs=jobs, secret=secret, processes=args.workers, threads=args.concurrency, paced=paced, tmp=log_dir
            )
            records_bare = wait_for(receiver, total, timeout=600)
            release = {wid: run["start_at"] + (offsets[wid] if paced else 0.0) for wid in trigger_times}
            latency = [(at - release[wid]) * 1000 for _path, wid, at in records_bare]
            bare[label] = {
                "cpu": run["cpu"],
                "rate": total / (max(r[2] for r in records_bare) - run["start_at"]),
                "p50": statistics.median(latency),
                "p95": percentile(latency, 95),
                "errors": run["errors"],
            }

        print(
            f"\nOutbound webhooks: {args.subscriptions} subscriptions x {args.events} events = {total} deliveries; "
            f"{args.workers} worker processes x {args.concurrency} send threads ({args.tasks} task threads, fan-out "
            f"chunks of {settings.WEBHOOK_FANOUT_CHUNK}); {os.cpu_count()} CPUs"
        )
        print(
            f"triggers: {args.events} in {triggered - started:.2f} s "
            f"({args.events / (triggered - started):.0f} events/s, {total / (triggered - started):.0f} deliveries "
            f"written and queued/s)"
        )
        print(f"{'':<40} {'deliveries/s':>13} {'p50 ms':>9} {'p95 ms':>9}")
        rows = {"pipeline (celery workers)": pipeline, **bare}
        for label, figures in rows.items():
            print(f"{label:<40} {figures['rate']:>13.0f} {figures['p50']:>9.0f} {figures['p95']:>9.0f}")
        reference = bare["bare sender (all at once)"]["rate"]
        print(f"ratio pipeline / bare sender (all at once): {pipeline['rate'] / reference:.2f}")
        print(
            f"CPU per delivery: producer {producer_cpu / total * 1000:.2f} ms, celery workers "
            f"{workers_cpu / total * 1000:.2f} ms (their idle polling included), bare sender "
            f"{bare['bare sender (all at once)']['cpu'] / total * 1000:.2f} ms"
        )
        print(
            f"checks: {success}/{total} deliveries success in the database, {attempts} attempts, "
            f"{unique} distinct (subscription, webhook-id) received, {len(records) - unique} duplicates, "
            f"bare errors {sum(b['errors'] for b in bare.values())}"
        )
    finally:
        stop_workers(workers)
        receiver.stop()
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            with psycopg.connect(_db_url(base_url, "postgres"), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--receiver":
        run_receiver()
    elif len(sys.argv) > 2 and sys.argv[1] == "--bare-sender":
        run_bare_sender(sys.argv[2])
    else:
        main()
