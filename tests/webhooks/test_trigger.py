"""trigger(): the transactional outbox. Events and deliveries are written in the caller's transaction and queued
only after it commits; the sweeper re-queues what a lost message left behind."""

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from config.errors import ValidationFailed
from tests.factories import TenantFactory
from webhooks import services
from webhooks.models import Delivery, DeliveryStatus, Webhook, WebhookEvent, WebhookStatus

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/hook"


def subscribe(tenant, events=("*",), status="active", **kwargs):
    webhook, _ = services.webhook_create(
        tenant=tenant, name=kwargs.pop("name", "Hook"), url=kwargs.pop("url", URL), events=list(events), **kwargs
    )
    if status != "active":
        Webhook.objects.filter(pk=webhook.pk).update(status=status)
        webhook.refresh_from_db()
    return webhook


def make_integration(tenant, name="Calendar"):
    from integrations.models import Integration
    from providers.models import Provider

    provider, _ = Provider.objects.get_or_create(
        key="acme_crm", defaults={"name": "Acme", "display_name": "Acme CRM", "category": "crm", "auth_type": "api_key"}
    )
    return Integration.objects.create(tenant=tenant, provider=provider, name=name, auth_type="api_key")


def test_trigger_writes_one_delivery_per_matching_active_subscription_and_queues_after_commit(
    enqueued, django_capture_on_commit_callbacks
):
    tenant = TenantFactory()
    exact = subscribe(tenant, ["application.created"], name="exact")
    everything = subscribe(tenant, ["*"], name="all")
    category = subscribe(tenant, ["application.*"], name="category")
    subscribe(tenant, ["job.*", "offer.sent"], name="other events")
    subscribe(tenant, ["*"], status="inactive", name="paused by user")
    subscribe(TenantFactory(), ["*"], name="another tenant")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record = services.trigger(tenant, "application.created", {"applicationId": "a1"})
        assert enqueued == []  # nothing leaves before commit
    for callback in callbacks:
        callback()

    deliveries = Delivery.objects.filter(event=record)
    assert {d.webhook_id for d in deliveries} == {exact.pk, everything.pk, category.pk}
    assert all(d.status == DeliveryStatus.PENDING and d.event_type == "application.created" for d in deliveries)
    assert sorted(i for i, _ in enqueued) == sorted(d.pk for d in deliveries)
    assert sorted(record.delivery_ids) == sorted(d.pk for d in deliveries)


def test_the_event_body_is_serialised_once_in_the_documented_shape(enqueued):
    tenant = TenantFactory()
    when = timezone.now()

    record = services.trigger(tenant, "interview.scheduled", {"interviewId": "i1", "startsAt": when, "n": 1.5})

    stored = WebhookEvent.objects.get(pk=record.pk)
    body = json.loads(stored.body)
    assert list(body) == ["id", "event", "timestamp", "tenantId", "data"]
    assert body["id"] == str(record.pk)
    assert body["event"] == "interview.scheduled"
    assert body["tenantId"] == str(tenant.pk)
    assert body["timestamp"].endswith("Z")
    assert body["data"]["interviewId"] == "i1"
    assert body["data"]["startsAt"].startswith(str(when.date()))  # datetimes become ISO strings
    assert stored.payload == body["data"]


def test_a_rolled_back_trigger_writes_and_sends_nothing(enqueued, django_capture_on_commit_callbacks):
    tenant = TenantFactory()
    subscribe(tenant)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.trigger(tenant, "candidate.created", {"candidateId": "c1"})
        raise RuntimeError("the caller's work failed")

    assert callbacks == []
    assert enqueued == []
    assert not WebhookEvent.objects.filter(tenant=tenant).exists()
    assert not Delivery.objects.filter(tenant=tenant).exists()


def test_unknown_events_and_bad_data_are_refused(enqueued):
    tenant = TenantFactory()
    with pytest.raises(ValidationFailed) as excinfo:
        services.trigger(tenant, "application.exploded", {})
    assert excinfo.value.details == {"event": ["Unknown event."]}
    with pytest.raises(ValidationFailed):
        services.trigger(tenant, "application.*", {})
    with pytest.raises(ValidationFailed):
        services.trigger(tenant, "application.created", ["not", "an", "object"])
    with pytest.raises(ValidationFailed):
        services.trigger(tenant, "application.created", {"x": object()})
    assert not WebhookEvent.objects.exists()


def test_an_idempotency_key_returns_the_first_event(enqueued, django_capture_on_commit_callbacks):
    tenant = TenantFactory()
    subscribe(tenant)

    with django_capture_on_commit_callbacks(execute=True):
        first = services.trigger(tenant, "job.opened", {"jobId": "j1"}, idempotency_key="job-j1-opened")
    with django_capture_on_commit_callbacks(execute=True):
        again = services.trigger(tenant, "job.opened", {"jobId": "j1"}, idempotency_key="job-j1-opened")
    other_tenant = services.trigger(TenantFactory(), "job.opened", {}, idempotency_key="job-j1-opened")

    assert again.pk == first.pk
    assert again.created is False and first.created is True
    assert again.delivery_ids == first.delivery_ids
    assert WebhookEvent.objects.filter(tenant=tenant).count() == 1
    assert len(enqueued) == 1
    assert other_tenant.pk != first.pk


def test_a_disabled_subscription_records_but_does_not_queue(enqueued, django_capture_on_commit_callbacks):
    tenant = TenantFactory()
    disabled = subscribe(tenant, status="disabled")

    with django_capture_on_commit_callbacks(execute=True):
        record = services.trigger(tenant, "job.closed", {})

    delivery = Delivery.objects.get(event=record)
    assert delivery.webhook_id == disabled.pk
    assert delivery.status == DeliveryStatus.PENDING
    assert enqueued == []


def test_a_subscription_tied_to_an_integration_gets_only_that_integrations_events(enqueued):
    tenant = TenantFactory()
    mine, theirs = make_integration(tenant, "Mine"), make_integration(tenant, "Theirs")
    bound = subscribe(tenant, ["integration.*", "job.*"], integration_id=mine.pk, name="bound")
    unbound = subscribe(tenant, ["integration.*"], name="unbound")

    for_mine = services.trigger(tenant, "integration.updated", {"integrationId": str(mine.pk)})
    for_theirs = services.trigger(tenant, "integration.updated", {"integrationId": str(theirs.pk)})
    general = services.trigger(tenant, "job.created", {"jobId": "j"})

    assert set(Delivery.objects.filter(event=for_mine).values_list("webhook_id", flat=True)) == {bound.pk, unbound.pk}
    assert set(Delivery.objects.filter(event=for_theirs).values_list("webhook_id", flat=True)) == {unbound.pk}
    assert set(Delivery.objects.filter(event=general).values_list("webhook_id", flat=True)) == {bound.pk}


def test_integration_lifecycle_events_flow_through_emit(enqueued):
    from integrations.events import emit

    tenant = TenantFactory()
    hook = subscribe(tenant, ["integration.connected"])

    emit(tenant, "integration.connected", {"integrationId": "x", "connectionId": "y"})

    delivery = Delivery.objects.get(webhook=hook)
    assert delivery.event.payload == {"integrationId": "x", "connectionId": "y"}


def test_enqueue_deliveries_queues_one_task_per_id_on_the_webhooks_queue(monkeypatch):
    from webhooks.tasks import outbound

    sent = []
    monkeypatch.setattr(outbound.deliver, "apply_async", lambda args, countdown=None: sent.append((args, countdown)))

    assert services.enqueue_deliveries(["a", "b"], countdown=2.5) == 2
    assert sent == [(("a",), 2.5), (("b",), 2.5)]
    assert outbound.deliver.queue == "webhooks"
    assert outbound.deliver.acks_late is True
    assert outbound.deliver.reject_on_worker_lost is True


def test_a_fanout_without_delay_is_queued_in_chunks(monkeypatch, settings):
    from webhooks.tasks import outbound

    settings.WEBHOOK_FANOUT_CHUNK = 20
    chunks, singles = [], []
    monkeypatch.setattr(outbound.deliver_many, "apply_async", lambda args: chunks.append(args[0]))
    monkeypatch.setattr(outbound.deliver, "apply_async", lambda args, countdown=None: singles.append(args[0]))

    ids = [f"id-{n}" for n in range(45)]
    assert services.enqueue_deliveries(ids) == 45
    assert [len(c) for c in chunks] == [20, 20, 5]
    assert [i for c in chunks for i in c] == ids
    assert singles == []
    assert outbound.deliver_many.queue == "webhooks" and outbound.deliver_many.acks_late is True


def test_a_broker_failure_at_enqueue_is_logged_not_raised(monkeypatch, caplog):
    from webhooks.tasks import outbound

    def broken(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(outbound.deliver, "apply_async", broken)

    assert services.enqueue_deliveries(["a"]) == 0
    assert "webhooks.delivery.enqueue_failed" in caplog.text


def test_the_sweeper_requeues_overdue_unheld_deliveries_only(enqueued, settings):
    settings.WEBHOOK_SWEEP_GRACE_SECONDS = 60
    tenant = TenantFactory()
    hook = subscribe(tenant)
    paused = subscribe(tenant, status="disabled", name="paused")
    now = timezone.now()
    old = now - timedelta(minutes=5)

    def delivery(webhook, **fields):
        record = services.trigger(tenant, "job.created", {})
        Delivery.objects.filter(event=record).exclude(webhook=webhook).delete()
        row = Delivery.objects.get(event=record)
        Delivery.objects.filter(pk=row.pk).update(**fields)
        return row.pk

    lost = delivery(hook, next_attempt_at=old)  # its message was lost
    crashed = delivery(hook, next_attempt_at=old, locked_until=now - timedelta(seconds=1))  # lease expired
    in_flight = delivery(hook, next_attempt_at=old, locked_until=now + timedelta(seconds=300))
    fresh = delivery(hook, next_attempt_at=now - timedelta(seconds=5))  # within the grace period
    done = delivery(hook, next_attempt_at=old, status="success")
    waiting = delivery(paused, next_attempt_at=old)
    enqueued.clear()

    assert services.delivery_sweep(now=now) == 2

    assert sorted(i for i, _ in enqueued) == sorted([lost, crashed])
    for untouched in (in_flight, fresh, done, waiting):
        assert untouched not in [i for i, _ in enqueued]
    # swept rows are not swept again before another grace period
    enqueued.clear()
    assert services.delivery_sweep(now=now + timedelta(seconds=30)) == 0
    # after it, the two again (still pending: their new messages were lost too) and the once-fresh one
    assert services.delivery_sweep(now=now + timedelta(seconds=61)) == 3
    assert sorted(i for i, _ in enqueued) == sorted([lost, crashed, fresh])


def test_the_sweeper_task_is_on_the_beat_schedule():
    from config.periodic import periodic_tasks
    from webhooks.tasks.outbound import SWEEP_TASK

    (spec,) = [s for s in periodic_tasks() if s.task == SWEEP_TASK]
    assert spec.every_seconds == 30
    assert spec.queue == "webhooks"


def test_webhook_status_choices_are_the_documented_ones():
    assert set(WebhookStatus.values) == {"active", "inactive", "disabled"}
    assert set(DeliveryStatus.values) == {"pending", "success", "failed"}
