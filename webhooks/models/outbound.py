"""Outbound webhooks as data: subscriptions, their signing secrets, events (the outbox), deliveries and attempts.

* ``Webhook`` -- a tenant's subscription: where to POST which events, how long to wait and how often to retry.
* ``WebhookSecret`` -- the subscription's signing secrets (encrypted). ``expires_at`` is null for the current
  one; a rotation gives the previous one an expiry, and every secret still live signs each delivery.
* ``WebhookEvent`` -- one triggered event. ``body`` holds the exact JSON bytes every subscription receives
  (serialised once, at trigger time), so a retry or a replay sends the same bytes.
* ``Delivery`` -- one event for one subscription: ``pending`` until it succeeds or runs out of attempts.
  ``locked_until``/``claim_token`` are the lease a worker holds while sending (see webhooks.delivery).
* ``DeliveryAttempt`` -- one HTTP call: request headers (never a secret), response status, the first bytes
  of the response, error and duration.
* ``WebhookRecovery`` -- one "re-send what failed between since and until" job of a subscription.

A subscription's ``signature_scheme`` is ``v1`` (HMAC secrets) or ``v1a`` (ed25519 key pairs: the ``whsk_`` private
key in ``WebhookSecret.secret``, encrypted, its ``whpk_`` public key in ``WebhookSecret.public_key``), its ``filter``
narrows the events it receives by their data (see webhooks.filters) and its ``payload_format`` is ``standard`` or
``cloudevents`` (see webhooks.delivery.format_body).
"""

import uuid

from django.conf import settings as django_settings
from django.db import models
from django.db.models import Q

from integrations.crypto import EncryptedJSONField, EncryptedTextField

__all__ = [
    "CircuitState",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryStatus",
    "OutboundSignatureScheme",
    "PayloadFormat",
    "RecoveryStatus",
    "Webhook",
    "WebhookEvent",
    "WebhookRecovery",
    "WebhookSecret",
    "WebhookStatus",
]


class WebhookStatus(models.TextChoices):
    ACTIVE = "active"
    INACTIVE = "inactive"  # paused by a user: new events are not recorded for it
    DISABLED = "disabled"  # stopped by the platform after persistent failures or a 410: new events wait for it


class CircuitState(models.TextChoices):
    """The endpoint's circuit breaker (see webhooks.flow): open endpoints are not sent to; one probe when half open."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class OutboundSignatureScheme(models.TextChoices):
    V1 = "v1"  # HMAC-SHA256 with a shared secret
    V1A = "v1a"  # ed25519: the consumer verifies with the public key


class PayloadFormat(models.TextChoices):
    STANDARD = "standard"  # {id, event, timestamp, tenantId, data}
    CLOUDEVENTS = "cloudevents"  # CloudEvents 1.0 structured JSON


class RecoveryStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SUCCESS = "success"
    FAILED = "failed"


class Webhook(models.Model):
    """A subscription (seed 000's webhook): POST the matching events to ``url``, signed with its secrets."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="webhooks")
    integration = models.ForeignKey(
        "integrations.Integration", null=True, blank=True, on_delete=models.CASCADE, related_name="webhooks"
    )
    name = models.CharField(max_length=200)
    url = models.CharField("URL", max_length=2048)
    events = models.JSONField(default=list, help_text="Event names or patterns: '*', 'application.*'.")
    # Encrypted: a destination's credentials often travel here (`Authorization: Bearer …`). Reads show names only.
    headers = EncryptedJSONField(default=dict, blank=True, help_text="Custom headers sent with every delivery.")
    retry_attempts = models.PositiveSmallIntegerField(default=3)
    timeout_ms = models.PositiveIntegerField("timeout (ms)", default=10000)
    signature_scheme = models.CharField(
        max_length=8, choices=OutboundSignatureScheme.choices, default=OutboundSignatureScheme.V1
    )
    filter = models.JSONField(
        default=dict, blank=True, help_text="Conditions on the event data: {dotted.path: literal | {in} | {exists}}."
    )
    payload_format = models.CharField(max_length=16, choices=PayloadFormat.choices, default=PayloadFormat.STANDARD)
    status = models.CharField(max_length=16, choices=WebhookStatus.choices, default=WebhookStatus.ACTIVE)
    success_count = models.PositiveBigIntegerField(default=0)
    failure_count = models.PositiveBigIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    # Failed attempts since the last success, and when that run of failures began (auto-disable).
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    # Flow control (webhooks.flow): messages per second across all workers (null: no limit), the circuit breaker,
    # and the time before which nothing is sent (breaker open, a probe in flight, or a receiver's Retry-After).
    rate_limit = models.PositiveIntegerField(null=True, blank=True)
    circuit_state = models.CharField(max_length=16, choices=CircuitState.choices, default=CircuitState.CLOSED)
    circuit_failures = models.PositiveIntegerField(default=0)  # failed attempts in a row that count for the breaker
    circuit_opened_at = models.DateTimeField(null=True, blank=True)
    paused_until = models.DateTimeField(null=True, blank=True)
    # The failure-rate window of the breaker (tumbling, WEBHOOK_BREAKER_WINDOW_SECONDS long).
    window_started_at = models.DateTimeField(null=True, blank=True)
    window_attempts = models.PositiveIntegerField(default=0)
    window_failures = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "webhook subscription"
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="wh_tenant_created_idx"),
            models.Index(fields=["tenant", "status"], name="wh_tenant_status_idx"),
            models.Index(fields=["tenant", "integration"], name="wh_tenant_integ_idx"),
            models.Index(fields=["tenant", "name"], name="wh_tenant_name_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} -> {self.url}"


class WebhookSecret(models.Model):
    """A signing secret of a subscription. Live while ``expires_at`` is null (current) or in the future."""

    id = models.BigAutoField(primary_key=True)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="secrets")
    secret = EncryptedTextField()  # a v1 secret, or the whsk_ private key of a v1a pair
    public_key = models.CharField(max_length=100, blank=True, default="")  # whpk_ of a v1a pair, else empty
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["webhook", "expires_at"], name="wh_secret_webhook_exp_idx")]

    def __str__(self) -> str:  # never the secret itself
        return f"secret #{self.pk} of {self.webhook_id}"


class WebhookEvent(models.Model):
    """One triggered event (the outbox row). ``id`` is the ``webhook-id`` every delivery of it carries."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="webhook_events")
    event = models.CharField(max_length=100)
    payload = models.JSONField(default=dict, blank=True)
    body = models.TextField(help_text="The exact JSON body delivered: {id, event, timestamp, tenantId, data}.")
    idempotency_key = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="uniq_wh_event_idempotency",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="wh_evt_tenant_created_idx"),
            models.Index(fields=["tenant", "event"], name="wh_evt_tenant_event_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.id}"


class Delivery(models.Model):
    """One event for one subscription, and where its delivery stands."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=100)  # copy of event.event: the logs filter on it
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)  # every attempt ever made (X-Webhook-Attempt - 1)
    round_attempts = models.PositiveIntegerField(default=0)  # attempts since the last manual retry / replay
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The lease of the worker sending it: nobody else claims the row before locked_until.
    locked_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    last_response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField("duration (ms)", default=0)  # sum over its attempts
    last_attempt = models.ForeignKey(
        "webhooks.DeliveryAttempt", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["webhook", "event"], name="uniq_delivery_webhook_event")]
        indexes = [
            models.Index(fields=["webhook", "-created_at"], name="wh_dlv_webhook_created_idx"),
            models.Index(fields=["webhook", "status", "-created_at"], name="wh_dlv_webhook_status_idx"),
            models.Index(fields=["webhook", "event_type", "-created_at"], name="wh_dlv_webhook_type_idx"),
            models.Index(fields=["tenant", "-created_at"], name="wh_dlv_tenant_created_idx"),
            # the console's dashboard: every tenant's deliveries of the last 24 h / 7 d
            models.Index(fields=["created_at"], name="wh_dlv_created_idx"),
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="wh_dlv_pending_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} -> {self.webhook_id} ({self.status})"


class DeliveryAttempt(models.Model):
    """One HTTP call of a delivery. The id is made before the row is written (the delivery points at it)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    attempt_number = models.PositiveIntegerField()
    url = models.CharField("URL", max_length=2048)
    request_headers = models.JSONField(default=dict)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.TextField(blank=True)  # the first WEBHOOK_RESPONSE_BODY_LIMIT bytes, decoded
    response_truncated = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    outcome = models.CharField(max_length=16)  # success | retry | failed
    duration_ms = models.PositiveIntegerField("duration (ms)", default=0)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["delivery", "attempt_number"], name="wh_attempt_delivery_idx")]

    def __str__(self) -> str:
        return f"attempt {self.attempt_number} of {self.delivery_id}"


class WebhookRecovery(models.Model):
    """A recovery job: re-send a subscription's failed and exhausted deliveries created in [since, until)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="recoveries")
    since = models.DateTimeField()
    until = models.DateTimeField()
    status = models.CharField(max_length=16, choices=RecoveryStatus.choices, default=RecoveryStatus.PENDING)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook recoveries"
        indexes = [models.Index(fields=["webhook", "-created_at"], name="wh_recovery_webhook_idx")]

    def __str__(self) -> str:
        return f"recovery {self.pk} of {self.webhook_id} ({self.status})"
