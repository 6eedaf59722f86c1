"""Integration, version and activity representations, and the validated input of create/update.

Credentials are write-only: responses carry `credentialsSet` and `credentialHint`, and input errors never echo them.
"""

import json
import re

import orjson
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone
from rest_framework import serializers
from rest_framework.settings import api_settings

from config.errors import ValidationFailed
from config.serializers import StrictSerializer
from integrations.models import (
    ActivityLog,
    ConnectionStatus,
    Environment,
    Integration,
    IntegrationStatus,
    IntegrationVersion,
)
from integrations.selectors import TENANT_CONNECTION_COLUMNS, normalize_category, normalize_choice

_UNSET = object()
_DATETIME_FORMAT = api_settings.DATETIME_FORMAT


def _field_choice(name, value, choices, aliases=None):
    """normalize_choice as a serializer field error."""
    try:
        return normalize_choice(name, value, choices, aliases)
    except ValidationFailed as exc:
        raise serializers.ValidationError(exc.details.get(name, [exc.message]))


def _connection_state(obj: Integration) -> tuple[str | None, str | None]:
    status = getattr(obj, "_conn_status", _UNSET)
    if status is _UNSET:  # not annotated by the selector: one query (detail views only)
        row = obj.connections.filter(user__isnull=True).values("status", "credential_hint").first() or {}
        obj._conn_status, obj._conn_hint = row.get("status"), row.get("credential_hint")
    return obj._conn_status, obj._conn_hint


class IntegrationSerializer(serializers.ModelSerializer):
    """api.md's integration fields (seeds 000, 003, 004) + `category`/`type` (the provider's category)."""

    tenant_id = serializers.UUIDField(read_only=True)
    provider = serializers.CharField(source="provider.key", read_only=True)
    category = serializers.CharField(source="provider.category", read_only=True)
    type = serializers.CharField(source="provider.category", read_only=True)
    icon = serializers.SerializerMethodField()
    enabled_by = serializers.UUIDField(source="enabled_by_id", read_only=True, allow_null=True)
    credentials_set = serializers.SerializerMethodField()
    credential_hint = serializers.SerializerMethodField()
    version = serializers.IntegerField(source="current_version", read_only=True)

    class Meta:
        model = Integration
        fields = [
            "id",
            "tenant_id",
            "name",
            "description",
            "provider",
            "category",
            "type",
            "status",
            "auth_type",
            "environment",
            "config",
            "settings",
            "icon",
            "allowed_shard_types",
            "search_enabled",
            "searchable_entities",
            "user_scoped",
            "enabled_at",
            "enabled_by",
            "credentials_set",
            "credential_hint",
            "last_sync_at",
            "last_health_check_at",
            "health_status",
            "last_error",
            "last_error_at",
            "last_connection_test",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_icon(self, obj) -> str:
        return obj.icon or obj.provider.icon

    def get_credentials_set(self, obj) -> bool:
        return credentials_set_out(*_connection_state(obj))

    def get_credential_hint(self, obj) -> str | None:
        return credential_hint_out(*_connection_state(obj))


def credentials_set_out(status: str | None, hint: str | None) -> bool:
    """`credentialsSet` from the tenant-level connection's status and stored hint (both output paths call this)."""
    return status is not None and status != ConnectionStatus.REVOKED


def credential_hint_out(status: str | None, hint: str | None) -> str | None:
    """`credentialHint` from the tenant-level connection's status and stored hint (both output paths call this)."""
    if status is None or status == ConnectionStatus.REVOKED:
        return None
    return hint or None


# --- The fast read path of integrations --------------------------------------------------------------------------
# A page of 50 through IntegrationSerializer costs ~4 ms of CPU in DRF's per-field machinery (model instances, field
# lookups, camelCasing the output again in the renderer). Lists and details read `values()` instead and write each
# row with the final camelCase keys in one dict literal: the same fields, order and formats as IntegrationSerializer
# (tests/integrations/test_fast_representation.py holds the two equal), which stays the documented schema and the
# representation of the write endpoints.
_JSON_COLUMNS = ("config", "settings", "allowed_shard_types", "searchable_entities")
_ROW_COLUMNS = (  # the order of selectors.integration_page's columns too
    "id",
    "tenant_id",
    "name",
    "description",
    "provider__key",
    "provider__category",
    "status",
    "auth_type",
    "environment",
    "icon",
    "provider__icon",
    "search_enabled",
    "user_scoped",
    "enabled_at",
    "enabled_by_id",
    "last_sync_at",
    "last_health_check_at",
    "health_status",
    "last_error",
    "last_error_at",
    "last_connection_test",
    "current_version",
    "created_at",
    "updated_at",
)


def _json_text(column: str):
    # jsonb read as text and parsed by orjson: Django's JSONField would run json.loads, several times slower.
    return Cast(column, output_field=TextField())


_LONG_NUMBER = re.compile(r"[0-9]{19}")  # orjson reads an integer past 64 bits as a float; json keeps it exact


def _loads(text: str | None):
    if text is None:
        return None
    if _LONG_NUMBER.search(text):
        return json.loads(text)
    return orjson.loads(text)


def _datetime_out(value, tz):
    """DRF's DateTimeField with DATETIME_FORMAT: the current time zone, microseconds, `Z`."""
    if value is None or isinstance(value, str):  # None, or written by PostgreSQL (selectors.integration_page)
        return value
    if value.tzinfo is not tz:
        value = value.astimezone(tz)
    return value.strftime(_DATETIME_FORMAT)


def integration_representations(queryset) -> list[dict]:
    """The API representation of each integration in `queryset` (an `integration_row_queryset`, already sliced or
    filtered), in its order, with camelCase keys: one query, no model instances."""
    rows = queryset.values_list(
        *_ROW_COLUMNS,
        *TENANT_CONNECTION_COLUMNS.values(),
        *(_json_text(name) for name in _JSON_COLUMNS),
    )
    return integration_page_representations(rows)


def integration_page_representations(rows) -> list[dict]:
    """The representation of rows in `_ROW_COLUMNS` + tenant connection (status, hint) + `_JSON_COLUMNS` (as text)
    order: `integration_representations`' and `selectors.integration_page`'s."""
    tz = timezone.get_current_timezone()
    out = []
    for (
        pk,
        tenant_id,
        name,
        description,
        provider_key,
        category,
        status,
        auth_type,
        environment,
        icon,
        provider_icon,
        search_enabled,
        user_scoped,
        enabled_at,
        enabled_by,
        last_sync_at,
        last_health_check_at,
        health_status,
        last_error,
        last_error_at,
        last_connection_test,
        version,
        created_at,
        updated_at,
        conn_status,
        conn_hint,
        config,
        settings,
        allowed_shard_types,
        searchable_entities,
    ) in rows:
        out.append(
            {
                "id": str(pk),
                "tenantId": str(tenant_id),
                "name": name,
                "description": description,
                "provider": provider_key,
                "category": category,
                "type": category,
                "status": status,
                "authType": auth_type,
                "environment": environment,
                "config": _loads(config),
                "settings": _loads(settings),
                "icon": icon or provider_icon,
                "allowedShardTypes": _loads(allowed_shard_types),
                "searchEnabled": search_enabled,
                "searchableEntities": _loads(searchable_entities),
                "userScoped": user_scoped,
                "enabledAt": _datetime_out(enabled_at, tz),
                "enabledBy": str(enabled_by) if enabled_by is not None else None,
                "credentialsSet": credentials_set_out(conn_status, conn_hint),
                "credentialHint": credential_hint_out(conn_status, conn_hint),
                "lastSyncAt": _datetime_out(last_sync_at, tz),
                "lastHealthCheckAt": _datetime_out(last_health_check_at, tz),
                "healthStatus": health_status,
                "lastError": last_error,
                "lastErrorAt": _datetime_out(last_error_at, tz),
                "lastConnectionTest": _datetime_out(last_connection_test, tz),
                "version": version,
                "createdAt": _datetime_out(created_at, tz),
                "updatedAt": _datetime_out(updated_at, tz),
            }
        )
    return out


class _IntegrationInput(StrictSerializer):
    """Fields shared by create and update, with the seeds' aliases: `configuration` (seed 004) = `config`,
    `type` (seeds 002/004) = the provider's category, `integrationId` (seed 003) = `provider`."""

    provider = serializers.CharField(max_length=64, required=False)
    integration_id = serializers.CharField(max_length=64, required=False)
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    type = serializers.CharField(max_length=64, required=False)
    category = serializers.CharField(max_length=64, required=False)
    auth_type = serializers.CharField(max_length=16, required=False)
    environment = serializers.CharField(max_length=16, required=False)
    config = serializers.JSONField(required=False)
    configuration = serializers.JSONField(required=False)
    settings = serializers.JSONField(required=False)
    icon = serializers.CharField(max_length=100, required=False, allow_blank=True)
    allowed_shard_types = serializers.ListField(
        child=serializers.CharField(max_length=100), max_length=100, required=False
    )
    search_enabled = serializers.BooleanField(required=False)
    searchable_entities = serializers.ListField(
        child=serializers.CharField(max_length=100), max_length=100, required=False
    )
    user_scoped = serializers.BooleanField(required=False)
    credentials = serializers.JSONField(required=False, write_only=True)
    credential_type = serializers.CharField(max_length=16, required=False)

    def validate_credentials(self, value):
        if not isinstance(value, dict) or not value:
            raise serializers.ValidationError("Must be a non-empty JSON object.")
        return value

    def validate_config(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value

    validate_configuration = validate_config
    validate_settings = validate_config

    def validate_environment(self, value):
        return _field_choice("environment", value, Environment.values)

    def validate_auth_type(self, value):
        return value.strip().lower() or None

    def validate_name(self, value):
        value = value.strip()
        if not value:
            raise serializers.ValidationError("This field may not be blank.")
        return value

    def validate(self, attrs):
        if "configuration" in attrs:
            if "config" in attrs:
                raise serializers.ValidationError({"configuration": ["Give either config or configuration."]})
            attrs["config"] = attrs.pop("configuration")
        if "integration_id" in attrs:
            if "provider" in attrs:
                raise serializers.ValidationError({"integration_id": ["Give either provider or integrationId."]})
            attrs["provider"] = attrs.pop("integration_id")
        category = attrs.pop("category", None)
        kind = attrs.pop("type", None)
        if category or kind:
            attrs["category"] = normalize_category(category or kind, "category" if category else "type")
        if "credential_type" in attrs and "credentials" not in attrs:
            raise serializers.ValidationError({"credential_type": ["Only with credentials."]})
        return attrs


class IntegrationCreateSerializer(_IntegrationInput):
    def validate(self, attrs):
        attrs = super().validate(attrs)
        errors = {}
        if not attrs.get("provider"):
            errors["provider"] = ["This field is required."]
        if not attrs.get("name"):
            errors["name"] = ["This field is required."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class IntegrationUpdateSerializer(_IntegrationInput):
    status = serializers.CharField(max_length=16, required=False)

    def validate_status(self, value):
        value = _field_choice(
            "status", value, IntegrationStatus.values, {"connected": "active", "disabled": "inactive"}
        )
        if value not in (IntegrationStatus.ACTIVE, IntegrationStatus.INACTIVE):
            raise serializers.ValidationError("Must be active or inactive (or use /activate and /deactivate).")
        return value


class ActivateResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    enabled_at = serializers.DateTimeField()
    enabled_by = serializers.UUIDField(allow_null=True)


class DeactivateResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    updated_at = serializers.DateTimeField()


class ActorSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()


class VersionSerializer(serializers.ModelSerializer):
    integration_id = serializers.UUIDField(read_only=True)
    created_by = ActorSerializer(read_only=True, allow_null=True)

    class Meta:
        model = IntegrationVersion
        fields = ["id", "integration_id", "number", "changed_fields", "credentials_set", "created_by", "created_at"]
        read_only_fields = fields


class VersionDetailSerializer(VersionSerializer):
    """The snapshot without credentials: `config`, `settings`, `credentialsSet`, `credentialType`."""

    snapshot = serializers.SerializerMethodField()

    class Meta(VersionSerializer.Meta):
        fields = [*VersionSerializer.Meta.fields, "snapshot"]
        read_only_fields = fields

    def get_snapshot(self, obj) -> dict:
        snapshot = {k: v for k, v in (obj.snapshot or {}).items() if k != "credentials"}
        snapshot["credentialsSet"] = obj.credentials_set
        return snapshot


class RestoreVersionSerializer(StrictSerializer):
    """The optional body of `POST …/versions/{number}/restore`."""

    restore_credentials = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Also bring back the credentials the version holds (admin role only). Default false: config and "
        "settings are restored and the current credentials stay, unless the restored config moves the API origin "
        "(scheme, host, port), which drops them.",
    )


class ActivityLogSerializer(serializers.ModelSerializer):
    integration_id = serializers.UUIDField(read_only=True)
    tenant_id = serializers.UUIDField(read_only=True)
    actor = ActorSerializer(read_only=True, allow_null=True)

    class Meta:
        model = ActivityLog
        fields = [
            "id",
            "tenant_id",
            "integration_id",
            "type",
            "status",
            "message",
            "details",
            "actor",
            "request_id",
            "created_at",
        ]
        read_only_fields = fields


# --- The fast read path of activity logs ---------------------------------------------------------------------------
def activity_representations(queryset) -> list[dict]:
    """ActivityLogSerializer's output for each entry of `queryset` (a sliced `selectors.activity_list`), with its
    final camelCase keys, from one `values_list()` query (tests/integrations/test_fast_representation.py holds the two
    equal)."""
    tz = timezone.get_current_timezone()
    rows = queryset.values_list(
        "id",
        "tenant_id",
        "integration_id",
        "type",
        "status",
        "message",
        _json_text("details"),
        "actor_id",
        "actor__email",
        "request_id",
        "created_at",
    )
    out = []
    for row in rows:
        pk, tenant_id, integration_id, kind, status, message, details, actor_id, actor_email, request_id, created = row
        out.append(
            {
                "id": str(pk),
                "tenantId": str(tenant_id),
                "integrationId": str(integration_id) if integration_id is not None else None,
                "type": kind,
                "status": status,
                "message": message,
                "details": _loads(details),
                "actor": {"id": str(actor_id), "email": actor_email} if actor_id is not None else None,
                "requestId": request_id,
                "createdAt": _datetime_out(created, tz),
            }
        )
    return out
