"""Outbound delivery CPU, in-process: ``process_many`` (claim, flow control, sign, POST, record) over a fan-out, with
CPU seconds per delivery measured in the same process, and optionally a cProfile of every thread (task threads and
send threads) merged into one table.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/9 \
        python bench/outbound_profile.py [--subscriptions 100 --events 100 --tasks 4 --threads 16 --profile]

No Celery: the triggers' messages are not queued; the script runs the deliver_many chunks itself from ``--tasks``
threads (what a worker's task threads do), against the keep-alive receiver of bench/webhooks_throughput.py.
Prints deliveries/s, process CPU ms per delivery, and with ``--profile`` the functions by cumulative and own time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "bench"))
from webhooks_throughput import BENCH_ENV, ReceiverProcess, _db_url, schema_without_migrations  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=4, help="threads running deliver_many chunks")
    parser.add_argument("--threads", type=int, default=16, help="WEBHOOK_SEND_THREADS")
    parser.add_argument("--profile", action="store_true", help="cProfile every thread, print the merged table")
    parser.add_argument("--top", type=int, default=35)
    args = parser.parse_args()

    import psycopg

    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9")
    dbname = f"bench_outbound_profile_{os.getpid()}"
    with psycopg.connect(_db_url(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    os.environ.update({**BENCH_ENV, "DATABASE_URL": _db_url(base_url, dbname), "REDIS_URL": redis_url})
    os.environ["WEBHOOK_SEND_THREADS"] = str(args.threads)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    receiver = ReceiverProcess()
    try:
        schema_without_migrations()
        from django.conf import settings
        from django.db import close_old_connections

        from tenants.models import Tenant
        from webhooks import delivery, services
        from webhooks.models import Delivery

        services.enqueue_deliveries = lambda ids, **kwargs: 0  # this script runs the chunks itself
        tenant = Tenant.objects.create(name="Bench", slug=f"bench-{os.getpid()}")
        secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        for n in range(args.subscriptions):
            services.webhook_create(
                tenant=tenant, name=f"sub {n}", url=f"{receiver.base}/s/{n}", events=["application.*"], secret=secret
            )
        chunk = int(settings.WEBHOOK_FANOUT_CHUNK)

        def fan_out(count: int) -> list[list[str]]:
            chunks = []
            for n in range(count):
                event = services.trigger(
                    tenant,
                    "application.created",
                    {"applicationId": f"app-{n}", "candidateId": f"cand-{n}", "jobId": "job-1", "stageId": "applied"},
                )
                ids = [str(i) for i in event.delivery_ids]
                chunks += [ids[i : i + chunk] for i in range(0, len(ids), chunk)]
            return chunks

        profiles: list[cProfile.Profile] = []
        lock = threading.Lock()

        def profiled(function):
            def run(*a, **kw):
                if not args.profile:
                    return function(*a, **kw)
                profile = cProfile.Profile()
                profile.enable()
                try:
                    return function(*a, **kw)
                finally:
                    profile.disable()
                    with lock:
                        profiles.append(profile)

            return run

        delivery._send_in_thread = profiled(delivery._send_in_thread)

        # CPU of the parts, per thread (time.thread_time), summed: where a delivery's CPU goes
        parts: dict[str, list[float]] = {}

        def timed(name: str, function):
            def run(*a, **kw):
                started = time.thread_time()
                try:
                    return function(*a, **kw)
                finally:
                    spent = time.thread_time() - started
                    with lock:
                        entry = parts.setdefault(name, [0.0, 0])
                        entry[0] += spent
                        entry[1] += 1

            return run

        delivery.send_once = timed("send_once (sign + HTTP POST + read)", delivery.send_once)
        services.delivery_claim_many = timed("delivery_claim_many (1 UPDATE/chunk)", services.delivery_claim_many)
        services.delivery_record_many = timed("delivery_record_many (1 transaction)", services.delivery_record_many)
        delivery.flow.admit = timed("flow.admit (Redis, 1/chunk)", delivery.flow.admit)
        delivery.flow.release_slots = timed("flow.release_slots (Redis)", delivery.flow.release_slots)

        def run(chunks: list[list[str]]) -> float:
            queue = list(chunks)

            def task_thread():
                while True:
                    with lock:
                        if not queue:
                            break
                        ids = queue.pop()
                    profiled(delivery.process_many)(ids)
                close_old_connections()

            threads = [threading.Thread(target=task_thread) for _ in range(args.tasks)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return time.perf_counter() - started

        run(fan_out(2))  # warm-up: connections, caches
        profiles.clear()
        parts.clear()
        chunks = fan_out(args.events)
        total = sum(len(c) for c in chunks)
        cpu = time.process_time()
        elapsed = run(chunks)
        cpu = time.process_time() - cpu
        success = Delivery.objects.filter(status="success").count()
        print(
            f"\nprocess_many in-process: {total} deliveries "
            f"({args.subscriptions} subscriptions x {args.events} events), "
            f"{args.tasks} task threads, {args.threads} send threads; {os.cpu_count()} CPUs"
        )
        print(f"{total / elapsed:.0f} deliveries/s; process CPU {cpu / total * 1000:.3f} ms per delivery")
        print(f"checks: {success} deliveries success in the database (warm-up included)")
        for name, (spent, calls) in sorted(parts.items(), key=lambda item: -item[1][0]):
            print(f"  {name:<42} {spent / total * 1000:7.3f} ms CPU per delivery, {calls} calls")
        if args.profile:
            stats = pstats.Stats(profiles[0])
            for profile in profiles[1:]:
                stats.add(profile)
            stats.sort_stats("cumulative").print_stats(args.top)
            stats.sort_stats("tottime").print_stats(args.top)
    finally:
        receiver.stop()
        from django.db import connections

        connections.close_all()
        with psycopg.connect(_db_url(base_url, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


if __name__ == "__main__":
    main()
