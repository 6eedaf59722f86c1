"""Signature schemes (v1 hex fix, v1a ed25519 key pairs) and payload formats (standard, CloudEvents) of a
subscription, through the API and the sender against a real HTTP receiver on 127.0.0.1."""

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.factories import TenantFactory
from tests.helpers import assert_error
from webhooks import delivery as sender
from webhooks import services, signing
from webhooks.models import Delivery, WebhookSecret

pytestmark = pytest.mark.django_db(transaction=True)

BASE = "/api/v1/integrations/webhooks"


def ed25519_verify(public_key: str, request) -> None:
    """What a consumer does (Standard Webhooks v1a): ed25519 over "{id}.{timestamp}.{body}" with the whpk_ key."""
    assert public_key.startswith("whpk_")
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key.removeprefix("whpk_")))
    signed = f"{request.header('webhook-id')}.{request.header('webhook-timestamp')}.".encode() + request.body
    entries = [e.split(",", 1) for e in request.header("webhook-signature").split()]
    assert all(version == "v1a" for version, _ in entries), entries
    for _, signature in entries:
        try:
            key.verify(base64.b64decode(signature), signed)
            return
        except InvalidSignature:  # another entry may be this key's
            continue
    raise AssertionError("no v1a entry verifies with this public key")


def send(tenant, event="application.created", data=None):
    record = services.trigger(tenant, event, data if data is not None else {"applicationId": "a1"})
    delivery = Delivery.objects.get(pk=record.delivery_ids[0])
    assert sender.process_delivery(str(delivery.pk)) == "success"
    return record


# --------------------------------------------------------------------------- 0: X-Webhook-Signature


def test_hex_signature_verifies_with_the_secret_string_as_returned(admin_client, receiver, enqueued):
    created = admin_client.post(
        BASE, {"name": "hex", "url": receiver.url("/hex"), "events": ["*"]}, format="json"
    ).json()
    secret = created["secret"]
    assert secret.startswith("whsec_")

    send(admin_client.tenant)

    (request,) = receiver.received("/hex")
    # the product docs' consumer: HMAC-SHA256 of the raw body keyed with the secret string it was given
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.header("X-Webhook-Signature") == expected
    StandardWebhook(secret).verify(request.body, request.headers)  # webhook-signature keeps the whsec_ convention


# --------------------------------------------------------------------------- 6: v1a


def test_v1a_subscription_returns_public_keys_only_and_signs_with_ed25519(admin_client, receiver, enqueued):
    response = admin_client.post(
        BASE, {"name": "ed", "url": receiver.url("/ed"), "events": ["*"], "signatureScheme": "v1a"}, format="json"
    )

    assert response.status_code == 201, response.content
    created = response.json()
    assert created["signatureScheme"] == "v1a" and created["secret"] is None
    (public,) = created["publicKeys"]
    assert public["key"].startswith("whpk_") and public["expiresAt"] is None and public["createdAt"]
    send(admin_client.tenant)
    (request,) = receiver.received("/ed")
    ed25519_verify(public["key"], request)
    signing.verify(request.body, request.headers, public["key"])
    assert request.header("X-Webhook-Signature") is None  # no shared secret, no HMAC header
    # the private key is stored encrypted and appears in no response
    private = WebhookSecret.objects.get(webhook_id=created["id"]).secret
    assert private.startswith("whsk_")
    for url in (f"{BASE}/{created['id']}", BASE, f"{BASE}/{created['id']}/logs"):
        text = admin_client.get(url).content.decode()
        assert private not in text and private.removeprefix("whsk_") not in text and "whsk_" not in text


def test_v1a_rotation_signs_with_both_key_pairs_during_the_overlap(admin_client, receiver, enqueued):
    created = admin_client.post(
        BASE, {"name": "ed", "url": receiver.url("/rot"), "events": ["*"], "signatureScheme": "v1a"}, format="json"
    ).json()
    old_key = created["publicKeys"][0]["key"]

    rotated = admin_client.post(f"{BASE}/{created['id']}/rotate-secret", {}, format="json")

    assert rotated.status_code == 200, rotated.content
    assert rotated.json()["secret"] is None
    keys = admin_client.get(f"{BASE}/{created['id']}").json()["publicKeys"]
    assert [k["key"] for k in keys][1] == old_key and len(keys) == 2
    assert keys[0]["expiresAt"] is None and keys[1]["expiresAt"] is not None
    send(admin_client.tenant)
    (request,) = receiver.received("/rot")
    assert len(request.header("webhook-signature").split()) == 2
    ed25519_verify(keys[0]["key"], request)
    ed25519_verify(old_key, request)
    error = assert_error(
        admin_client.post(f"{BASE}/{created['id']}/rotate-secret", {"secret": "my-own-secret"}, format="json"), 400
    )
    assert "secret" in error["details"]


def test_unknown_scheme_a_secret_with_v1a_and_a_scheme_change_are_400(admin_client):
    body = {"name": "x", "url": "http://127.0.0.1:9/h", "events": ["*"]}
    error = assert_error(admin_client.post(BASE, {**body, "signatureScheme": "v2"}, format="json"), 400)
    assert "signatureScheme" in error["details"]
    error = assert_error(
        admin_client.post(BASE, {**body, "signatureScheme": "v1a", "secret": "my-own-secret"}, format="json"), 400
    )
    assert "secret" in error["details"]
    error = assert_error(admin_client.post(BASE, {**body, "secret": "whsk_AAAAAAAAAAAA"}, format="json"), 400)
    assert "secret" in error["details"]
    hook = admin_client.post(BASE, body, format="json").json()
    assert hook["signatureScheme"] == "v1" and hook["publicKeys"] == []
    assert_error(admin_client.patch(f"{BASE}/{hook['id']}", {"signatureScheme": "v1a"}, format="json"), 400)


def test_list_of_v1a_subscriptions_loads_public_keys_in_one_query(admin_client, django_assert_max_num_queries):
    for n in range(8):
        services.webhook_create(
            tenant=admin_client.tenant, name=f"h{n}", url="http://127.0.0.1:9/h", events=["*"], signature_scheme="v1a"
        )
    with django_assert_max_num_queries(5):
        items = admin_client.get(BASE).json()["items"]
    assert len(items) == 8 and all(len(item["publicKeys"]) == 1 for item in items)


# --------------------------------------------------------------------------- 8: CloudEvents


def test_cloudevents_subscription_receives_a_structured_cloudevent_with_the_same_signatures(receiver, enqueued):
    tenant = TenantFactory()
    _, secret = services.webhook_create(
        tenant=tenant, name="ce", url=receiver.url("/ce"), events=["*"], payload_format="cloudevents"
    )
    services.webhook_create(tenant=tenant, name="std", url=receiver.url("/std"), events=["*"])

    record = services.trigger(tenant, "offer.sent", {"offerId": "o1", "applicationId": "a1"})
    for delivery_id in record.delivery_ids:
        assert sender.process_delivery(str(delivery_id)) == "success"

    (request,) = receiver.received("/ce")
    assert request.header("Content-Type") == "application/cloudevents+json"
    event = json.loads(request.body)
    standard = json.loads(receiver.received("/std")[0].body)
    assert event == {
        "specversion": "1.0",
        "id": str(record.pk),
        "type": "offer.sent",
        "source": f"/tenants/{tenant.pk}",
        "time": standard["timestamp"],
        "datacontenttype": "application/json",
        "data": {"offerId": "o1", "applicationId": "a1"},
    }
    assert request.header("webhook-id") == event["id"] == standard["id"]
    StandardWebhook(secret).verify(request.body, request.headers)
    assert request.header("X-Webhook-Signature") == hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()


def test_cloudevents_retries_send_the_same_bytes():
    body = '{"id":"e1","event":"job.created","timestamp":"2025-11-20T14:00:00.000Z","tenantId":"t1","data":{"é":1.5}}'
    first, content_type = sender.format_body(body, "cloudevents")
    assert sender.format_body(body, "cloudevents") == (first, content_type)
    assert json.loads(first)["data"] == {"é": 1.5}
    assert sender.format_body(body, "standard") == (body.encode(), "application/json")


def test_payload_format_is_validated_and_editable(admin_client):
    body = {"name": "x", "url": "http://127.0.0.1:9/h", "events": ["*"]}
    error = assert_error(admin_client.post(BASE, {**body, "payloadFormat": "xml"}, format="json"), 400)
    assert "payloadFormat" in error["details"]
    hook = admin_client.post(BASE, body, format="json").json()
    assert hook["payloadFormat"] == "standard"
    patched = admin_client.patch(f"{BASE}/{hook['id']}", {"payloadFormat": "cloudevents"}, format="json")
    assert patched.json()["payloadFormat"] == "cloudevents"
