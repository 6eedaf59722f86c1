"""Outbound webhooks end to end: PostgreSQL, Redis, real `celery worker` processes and an HTTP receiver on 127.0.0.1.

Retry delays, the lease and the sweeper's grace period are shortened through settings so the suite stays quick.
"""

import itertools
import json
import time

import pytest
from django.db import transaction
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.e2e.conftest import Reply
from tests.factories import TenantFactory
from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus

pytestmark = pytest.mark.e2e

FAST = {
    "WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    "WEBHOOK_LEASE_SECONDS": "3",
    "WEBHOOK_SWEEP_GRACE_SECONDS": "1",
}


def subscribe(tenant, url, **kwargs):
    kwargs.setdefault("events", ["*"])
    return services.webhook_create(tenant=tenant, name=kwargs.pop("name", "E2E"), url=url, **kwargs)


def wait_until(predicate, *, timeout, interval=0.1, on_timeout=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s. {on_timeout()}")


def statuses(**filters):
    return {s: Delivery.objects.filter(status=s, **filters).count() for s in DeliveryStatus.values}


def test_a_committed_event_is_delivered_signed_by_a_worker(celery_workers, receiver):
    celery_workers.start(env=FAST)
    tenant = TenantFactory()
    webhook, secret = subscribe(tenant, receiver.url("/e2e"))

    with transaction.atomic():
        record = services.trigger(tenant, "application.created", {"applicationId": "a-1"})

    (request,) = receiver.wait_for(1, path="/e2e", timeout=30)
    StandardWebhook(secret).verify(request.body, request.headers)
    assert json.loads(request.body)["id"] == str(record.pk) == request.header("webhook-id")
    wait_until(
        lambda: Delivery.objects.filter(event=record, status="success").exists(),
        timeout=10,
        on_timeout=celery_workers.logs,
    )
    webhook.refresh_from_db()
    assert webhook.success_count == 1


def test_500_500_200_gives_three_attempts_and_success(celery_workers, receiver):
    celery_workers.start(env=FAST)
    tenant = TenantFactory()
    receiver.script("/flaky", Reply(500), Reply(500), Reply(200))
    subscribe(tenant, receiver.url("/flaky"), retry_attempts=3)

    record = services.trigger(tenant, "job.created", {"jobId": "j"})

    wait_until(
        lambda: Delivery.objects.filter(event=record, status="success").exists(),
        timeout=30,
        on_timeout=celery_workers.logs,
    )
    delivery = Delivery.objects.get(event=record)
    assert delivery.attempt_count == 3
    assert list(
        DeliveryAttempt.objects.filter(delivery=delivery)
        .order_by("attempt_number")
        .values_list("response_status", flat=True)
    ) == [500, 500, 200]
    seen = receiver.received("/flaky")
    assert [r.header("X-Webhook-Attempt") for r in seen] == ["1", "2", "3"]
    assert {r.header("webhook-id") for r in seen} == {str(record.pk)}
    # 1 s, 2 s … scaled by WEBHOOK_RETRY_BASE_SECONDS=0.2 (±20 %): the gaps grow
    gaps = [b.at - a.at for a, b in itertools.pairwise(seen)]
    assert 0.15 <= gaps[0] < gaps[1]


def test_a_receiver_down_for_a_while_loses_nothing(celery_workers, receiver):
    # the circuit breaker opens after 5 failures: the other messages wait for its probes (every second here)
    celery_workers.start(env={**FAST, "WEBHOOK_BREAKER_COOLDOWN_SECONDS": "1"}, concurrency=4)
    tenant = TenantFactory()
    subscribe(tenant, receiver.url("/outage"), retry_attempts=8)
    receiver.stop()

    events = [services.trigger(tenant, "candidate.updated", {"n": n}) for n in range(20)]
    wait_until(
        lambda: DeliveryAttempt.objects.filter(outcome="retry").count() >= 5,
        timeout=20,
        on_timeout=celery_workers.logs,
    )
    time.sleep(1.0)
    receiver.start()  # same port

    wait_until(
        lambda: Delivery.objects.filter(status="success").count() == 20,
        timeout=45,
        on_timeout=lambda: f"{statuses()} {celery_workers.logs()}",
    )
    assert {r.header("webhook-id") for r in receiver.received("/outage")} == {str(e.pk) for e in events}
    assert Delivery.objects.filter(status="failed").count() == 0


def test_a_rolled_back_trigger_sends_nothing(celery_workers, receiver):
    celery_workers.start(env=FAST)
    tenant = TenantFactory()
    subscribe(tenant, receiver.url("/rb"))

    with pytest.raises(RuntimeError), transaction.atomic():
        services.trigger(tenant, "offer.created", {"offerId": "rolled-back"})
        raise RuntimeError("caller failed")
    marker = services.trigger(tenant, "offer.created", {"offerId": "committed"})

    receiver.wait_for(1, path="/rb", timeout=30)
    time.sleep(1.0)  # anything else queued would have arrived by now
    (request,) = receiver.received("/rb")
    assert request.header("webhook-id") == str(marker.pk)
    assert json.loads(request.body)["data"] == {"offerId": "committed"}
    assert Delivery.objects.count() == 1


def test_a_worker_killed_mid_batch_then_restarted_delivers_everything_exactly_once(celery_workers, receiver, settings):
    # given 200 deliveries to a slowish receiver and one worker
    settings.WEBHOOK_SWEEP_GRACE_SECONDS = 1
    tenant = TenantFactory()
    receiver.default = Reply(200, b"ok", delay=0.1)
    subscribe(tenant, receiver.url("/batch"), timeout_ms=2000, retry_attempts=5)
    events = [services.trigger(tenant, "application.stage_changed", {"n": n}) for n in range(200)]
    expected = {str(e.pk) for e in events}
    first = celery_workers.start(env=FAST, concurrency=4)

    # when it is SIGKILLed in the middle of the batch
    receiver.wait_for(40, path="/batch", timeout=60)
    celery_workers.kill(first)
    killed_at = time.time()
    done_at_kill = Delivery.objects.filter(status="success").count()
    assert done_at_kill < 200, "the worker finished before it could be killed"

    # and a new worker starts, with the sweeper running as beat would run it
    celery_workers.start(env=FAST, concurrency=4)

    def all_done():
        services.delivery_sweep()
        return Delivery.objects.filter(status="success").count() == 200

    wait_until(all_done, timeout=90, interval=1.0, on_timeout=lambda: f"{statuses()} {celery_workers.logs()}")

    # then every delivery succeeded exactly once in the database …
    assert DeliveryAttempt.objects.filter(outcome="success").count() == 200
    assert set(DeliveryAttempt.objects.filter(outcome="success").values_list("delivery_id", flat=True)) == set(
        Delivery.objects.values_list("id", flat=True)
    )
    # … the receiver saw every webhook-id, and a duplicate only for one in flight at the kill, with the same id and
    # bytes, never after its success was recorded
    seen: dict[str, list] = {}
    for request in receiver.received("/batch"):
        seen.setdefault(request.header("webhook-id"), []).append(request)
    assert set(seen) == expected
    completed = {str(e): d for e, d in Delivery.objects.values_list("event_id", "completed_at")}
    for webhook_id, requests in seen.items():
        assert len({r.body for r in requests}) == 1
        for request in requests:
            assert request.at <= completed[webhook_id].timestamp(), f"{webhook_id} re-sent after its success"
        if len(requests) > 1:
            assert min(r.at for r in requests) <= killed_at, f"{webhook_id} duplicated without a crash"
