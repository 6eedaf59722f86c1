"""Inbound webhooks (seed 004): endpoints providers post to, and every event they delivered, raw."""

import secrets
import uuid

from django.db import models
from django.utils import timezone

from integrations.crypto import EncryptedTextField
from webhooks.inbound_signatures import DEFAULT_SIGNATURE_HEADERS, SCHEMES

__all__ = ["InboundEndpoint", "InboundEvent", "InboundEventStatus", "SignatureScheme", "generate_inbound_path"]

PATH_MAX_LENGTH = 100


class SignatureScheme(models.TextChoices):
    HMAC_SHA256 = "hmac_sha256"
    STRIPE = "stripe"
    GITHUB = "github"
    SLACK = "slack"
    STANDARD_WEBHOOKS = "standard_webhooks"
    TWILIO = "twilio"


assert tuple(SignatureScheme.values) == SCHEMES, "SignatureScheme must list webhooks.inbound_signatures.SCHEMES"


def generate_inbound_path() -> str:
    """An unguessable url-safe path segment: 24 random bytes -> 32 characters of [A-Za-z0-9_-]."""
    return secrets.token_urlsafe(24)


class InboundEndpoint(models.Model):
    """A URL `/api/v1/webhooks/receive/{path}` a provider posts events to, with the secret that signs them.

    `previous_secret` is the secret a rotation replaced: it still verifies until `previous_secret_expires_at`
    (settings.INBOUND_SECRET_GRACE_SECONDS), long enough to paste the new one into the provider's dashboard.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="inbound_endpoints")
    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="inbound_endpoints"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=2000)
    path = models.CharField(max_length=PATH_MAX_LENGTH, unique=True, default=generate_inbound_path)
    secret = EncryptedTextField()
    previous_secret = EncryptedTextField(blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    verify_signature = models.BooleanField(default=True)
    # Blank: the scheme's own header (DEFAULT_SIGNATURE_HEADERS).
    signature_header = models.CharField(max_length=100, blank=True)
    signature_scheme = models.CharField(
        max_length=32, choices=SignatureScheme.choices, default=SignatureScheme.HMAC_SHA256
    )
    # hmac_sha256 only: the sender also signs a timestamp (X-Webhook-Timestamp, MAC over "{timestamp}.{body}"),
    # refused outside a 5-minute window, so a captured request cannot be replayed later.
    require_timestamp = models.BooleanField(default=False)
    # Requests refused at this endpoint (bad signature, inactive...): the caller is told nothing, the tenant sees why.
    rejected_count = models.PositiveBigIntegerField(default=0)
    last_rejected_at = models.DateTimeField(null=True, blank=True)
    last_rejected_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="inb_ep_tenant_created_idx"),
            models.Index(fields=["tenant", "integration"], name="inb_ep_tenant_integ_idx"),
            models.Index(fields=["tenant", "active"], name="inb_ep_tenant_active_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.path})"

    @property
    def effective_signature_header(self) -> str:
        return self.signature_header or DEFAULT_SIGNATURE_HEADERS[self.signature_scheme]

    def live_secrets(self, now=None) -> list[str]:
        """The secrets a signature may be made with: the current one, then the rotated-out one during its grace."""
        now = now or timezone.now()
        found = [self.secret] if self.secret else []
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            found.append(self.previous_secret)
        return found


class InboundEventStatus(models.TextChoices):
    PENDING = "pending"
    PROCESSED = "processed"
    FAILED = "failed"


class InboundEvent(models.Model):
    """One received request, stored raw (the body as bytes, exactly as signed), processed later by a task.

    Unique on (endpoint, provider_event_id) when the provider names its event: a retried delivery is acknowledged
    with the first row's id and never processed twice.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="inbound_events")
    endpoint = models.ForeignKey(InboundEndpoint, on_delete=models.CASCADE, related_name="events")
    # NULL when the provider names no id: such events are never deduplicated (the unique constraint skips NULLs).
    provider_event_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    # The provider's event type (`invoice.paid`, `pull_request.opened`...), set by the handler when processed.
    event_type = models.CharField(max_length=200, blank=True)
    body = models.BinaryField()
    body_size = models.PositiveIntegerField(default=0)
    headers = models.JSONField(default=dict, blank=True)
    source_ip = models.GenericIPAddressField("source IP", null=True, blank=True)
    content_type = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=InboundEventStatus.choices, default=InboundEventStatus.PENDING)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    processing_ms = models.PositiveIntegerField("processing time (ms)", null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "provider_event_id"],
                condition=models.Q(provider_event_id__isnull=False),
                name="uniq_inbound_event_provider_id",
            )
        ]
        indexes = [
            # the events list of one endpoint, with and without its status filter
            models.Index(fields=["endpoint", "-received_at"], name="inb_ev_endpoint_recv_idx"),
            models.Index(fields=["endpoint", "status", "-received_at"], name="inb_ev_endpoint_status_idx"),
            # metrics: counts by status, the last 24 hours
            models.Index(fields=["status"], name="inb_ev_status_idx"),
            models.Index(fields=["received_at"], name="inb_ev_received_idx"),
            models.Index(fields=["tenant", "-received_at"], name="inb_ev_tenant_recv_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint_id}:{self.provider_event_id or self.id} ({self.status})"
