"""The trigger API with a fan-out to 100 subscriptions (p95 against the bare /healthz, same run), then trigger ->
receipt at half the pipeline's maximum rate (p95 against a bare signed POST to the same receiver, same run).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/9 \
        python bench/webhooks_trigger.py [--subscriptions 100 --concurrency 8 --requests 50 --events 200]

Part 1: POST /api/v1/integrations/webhooks/trigger from ``--concurrency`` clients on a production-mode gunicorn
(2 workers), no Celery worker running (the trigger's work is the request: validate, insert the event and its
deliveries, publish the fan-out chunks after commit). Part 2: two Celery worker processes (4 task threads, 16 send
threads each) beside the web; ``--events`` triggers fired at once give the maximum rate (events until the last
receipt), then ``--events`` triggers paced at half that rate give trigger -> receipt latency (from the trigger
request's start to the receiver's arrival time, every delivery).
"""

import argparse
import statistics
import threading
import time
from pathlib import Path

import requests
from common import bench_environment, load, manage, report, server
from webhooks_throughput import ReceiverProcess, start_workers, stop_workers, wait_for

SEED = """
from tenants.models import Tenant
from webhooks import services
tenant = Tenant.objects.get(slug="bench")
for n in range(SUBSCRIPTIONS):
    services.webhook_create(tenant=tenant, name=f"sub {n}", url=f"BASE/s/{n}", events=["application.*"])
print(tenant.webhooks.count())
"""


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=50, help="trigger calls per concurrent client (part 1)")
    parser.add_argument("--events", type=int, default=200, help="triggers per run (part 2)")
    args = parser.parse_args()
    receiver = ReceiverProcess()
    workers = []
    try:
        with bench_environment("bench_trigger") as env:
            manage(env, "create_tenant", "--name", "Bench", "--slug", "bench")
            manage(
                env,
                "create_user",
                "--email",
                "bench@bench.test",
                "--password",
                "bench-pass-123",
                "--tenant",
                "bench",
                "--role",
                "admin",
            )
            seed = SEED.replace("SUBSCRIPTIONS", str(args.subscriptions)).replace("BASE", receiver.base)
            assert int(manage(env, "shell", "-c", seed).strip().splitlines()[-1]) == args.subscriptions
            import redis

            redis.Redis.from_url(env["REDIS_URL"]).delete("webhooks", "unacked", "unacked_index")
            with server(env, workers=2) as base:
                token = requests.post(
                    f"{base}/api/v1/auth/token",
                    json={"email": "bench@bench.test", "password": "bench-pass-123"},
                    timeout=10,
                ).json()["access"]
                headers = {"Authorization": f"Bearer {token}"}
                url = f"{base}/api/v1/integrations/webhooks/trigger"

                def trigger(session, n):
                    data = {"applicationId": f"app-{n}", "candidateId": f"c-{n}", "jobId": "job-1", "stageId": "s"}
                    return session.post(
                        url, json={"event": "application.created", "data": data}, headers=headers, timeout=30
                    )

                first = trigger(requests.Session(), 0)
                assert first.status_code == 200 and first.json()["deliveries"] == args.subscriptions, first.text
                # part 1: the trigger API, no worker draining the queue
                fan_out = load(trigger, concurrency=args.concurrency, requests_per_worker=args.requests, warmup=5)
                bare = load(
                    lambda s, i: s.get(f"{base}/healthz", timeout=10),
                    concurrency=args.concurrency,
                    requests_per_worker=args.requests,
                    warmup=5,
                )
                report(
                    f"Trigger API, fan-out to {args.subscriptions} subscriptions (no worker running)",
                    [("bare /healthz", bare), ("POST …/webhooks/trigger", fan_out)],
                    "bare /healthz",
                )
                redis.Redis.from_url(env["REDIS_URL"]).delete("webhooks", "unacked", "unacked_index")

                # part 2: workers beside the web; maximum rate, then half of it
                log_dir = Path("/tmp") / f"bench_trigger_{int(time.time())}"
                log_dir.mkdir(parents=True, exist_ok=True)
                workers = start_workers({**env, "WEBHOOK_SEND_THREADS": "16"}, count=2, concurrency=4, log_dir=log_dir)
                session = requests.Session()
                trigger(session, -1)
                wait_for(receiver, args.subscriptions, timeout=120)
                receiver.reset()
                total = args.events * args.subscriptions

                def fire(count: int, interval: float) -> dict[str, float]:
                    started_at: dict[str, float] = {}
                    clients = 4
                    lock = threading.Lock()
                    slots = iter(range(count))
                    origin = time.time() + 0.2

                    def client():
                        s = requests.Session()
                        while True:
                            with lock:
                                n = next(slots, None)
                            if n is None:
                                return
                            due = origin + n * interval
                            if due > time.time():
                                time.sleep(due - time.time())
                            at = time.time()
                            response = trigger(s, n)
                            started_at[response.json()["eventId"]] = at

                    threads = [threading.Thread(target=client) for _ in range(clients)]
                    for thread in threads:
                        thread.start()
                    for thread in threads:
                        thread.join()
                    return started_at

                started = time.time()
                fire(args.events, 0.0)
                records = wait_for(receiver, total, timeout=600)
                maximum = args.events / (max(r[2] for r in records) - started)
                receiver.reset()
                half = maximum / 2
                started_at = fire(args.events, 1 / half)
                records = wait_for(receiver, total, timeout=600)
                latency = [(at - started_at[wid]) * 1000 for _path, wid, at in records if wid in started_at]
                receiver.reset()

                # the floor: one bare signed POST to the same receiver, paced the same way, one at a time
                from webhooks.signing import build_headers

                body = b'{"id":"x","event":"application.created","data":{}}'
                floor = []
                for n in range(200):
                    at = time.time()
                    signed = build_headers(
                        msg_id=f"bare-{n}",
                        event="application.created",
                        attempt=1,
                        timestamp=int(at),
                        body=body,
                        secrets=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
                    )
                    session.post(f"{receiver.base}/s/bare", data=body, headers=signed, timeout=10).content  # noqa: B018
                    floor.append((time.time() - at) * 1000)
                print(
                    f"\nTrigger -> receipt: {args.events} triggers x {args.subscriptions} subscriptions; "
                    f"2 worker processes x 4 task threads x 16 send threads beside 2 gunicorn workers"
                )
                print(f"maximum rate: {maximum:.1f} triggers/s ({maximum * args.subscriptions:.0f} deliveries/s)")
                print(
                    f"at half of it ({half:.1f} triggers/s): trigger -> receipt p50 {statistics.median(latency):.0f} "
                    f"ms, p95 {percentile(latency, 95):.0f} ms ({len(latency)} deliveries)"
                )
                print(
                    f"floor, bare signed POST to the same receiver: p50 {statistics.median(floor):.1f} ms, "
                    f"p95 {percentile(floor, 95):.1f} ms"
                )
    finally:
        stop_workers(workers)
        receiver.stop()


if __name__ == "__main__":
    main()
