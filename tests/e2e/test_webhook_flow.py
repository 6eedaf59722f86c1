"""Flow control and operational events end to end: real `celery worker` processes, Redis, PostgreSQL and receivers
on 127.0.0.1. A failing endpoint never holds up the others (circuit breaker, concurrency cap), a receiver is not
flooded (rateLimit, Retry-After), and the tenant's other subscriptions hear about failures (webhook.*).
"""

import json
import time

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.conftest import client_for
from tests.e2e.conftest import Reply
from tests.e2e.test_webhook_delivery import FAST, statuses, subscribe, wait_until
from tests.factories import MembershipFactory, TenantFactory
from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt, Webhook, WebhookEvent

pytestmark = pytest.mark.e2e


def ops_received(receiver, path):
    """The operational events a receiver got, as (event, data) in arrival order."""
    return [(json.loads(r.body)["event"], json.loads(r.body)["data"]) for r in receiver.received(path)]


# --------------------------------------------------------------------------- circuit breaker


def test_an_open_breaker_parks_messages_without_spending_attempts_and_they_flow_when_it_closes(
    celery_workers, receiver
):
    env = {**FAST, "WEBHOOK_RETRY_BASE_SECONDS": "1", "WEBHOOK_BREAKER_FAILURES": "3"}
    env["WEBHOOK_BREAKER_COOLDOWN_SECONDS"] = "5"
    celery_workers.start(env=env)
    tenant = TenantFactory()
    client = client_for(MembershipFactory(tenant=tenant))
    receiver.default = Reply(500)
    webhook, _ = subscribe(tenant, receiver.url("/down"), retry_attempts=2)
    healthy, _ = subscribe(tenant, receiver.url("/up"), retry_attempts=2)
    receiver.script("/up", *[Reply(200)] * 20)

    first = [services.trigger(tenant, "job.created", {"n": n}) for n in range(3)]
    wait_until(
        lambda: Webhook.objects.get(pk=webhook.pk).circuit_state == "open", timeout=30, on_timeout=celery_workers.logs
    )
    assert client.get(f"/api/v1/integrations/webhooks/{webhook.pk}").json()["circuitState"] == "open"
    assert client.get(f"/api/v1/integrations/webhooks/{healthy.pk}").json()["circuitState"] == "closed"

    # while it is open, new messages and due retries wait: no request, no attempt spent
    later = [services.trigger(tenant, "job.created", {"n": n}) for n in range(3, 8)]
    receiver.wait_for(8, path="/up", timeout=30)  # the healthy endpoint is not held up
    sent_while_open = len(receiver.received("/down"))
    time.sleep(1.5)
    assert len(receiver.received("/down")) == sent_while_open == 3
    parked = Delivery.objects.filter(webhook=webhook, event__in=later)
    assert all(d.status == "pending" and d.attempt_count == 0 for d in parked)

    # the endpoint heals: the half-open probe succeeds, the breaker closes and every message flows
    receiver.default = Reply(200)
    wait_until(
        lambda: Delivery.objects.filter(webhook=webhook, status="success").count() == 8,
        timeout=40,
        on_timeout=lambda: f"{statuses(webhook=webhook)} {celery_workers.logs()}",
    )
    assert Webhook.objects.get(pk=webhook.pk).circuit_state == "closed"
    assert Delivery.objects.filter(webhook=webhook, status="failed").count() == 0
    # one 500 each for the first three (the breaker opened on them), then one success per message, same webhook-id
    for record in first:
        attempts = DeliveryAttempt.objects.filter(delivery__webhook=webhook, delivery__event=record)
        assert sorted(attempts.values_list("response_status", flat=True)) == [200, 500]
    assert {r.header("webhook-id") for r in receiver.received("/down")} == {str(e.pk) for e in first + later}


def test_a_dead_endpoint_does_not_hold_up_the_others(celery_workers, receiver):
    # one endpoint answers after 6 s, beyond its 1 s timeout; four healthy ones
    env = {**FAST, "WEBHOOK_BREAKER_COOLDOWN_SECONDS": "60", "WEBHOOK_STRAGGLER_SECONDS": "0.5"}
    celery_workers.start(env=env, concurrency=2)
    tenant = TenantFactory()
    receiver.script("/dead", *[Reply(200, delay=6.0)] * 200)
    dead, _ = subscribe(tenant, receiver.url("/dead"), timeout_ms=1000, retry_attempts=5)
    for n in range(4):
        subscribe(tenant, receiver.url(f"/ok-{n}"))

    started = time.time()
    for n in range(40):
        services.trigger(tenant, "candidate.created", {"n": n})
    for n in range(4):
        receiver.wait_for(40, path=f"/ok-{n}", timeout=60)
    elapsed = time.time() - started

    # the healthy ones got everything while the dead one's breaker opened after 5 timeouts
    assert elapsed < 12, elapsed  # waiting out the dead one's 1 s timeouts would take 40 x 1 s / 2 threads
    dead.refresh_from_db()
    assert dead.circuit_state in ("open", "half_open")
    assert len(receiver.received("/dead")) <= 5 + 10  # the breaker's failures + at most the concurrency cap in flight
    assert Delivery.objects.filter(webhook=dead, status="failed").count() == 0


def test_the_concurrency_cap_holds_across_workers(celery_workers, receiver):
    env = {**FAST, "WEBHOOK_ENDPOINT_MAX_CONCURRENCY": "2"}
    celery_workers.start(env=env, concurrency=4)
    celery_workers.start(env=env, concurrency=4)
    tenant = TenantFactory()
    receiver.default = Reply(200, delay=0.4)
    subscribe(tenant, receiver.url("/capped"), timeout_ms=5000)

    for n in range(12):
        services.trigger(tenant, "job.opened", {"n": n})
    seen = receiver.wait_for(12, path="/capped", timeout=60)

    # a request occupies the endpoint for 0.4 s after it arrives: never more than two at once
    arrivals = sorted(r.at for r in seen)
    overlapping = max(sum(1 for b in arrivals if a - 0.35 < b <= a) for a in arrivals)
    assert overlapping <= 2, arrivals
    assert arrivals[-1] - arrivals[0] >= 0.4 * (12 / 2 - 1)


# --------------------------------------------------------------------------- throttling


def test_a_rate_limit_is_honoured_across_workers(celery_workers, receiver):
    celery_workers.start(env=FAST, concurrency=4)
    celery_workers.start(env=FAST, concurrency=4)
    tenant = TenantFactory()
    webhook, _ = subscribe(tenant, receiver.url("/limited"), rate_limit=5, retry_attempts=0)

    events = [services.trigger(tenant, "candidate.updated", {"n": n}) for n in range(30)]
    seen = receiver.wait_for(30, path="/limited", timeout=60)

    arrivals = sorted(r.at for r in seen)
    busiest = max(sum(1 for b in arrivals if a <= b < a + 1.0) for a in arrivals)
    assert busiest <= 10, busiest  # never more than twice the rate in any one second
    assert arrivals[-1] - arrivals[0] >= 30 / 5 - 2  # it was held to about 5 per second
    assert {r.header("webhook-id") for r in seen} == {str(e.pk) for e in events}
    wait_until(lambda: Delivery.objects.filter(webhook=webhook, status="success").count() == 30, timeout=20)
    assert DeliveryAttempt.objects.filter(delivery__webhook=webhook).count() == 30  # a deferral is not an attempt


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_pauses_the_whole_endpoint_without_spending_attempts(celery_workers, receiver, status):
    celery_workers.start(env=FAST, concurrency=4)
    tenant = TenantFactory()
    receiver.script("/busy", Reply(status, b"slow down", headers={"Retry-After": "2"}))
    webhook, _ = subscribe(tenant, receiver.url("/busy"), retry_attempts=0)  # a spent attempt would fail it

    first = services.trigger(tenant, "offer.sent", {"n": 0})
    (refused,) = receiver.wait_for(1, path="/busy", timeout=30)
    wait_until(lambda: Webhook.objects.get(pk=webhook.pk).paused_until is not None, timeout=10)
    others = [services.trigger(tenant, "offer.sent", {"n": n}) for n in range(1, 4)]

    seen = receiver.wait_for(5, path="/busy", timeout=30)
    resumed = sorted(r.at for r in seen[1:])
    assert resumed[0] - refused.at >= 1.9  # nothing, not even the other messages, during the pause
    wait_until(
        lambda: Delivery.objects.filter(webhook=webhook, status="success").count() == 4,
        timeout=20,
        on_timeout=lambda: f"{statuses(webhook=webhook)} {celery_workers.logs()}",
    )
    delivery = Delivery.objects.get(webhook=webhook, event=first)
    assert delivery.attempt_count == 2 and delivery.round_attempts == 1
    assert {r.header("webhook-id") for r in seen} == {str(e.pk) for e in [first, *others]}


# --------------------------------------------------------------------------- operational events


def test_failing_and_exhausted_messages_are_announced_to_the_other_subscriptions(celery_workers, receiver):
    celery_workers.start(env={**FAST, "WEBHOOK_FAILING_AFTER_ATTEMPTS": "2"})
    tenant = TenantFactory()
    receiver.script("/broken", *[Reply(500)] * 3)
    broken, _ = subscribe(tenant, receiver.url("/broken"), events=["*"], retry_attempts=2)
    _watcher, watcher_secret = subscribe(tenant, receiver.url("/watch"), events=["webhook.*"])
    subscribe(tenant, receiver.url("/apps"), events=["application.*"])

    record = services.trigger(tenant, "application.created", {"applicationId": "a-1"})
    receiver.wait_for(2, path="/watch", timeout=30)
    time.sleep(1.0)

    events = ops_received(receiver, "/watch")
    assert [name for name, _ in events] == ["webhook.delivery.failing", "webhook.delivery.exhausted"]
    for _name, data in events:
        assert data["subscriptionId"] == str(broken.pk)
        assert data["eventId"] == str(record.pk) and data["event"] == "application.created"
        assert data["responseStatus"] == 500
    assert [data["attempts"] for _, data in events] == [2, 3]
    for request in receiver.received("/watch"):
        StandardWebhook(watcher_secret).verify(request.body, request.headers)
    # never to the subscription they are about, never to one that does not ask for them
    assert all(json.loads(r.body)["event"] == "application.created" for r in receiver.received("/broken"))
    assert len(receiver.received("/apps")) == 1


def test_a_recovery_after_failures_is_announced(celery_workers, receiver):
    celery_workers.start(env={**FAST, "WEBHOOK_FAILING_AFTER_ATTEMPTS": "2"})
    tenant = TenantFactory()
    receiver.script("/flaky", Reply(503), Reply(503), Reply(200))
    flaky, _ = subscribe(tenant, receiver.url("/flaky"), events=["job.*"], retry_attempts=3)
    subscribe(tenant, receiver.url("/watch"), events=["webhook.endpoint.recovered"])

    services.trigger(tenant, "job.closed", {"jobId": "j"})
    (request,) = receiver.wait_for(1, path="/watch", timeout=30)

    body = json.loads(request.body)
    assert body["event"] == "webhook.endpoint.recovered"
    assert body["data"]["subscriptionId"] == str(flaky.pk)
    assert body["data"]["failedAttempts"] == 2


def test_a_410_disables_and_announces_under_both_names(celery_workers, receiver):
    celery_workers.start(env=FAST)
    tenant = TenantFactory()
    receiver.script("/gone", Reply(410))
    gone, _ = subscribe(tenant, receiver.url("/gone"), events=["offer.*"])
    subscribe(tenant, receiver.url("/new"), events=["webhook.endpoint.disabled"])
    subscribe(tenant, receiver.url("/old"), events=["webhook.disabled"])
    subscribe(tenant, receiver.url("/all"), events=["webhook.*"])

    services.trigger(tenant, "offer.declined", {"offerId": "o"})
    receiver.wait_for(2, path="/all", timeout=30)
    receiver.wait_for(1, path="/new", timeout=10)
    receiver.wait_for(1, path="/old", timeout=10)
    time.sleep(0.5)

    assert [name for name, _ in ops_received(receiver, "/new")] == ["webhook.endpoint.disabled"]
    ((old_name, old_data),) = ops_received(receiver, "/old")
    assert old_name == "webhook.disabled" and old_data["webhookId"] == str(gone.pk)
    assert sorted(name for name, _ in ops_received(receiver, "/all")) == [
        "webhook.delivery.exhausted",
        "webhook.disabled",
        "webhook.endpoint.disabled",
    ]
    for _, data in ops_received(receiver, "/all"):
        assert data["subscriptionId"] == str(gone.pk)
    gone.refresh_from_db()
    assert gone.status == "disabled"


def test_two_dead_endpoints_do_not_feed_each_other(celery_workers, receiver):
    celery_workers.start(env={**FAST, "WEBHOOK_FAILING_AFTER_ATTEMPTS": "2", "WEBHOOK_BREAKER_FAILURES": "50"})
    tenant = TenantFactory()
    receiver.default = Reply(500)
    subscribe(tenant, receiver.url("/a"), events=["*"], retry_attempts=1)
    subscribe(tenant, receiver.url("/b"), events=["*"], retry_attempts=1)

    services.trigger(tenant, "interview.scheduled", {"interviewId": "i"})

    # each announces the other's failing and exhausted message once; those deliveries fail silently
    wait_until(
        lambda: Delivery.objects.filter(status="pending").count() == 0 and Delivery.objects.count() == 6,
        timeout=40,
        on_timeout=lambda: f"{statuses()} {celery_workers.logs()}",
    )
    time.sleep(2.0)
    names = sorted(WebhookEvent.objects.filter(tenant=tenant).values_list("event", flat=True))
    assert names == ["interview.scheduled"] + ["webhook.delivery.exhausted"] * 2 + ["webhook.delivery.failing"] * 2
    for delivery in Delivery.objects.filter(event_type__startswith="webhook."):
        assert delivery.event.payload["subscriptionId"] != str(delivery.webhook_id)
