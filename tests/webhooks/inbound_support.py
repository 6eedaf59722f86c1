"""Builders shared by the inbound webhook tests: providers, integrations, endpoints, signed receive calls."""

import json

import pytest

from config.celery import app as celery_app
from integrations.models import Integration
from providers.models import Provider
from tests.factories import TenantFactory
from webhooks import inbound as services
from webhooks.inbound_signatures import sign_for_test

RECEIVE = "/api/v1/webhooks/receive/{path}"
BASE = "/api/v1/integrations/inbound-webhooks"
STRIPE_SECRET = "whsec_dGVzdC1zdHJpcGUtc2VjcmV0LWZvci1pbmJvdW5k"

_PROVIDERS = {
    "stripe": ("payment_gateway", "api_key", "stripe"),
    "github": ("data_source", "oauth2", "github"),
    "slack": ("messaging", "oauth2", "slack"),
    "twilio": ("sms", "basic", "twilio"),
    "custom_webhook": ("custom", "none", "hmac_sha256"),
    "sendgrid": ("email", "api_key", ""),
}


def provider(key: str = "stripe") -> Provider:
    category, auth_type, scheme = _PROVIDERS.get(key, ("custom", "none", ""))
    found, _ = Provider.objects.get_or_create(
        key=key,
        defaults={
            "name": key.title(),
            "display_name": key.title(),
            "category": category,
            "auth_type": auth_type,
            "inbound_signature_scheme": scheme,
            "supports_webhooks": True,
        },
    )
    return found


def integration(tenant=None, key: str = "stripe", **fields) -> Integration:
    tenant = tenant or TenantFactory()
    prov = provider(key)
    defaults = {"name": f"{key} {Integration.objects.count() + 1}", "auth_type": prov.auth_type, "status": "active"}
    defaults.update(fields)
    return Integration.objects.create(tenant=tenant, provider=prov, **defaults)


def endpoint(integ=None, *, secret: str = STRIPE_SECRET, **fields):
    integ = integ or integration()
    created, _ = services.inbound_endpoint_create(
        tenant=integ.tenant, integration=integ, name=fields.pop("name", "Hooks"), secret=secret, **fields
    )
    return created


def stripe_event(event_id: str = "evt_1NG8Du2eZvKYlo2CUI79vXWy", event_type: str = "invoice.paid") -> bytes:
    """Shaped like https://docs.stripe.com/api/events/object."""
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2024-06-20",
            "created": 1686089970,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
            "data": {
                "object": {
                    "id": "in_1NG8Dt2eZvKYlo2C0Xq9Y7Zb",
                    "object": "invoice",
                    "amount_paid": 2000,
                    "currency": "usd",
                    "customer": "cus_NffrFeUfNV2Hib",
                    "status": "paid",
                }
            },
        }
    ).encode()


def post_signed(client, ep, body: bytes, *, scheme: str | None = None, secret: str = STRIPE_SECRET, **extra):
    headers = sign_for_test(scheme or ep.signature_scheme, body, secret)
    return client.generic(
        "POST",
        RECEIVE.format(path=ep.path),
        body,
        content_type=extra.pop("content_type", "application/json"),
        headers={**headers, **extra.pop("headers", {})},
        **extra,
    )


@pytest.fixture
def eager_celery():
    """Tasks run in the calling thread (after commit, when enqueued with on_commit)."""
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = False
    yield celery_app
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


class EmitRecorder:
    def __init__(self):
        self.calls: list[tuple] = []

    def __call__(self, tenant, event, data):
        self.calls.append((tenant, event, data))

    def events(self, name: str | None = None) -> list[dict]:
        return [data for _, event, data in self.calls if name is None or event == name]


@pytest.fixture
def emitted(monkeypatch):
    """Records integrations.events.emit calls instead of writing outbound webhook rows."""
    recorder = EmitRecorder()
    monkeypatch.setattr("integrations.events.emit", recorder)
    return recorder
