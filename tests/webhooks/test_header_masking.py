"""Custom headers of a subscription are write-only: a member reads names, never a destination's credentials."""

import json

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Role
from tests.factories import TenantFactory
from webhooks import delivery as sender
from webhooks import services
from webhooks.models import DeliveryAttempt, Webhook

pytestmark = pytest.mark.django_db

BASE = "/api/v1/integrations/webhooks"
TOKEN = "Bearer dest-api-token-0123456789abcdef"


def _create(client, url):
    body = {"name": "CRM", "url": url, "events": ["*"], "headers": {"Authorization": TOKEN, "X-Env": "prod"}}
    response = client.post(BASE, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_every_read_shows_names_with_masked_values(make_client, receiver):
    admin = make_client(Role.ADMIN)
    member = make_client(Role.MEMBER, tenant=admin.tenant)
    created = _create(admin, receiver.url("/hook"))
    masked = {"Authorization": "********", "X-Env": "********"}
    assert created["headers"] == masked
    assert member.get(f"{BASE}/{created['id']}").json()["headers"] == masked
    assert member.get(BASE).json()["items"][0]["headers"] == masked
    # a delivery was made with the real value; its log shows the mask
    assert admin.post(f"{BASE}/{created['id']}/test").json()["success"] is True
    (request,) = receiver.received("/hook")
    assert request.header("Authorization") == TOKEN
    log = member.get(f"{BASE}/{created['id']}/logs").json()["items"][0]
    assert log["request"]["headers"]["Authorization"] == "********"
    assert log["request"]["headers"]["X-Webhook-Event"] == "webhook.test"  # our own headers as sent
    for response in (
        member.get(f"{BASE}/{created['id']}"),
        member.get(BASE),
        member.get(f"{BASE}/{created['id']}/logs"),
    ):
        assert "dest-api-token" not in response.content.decode()
    attempt = DeliveryAttempt.objects.get()
    assert attempt.request_headers["Authorization"] == "********"  # not kept in the attempt either


def test_attempts_recorded_before_the_fix_are_masked_when_read(admin_client):
    webhook, _ = services.webhook_create(
        tenant=admin_client.tenant, name="Old", url="http://127.0.0.1:9/x", events=["*"]
    )
    record = services.trigger(admin_client.tenant, "application.created", {"a": 1})
    from webhooks.models import Delivery

    delivery = Delivery.objects.get(pk=record.delivery_ids[0])
    attempt = DeliveryAttempt.objects.create(
        delivery=delivery,
        attempt_number=1,
        url=webhook.url,
        request_headers={"Authorization": TOKEN, "X-Webhook-Id": "msg_1"},
        outcome="failed",
        created_at=timezone.now(),
    )
    Delivery.objects.filter(pk=delivery.pk).update(last_attempt=attempt, attempt_count=1)
    headers = admin_client.get(f"{BASE}/{webhook.pk}/logs").json()["items"][0]["request"]["headers"]
    assert headers == {"Authorization": "********", "X-Webhook-Id": "msg_1"}


def test_patch_without_headers_keeps_them_and_the_mask_sent_back_keeps_the_value(admin_client):
    created = _create(admin_client, "http://127.0.0.1:9/hook")
    admin_client.patch(f"{BASE}/{created['id']}", {"name": "Renamed"}, format="json")
    assert Webhook.objects.get(pk=created["id"]).headers == {"Authorization": TOKEN, "X-Env": "prod"}
    # a GET-modify-PUT round trip: the masked value comes back, a header is added, one changed
    headers = {**admin_client.get(f"{BASE}/{created['id']}").json()["headers"], "X-New": "1"}
    headers["X-Env"] = "staging"
    response = admin_client.put(f"{BASE}/{created['id']}", {"headers": headers}, format="json")
    assert response.status_code == 200, response.content
    assert Webhook.objects.get(pk=created["id"]).headers == {"Authorization": TOKEN, "X-Env": "staging", "X-New": "1"}
    # headers: {} removes them all
    admin_client.patch(f"{BASE}/{created['id']}", {"headers": {}}, format="json")
    assert Webhook.objects.get(pk=created["id"]).headers == {}


def test_header_values_are_encrypted_at_rest():
    webhook, _ = services.webhook_create(
        tenant=TenantFactory(), name="x", url="http://127.0.0.1:9/x", events=["*"], headers={"Authorization": TOKEN}
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT headers FROM webhooks_webhook WHERE id = %s", [webhook.pk])
        raw = cursor.fetchone()[0]
    assert "dest-api-token" not in json.dumps(raw) and "Authorization" not in json.dumps(raw)
    assert Webhook.objects.get(pk=webhook.pk).headers == {"Authorization": TOKEN}


def test_mask_helper_keeps_only_the_platform_headers_and_masks_signatures():
    headers = {"webhook-signature": "v1,abc", "webhook-id": "msg_1", "Cookie": "a=b", "X-Route": "r", "User-Agent": "x"}
    assert sender.mask_headers(headers) == {
        "webhook-signature": "********",
        "webhook-id": "msg_1",
        "Cookie": "********",
        "X-Route": "********",
        "User-Agent": "x",
    }
    # Inbound requests: only the named header and credential-looking ones.
    assert sender.mask_headers({"X-Route": "r", "Stripe-Signature": "t=1", "X-Key": "k"}, secret_names=["x-route"]) == {
        "X-Route": "********",
        "Stripe-Signature": "********",
        "X-Key": "********",
    }
