"""Shared benchmark plumbing: a throw-away PostgreSQL database, a production-mode gunicorn, a fixed-concurrency load.

Benchmarks are scripts that print figures, not timed tests. They need PostgreSQL and Redis (DATABASE_URL and
REDIS_URL, defaulting to the local servers) and leave nothing behind.
"""

import os
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live import free_port, start_server, wait_until_up  # noqa: E402

SERVER_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "bench-secret-key-" + "x" * 40,
    "JWT_SIGNING_KEY": "bench-jwt-signing-key-" + "x" * 40,
    "ENCRYPTION_KEYS": "eW3ms9fz6jeiUbyY4HU7gLwmc8CPhtoBXavM3hH24hc=",
    "RATE_LIMIT_ENABLED": "false",
    "LOG_LEVEL": "WARNING",
    "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    "PYTHONUNBUFFERED": "1",
}


def _admin_url(url: str, dbname: str) -> str:
    parsed = urlparse(url)
    return urlunparse(parsed._replace(path=f"/{dbname}"))


@contextmanager
def bench_environment(name: str):
    """Creates database `name` on DATABASE_URL's server, migrates it, yields the env for manage.py/gunicorn.

    The name carries the process id, so two benches (or two checkouts) running at once never share a database."""
    import psycopg

    name = f"{name}_{os.getpid()}"

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9")
    with psycopg.connect(_admin_url(base, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, **SERVER_ENV, "DATABASE_URL": _admin_url(base, name), "REDIS_URL": redis_url}
    try:
        manage(env, "migrate", "--noinput", "-v0")
        yield env
    finally:
        with psycopg.connect(_admin_url(base, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed: {result.stderr[-2000:]}")
    return result.stdout


@contextmanager
def server(env: dict, *, workers: int = 2, threads: int = 1):
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    if threads > 1:
        cmd += ["--threads", str(threads)]
    with start_server(cmd, env=env) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/healthz", proc)
        yield base


def load(make_request, *, concurrency: int, requests_per_worker: int, warmup: int = 20) -> dict:
    """Runs `make_request(session, i)` from `concurrency` threads; returns throughput and latency percentiles (ms)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(worker_id: int) -> None:
        session = requests.Session()
        for i in range(warmup):
            make_request(session, -(worker_id * warmup + i) - 1)
        local = []
        for i in range(requests_per_worker):
            start = time.perf_counter()
            response = make_request(session, worker_id * requests_per_worker + i)
            local.append((time.perf_counter() - start) * 1000)
            if response.status_code >= 400:
                errors.append(f"{response.status_code} {response.text[:200]}")
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return _summary(latencies, elapsed, errors)


def _summary(latencies: list[float], elapsed: float, errors: list[str]) -> dict:
    latencies = sorted(latencies)
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies),
        "p95": latencies[int(len(latencies) * 0.95) - 1],
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "latencies": latencies,
        "elapsed": elapsed,
        "error_list": errors,
    }


def alternate(targets: dict, *, rounds: int, concurrency: int, requests_per_worker: int) -> dict[str, dict]:
    """`load` for each of `targets` (name -> make_request) in turn, `rounds` times, merged per target: on a machine
    whose other load comes and goes, the target and its floor then see the same conditions on average."""
    runs: dict[str, list[dict]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, make_request in targets.items():
            runs[name].append(
                load(make_request, concurrency=concurrency, requests_per_worker=max(1, requests_per_worker // rounds))
            )
    return {
        name: _summary(
            [ms for r in results for ms in r["latencies"]],
            sum(r["elapsed"] for r in results),
            [e for r in results for e in r["error_list"]],
        )
        for name, results in runs.items()
    }


def report(title: str, rows: list[tuple[str, dict]], baseline: str) -> None:
    print(f"\n{title}")
    print(f"{'target':<44} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'errors':>7}")
    for name, r in rows:
        print(f"{name:<44} {r['rps']:>9.0f} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['errors']:>7}")
    base = dict(rows)[baseline]
    for name, r in rows:
        if name != baseline:
            print(
                f"ratio {name} / {baseline}: throughput {r['rps'] / base['rps']:.2f}, p50 {r['p50'] / base['p50']:.1f}x"
            )
    for name, r in rows:
        if r["first_error"]:
            print(f"first error of {name}: {r['first_error']}")
