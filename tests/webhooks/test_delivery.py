"""The sender against a real HTTP server on 127.0.0.1: body, headers, signatures, recording, claims, bad receivers."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.e2e.conftest import Receiver, Reply
from tests.factories import TenantFactory
from webhooks import delivery as sender
from webhooks import services, signing
from webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus, Webhook

pytestmark = pytest.mark.django_db(transaction=True)


def make_webhook(tenant, url, **kwargs):
    kwargs.setdefault("events", ["*"])
    webhook, secret = services.webhook_create(tenant=tenant, name=kwargs.pop("name", "Hook"), url=url, **kwargs)
    return webhook, secret


def trigger_one(tenant, event="application.created", data=None, **kwargs):
    record = services.trigger(tenant, event, data or {"applicationId": "app-1"}, **kwargs)
    assert record.delivery_ids, "expected a delivery"
    return record, Delivery.objects.get(pk=record.delivery_ids[0])


def test_delivered_request_verifies_with_standardwebhooks_and_our_verify(receiver, enqueued):
    # given a subscription and a triggered event
    tenant = TenantFactory()
    _, secret = make_webhook(tenant, receiver.url("/hook"), headers={"X-Custom": "yes"})
    record, delivery = trigger_one(tenant, data={"applicationId": "a1", "candidateId": "c1"})

    # when the worker code sends it
    result = sender.process_delivery(str(delivery.pk))

    # then the receiver got one request that the official Standard Webhooks library accepts
    assert result == "success"
    (request,) = receiver.received("/hook")
    StandardWebhook(secret).verify(request.body, request.headers)
    signing.verify(request.body, request.headers, secret)
    signing.verify(request.body, {"X-Webhook-Signature": request.header("X-Webhook-Signature")}, secret)
    body = json.loads(request.body)
    assert body == {
        "id": str(record.pk),
        "event": "application.created",
        "timestamp": body["timestamp"],
        "tenantId": str(tenant.pk),
        "data": {"applicationId": "a1", "candidateId": "c1"},
    }
    assert body["timestamp"].endswith("Z")
    assert request.body == record.body.encode()  # the bytes serialised once at trigger time
    assert request.header("webhook-id") == request.header("X-Webhook-Id") == str(record.pk)
    assert request.header("X-Webhook-Event") == "application.created"
    assert request.header("X-Webhook-Attempt") == "1"
    assert request.header("X-Custom") == "yes"
    assert request.header("Content-Type") == "application/json"


def test_success_is_recorded_on_delivery_attempt_and_subscription(receiver, enqueued):
    tenant = TenantFactory()
    receiver.script("/ok", Reply(201, b'{"received": true}'))
    webhook, secret = make_webhook(tenant, receiver.url("/ok"))
    _, delivery = trigger_one(tenant)

    sender.process_delivery(str(delivery.pk))

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCESS
    assert delivery.attempt_count == 1
    assert delivery.last_response_status == 201
    assert delivery.completed_at is not None
    assert delivery.locked_until is None and delivery.claim_token is None
    attempt = DeliveryAttempt.objects.get(delivery=delivery)
    assert attempt.response_status == 201
    assert attempt.response_body == '{"received": true}'
    assert attempt.outcome == "success"
    assert attempt.request_headers["webhook-id"] == str(delivery.event_id)
    stored = json.dumps(attempt.request_headers) + attempt.response_body + delivery.last_error
    assert secret not in stored and secret.removeprefix("whsec_") not in stored
    webhook.refresh_from_db()
    assert (webhook.success_count, webhook.failure_count) == (1, 0)
    assert webhook.last_success_at is not None
    assert enqueued == [(delivery.pk, None)]  # queued once, on commit of the trigger


def test_custom_header_values_are_masked_in_the_stored_attempt(receiver, enqueued):
    tenant = TenantFactory()
    make_webhook(tenant, receiver.url("/auth"), headers={"Authorization": "Bearer s3cr3t", "X-Env": "prod"})
    _, delivery = trigger_one(tenant)

    sender.process_delivery(str(delivery.pk))

    (request,) = receiver.received("/auth")
    assert request.header("Authorization") == "Bearer s3cr3t"  # sent as configured
    attempt = DeliveryAttempt.objects.get(delivery=delivery)
    assert attempt.request_headers["Authorization"] == "********"
    assert attempt.request_headers["X-Env"] == "********"  # any custom value: we cannot tell which are secrets
    assert attempt.request_headers["X-Webhook-Event"] == "application.created"


def test_redelivered_message_after_success_sends_nothing_more(receiver, enqueued):
    tenant = TenantFactory()
    make_webhook(tenant, receiver.url("/once"))
    _, delivery = trigger_one(tenant)

    assert sender.process_delivery(str(delivery.pk)) == "success"
    assert sender.process_delivery(str(delivery.pk)) is None  # the same message again

    assert len(receiver.received("/once")) == 1
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == 1


def test_a_delivery_under_a_live_lease_cannot_be_claimed_twice(receiver, enqueued):
    tenant = TenantFactory()
    make_webhook(tenant, receiver.url("/lease"))
    _, delivery = trigger_one(tenant)

    first = services.delivery_claim(delivery_id=delivery.pk)
    second = services.delivery_claim(delivery_id=delivery.pk)

    assert first is not None
    assert second is None
    # once the lease has expired (a killed worker), another worker may take it over
    later = timezone.now() + timedelta(seconds=120)
    third = services.delivery_claim(delivery_id=delivery.pk, now=later)
    assert third is not None
    # and the first worker, coming back, cannot record anything any more
    outcome = sender.Outcome(kind="success", response_status=200)
    assert services.delivery_record_attempt(delivery=first[0], token=first[1], outcome=outcome) is None
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert services.delivery_record_attempt(delivery=third[0], token=third[1], outcome=outcome) == "success"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCESS
    assert delivery.attempt_count == 1


def test_a_message_for_an_unknown_or_garbage_id_does_nothing(enqueued):
    assert sender.process_delivery("not-a-uuid") is None
    assert sender.process_delivery("5f0c8a2e-6b1d-4c3e-9f7a-2d8e1b4c6a90") is None


def test_a_delivery_not_yet_due_is_left_for_its_own_message(receiver, enqueued):
    tenant = TenantFactory()
    make_webhook(tenant, receiver.url("/later"))
    _, delivery = trigger_one(tenant)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() + timedelta(seconds=30))

    assert sender.process_delivery(str(delivery.pk)) is None
    assert receiver.received("/later") == []


def test_rotation_signs_with_both_secrets_until_the_overlap_ends(receiver, enqueued, monkeypatch):
    tenant = TenantFactory()
    webhook, old_secret = make_webhook(tenant, receiver.url("/rot"))
    new_secret = services.webhook_rotate_secret(webhook=webhook)
    _, delivery = trigger_one(tenant)

    sender.process_delivery(str(delivery.pk))

    (request,) = receiver.received("/rot")
    assert len(request.header("webhook-signature").split()) == 2
    StandardWebhook(old_secret).verify(request.body, request.headers)
    StandardWebhook(new_secret).verify(request.body, request.headers)
    signing.verify(request.body, {"X-Webhook-Signature": request.header("X-Webhook-Signature")}, new_secret)

    # 25 hours later only the new secret signs
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(hours=25))
    _, second = trigger_one(tenant, "application.hired")
    sender.process_delivery(str(second.pk))
    request = receiver.received("/rot")[-1]
    assert len(request.header("webhook-signature").split()) == 1
    StandardWebhook(new_secret).verify(request.body, request.headers)
    with pytest.raises(Exception, match="signature"):
        StandardWebhook(old_secret).verify(request.body, request.headers)


def test_destination_refused_at_send_time_is_a_failed_attempt_without_retry(enqueued, settings):
    # given a subscription whose host became private (saved before the rule, or DNS changed since)
    tenant = TenantFactory()
    webhook, _ = make_webhook(tenant, "http://127.0.0.1:9/hook", retry_attempts=5)
    Webhook.objects.filter(pk=webhook.pk).update(url="http://10.0.0.7/hook")
    _, delivery = trigger_one(tenant)
    enqueued.clear()

    result = sender.process_delivery(str(delivery.pk))

    assert result == "failed"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "Destination refused" in delivery.last_error
    assert "10.0.0.7" in delivery.last_error
    assert enqueued == []  # no retry


def test_loopback_refused_at_send_when_not_in_allowed_networks(receiver, enqueued, settings):
    tenant = TenantFactory()
    make_webhook(tenant, receiver.url("/ssrf"))
    _, delivery = trigger_one(tenant)
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    sender.reset_session()
    try:
        result = sender.process_delivery(str(delivery.pk))
    finally:
        sender.reset_session()

    assert result == "failed"
    assert receiver.received("/ssrf") == []
    delivery.refresh_from_db()
    assert "loopback" in delivery.last_error


def test_redirect_is_not_followed_and_fails_at_once(receiver, enqueued):
    tenant = TenantFactory()
    receiver.script("/moved", Reply(302, b"", {"Location": receiver.url("/elsewhere")}))
    make_webhook(tenant, receiver.url("/moved"))
    _, delivery = trigger_one(tenant)
    enqueued.clear()

    assert sender.process_delivery(str(delivery.pk)) == "failed"

    assert receiver.received("/elsewhere") == []
    delivery.refresh_from_db()
    assert delivery.last_response_status == 302
    assert "redirects are not followed" in delivery.last_error
    assert enqueued == []


def test_a_10_mb_response_is_read_only_up_to_the_limit(receiver, enqueued):
    tenant = TenantFactory()
    receiver.script("/big", Reply(200, b"x" * (10 * 1024 * 1024)))
    make_webhook(tenant, receiver.url("/big"))
    _, delivery = trigger_one(tenant)

    assert sender.process_delivery(str(delivery.pk)) == "success"

    attempt = DeliveryAttempt.objects.get(delivery=delivery)
    assert len(attempt.response_body) == 4096
    assert attempt.response_truncated is True


def test_garbage_instead_of_http_is_a_retryable_failure(receiver, enqueued):
    tenant = TenantFactory()
    receiver.script("/junk", Reply(raw=b"\x00\x01 this is not http \r\n\r\n"))
    make_webhook(tenant, receiver.url("/junk"))
    _, delivery = trigger_one(tenant)
    enqueued.clear()

    assert sender.process_delivery(str(delivery.pk)) == "retry"

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.last_error.startswith("Connection error")
    assert len(enqueued) == 1


def test_a_receiver_that_never_answers_times_out_and_is_retried(receiver, enqueued):
    tenant = TenantFactory()
    receiver.script("/slow", Reply(200, b"late", delay=2.5))
    make_webhook(tenant, receiver.url("/slow"), timeout_ms=1000)
    _, delivery = trigger_one(tenant)
    enqueued.clear()

    assert sender.process_delivery(str(delivery.pk)) == "retry"

    delivery.refresh_from_db()
    assert delivery.last_error == "Timed out after 1000 ms"
    assert delivery.last_response_status is None
    assert 900 <= delivery.duration_ms < 2400


def test_connection_refused_is_retried(enqueued):
    tenant = TenantFactory()
    down = Receiver().start()
    url = down.url("/gone")
    down.stop()
    make_webhook(tenant, url)
    _, delivery = trigger_one(tenant)
    enqueued.clear()

    assert sender.process_delivery(str(delivery.pk)) == "retry"

    delivery.refresh_from_db()
    assert "Connection error" in delivery.last_error
    assert enqueued and enqueued[0][1] is not None  # scheduled with a countdown


def test_paused_subscription_leaves_its_claimed_delivery_pending(receiver, enqueued):
    tenant = TenantFactory()
    webhook, _ = make_webhook(tenant, receiver.url("/paused"))
    _, delivery = trigger_one(tenant)
    Webhook.objects.filter(pk=webhook.pk).update(status="inactive")

    assert sender.process_delivery(str(delivery.pk)) is None

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.locked_until is None
    assert receiver.received("/paused") == []


@pytest.mark.services  # concurrent writers: SQLite's shared in-memory test database locks tables instead of waiting
def test_a_fanout_chunk_is_sent_concurrently_and_a_slow_receiver_holds_only_its_own(receiver, enqueued):
    import time

    tenant = TenantFactory()
    receiver.script("/slow-one", Reply(200, b"late", delay=1.5))
    make_webhook(tenant, receiver.url("/slow-one"), name="slow")
    for n in range(4):
        make_webhook(tenant, receiver.url(f"/fast-{n}"), name=f"fast {n}")
    record = services.trigger(tenant, "job.opened", {"jobId": "j"})
    try:
        started = time.monotonic()
        results = sender.process_many([str(i) for i in record.delivery_ids])
        elapsed = time.monotonic() - started
    finally:
        sender.shutdown_send_pool()

    assert results == ["success"] * 5
    assert elapsed < 2.5  # not 1.5 s per delivery
    fast = [r for r in receiver.received() if r.path.startswith("/fast-")]
    slow = receiver.received("/slow-one")[0]
    assert len(fast) == 4 and all(r.at < slow.at + 1.0 for r in fast)
    assert Delivery.objects.filter(event=record, status="success").count() == 5
