"""Outbound webhook API shapes (camelCase on the wire through the project's renderer and parser).

Input serializers check types and ranges only; the services check the rest (URL safety, the event catalog,
the integration's tenant, header names) and raise ValidationFailed with field details.
"""

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.serializers import StrictSerializer
from webhooks.delivery import MASKED_HEADER_VALUE, mask_headers
from webhooks.models import (
    CircuitState,
    Delivery,
    OutboundSignatureScheme,
    PayloadFormat,
    Webhook,
    WebhookRecovery,
)

_STATUS_INPUT = (("active", "active"), ("inactive", "inactive"))


class WebhookWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    url = serializers.CharField(max_length=2048)
    events = serializers.ListField(child=serializers.CharField(max_length=100), allow_empty=False, max_length=100)
    secret = serializers.CharField(
        max_length=200, required=False, allow_blank=True, write_only=True, trim_whitespace=False
    )
    headers = serializers.DictField(
        child=serializers.CharField(max_length=1000, allow_blank=True, trim_whitespace=False), required=False
    )
    # 0-10 (api.md); the service also holds it to WEBHOOK_MAX_RETRY_ATTEMPTS.
    retry_attempts = serializers.IntegerField(min_value=0, max_value=10, required=False)
    timeout_ms = serializers.IntegerField(min_value=1000, max_value=30000, required=False)
    integration_id = serializers.UUIDField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=_STATUS_INPUT, required=False)
    signature_scheme = serializers.ChoiceField(
        choices=OutboundSignatureScheme.choices,
        required=False,
        help_text="v1: HMAC-SHA256 with a shared secret (default). v1a: ed25519; verify with the public key.",
    )
    filter = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text=(
            "Deliver only events whose data matches: {dotted.path: literal | {'in': [...]} | {'exists': bool}}, "
            "all conditions ANDed, e.g. {'toStage': {'in': ['interview', 'offer']}, 'job.remote': true}."
        ),
    )
    payload_format = serializers.ChoiceField(
        choices=PayloadFormat.choices,
        required=False,
        help_text="standard: {id, event, timestamp, tenantId, data}. cloudevents: CloudEvents 1.0 structured JSON.",
    )
    rate_limit = serializers.IntegerField(
        min_value=1,
        max_value=10000,
        required=False,
        allow_null=True,
        help_text="Messages per second to this endpoint, across all workers; null for no limit.",
    )


class WebhookUpdateSerializer(WebhookWriteSerializer):
    """PUT and PATCH: every field optional (seed 000's PUT sends only what changes). The secret: rotate-secret.
    The signature scheme is chosen at creation."""

    secret = None
    signature_scheme = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class PublicKeySerializer(serializers.Serializer):
    key = serializers.CharField(help_text="whpk_<base64 ed25519 public key>")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True, help_text="Set on the previous key after a rotation.")


class WebhookSerializer(serializers.ModelSerializer):
    tenant_id = serializers.UUIDField(read_only=True)
    integration_id = serializers.UUIDField(read_only=True, allow_null=True)
    headers = serializers.SerializerMethodField(
        help_text=f"Custom header names; values are write-only and shown as {MASKED_HEADER_VALUE}. Sending that "
        "placeholder back as a value keeps the stored one."
    )
    filter = serializers.JSONField(read_only=True)
    public_keys = serializers.SerializerMethodField(
        help_text="v1a subscriptions: the live ed25519 public keys, newest first (two during a rotation)."
    )
    rate_limit = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Messages per second to this endpoint; null for no limit."
    )
    circuit_state = serializers.ChoiceField(
        choices=CircuitState.choices,
        read_only=True,
        help_text="The endpoint's circuit breaker: closed (sending), open (messages wait, retry budget untouched, "
        "until a probe after the cooldown succeeds) or half_open (one probe in flight).",
    )
    paused_until = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="Nothing is sent to the endpoint before this time (breaker open, or the receiver's Retry-After).",
    )

    class Meta:
        model = Webhook
        fields = [
            "id",
            "tenant_id",
            "integration_id",
            "name",
            "url",
            "events",
            "headers",
            "retry_attempts",
            "timeout_ms",
            "signature_scheme",
            "filter",
            "payload_format",
            "public_keys",
            "status",
            "rate_limit",
            "circuit_state",
            "paused_until",
            "success_count",
            "failure_count",
            "last_success_at",
            "last_failure_at",
            "disabled_at",
            "disabled_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_headers(self, obj) -> dict[str, str]:
        return mask_headers(obj.headers)

    @extend_schema_field(PublicKeySerializer(many=True))
    def get_public_keys(self, obj) -> list[dict]:
        from webhooks.selectors import webhook_public_keys

        return PublicKeySerializer(webhook_public_keys(webhook=obj), many=True).data


class WebhookWithSecretSerializer(WebhookSerializer):
    """Creation and rotation only: the one time the secret is shown (null for v1a: read publicKeys)."""

    secret = serializers.SerializerMethodField()

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, obj) -> str | None:
        return self.context["secret"]


class DeliveryLogSerializer(serializers.ModelSerializer):
    """Seed 000's log entry, plus the event id and excerpts of the last attempt's request and response."""

    webhook_id = serializers.UUIDField(read_only=True)
    event_id = serializers.UUIDField(read_only=True)
    event = serializers.CharField(source="event_type", read_only=True)
    response_status = serializers.IntegerField(source="last_response_status", read_only=True, allow_null=True)
    error = serializers.SerializerMethodField()
    request = serializers.SerializerMethodField()
    response = serializers.SerializerMethodField()

    class Meta:
        model = Delivery
        fields = [
            "id",
            "webhook_id",
            "event_id",
            "event",
            "status",
            "response_status",
            "attempt_count",
            "duration_ms",
            "error",
            "created_at",
            "completed_at",
            "next_attempt_at",
            "request",
            "response",
        ]
        read_only_fields = fields

    def get_error(self, obj) -> str | None:
        return obj.last_error or None

    def get_request(self, obj) -> dict:
        attempt = obj.last_attempt
        limit = int(settings.WEBHOOK_RESPONSE_BODY_LIMIT)
        body = obj.event.body if obj.event_id else ""
        return {
            "url": attempt.url if attempt else None,
            "headers": mask_headers(attempt.request_headers) if attempt else {},
            "body": body[:limit],
            "body_truncated": len(body) > limit,
        }

    def get_response(self, obj) -> dict | None:
        attempt = obj.last_attempt
        if attempt is None or attempt.response_status is None:
            return None
        return {
            "status": attempt.response_status,
            "headers": attempt.response_headers,
            "body": attempt.response_body,
            "body_truncated": attempt.response_truncated,
        }


class WebhookTestResultSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    response_status = serializers.IntegerField(allow_null=True)
    delivery_id = serializers.UUIDField()


class WebhookStatsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    success = serializers.IntegerField()
    failed = serializers.IntegerField()
    pending = serializers.IntegerField()
    success_rate = serializers.FloatField()


class RotateSecretSerializer(StrictSerializer):
    secret = serializers.CharField(max_length=200, required=False, allow_blank=True, trim_whitespace=False)


class ReplaySerializer(StrictSerializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField(required=False)
    status = serializers.ChoiceField(choices=(("failed", "failed"), ("success", "success")), default="failed")

    def validate(self, attrs):
        until = attrs.get("until")
        if until is not None and attrs["since"] >= until:
            raise serializers.ValidationError({"since": ["Must be before until."]})
        return attrs


class ReplayResultSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    replayed = serializers.IntegerField()
    delivery_ids = serializers.ListField(child=serializers.UUIDField())


class TriggerSerializer(StrictSerializer):
    event = serializers.CharField(max_length=100)
    payload = serializers.JSONField(required=False)
    data = serializers.JSONField(required=False)
    idempotency_key = serializers.CharField(max_length=200, required=False, allow_blank=True)

    def validate(self, attrs):
        if "payload" in attrs and "data" in attrs:
            raise serializers.ValidationError({"payload": ["Give payload or data, not both."]})
        body = attrs.get("payload", attrs.get("data", {}))
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise serializers.ValidationError({"payload": ["Must be an object."]})
        attrs["data"] = body
        attrs.pop("payload", None)
        return attrs


class TriggerResultSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    event_id = serializers.UUIDField()
    deliveries = serializers.IntegerField()


class EventTypeSerializer(serializers.Serializer):
    """An event type of the catalog (``event`` and ``category`` are the older names of ``name`` and ``group``)."""

    name = serializers.CharField()
    event = serializers.CharField(source="name")
    group = serializers.CharField()
    category = serializers.CharField(source="group")
    description = serializers.CharField()
    schema = serializers.JSONField(help_text="JSON Schema (draft 2020-12) of the event's data.")
    example = serializers.JSONField()
    version = serializers.IntegerField()
    deprecated = serializers.BooleanField()


class EventTypeWriteSerializer(StrictSerializer):
    """Super admins: a custom event type (platform-wide). The service checks the name, the schema and the example."""

    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=2000)
    group = serializers.CharField(max_length=50, required=False)
    schema = serializers.JSONField()
    example = serializers.JSONField(required=False)
    deprecated = serializers.BooleanField(required=False)


class EventTypeUpdateSerializer(EventTypeWriteSerializer):
    name = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class RecoverSerializer(StrictSerializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField(required=False, help_text="Defaults to now.")
    dry_run = serializers.BooleanField(default=False)


class RecoverySampleSerializer(serializers.Serializer):
    delivery_id = serializers.UUIDField()
    event_id = serializers.UUIDField()
    event = serializers.CharField()
    status = serializers.ChoiceField(choices=(("failed", "failed"), ("exhausted", "exhausted")))


class RecoverPreviewSerializer(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="{failed, exhausted}")
    sample = RecoverySampleSerializer(many=True)


class RecoverStartedSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()


class RecoverySerializer(serializers.ModelSerializer):
    job_id = serializers.UUIDField(source="id", read_only=True)
    webhook_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = WebhookRecovery
        fields = [
            "job_id",
            "webhook_id",
            "status",
            "total",
            "done",
            "since",
            "until",
            "error",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields
