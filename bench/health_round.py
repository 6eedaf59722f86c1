"""A full health round: `manage.py run_health_checks --wait` over 10,000 active custom_api integrations whose API is
a stand-in HTTP server on 127.0.0.1, checked by the default worker (the Procfile's: prefork, 4 processes, every
queue), against the floor: the same number of bare GETs to the same server at the same concurrency, with no
database, no Celery and no Django. Target: the round inside one 5-minute period. Leaves nothing behind.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/9 \
        python bench/health_round.py [--rows 10000] [--worker-concurrency 4]
"""

import argparse
import json
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from common import ROOT, bench_environment, manage

SEED = """
from django.db import connection
from django.utils import timezone

from integrations.models import Connection, Integration
from providers.models import Provider
from tenants.models import Tenant

tenant = Tenant.objects.get(slug="bench")
provider = Provider.objects.get(key="custom_api")
rows = [
    Integration(
        tenant=tenant,
        provider=provider,
        name=f"Health {i:05d}",
        auth_type="api_key",
        status="active",
        config={"baseUrl": "BASE_URL"},
    )
    for i in range(ROWS)
]
Integration.objects.bulk_create(rows, batch_size=1000)
Connection.objects.bulk_create(
    [
        Connection(
            tenant=tenant,
            integration=row,
            auth_type="api_key",
            credentials={"apiKey": "sk_test_bench_health_0123456789"},
            credential_hint="sk_t…6789",
            connected_at=timezone.now(),
        )
        for row in rows
    ],
    batch_size=1000,
)
with connection.cursor() as cursor:  # what autovacuum soon does after a bulk load
    cursor.execute("VACUUM (ANALYZE)")
print(Integration.objects.filter(status="active").count())
"""


class StandIn(BaseHTTPRequestHandler):
    """A provider's health endpoint: 200 with a small JSON body, keep-alive."""

    protocol_version = "HTTP/1.1"
    body = b'{"ok":true}'

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512


def bare_gets(url: str, count: int, concurrency: int) -> float:
    """The floor: `count` GETs to the stand-in from `concurrency` keep-alive sessions; returns seconds."""
    local = threading.local()

    def get(_):
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        session.get(url, timeout=30).raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(get, range(count)))
    return time.perf_counter() - started


def start_worker(env: dict, concurrency: int) -> subprocess.Popen:
    """The Procfile's worker; returns once it says it is ready."""
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO"),
            *("--queues", "webhooks,inbound,health,default", "--concurrency", str(concurrency)),
            *("--without-gossip", "--without-mingle", "--without-heartbeat"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if " ready." in line:
            break
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the worker did not get ready in 120 s")
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # keep the pipe drained
    return proc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--worker-concurrency", type=int, default=4, help="the Procfile's WORKER_CONCURRENCY")
    args = parser.parse_args()

    server = Server(("127.0.0.1", 0), StandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with bench_environment("bench_health") as env:
            manage(env, "sync_providers")
            manage(env, "create_tenant", "--name", "Bench", "--slug", "bench")
            seeded = manage(env, "shell", "-c", SEED.replace("ROWS", str(args.rows)).replace("BASE_URL", base_url))
            env = {**env, "LOG_LEVEL": "WARNING"}
            host_concurrency = int(env.get("HEALTH_ROUND_HOST_CONCURRENCY", 8))
            in_flight = host_concurrency * args.worker_concurrency
            floor_s = bare_gets(base_url + "/", args.rows, in_flight)
            worker = start_worker(env, args.worker_concurrency)
            try:
                output = manage(env, "run_health_checks", "--wait", "--interval", "10", "--timeout", "1800")
            finally:
                worker.terminate()
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
    finally:
        server.shutdown()
    match = re.search(r"^(\d+) checks in ([\d.]+) s$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"run_health_checks said: {output[-2000:]}")
    checks, round_s = int(match.group(1)), float(match.group(2))
    print(
        json.dumps(
            {
                "integrations": int(seeded.strip().splitlines()[-1]),
                "worker_concurrency": args.worker_concurrency,
                "host_concurrency": host_concurrency,
                "checks_in_flight_at_most": in_flight,
            }
        )
    )
    print("\nHealth round")
    floor_name, round_name = "bare GETs to the stand-in, same concurrency (floor)", "run_health_checks --wait"
    print(f"{'target':<58} {'checks':>7} {'seconds':>8} {'per s':>7}")
    print(f"{floor_name:<58} {args.rows:>7} {floor_s:>8.1f} {args.rows / floor_s:>7.0f}")
    print(f"{round_name + ' on the default worker':<58} {checks:>7} {round_s:>8.1f} {checks / round_s:>7.0f}")
    print(f"ratio round / floor: throughput {(checks / round_s) / (args.rows / floor_s):.2f}")
    print(f"target: {checks} checks inside 300 s: {'met' if round_s <= 300 else 'NOT met'} ({round_s:.0f} s)")


if __name__ == "__main__":
    main()
