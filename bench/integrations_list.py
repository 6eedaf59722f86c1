"""GET /api/v1/integrations?limit=50 on a tenant with 10,000 integrations (half of them with credentials), against
the bare view /healthz, both on a production-mode gunicorn with PostgreSQL and Redis. Leaves nothing behind.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/9 \
        python bench/integrations_list.py [--rows 10000] [--concurrency 8] [--requests 200] [--rounds 4]
"""

import argparse
import json

import requests
from common import alternate, bench_environment, manage, report, server

SEED = """
from django.db import connection

from accounts.models import User
from integrations.models import Connection, Integration
from integrations.services import credential_hint
from providers.models import Provider
from tenants.models import Tenant

tenant = Tenant.objects.get(slug="bench")
user = User.objects.get(email="bench@bench.test")
providers = list(Provider.objects.filter(audience="tenant", status__in=["active", "beta"]).order_by("key"))
rows = [
    Integration(
        tenant=tenant,
        provider=providers[i % len(providers)],
        name=f"Integration {i:05d}",
        description=f"Bench integration number {i}",
        auth_type=providers[i % len(providers)].auth_type,
        status=("pending", "active", "inactive", "error")[i % 4],
        environment=("production", "sandbox", "staging", "development")[i % 4],
        config={"region": "eu", "index": i},
        settings={"syncEnabled": bool(i % 2)},
        created_by=user,
    )
    for i in range(ROWS)
]
Integration.objects.bulk_create(rows, batch_size=1000)
secret = {"apiKey": "sk_test_bench_0123456789abcdefWXYZ"}
hint = credential_hint(secret)
Connection.objects.bulk_create(
    [
        Connection(tenant=tenant, integration=row, auth_type="api_key", credentials=secret, credential_hint=hint)
        for row in rows[::2]
    ],
    batch_size=1000,
)
# What autovacuum soon does after a bulk load (PostgreSQL 13+ vacuums on inserts too): fresh planner statistics and
# a visibility map, without which the list's count reads the whole table instead of an index (15 ms, not 1 ms).
with connection.cursor() as cursor:
    cursor.execute("VACUUM (ANALYZE)")
print(Integration.objects.filter(tenant=tenant).count())
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200, help="per concurrent client")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4, help="the list and the floor alternate this many times")
    args = parser.parse_args()

    with bench_environment("bench_integrations") as env:
        manage(env, "sync_providers")
        manage(env, "create_tenant", "--name", "Bench", "--slug", "bench")
        manage(env, "create_user", "--email", "bench@bench.test", "--password", "bench-pass-123", "--tenant", "bench")
        seeded = manage(env, "shell", "-c", SEED.replace("ROWS", str(args.rows))).strip()
        with server(env, workers=args.workers) as base:
            token = requests.post(
                f"{base}/api/v1/auth/token",
                json={"email": "bench@bench.test", "password": "bench-pass-123"},
                timeout=10,
            ).json()["access"]
            headers = {"Authorization": f"Bearer {token}"}
            first = requests.get(f"{base}/api/v1/integrations?limit=50", headers=headers, timeout=30)
            first.raise_for_status()
            assert first.json()["total"] == args.rows and len(first.json()["items"]) == 50, first.text[:300]
            results = alternate(
                {
                    "listing": lambda s, i: s.get(f"{base}/api/v1/integrations?limit=50", headers=headers, timeout=30),
                    "bare": lambda s, i: s.get(f"{base}/healthz", timeout=10),
                },
                rounds=args.rounds,
                concurrency=args.concurrency,
                requests_per_worker=args.requests,
            )
            listing, bare = results["listing"], results["bare"]
    print(
        json.dumps(
            {
                "integrations": int(seeded.splitlines()[-1]),
                "concurrency": args.concurrency,
                "gunicorn_workers": args.workers,
            }
        )
    )
    report(
        "Integrations list",
        [("GET /healthz (bare Django view)", bare), ("GET /api/v1/integrations?limit=50", listing)],
        baseline="GET /healthz (bare Django view)",
    )


if __name__ == "__main__":
    main()
