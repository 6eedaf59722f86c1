"""Subscription options end to end: real `celery worker` processes, PostgreSQL, Redis and HTTP receivers on
127.0.0.1. Signatures are checked as consumers check them: `standardwebhooks` (v1), a plain HMAC of the body keyed
with the secret string (X-Webhook-Signature), and `cryptography`'s Ed25519 with the whpk_ public key (v1a)."""

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.utils import timezone
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.e2e.conftest import Reply
from webhooks.models import Delivery, DeliveryStatus

pytestmark = pytest.mark.e2e

FAST = {"WEBHOOK_RETRY_BASE_SECONDS": "0.2", "WEBHOOK_LEASE_SECONDS": "3", "WEBHOOK_SWEEP_GRACE_SECONDS": "1"}
BASE = "/api/v1/integrations/webhooks"


def wait_until(predicate, *, timeout, interval=0.1, on_timeout=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s. {on_timeout()}")


def ed25519_ok(public_key: str, request) -> bool:
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key.removeprefix("whpk_")))
    signed = f"{request.header('webhook-id')}.{request.header('webhook-timestamp')}.".encode() + request.body
    for entry in request.header("webhook-signature").split():
        version, _, signature = entry.partition(",")
        if version != "v1a":
            continue
        try:
            key.verify(base64.b64decode(signature), signed)
            return True
        except InvalidSignature:  # another entry may be this key's
            continue
    return False


def subscribe(client, receiver, path, **options):
    response = client.post(
        BASE, {"name": path, "url": receiver.url(path), "events": ["application.*"], **options}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_worker_delivers_each_subscription_in_its_scheme_format_and_filter(celery_workers, receiver, admin_client):
    celery_workers.start(env=FAST)
    plain = subscribe(admin_client, receiver, "/plain")
    ed = subscribe(admin_client, receiver, "/ed", signatureScheme="v1a")
    cloud = subscribe(
        admin_client, receiver, "/cloud", payloadFormat="cloudevents", filter={"toStage": {"in": ["offer"]}}
    )

    offer = admin_client.post(
        f"{BASE}/trigger",
        {"event": "application.stage_changed", "data": {"applicationId": "a1", "toStage": "offer"}},
        format="json",
    ).json()
    applied = admin_client.post(
        f"{BASE}/trigger",
        {"event": "application.stage_changed", "data": {"applicationId": "a2", "toStage": "applied"}},
        format="json",
    ).json()
    assert offer["deliveries"] == 3 and applied["deliveries"] == 2  # the filtered-out one has no delivery

    receiver.wait_for(2, path="/plain", timeout=30)
    receiver.wait_for(2, path="/ed", timeout=30)
    (cloud_request,) = receiver.wait_for(1, path="/cloud", timeout=30)

    for request in receiver.received("/plain"):
        StandardWebhook(plain["secret"]).verify(request.body, request.headers)
        expected = hmac.new(plain["secret"].encode(), request.body, hashlib.sha256).hexdigest()
        assert request.header("X-Webhook-Signature") == expected
    for request in receiver.received("/ed"):
        assert ed25519_ok(ed["publicKeys"][0]["key"], request)
        assert request.header("X-Webhook-Signature") is None
    event = json.loads(cloud_request.body)
    assert cloud_request.header("Content-Type") == "application/cloudevents+json"
    assert event["specversion"] == "1.0" and event["type"] == "application.stage_changed"
    assert event["id"] == offer["eventId"] == cloud_request.header("webhook-id")
    assert event["source"] == f"/tenants/{admin_client.tenant.pk}" and event["data"]["toStage"] == "offer"
    StandardWebhook(cloud["secret"]).verify(cloud_request.body, cloud_request.headers)
    assert not Delivery.objects.filter(webhook_id=cloud["id"], event_id=applied["eventId"]).exists()


def test_recovery_resends_failed_deliveries_with_the_same_webhook_id(celery_workers, receiver, admin_client):
    celery_workers.start(env=FAST)
    hook = subscribe(admin_client, receiver, "/down", retryAttempts=0)
    receiver.script("/down", Reply(503), Reply(400))
    ids = [
        admin_client.post(
            f"{BASE}/trigger", {"event": "application.created", "data": {"applicationId": f"a{n}"}}, format="json"
        ).json()["eventId"]
        for n in range(2)
    ]
    wait_until(
        lambda: Delivery.objects.filter(webhook_id=hook["id"], status=DeliveryStatus.FAILED).count() == 2,
        timeout=30,
        on_timeout=celery_workers.logs,
    )
    first_ids = sorted(r.header("webhook-id") for r in receiver.received("/down"))
    assert first_ids == sorted(ids)
    window = {"since": (timezone.now() - timedelta(hours=1)).isoformat()}

    preview = admin_client.post(f"{BASE}/{hook['id']}/recover", {**window, "dryRun": True}, format="json").json()
    assert preview["counts"] == {"failed": 1, "exhausted": 1}
    assert len(receiver.received("/down")) == 2  # the dry run sent nothing

    started = admin_client.post(f"{BASE}/{hook['id']}/recover", window, format="json")
    assert started.status_code == 202, started.content
    status_url = f"{BASE}/{hook['id']}/recoveries/{started.json()['jobId']}"
    wait_until(
        lambda: admin_client.get(status_url).json()["status"] == "completed",
        timeout=30,
        on_timeout=celery_workers.logs,
    )
    job = admin_client.get(status_url).json()
    assert (job["total"], job["done"]) == (2, 2)
    resent = receiver.wait_for(4, path="/down", timeout=30)[2:]
    assert sorted(r.header("webhook-id") for r in resent) == sorted(ids)  # receivers deduplicate on it
    for request in resent:
        StandardWebhook(hook["secret"]).verify(request.body, request.headers)
    wait_until(
        lambda: Delivery.objects.filter(webhook_id=hook["id"], status=DeliveryStatus.SUCCESS).count() == 2,
        timeout=30,
        on_timeout=celery_workers.logs,
    )
