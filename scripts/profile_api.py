"""In-process CPU cost of one API request (no HTTP server, no load generator): the figure to decide by on a busy
machine, where wall-clock req/s is noise. Runs against the database in DATABASE_URL (e.g. one that
`bench/integrations_list.py --keep` seeded, or any dev database with data), as the user given.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mydb REDIS_URL=redis://127.0.0.1:6379/9 \
        python scripts/profile_api.py --email bench@bench.test --password bench-pass-123 \
        [--path /api/v1/integrations?limit=50] [--requests 200] [--profile]

Prints the CPU milliseconds per request (process time, median of 5 rounds) of the path and of the bare /healthz,
their ratio, the queries per request, and with --profile a pyinstrument profile of the path.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "profile-secret-key-" + "x" * 40)
os.environ.setdefault("JWT_SIGNING_KEY", "profile-jwt-signing-key-" + "x" * 40)
os.environ.setdefault("ENCRYPTION_KEYS", "eW3ms9fz6jeiUbyY4HU7gLwmc8CPhtoBXavM3hH24hc=")
os.environ.setdefault("RATE_LIMIT_ENABLED", "false")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402


def cpu_ms_per_request(client: Client, path: str, headers: dict, requests: int) -> float:
    rounds = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(requests):
            response = client.get(path, headers=headers)
            assert response.status_code == 200, response.content[:300]
        rounds.append((time.process_time() - started) * 1000 / requests)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--path", default="/api/v1/integrations?limit=50")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--profile", action="store_true", help="pyinstrument (wall clock) profile of the path")
    parser.add_argument("--cprofile", action="store_true", help="cProfile (CPU time) of the path")
    parser.add_argument("--sort", default="tottime", help="cProfile order: tottime, cumulative, …")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()

    client = Client()
    token = client.post(
        "/api/v1/auth/token", {"email": args.email, "password": args.password}, content_type="application/json"
    ).json()["access"]
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(20):  # warm caches (catalog, camelCase keys, compiled querysets)
        client.get(args.path, headers=headers)
        client.get("/healthz")
    queries = []
    with connection.execute_wrapper(
        lambda execute, sql, params, many, context: queries.append(sql) or execute(sql, params, many, context)
    ):
        client.get(args.path, headers=headers)
    path_ms = cpu_ms_per_request(client, args.path, headers, args.requests)
    bare_ms = cpu_ms_per_request(client, "/healthz", {}, args.requests)
    print(f"{args.path}: {path_ms:.2f} ms CPU per request, {len(queries)} queries")
    print(f"/healthz: {bare_ms:.2f} ms CPU per request")
    print(f"ratio (healthz cost / path cost): {bare_ms / path_ms:.2f}")
    if args.cprofile:
        import cProfile
        import pstats

        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for _ in range(args.requests):
            client.get(args.path, headers=headers)
        profile.disable()
        pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        with profiler:
            for _ in range(args.requests):
                client.get(args.path, headers=headers)
        print(profiler.output_text(unicode=False, color=False, show_all=False))


if __name__ == "__main__":
    main()
