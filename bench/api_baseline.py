"""Framework overhead: GET /api/v1/auth/me (JWT, tenant resolution, rate limiting, camelCase) against the bare view
/healthz (a constant), both on a production-mode gunicorn with PostgreSQL and Redis.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/9 \
        python bench/api_baseline.py
"""

import argparse
import json

import requests
from common import bench_environment, load, manage, report, server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=300, help="per concurrent client")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with bench_environment("bench_api_baseline") as env:
        env = {**env, "RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_DEFAULT": "1000000/minute"}
        manage(env, "create_tenant", "--name", "Bench", "--slug", "bench")
        manage(env, "create_user", "--email", "bench@bench.test", "--password", "bench-pass-123", "--tenant", "bench")
        with server(env, workers=args.workers) as base:
            token = requests.post(
                f"{base}/api/v1/auth/token",
                json={"email": "bench@bench.test", "password": "bench-pass-123"},
                timeout=10,
            ).json()["access"]
            headers = {"Authorization": f"Bearer {token}"}
            me = load(
                lambda s, i: s.get(f"{base}/api/v1/auth/me", headers=headers, timeout=10),
                concurrency=args.concurrency,
                requests_per_worker=args.requests,
            )
            bare = load(
                lambda s, i: s.get(f"{base}/healthz", timeout=10),
                concurrency=args.concurrency,
                requests_per_worker=args.requests,
            )
    print(json.dumps({"concurrency": args.concurrency, "gunicorn_workers": args.workers}))
    report(
        "API baseline",
        [("GET /healthz (bare Django view)", bare), ("GET /api/v1/auth/me", me)],
        baseline="GET /healthz (bare Django view)",
    )


if __name__ == "__main__":
    main()
