"""Flow control of outbound delivery (webhooks.flow): the breaker's arithmetic, parking without spending attempts,
wake-ups, the sweeper's respect for paused endpoints, Redis failing open, and the API's rateLimit / circuitState."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone
from jsonschema import Draft202012Validator

from tests.e2e.conftest import Reply
from tests.factories import TenantFactory
from tests.helpers import assert_error
from webhooks import delivery as sender
from webhooks import flow, flow_services, services
from webhooks.events import OPERATIONAL_EVENTS
from webhooks.models import Delivery, DeliveryAttempt, EventType, Webhook, WebhookEvent

BASE = "/api/v1/integrations/webhooks"


@pytest.fixture
def wakes(monkeypatch):
    """Wake-ups the code under test queued, as (webhook id, countdown), instead of sending them to a broker."""
    calls = []
    monkeypatch.setattr(
        services, "enqueue_wake", lambda webhook_id, *, countdown: calls.append((webhook_id, countdown))
    )
    return calls


def row(**fields):
    base = {
        "circuit_state": "closed",
        "circuit_failures": 0,
        "circuit_opened_at": None,
        "paused_until": None,
        "window_started_at": None,
        "window_attempts": 0,
        "window_failures": 0,
    }
    return SimpleNamespace(**{**base, **fields})


# --------------------------------------------------------------------------- the breaker's arithmetic


def test_the_breaker_opens_after_the_configured_failures_in_a_row(settings):
    settings.WEBHOOK_BREAKER_FAILURES = 5
    settings.WEBHOOK_BREAKER_COOLDOWN_SECONDS = 30
    now = timezone.now()

    four = flow.circuit_after(row(circuit_failures=3), successes=0, breaker_failures=1, pause_seconds=None, now=now)
    five = flow.circuit_after(row(circuit_failures=4), successes=0, breaker_failures=1, pause_seconds=None, now=now)

    assert four.state == "closed" and not four.opened
    assert five.state == "open" and five.opened and five.paused
    assert five.paused_until == now + timedelta(seconds=30)


def test_the_breaker_opens_on_a_failure_rate_over_its_window(settings):
    settings.WEBHOOK_BREAKER_FAILURES = 100
    settings.WEBHOOK_BREAKER_MIN_ATTEMPTS = 10
    settings.WEBHOOK_BREAKER_FAILURE_RATE = 0.5
    settings.WEBHOOK_BREAKER_WINDOW_SECONDS = 60
    now = timezone.now()
    recent = row(window_started_at=now - timedelta(seconds=30), window_attempts=8, window_failures=4)
    stale = row(window_started_at=now - timedelta(seconds=90), window_attempts=8, window_failures=4)

    # successes interleaved with failures never make 100 in a row, but half of ten attempts failed in the window
    tripped = flow.circuit_after(recent, successes=0, breaker_failures=2, pause_seconds=None, now=now)
    fresh = flow.circuit_after(stale, successes=0, breaker_failures=2, pause_seconds=None, now=now)
    healthy = flow.circuit_after(recent, successes=2, breaker_failures=0, pause_seconds=None, now=now)

    assert tripped.state == "open"
    assert fresh.state == "closed" and (fresh.window_attempts, fresh.window_failures) == (2, 2)
    assert healthy.state == "closed" and (healthy.window_attempts, healthy.window_failures) == (10, 4)


def test_a_failed_probe_opens_again_and_a_success_closes(settings):
    settings.WEBHOOK_BREAKER_COOLDOWN_SECONDS = 30
    now = timezone.now()
    probing = row(circuit_state="half_open", circuit_failures=6, paused_until=now + timedelta(seconds=5))

    failed = flow.circuit_after(probing, successes=0, breaker_failures=1, pause_seconds=None, now=now)
    closed = flow.circuit_after(probing, successes=1, breaker_failures=0, pause_seconds=None, now=now)

    assert failed.state == "open" and failed.paused_until == now + timedelta(seconds=30)
    assert closed.state == "closed" and closed.closed and closed.paused_until is None
    assert closed.circuit_failures == 0


def test_a_retry_after_pauses_the_endpoint_without_touching_the_breaker():
    now = timezone.now()
    change = flow.circuit_after(row(circuit_failures=2), successes=0, breaker_failures=0, pause_seconds=7, now=now)

    assert change.state == "closed" and change.circuit_failures == 2
    assert change.paused and change.paused_until == now + timedelta(seconds=7)


# --------------------------------------------------------------------------- parking and waking


def make_webhook(tenant, url, **kwargs):
    kwargs.setdefault("events", ["*"])
    return services.webhook_create(tenant=tenant, name=kwargs.pop("name", "Hook"), url=url, **kwargs)[0]


@pytest.mark.django_db
def test_failures_open_the_breaker_and_then_messages_wait_unsent_with_their_attempts_intact(
    receiver, enqueued, wakes, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_BREAKER_FAILURES = 2
    settings.WEBHOOK_BREAKER_COOLDOWN_SECONDS = 30
    tenant = TenantFactory()
    receiver.default = Reply(500)
    webhook = make_webhook(tenant, receiver.url("/down"), retry_attempts=5)
    failing = [services.trigger(tenant, "job.created", {"n": n}).delivery_ids[0] for n in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        for delivery_id in failing:
            sender.process_delivery(str(delivery_id))

    webhook.refresh_from_db()
    assert webhook.circuit_state == "open"
    assert [w for w, _ in wakes] == [str(webhook.pk)]
    assert 29 <= wakes[0][1] <= 30

    enqueued.clear()
    later = services.trigger(tenant, "job.created", {"n": 3}).delivery_ids[0]
    assert enqueued == []  # an open endpoint's new message is not queued: it waits for the wake-up
    Delivery.objects.filter(pk=failing[0]).update(next_attempt_at=timezone.now())
    assert sender.process_delivery(str(failing[0])) is None  # a due retry is parked, not sent

    assert len(receiver.received("/down")) == 2
    parked = Delivery.objects.get(pk=failing[0])
    assert (parked.status, parked.attempt_count, parked.round_attempts) == ("pending", 1, 1)
    assert parked.locked_until is None and parked.next_attempt_at == webhook.paused_until
    assert Delivery.objects.get(pk=later).attempt_count == 0


@pytest.mark.django_db
def test_after_the_cooldown_one_probe_is_sent_and_its_success_releases_the_others(
    receiver, enqueued, wakes, django_capture_on_commit_callbacks
):
    tenant = TenantFactory()
    webhook = make_webhook(tenant, receiver.url("/healed"))
    ids = [services.trigger(tenant, "job.created", {"n": n}).delivery_ids[0] for n in range(3)]
    Webhook.objects.filter(pk=webhook.pk).update(
        circuit_state="open", circuit_failures=5, paused_until=timezone.now() - timedelta(seconds=1)
    )
    enqueued.clear()

    assert flow_services.endpoint_wake(webhook_id=webhook.pk) == 1
    (probe_id, _), *rest = enqueued
    assert rest == [] and probe_id == ids[0]  # the oldest message is the probe

    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        results = sender.process_many([str(i) for i in ids])
    assert sorted(results, key=str) == [None, None, "success"]  # one probe per endpoint, the others parked

    webhook.refresh_from_db()
    assert webhook.circuit_state == "closed" and webhook.paused_until is None
    parked = {i for i, result in zip(ids, results, strict=True) if result is None}
    assert {i for i, _ in enqueued} == parked  # the parked ones flow again
    assert len(receiver.received("/healed")) == 1


@pytest.mark.django_db
def test_only_one_worker_wins_the_half_open_probe():
    tenant = TenantFactory()
    webhook = make_webhook(tenant, "http://127.0.0.1:9/x")
    Webhook.objects.filter(pk=webhook.pk).update(
        circuit_state="open", paused_until=timezone.now() - timedelta(seconds=1)
    )

    wins = [flow_services.endpoint_probe_acquire(webhook_id=webhook.pk, lease_seconds=20) for _ in range(3)]

    assert wins == [True, False, False]
    webhook.refresh_from_db()
    assert webhook.circuit_state == "half_open" and webhook.paused_until > timezone.now() + timedelta(seconds=15)


@pytest.mark.django_db
def test_the_sweeper_leaves_a_paused_endpoint_to_its_wake_up_and_wakes_one_whose_wake_up_was_lost(
    enqueued, wakes, settings
):
    settings.WEBHOOK_SWEEP_GRACE_SECONDS = 1
    tenant = TenantFactory()
    paused = make_webhook(tenant, "http://127.0.0.1:9/paused", events=["job.*"])
    lost = make_webhook(tenant, "http://127.0.0.1:9/lost", events=["offer.*"])
    services.trigger(tenant, "job.created", {})
    services.trigger(tenant, "offer.created", {})
    long_ago = timezone.now() - timedelta(minutes=5)
    Delivery.objects.update(next_attempt_at=long_ago)
    Webhook.objects.filter(pk=paused.pk).update(paused_until=timezone.now() + timedelta(seconds=30))
    Webhook.objects.filter(pk=lost.pk).update(circuit_state="open", paused_until=long_ago)
    enqueued.clear()

    assert services.delivery_sweep() == 0

    assert enqueued == []
    assert wakes == [(str(lost.pk), 0)]


@pytest.mark.django_db
def test_a_retry_after_answer_keeps_the_retry_budget_and_pauses_the_endpoint(
    receiver, enqueued, wakes, django_capture_on_commit_callbacks
):
    tenant = TenantFactory()
    receiver.script("/busy", Reply(429, b"later", headers={"Retry-After": "20"}))
    webhook = make_webhook(tenant, receiver.url("/busy"), retry_attempts=0)
    first, second = (services.trigger(tenant, "job.created", {"n": n}).delivery_ids[0] for n in range(2))
    enqueued.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert sender.process_delivery(str(first)) == "retry"
    assert sender.process_delivery(str(second)) is None  # the whole endpoint waits, not only the refused message

    webhook.refresh_from_db()
    assert 19 <= (webhook.paused_until - timezone.now()).total_seconds() <= 20
    assert webhook.circuit_state == "closed" and webhook.circuit_failures == 0
    refused = Delivery.objects.get(pk=first)
    assert (refused.status, refused.attempt_count, refused.round_attempts) == ("pending", 1, 0)
    assert Delivery.objects.get(pk=second).attempt_count == 0
    assert DeliveryAttempt.objects.get(delivery=refused).outcome == "retry"
    assert len(receiver.received("/busy")) == 1
    assert wakes and wakes[0][0] == str(webhook.pk)


def test_without_redis_every_message_is_admitted(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens: flow control fails open
    delivery = SimpleNamespace(webhook_id="w", webhook=SimpleNamespace(timeout_ms=1000, rate_limit=1))

    admissions = flow.admit([delivery, delivery, delivery])

    assert [a.wait for a in admissions] == [None, None, None]


@pytest.mark.services
def test_the_rate_limit_admits_the_rate_per_second_and_spreads_the_rest(settings):
    import uuid

    delivery = SimpleNamespace(webhook_id=str(uuid.uuid4()), webhook=SimpleNamespace(timeout_ms=1000, rate_limit=3))

    admissions = flow.admit([delivery] * 9, cap=0)

    sent_now = [a for a in admissions if a.wait is None]
    waits = sorted(a.wait for a in admissions if a.wait is not None)
    assert len(sent_now) <= 3 and len(sent_now) + len(waits) == 9
    assert waits[-1] < 3.0 and waits[-1] - waits[0] >= 0.9  # each a place in the next two seconds, spread


@pytest.mark.services
def test_the_concurrency_cap_admits_that_many_until_a_slot_is_released(settings):
    import uuid

    delivery = SimpleNamespace(webhook_id=str(uuid.uuid4()), webhook=SimpleNamespace(timeout_ms=1000, rate_limit=None))

    first = flow.admit([delivery] * 3, cap=2)
    assert [a.wait is None for a in first] == [True, True, False]
    flow.release_slot(delivery.webhook_id, first[0].slot)
    assert flow.admit([delivery], cap=2)[0].wait is None


# --------------------------------------------------------------------------- API


@pytest.mark.django_db
def test_rate_limit_and_circuit_state_on_the_subscription(admin_client):
    body = {"name": "Limited", "url": "http://127.0.0.1:9/h", "events": ["*"], "rateLimit": 25}
    created = admin_client.post(BASE, body, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert (data["rateLimit"], data["circuitState"], data["pausedUntil"]) == (25, "closed", None)

    changed = admin_client.patch(f"{BASE}/{data['id']}", {"rateLimit": None}, format="json")
    assert changed.status_code == 200 and changed.json()["rateLimit"] is None
    Webhook.objects.filter(pk=data["id"]).update(circuit_state="open")
    assert admin_client.get(f"{BASE}/{data['id']}").json()["circuitState"] == "open"
    listed = admin_client.get(BASE).json()["items"]
    assert listed[0]["circuitState"] == "open"


@pytest.mark.django_db
def test_a_new_url_starts_with_a_closed_breaker(admin_client):
    webhook = make_webhook(admin_client.tenant, "http://127.0.0.1:9/old")
    Webhook.objects.filter(pk=webhook.pk).update(
        circuit_state="open", circuit_failures=9, paused_until=timezone.now() + timedelta(seconds=30)
    )

    response = admin_client.patch(f"{BASE}/{webhook.pk}", {"url": "http://127.0.0.1:9/new"}, format="json")

    assert response.status_code == 200
    assert (response.json()["circuitState"], response.json()["pausedUntil"]) == ("closed", None)


@pytest.mark.django_db
@pytest.mark.parametrize("value", [0, -1, 10001, "fast", 2.5, True])
def test_a_bad_rate_limit_is_a_400_naming_it(admin_client, value):
    body = {"name": "Limited", "url": "http://127.0.0.1:9/h", "events": ["*"], "rateLimit": value}
    response = admin_client.post(BASE, body, format="json")

    assert "rateLimit" in assert_error(response, 400, "VALIDATION_ERROR")["details"]
    assert not Webhook.objects.exists()


@pytest.mark.django_db
def test_an_open_endpoint_with_nothing_waiting_probes_with_its_next_message(
    enqueued, django_capture_on_commit_callbacks
):
    tenant = TenantFactory()
    webhook = make_webhook(tenant, "http://127.0.0.1:9/quiet")
    Webhook.objects.filter(pk=webhook.pk).update(
        circuit_state="open", paused_until=timezone.now() - timedelta(seconds=1)
    )

    assert flow_services.endpoint_wake(webhook_id=webhook.pk) == 0

    webhook.refresh_from_db()
    assert webhook.circuit_state == "open" and webhook.paused_until is None  # not the sweeper's to wake again
    with django_capture_on_commit_callbacks(execute=True):
        record = services.trigger(tenant, "job.created", {})
    assert [i for i, _ in enqueued] == record.delivery_ids  # queued: the worker that claims it sends the probe
    assert flow_services.endpoint_probe_acquire(webhook_id=webhook.pk, lease_seconds=20)


@pytest.mark.django_db
def test_every_operational_event_sent_is_valid_against_its_registered_schema_which_documents_each_field(
    receiver, enqueued, wakes, settings, django_capture_on_commit_callbacks
):
    """What the engine sends is what the catalog (GET …/webhooks/events, AsyncAPI) tells consumers to expect."""
    settings.WEBHOOK_FAILING_AFTER_ATTEMPTS = 1
    tenant = TenantFactory()
    make_webhook(tenant, receiver.url("/watch"), name="Watcher", events=["webhook.*"])
    watched = make_webhook(tenant, receiver.url("/flaky"), retry_attempts=0)
    receiver.default = Reply(500)
    with django_capture_on_commit_callbacks(execute=True):
        sender.process_delivery(str(services.trigger(tenant, "job.created", {"jobId": "j1"}).delivery_ids[0]))
    receiver.default = Reply(200)
    with django_capture_on_commit_callbacks(execute=True):
        sender.process_delivery(str(services.trigger(tenant, "job.created", {"jobId": "j2"}).delivery_ids[0]))
        services.webhook_disable(webhook=watched, reason="Disabled by an administrator.")

    sent = {e.event: e.payload for e in WebhookEvent.objects.filter(tenant=tenant, event__startswith="webhook.")}
    assert set(sent) == {*OPERATIONAL_EVENTS, "webhook.disabled"}
    for name, data in sent.items():
        schema = EventType.objects.get(name=name).schema
        assert list(Draft202012Validator(schema).iter_errors(data)) == [], name
        assert set(data) <= set(schema["properties"]), name
        assert data["subscriptionId"] == str(watched.pk)
    failing = sent["webhook.delivery.failing"]
    assert (failing["attempts"], failing["responseStatus"], failing["event"]) == (1, 500, "job.created")
    assert sent["webhook.endpoint.recovered"]["failedAttempts"] == 1
