"""Inbound webhook endpoints and received events, as api.md shows them. The secret is write-only."""

import base64

from django.conf import settings
from django.urls import reverse
from rest_framework import serializers

from config.serializers import StrictSerializer
from webhooks.inbound_signatures import DEFAULT_SIGNATURE_HEADERS
from webhooks.models.inbound import PATH_MAX_LENGTH, InboundEndpoint, InboundEvent, SignatureScheme
from webhooks.signing import SECRET_PREFIX, secret_bytes

PATH_REGEX = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
HEADER_REGEX = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"  # an HTTP token (RFC 9110)


class InboundEndpointWriteSerializer(StrictSerializer):
    """POST (integrationId and name required) and PUT/PATCH (every field optional, as in seed 004)."""

    integration_id = serializers.UUIDField()
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=2000, allow_blank=True, required=False)
    path = serializers.RegexField(
        PATH_REGEX,
        help_text="A readable path of your choice; a random suffix is appended to it (see `path` in the answer).",
        min_length=3,
        max_length=PATH_MAX_LENGTH,
        required=False,
        error_messages={"invalid": "Use letters, digits, '-' and '_' (starting with a letter or digit)."},
    )
    secret = serializers.CharField(min_length=8, max_length=500, write_only=True, required=False, trim_whitespace=False)
    active = serializers.BooleanField(required=False)
    verify_signature = serializers.BooleanField(required=False)
    signature_header = serializers.RegexField(
        HEADER_REGEX,
        max_length=100,
        allow_blank=True,
        required=False,
        error_messages={"invalid": "Must be an HTTP header name."},
    )
    signature_scheme = serializers.ChoiceField(choices=SignatureScheme.choices, required=False)
    require_timestamp = serializers.BooleanField(
        required=False,
        help_text="hmac_sha256 only (default false): the sender signs `{timestamp}.{body}` and sends the Unix "
        "timestamp in X-Webhook-Timestamp; requests more than 5 minutes off are refused, so none can be replayed.",
    )

    def validate(self, attrs):
        """Standard Webhooks keys are the base64 after `whsec_` (other schemes use a secret's bytes as they are)."""
        from webhooks.inbound import default_scheme_for

        endpoint = self.context.get("endpoint")
        scheme = attrs.get("signature_scheme")
        if scheme is None:
            if endpoint is not None:
                scheme = endpoint.signature_scheme
            elif "integration" in attrs:
                scheme = default_scheme_for(attrs["integration"])
        secret = attrs.get("secret")
        if scheme == SignatureScheme.STANDARD_WEBHOOKS and secret and secret.startswith(SECRET_PREFIX):
            try:
                secret_bytes(secret)
            except ValueError:
                raise serializers.ValidationError(
                    {"secret": ["A Standard Webhooks secret must be base64 after the whsec_ prefix."]}
                )
        return attrs

    def validate_integration_id(self, value):
        from integrations.models import Integration

        integration = (
            Integration.objects.select_related("provider").filter(pk=value, tenant=self.context["tenant"]).first()
        )
        if integration is None:
            raise serializers.ValidationError("Integration not found.")
        return integration

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        if "integration_id" in values:
            values["integration"] = values.pop("integration_id")
        return values


class InboundRotateSecretSerializer(StrictSerializer):
    grace_seconds = serializers.IntegerField(
        min_value=0,
        max_value=7 * 24 * 3600,
        required=False,
        help_text="How long the replaced secret still verifies (default INBOUND_SECRET_GRACE_SECONDS).",
    )


class InboundSecretSerializer(serializers.Serializer):
    secret = serializers.CharField()
    previous_secret_expires_at = serializers.DateTimeField(allow_null=True)


class InboundEndpointSerializer(serializers.ModelSerializer):
    tenant_id = serializers.UUIDField(read_only=True)
    integration_id = serializers.UUIDField(read_only=True)
    signature_header = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField(help_text="Where the provider posts: PUBLIC_BASE_URL + the receive path.")
    previous_secret_expires_at = serializers.SerializerMethodField(
        help_text="Until when the secret replaced by the last rotation still verifies (null: not at all)."
    )

    class Meta:
        model = InboundEndpoint
        fields = [
            "id",
            "tenant_id",
            "integration_id",
            "name",
            "description",
            "path",
            "url",
            "active",
            "verify_signature",
            "signature_header",
            "signature_scheme",
            "require_timestamp",
            "previous_secret_expires_at",
            "rejected_count",
            "last_rejected_at",
            "last_rejected_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "rejected_count": {"help_text": "Requests this endpoint refused (their senders were told nothing)."},
            "last_rejected_reason": {"help_text": "Why the last refused request was refused."},
        }

    def get_signature_header(self, obj) -> str:
        return obj.signature_header or DEFAULT_SIGNATURE_HEADERS[obj.signature_scheme]

    def get_url(self, obj) -> str:
        return settings.PUBLIC_BASE_URL + reverse("inbound-webhook-receive", kwargs={"path": obj.path})

    def get_previous_secret_expires_at(self, obj) -> str | None:
        from django.utils import timezone

        expires = obj.previous_secret_expires_at
        if expires is None or expires <= timezone.now():
            return None
        return serializers.DateTimeField().to_representation(expires)


class InboundEndpointCreatedSerializer(InboundEndpointSerializer):
    """The creation answer: also the generated secret, this once (absent when the caller chose the secret)."""

    secret = serializers.SerializerMethodField()

    class Meta(InboundEndpointSerializer.Meta):
        fields = [*InboundEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, obj) -> str | None:
        return self.context.get("generated_secret")


class InboundEventSerializer(serializers.ModelSerializer):
    endpoint_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = InboundEvent
        fields = [
            "id",
            "endpoint_id",
            "provider_event_id",
            "event_type",
            "status",
            "error",
            "attempts",
            "received_at",
            "processed_at",
            "processing_ms",
            "content_type",
            "source_ip",
            "body_size",
            "headers",
        ]
        read_only_fields = fields


class InboundEventDetailSerializer(InboundEventSerializer):
    body = serializers.SerializerMethodField(help_text="The raw body as text; null when it is not UTF-8.")
    body_base64 = serializers.SerializerMethodField(help_text="The raw body in base64 when it is not UTF-8.")

    class Meta(InboundEventSerializer.Meta):
        fields = [*InboundEventSerializer.Meta.fields, "body", "body_base64"]
        read_only_fields = fields

    def get_body(self, obj) -> str | None:
        try:
            return bytes(obj.body).decode("utf-8")
        except UnicodeDecodeError:
            return None

    def get_body_base64(self, obj) -> str | None:
        raw = bytes(obj.body)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode("ascii")
        return None


class ReceiveResponseSerializer(serializers.Serializer):
    status = serializers.CharField()
    event_id = serializers.UUIDField()
