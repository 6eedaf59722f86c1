"""A console's worth of data for the dashboard and admin tests (browser ones included), with planted secrets.

``seed()`` builds two tenants with integrations, connections (one expired), subscriptions (one failing),
deliveries spread over the last hours with their attempts, inbound events and a refresh failure. Every secret it
stores is listed in ``Seeded.secrets``: no console page may ever show one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from integrations.models import ActivityLog, Connection
from tests.factories import TenantFactory
from tests.integrations.factories import IntegrationFactory, ProviderFactory
from webhooks import inbound as inbound_services
from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt, Webhook, WebhookEvent
from webhooks.models.inbound import InboundEvent

WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LXBsYW50ZWQtd2ViaG9vay1rZXktMDAx"  # base64 of secret-planted-webhook-key-001
HEADER_VALUE = "planted-custom-header-value-7f3a9c"
TOKEN = "planted-access-token-5d1e8b"
REFRESH_TOKEN = "planted-refresh-token-0a4c2e"
API_KEY = "sk_live_planted_api_key_93b7d1"
INBOUND_SECRET = "planted-inbound-secret-61f0aa"
CLIENT_SECRET = "planted-client-secret-c8e2f4"


@dataclass
class Seeded:
    now: datetime
    tenant: object
    other_tenant: object
    integration: object
    good: Webhook
    broken: Webhook
    expired_connection: Connection
    counts: dict[str, int] = field(default_factory=dict)  # delivery status -> how many were seeded (last 24 h)
    failed_delivery: Delivery | None = None
    inbound_counts: dict[str, int] = field(default_factory=dict)
    secrets: tuple[str, ...] = (
        WEBHOOK_SECRET,
        HEADER_VALUE,
        TOKEN,
        REFRESH_TOKEN,
        API_KEY,
        INBOUND_SECRET,
        CLIENT_SECRET,
    )


def _delivery(webhook: Webhook, *, status: str, at: datetime, response_status: int | None, event_type="order.paid"):
    event = WebhookEvent.objects.create(
        tenant_id=webhook.tenant_id,
        event=event_type,
        payload={"orderId": str(uuid.uuid4())[:8]},
        body='{"id": "x"}',
        created_at=at,
    )
    delivery = Delivery.objects.create(
        tenant_id=webhook.tenant_id,
        webhook=webhook,
        event=event,
        event_type=event_type,
        status=status,
        attempt_count=0 if status == "pending" else 1,
        last_response_status=response_status,
        created_at=at,
        next_attempt_at=at if status == "pending" else None,
        completed_at=None if status == "pending" else at,
    )
    if status != "pending":
        attempt = DeliveryAttempt.objects.create(
            delivery=delivery,
            attempt_number=1,
            url=webhook.url,
            # As a recorder that did not mask a custom header would have stored it: the console masks it anyway.
            request_headers={
                "content-type": "application/json",
                "webhook-id": str(event.pk),
                "webhook-signature": "v1,cGxhbnRlZC1zaWduYXR1cmU=",
                "X-Route-Token": HEADER_VALUE,
            },
            response_status=response_status,
            response_body="upstream exploded" if status == "failed" else "ok",
            error="" if status == "success" else f"HTTP {response_status}",
            outcome=status,
            duration_ms=42,
            created_at=at,
        )
        Delivery.objects.filter(pk=delivery.pk).update(last_attempt=attempt, last_error=attempt.error)
    return delivery


def seed(*, receiver_url: str = "http://127.0.0.1:9/hook", now: datetime | None = None) -> Seeded:
    now = now or timezone.now()
    tenant = TenantFactory(name="Acme Corp", slug="acme")
    other = TenantFactory(name="Globex", slug="globex")
    provider = ProviderFactory(key="acme_crm", oauth_client_secret=CLIENT_SECRET)
    integration = IntegrationFactory(tenant=tenant, provider=provider, name="Acme CRM", auth_type="api_key")
    other_integration = IntegrationFactory(tenant=other, provider=provider, name="Globex CRM", auth_type="api_key")
    Connection.objects.create(
        tenant=tenant,
        integration=integration,
        auth_type="api_key",
        credentials={"api_key": API_KEY},
        credential_hint="sk_l…d1",
        connected_at=now,
    )
    expired = Connection.objects.create(
        tenant=other,
        integration=other_integration,
        auth_type="oauth2",
        status="expired",
        credentials={"access_token": TOKEN, "refresh_token": REFRESH_TOKEN},
        validation_error="The provider refused the refresh token (invalid_grant): reconnect the integration.",
        connected_at=now - timedelta(days=3),
    )
    ActivityLog.objects.create(
        tenant=other,
        integration=other_integration,
        type="refresh",
        status="error",
        message="Token refresh failed: invalid_grant",
        created_at=now - timedelta(hours=2),
    )
    good, _ = services.webhook_create(
        tenant=tenant,
        name="Orders to ERP",
        url=receiver_url,
        events=["*"],
        secret=WEBHOOK_SECRET,
        headers={"X-Route-Token": HEADER_VALUE},
        integration_id=integration.pk,
    )
    broken, _ = services.webhook_create(
        tenant=other, name="Broken CRM sync", url="http://127.0.0.1:9/broken", events=["*"], retry_attempts=0
    )
    seeded = Seeded(
        now=now,
        tenant=tenant,
        other_tenant=other,
        integration=integration,
        good=good,
        broken=broken,
        expired_connection=expired,
    )
    counts = {"success": 0, "failed": 0, "pending": 0}
    # Over the last 24 hours: 6 successes and 1 failure for the good subscription, 4 failures for the broken one,
    # 2 pending; one old success, 3 days ago, counts in the 7-day numbers only.
    for hours_ago in (1, 1, 2, 5, 9, 20):
        _delivery(good, status="success", at=now - timedelta(hours=hours_ago, minutes=5), response_status=200)
        counts["success"] += 1
    seeded.failed_delivery = _delivery(good, status="failed", at=now - timedelta(hours=3), response_status=500)
    counts["failed"] += 1
    for hours_ago in (1, 2, 4, 6):
        _delivery(broken, status="failed", at=now - timedelta(hours=hours_ago, minutes=10), response_status=503)
        counts["failed"] += 1
    for _ in range(2):
        _delivery(good, status="pending", at=now - timedelta(minutes=1), response_status=None)
        counts["pending"] += 1
    _delivery(good, status="success", at=now - timedelta(days=3), response_status=200)
    seeded.counts = counts

    endpoint, _ = inbound_services.inbound_endpoint_create(
        tenant=tenant, integration=integration, name="Stripe events", secret=INBOUND_SECRET
    )
    inbound = {"processed": 3, "failed": 1, "pending": 1}
    for status, n in inbound.items():
        for i in range(n):
            InboundEvent.objects.create(
                tenant=tenant,
                endpoint=endpoint,
                provider_event_id=f"evt_{status}_{i}",
                event_type="invoice.paid",
                body=b'{"type": "invoice.paid"}',
                headers={"Stripe-Signature": "t=1,v1=planted", "Content-Type": "application/json"},
                status=status,
                received_at=now - timedelta(hours=i + 1),
            )
    seeded.inbound_counts = inbound
    return seeded
