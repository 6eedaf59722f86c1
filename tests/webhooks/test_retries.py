"""Retry decisions: what is retried, when, how often, and what disables a subscription."""

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from django.utils import timezone

from tests.e2e.conftest import Reply
from tests.factories import TenantFactory
from webhooks import delivery as sender
from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus, Webhook, WebhookEvent, WebhookStatus

# --------------------------------------------------------------------------- pure decisions


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, "success"),
        (201, "success"),
        (204, "success"),
        (299, "success"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (599, "retry"),
        (429, "retry"),
        (400, "failed"),
        (401, "failed"),
        (403, "failed"),
        (404, "failed"),
        (410, "failed"),
        (422, "failed"),
        (301, "failed"),
        (302, "failed"),
        (307, "failed"),
        (308, "failed"),
        (101, "failed"),
    ],
)
def test_status_codes_are_classified_as_seed_001_says(status, kind):
    assert sender.classify_status(status) == kind


@pytest.mark.parametrize(("retry", "nominal"), [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 512.0)])
def test_backoff_doubles_from_one_second_with_twenty_percent_jitter(retry, nominal, settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 1.0
    rng = random.Random(7)
    delays = [sender.retry_delay(retry, rng=rng) for _ in range(300)]
    assert min(delays) >= nominal * 0.8
    assert max(delays) <= nominal * 1.2
    assert max(delays) - min(delays) > nominal * 0.2  # it does jitter


def test_backoff_is_capped(settings):
    settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS = 60
    assert sender.retry_delay(20) == 60
    assert sender.retry_delay(1, retry_after=86400) == 60


def test_retry_after_is_a_floor_of_the_delay(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 1.0
    assert sender.retry_delay(1, retry_after=30) == 30
    assert 0.8 <= sender.retry_delay(1, retry_after=0) <= 1.2


def test_retry_after_header_parsing():
    now = datetime(2025, 11, 16, 10, 30, tzinfo=UTC).timestamp()
    assert sender.parse_retry_after("120") == 120
    assert sender.parse_retry_after(" 5 ") == 5
    in_90s = format_datetime(datetime(2025, 11, 16, 10, 31, 30, tzinfo=UTC), usegmt=True)
    assert sender.parse_retry_after(in_90s, now=now) == 90
    past = format_datetime(datetime(2020, 1, 1, tzinfo=UTC), usegmt=True)
    assert sender.parse_retry_after(past, now=now) == 0
    assert sender.parse_retry_after("soon") is None
    assert sender.parse_retry_after("") is None
    assert sender.parse_retry_after(None) is None
    assert sender.parse_retry_after("-3") is None


# --------------------------------------------------------------------------- against a real receiver

pytestmark_db = pytest.mark.django_db(transaction=True)


def _subscribe(tenant, url, **kwargs):
    kwargs.setdefault("events", ["*"])
    return services.webhook_create(tenant=tenant, name=kwargs.pop("name", "Hook"), url=url, **kwargs)[0]


def _run_until_done(delivery, *, max_runs=20):
    """Play the worker: run the delivery, make each scheduled retry due at once, until it is finished."""
    for _ in range(max_runs):
        Delivery.objects.filter(pk=delivery.pk, status="pending").update(next_attempt_at=timezone.now())
        sender.process_delivery(str(delivery.pk))
        delivery.refresh_from_db()
        if delivery.status != DeliveryStatus.PENDING:
            return delivery
    raise AssertionError("delivery never finished")


@pytestmark_db
def test_500_500_200_gives_three_attempts_and_success(receiver, enqueued):
    tenant = TenantFactory()
    receiver.script("/flaky", Reply(500, b"boom"), Reply(500, b"boom"), Reply(200, b"ok"))
    webhook = _subscribe(tenant, receiver.url("/flaky"))
    record = services.trigger(tenant, "application.created", {"applicationId": "a"})
    delivery = Delivery.objects.get(pk=record.delivery_ids[0])
    enqueued.clear()

    delivery = _run_until_done(delivery)

    assert delivery.status == DeliveryStatus.SUCCESS
    assert delivery.attempt_count == 3
    attempts = list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("attempt_number"))
    assert [a.response_status for a in attempts] == [500, 500, 200]
    assert [a.outcome for a in attempts] == ["retry", "retry", "success"]
    requests_seen = receiver.received("/flaky")
    assert [r.header("X-Webhook-Attempt") for r in requests_seen] == ["1", "2", "3"]
    assert {r.header("webhook-id") for r in requests_seen} == {str(record.pk)}  # same id on every resend
    assert len({r.body for r in requests_seen}) == 1  # same bytes
    # two retries were scheduled, 1 s then 2 s (±20 %)
    assert len(enqueued) == 2
    assert 0.8 <= enqueued[0][1] <= 1.2
    assert 1.6 <= enqueued[1][1] <= 2.4
    webhook.refresh_from_db()
    assert (webhook.success_count, webhook.failure_count) == (1, 2)
    assert webhook.consecutive_failures == 0 and webhook.failing_since is None


@pytestmark_db
def test_retry_attempts_three_means_four_attempts_then_failed(receiver, enqueued):
    tenant = TenantFactory()
    receiver.default = Reply(503, b"down")
    _subscribe(tenant, receiver.url("/down"), retry_attempts=3)
    record = services.trigger(tenant, "job.created", {"jobId": "j"})
    delivery = Delivery.objects.get(pk=record.delivery_ids[0])

    delivery = _run_until_done(delivery)

    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempt_count == 4
    assert delivery.last_response_status == 503
    assert delivery.last_error == "HTTP 503 Service Unavailable"
    assert delivery.completed_at is not None
    assert len(receiver.received("/down")) == 4
    assert DeliveryAttempt.objects.filter(delivery=delivery, outcome="failed").count() == 1


@pytestmark_db
def test_retry_attempts_zero_means_a_single_attempt(receiver, enqueued):
    tenant = TenantFactory()
    receiver.default = Reply(500)
    _subscribe(tenant, receiver.url("/single"), retry_attempts=0)
    record = services.trigger(tenant, "job.created", {})
    delivery = Delivery.objects.get(pk=record.delivery_ids[0])
    enqueued.clear()

    assert sender.process_delivery(str(delivery.pk)) == "failed"
    assert enqueued == []


@pytestmark_db
def test_429_honours_retry_after(receiver, enqueued):
    tenant = TenantFactory()
    receiver.script("/limited", Reply(429, b"slow down", {"Retry-After": "7"}))
    _subscribe(tenant, receiver.url("/limited"))
    record = services.trigger(tenant, "job.created", {})
    delivery = Delivery.objects.get(pk=record.delivery_ids[0])
    enqueued.clear()

    before = timezone.now()
    assert sender.process_delivery(str(delivery.pk)) == "retry"

    delivery.refresh_from_db()
    assert enqueued == [(delivery.pk, 7.0)]
    assert delivery.next_attempt_at >= before + timedelta(seconds=7)
    assert delivery.status == DeliveryStatus.PENDING


@pytestmark_db
@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_other_4xx_fail_at_once(receiver, enqueued, status):
    tenant = TenantFactory()
    receiver.default = Reply(status, b"nope")
    webhook = _subscribe(tenant, receiver.url("/client"))
    record = services.trigger(tenant, "job.created", {})
    delivery = Delivery.objects.get(pk=record.delivery_ids[0])
    enqueued.clear()

    assert sender.process_delivery(str(delivery.pk)) == "failed"

    assert enqueued == []
    webhook.refresh_from_db()
    assert webhook.status == WebhookStatus.ACTIVE
    assert webhook.failure_count == 1


@pytestmark_db
def test_410_gone_fails_disables_and_tells_the_other_subscriptions(receiver, enqueued):
    tenant = TenantFactory()
    receiver.script("/gone", Reply(410, b"gone"))
    gone = _subscribe(tenant, receiver.url("/gone"), name="Gone", events=["application.*"])
    watcher = _subscribe(tenant, receiver.url("/watch"), name="Watcher", events=["webhook.*"])
    record = services.trigger(tenant, "application.created", {})
    delivery = Delivery.objects.get(pk=record.delivery_ids[0])

    assert sender.process_delivery(str(delivery.pk)) == "failed"

    gone.refresh_from_db()
    assert gone.status == WebhookStatus.DISABLED
    assert "410" in gone.disabled_reason
    event = WebhookEvent.objects.get(tenant=tenant, event="webhook.disabled")
    assert event.payload["webhookId"] == str(gone.pk)
    assert list(event.deliveries.values_list("webhook_id", flat=True)) == [watcher.pk]


@pytestmark_db
def test_failures_for_the_whole_span_disable_the_subscription(receiver, enqueued, settings):
    settings.WEBHOOK_DISABLE_AFTER_HOURS = 24
    settings.WEBHOOK_DISABLE_MIN_FAILURES = 10
    tenant = TenantFactory()
    receiver.default = Reply(500)
    webhook = _subscribe(tenant, receiver.url("/broken"), retry_attempts=0)
    other = _subscribe(tenant, receiver.url("/other"), events=["webhook.disabled"])
    # failing for 25 hours with 9 failures so far
    Webhook.objects.filter(pk=webhook.pk).update(
        consecutive_failures=9, failing_since=timezone.now() - timedelta(hours=25)
    )

    record = services.trigger(tenant, "job.closed", {})
    sender.process_delivery(str(record.delivery_ids[0]))

    webhook.refresh_from_db()
    assert webhook.status == WebhookStatus.DISABLED
    assert webhook.consecutive_failures == 10
    disabled_event = WebhookEvent.objects.get(tenant=tenant, event="webhook.disabled")
    assert list(disabled_event.deliveries.values_list("webhook_id", flat=True)) == [other.pk]

    # new events are still recorded for it, waiting (pending, not queued)
    enqueued.clear()
    later = services.trigger(tenant, "job.opened", {})
    paused = Delivery.objects.get(event=later, webhook=webhook)
    assert paused.status == DeliveryStatus.PENDING
    assert paused.pk not in [i for i, _ in enqueued]


@pytestmark_db
def test_many_failures_in_a_short_span_do_not_disable(receiver, enqueued, settings):
    settings.WEBHOOK_DISABLE_MIN_FAILURES = 10
    tenant = TenantFactory()
    receiver.default = Reply(500)
    webhook = _subscribe(tenant, receiver.url("/recent"), retry_attempts=0)
    Webhook.objects.filter(pk=webhook.pk).update(
        consecutive_failures=50, failing_since=timezone.now() - timedelta(hours=1)
    )

    record = services.trigger(tenant, "job.closed", {})
    sender.process_delivery(str(record.delivery_ids[0]))

    webhook.refresh_from_db()
    assert webhook.status == WebhookStatus.ACTIVE
    assert webhook.consecutive_failures == 51


@pytestmark_db
def test_a_success_resets_the_failure_run(receiver, enqueued):
    tenant = TenantFactory()
    webhook = _subscribe(tenant, receiver.url("/recovered"))
    Webhook.objects.filter(pk=webhook.pk).update(
        consecutive_failures=8, failing_since=timezone.now() - timedelta(hours=30)
    )

    record = services.trigger(tenant, "job.closed", {})
    sender.process_delivery(str(record.delivery_ids[0]))

    webhook.refresh_from_db()
    assert webhook.consecutive_failures == 0
    assert webhook.failing_since is None


@pytestmark_db
def test_reenabling_sends_the_deliveries_that_waited(receiver, enqueued):
    tenant = TenantFactory()
    webhook = _subscribe(tenant, receiver.url("/back"))
    Webhook.objects.filter(pk=webhook.pk).update(status=WebhookStatus.DISABLED, disabled_reason="test")
    waiting = [services.trigger(tenant, "job.created", {"n": n}).delivery_ids[0] for n in range(3)]
    assert enqueued == []

    services.webhook_update(webhook=webhook, data={"status": "active"})

    assert sorted(i for i, _ in enqueued) == sorted(waiting)
    for delivery_id in waiting:
        sender.process_delivery(str(delivery_id))
    assert len(receiver.received("/back")) == 3
    assert Delivery.objects.filter(pk__in=waiting, status="success").count() == 3
    webhook.refresh_from_db()
    assert webhook.disabled_reason == "" and webhook.disabled_at is None


@pytestmark_db
def test_manual_retry_and_replay_resend_the_same_row_with_the_same_webhook_id(receiver, enqueued):
    tenant = TenantFactory()
    receiver.script("/replay", Reply(400), Reply(400), Reply(200), Reply(200))
    webhook = _subscribe(tenant, receiver.url("/replay"))
    first = services.trigger(tenant, "offer.sent", {"offerId": "o1"})
    second = services.trigger(tenant, "offer.sent", {"offerId": "o2"})
    for delivery_id in (*first.delivery_ids, *second.delivery_ids):
        assert sender.process_delivery(str(delivery_id)) == "failed"

    # one delivery retried by hand
    enqueued.clear()
    services.delivery_retry(webhook=webhook, delivery_id=first.delivery_ids[0])
    assert [i for i, _ in enqueued] == [first.delivery_ids[0]]
    assert sender.process_delivery(str(first.delivery_ids[0])) == "success"

    # the rest replayed by window
    ids = services.webhook_replay(webhook=webhook, since=timezone.now() - timedelta(hours=1))
    assert ids == [second.delivery_ids[0]]
    assert sender.process_delivery(str(second.delivery_ids[0])) == "success"

    seen = receiver.received("/replay")
    assert [r.header("webhook-id") for r in seen] == [str(first.pk), str(second.pk), str(first.pk), str(second.pk)]
    assert [r.header("X-Webhook-Attempt") for r in seen] == ["1", "1", "2", "2"]
    assert Delivery.objects.filter(webhook=webhook).count() == 2  # no new rows
    assert services.webhook_replay(webhook=webhook, since=timezone.now() - timedelta(hours=1)) == []
