"""Input and output shapes of the connection endpoints (camelCase on the wire through the renderer/parser)."""

from rest_framework import serializers

from config.serializers import StrictSerializer
from integrations.models import ReconnectReason

_SECRET = {"input_type": "password"}


class ReturnUrlSerializer(StrictSerializer):
    return_url = serializers.CharField(max_length=2000, trim_whitespace=True)


class AuthorizeQuerySerializer(StrictSerializer):
    return_url = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    state = serializers.CharField(max_length=200, required=False, allow_blank=True, help_text="Opaque, echoed back.")


class OAuthCallbackSerializer(StrictSerializer):
    code = serializers.CharField(
        max_length=4096,
        required=False,
        allow_blank=True,
        help_text="The `code` the public callback passed to your returnUrl.",
    )
    state = serializers.CharField(max_length=200, help_text="The `state` passed with it (the flow's, unchanged).")
    error = serializers.CharField(max_length=200, required=False, allow_blank=True)
    error_description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    iss = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        help_text="RFC 9207: the `iss` the public callback passed to your returnUrl with the code (when the provider "
        "sent one); checked again against the provider's issuer.",
    )

    def validate(self, attrs):
        if not attrs.get("code") and not attrs.get("error"):
            raise serializers.ValidationError({"code": ["Required unless error is given."]})
        return attrs


class ApiKeySerializer(StrictSerializer):
    api_key = serializers.CharField(max_length=4096, trim_whitespace=True, style=_SECRET)
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class BasicSerializer(StrictSerializer):
    username = serializers.CharField(max_length=512, trim_whitespace=True)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style=_SECRET)
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class CustomCredentialsSerializer(StrictSerializer):
    credentials = serializers.DictField(allow_empty=False)
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class CredentialsPatchSerializer(StrictSerializer):
    credential_type = serializers.ChoiceField(choices=["oauth", "oauth2", "api_key", "basic", "custom"])
    credentials = serializers.DictField(allow_empty=False)


# --- responses (documentation of what the views return) ----------------------------------------------------------
class AuthorizationUrlSerializer(serializers.Serializer):
    authorization_url = serializers.URLField()
    state = serializers.CharField()


class AuthUrlSerializer(serializers.Serializer):
    auth_url = serializers.URLField()


class SuccessMessageSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()


class OAuthErrorSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    error = serializers.CharField()
    error_description = serializers.CharField()


class ConnectedSerializer(serializers.Serializer):
    connection_id = serializers.UUIDField(source="pk")
    status = serializers.CharField()
    connected_at = serializers.DateTimeField()


class ConnectionSerializer(serializers.Serializer):
    connection_id = serializers.UUIDField(source="pk")
    status = serializers.CharField()
    auth_type = serializers.CharField()
    scope = serializers.CharField()
    display_name = serializers.CharField()
    credentials_set = serializers.SerializerMethodField()
    credential_hint = serializers.CharField()
    granted_scopes = serializers.ListField(child=serializers.CharField())
    # Null until it happens (never validated, no expiry, never refreshed or disconnected): the schema says so.
    connected_at = serializers.DateTimeField(allow_null=True)
    last_validated_at = serializers.DateTimeField(allow_null=True)
    validation_error = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_refreshed_at = serializers.DateTimeField(allow_null=True)
    disconnected_at = serializers.DateTimeField(allow_null=True)
    needs_reconnect = serializers.BooleanField(
        help_text="True when the connection is expired, revoked or in error: the user must connect again (the "
        "connection id stays the same)."
    )
    reconnect_reason = serializers.ChoiceField(
        choices=ReconnectReason.choices,
        allow_null=True,
        help_text="Why a reconnect is needed (null while the connection works).",
    )

    def get_credentials_set(self, obj) -> bool:
        return bool(obj.credentials)

    def get_validation_error(self, obj) -> str | None:
        return obj.validation_error or None


class UserConnectionSerializer(serializers.Serializer):
    connected = serializers.BooleanField()
    connection_id = serializers.UUIDField(required=False, allow_null=True)
    status = serializers.CharField(required=False, allow_null=True)
    last_connected_at = serializers.DateTimeField(required=False, allow_null=True)
    needs_reconnect = serializers.BooleanField(required=False)
    reconnect_reason = serializers.ChoiceField(choices=ReconnectReason.choices, required=False, allow_null=True)


class TestResultSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    error = serializers.CharField(allow_null=True)
    tested_at = serializers.DateTimeField()
    response_time = serializers.IntegerField(allow_null=True, help_text="Milliseconds.")
    details = serializers.DictField()


class ProviderTestResultSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    error = serializers.CharField(allow_null=True)
    tested_at = serializers.DateTimeField()
    response_time = serializers.IntegerField(allow_null=True)


class DisconnectedSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    disconnected_at = serializers.DateTimeField()


class CredentialsUpdatedSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    credential_secret_name = serializers.CharField()
    updated_at = serializers.DateTimeField()


class StatusSerializer(serializers.Serializer):
    service_type = serializers.CharField()
    provider = serializers.CharField()
    is_connected = serializers.BooleanField()
    last_checked = serializers.DateTimeField(allow_null=True)
    details = serializers.DictField()
    integration_id = serializers.UUIDField()
    integration_name = serializers.CharField()
    integration_type = serializers.CharField()
    integration_status = serializers.CharField()
    integration_environment = serializers.CharField()
    last_connection_test = serializers.DateTimeField(allow_null=True)


def check_result_body(result, *, include_details: bool = True) -> dict:
    body = {
        "success": result.ok,
        "message": result.message,
        "error": None if result.ok else str(result.kind),
        "tested_at": result.checked_at,
        "response_time": result.response_time_ms,
    }
    if include_details:
        body["details"] = {"kind": str(result.kind), "statusCode": result.status_code, **(result.details or {})}
    return body
