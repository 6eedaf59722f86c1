"""Inbound webhook receive path: POST /api/v1/webhooks/receive/{path} with Stripe-signed events (distinct ids), on a
production-mode gunicorn with PostgreSQL and Redis, beside the bare view /healthz under the same load.

Each request: rate-limit counter (Redis), endpoint lookup, signature check on the raw body, one INSERT, the
processing task published to the broker after commit, the JSON answer. No worker runs: the published tasks are
removed from the broker at the end.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/9 \
        python bench/inbound_receive.py [--concurrency 8] [--requests 300] [--workers 2] [--threads 1]

Target: p95 under 30 ms and at least 500 requests/s.
"""

import argparse
import json
import time

from common import bench_environment, load, manage, report, server

SECRET = "whsec_bench_0123456789abcdefghijklmnopqrstuv"

SETUP = f"""
import json
from providers.catalog_loader import CATALOG_DIR
from providers.services import provider_sync_entry
from providers.models import Provider
from tenants.models import Tenant
from integrations.models import Integration
from webhooks.inbound import inbound_endpoint_create

provider_sync_entry(json.loads((CATALOG_DIR / "stripe.json").read_text()))
tenant = Tenant.objects.create(name="Bench", slug="bench")
integration = Integration.objects.create(
    tenant=tenant, provider=Provider.objects.get(key="stripe"), name="Stripe", auth_type="api_key", status="active"
)
endpoint, _ = inbound_endpoint_create(tenant=tenant, integration=integration, name="Stripe events", secret={SECRET!r})
print(endpoint.path)
"""

COUNT = "from webhooks.models import InboundEvent; print(InboundEvent.objects.count())"


def stripe_request(event_id: str, ts: int) -> tuple[bytes, dict]:
    import hashlib
    import hmac

    body = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2024-06-20",
            "created": ts,
            "livemode": False,
            "type": "invoice.paid",
            "data": {"object": {"id": "in_1NG8Dt2eZvKYlo2C", "object": "invoice", "amount_paid": 2000}},
        }
    ).encode()
    signature = hmac.new(SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "Stripe-Signature": f"t={ts},v1={signature}"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=300, help="per concurrent client")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    with bench_environment("bench_inbound_receive") as env:
        env = {**env, "RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_WEBHOOK_RECEIVER": "100000000/minute"}
        path = manage(env, "shell", "-c", SETUP).strip().splitlines()[-1]
        # Signed ahead of time, so the load generator spends its CPU on sending (it shares the machine).
        ts = int(time.time())
        warmup = 20
        ids = range(-(args.concurrency * warmup), args.concurrency * args.requests)
        signed = {i: stripe_request(f"evt_bench_{i}", ts) for i in ids}
        url_path = f"/api/v1/webhooks/receive/{path}"
        with server(env, workers=args.workers, threads=args.threads) as base:
            url = base + url_path

            def receive(session, i):
                body, headers = signed[i]
                return session.post(url, data=body, headers=headers, timeout=10)

            received = load(receive, concurrency=args.concurrency, requests_per_worker=args.requests, warmup=warmup)
            bare = load(
                lambda s, i: s.get(f"{base}/healthz", timeout=10),
                concurrency=args.concurrency,
                requests_per_worker=args.requests,
                warmup=warmup,
            )
        stored = int(manage(env, "shell", "-c", COUNT).strip().splitlines()[-1])
        _purge_broker(env["REDIS_URL"])

    print(
        json.dumps(
            {
                "concurrency": args.concurrency,
                "gunicorn_workers": args.workers,
                "threads": args.threads,
                "events_stored": stored,
                "events_sent": len(signed),
            }
        )
    )
    report(
        "Inbound webhook receive (Stripe scheme: verify, store, enqueue, answer)",
        [("GET /healthz (bare Django view)", bare), ("POST /api/v1/webhooks/receive/{path}", received)],
        baseline="GET /healthz (bare Django view)",
    )
    p95, rps = received["p95"], received["rps"]
    verdict = "met" if p95 < 30 and rps >= 500 else "NOT met"
    print(f"target p95 < 30 ms and >= 500 req/s: {verdict} (p95 {p95:.1f} ms, {rps:.0f} req/s)")


def _purge_broker(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete("inbound", *[f"inbound\x06\x16{p}" for p in (3, 6, 9)])
    client.close()


if __name__ == "__main__":
    main()
