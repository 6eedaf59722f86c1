"""Writes to integrations: create, update, delete, activate/deactivate, credentials, versions, restore, pruning.

Every service is one transaction: the integration row is taken with SELECT … FOR UPDATE before anything that numbers
a version, each change writes an activity entry, and lifecycle events are recorded through `integrations.events.emit`
inside the same transaction (the outbound-webhook outbox), so nothing is half-written.
"""

import json
import logging
import re
from datetime import timedelta
from typing import Any

from django.conf import settings as django_settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from jsonschema import Draft202012Validator, FormatChecker

from config.api import camel_key
from config.errors import Conflict, NotFound, ValidationFailed
from integrations import events
from integrations.activity import log_activity
from integrations.models import (
    ActivityLog,
    ActivityStatus,
    ActivityType,
    Connection,
    ConnectionStatus,
    Environment,
    Integration,
    IntegrationStatus,
    IntegrationVersion,
)
from providers.clients.base import api_origins
from providers.models import Audience, Provider, ProviderStatus

logger = logging.getLogger(__name__)

MAX_JSON_BYTES = 64 * 1024
CREDENTIAL_TYPES = ("oauth2", "api_key", "basic", "custom")
CREDENTIAL_TYPE_ALIASES = {"oauth": "oauth2"}
VERSIONED_FIELDS = ("config", "settings", "credentials")
# The value a credential hint is made from: the first of these keys present, else the longest string value.
_MAIN_SECRET_KEYS = (
    "apiKey",
    "api_key",
    "accessToken",
    "access_token",
    "token",
    "authToken",
    "auth_token",
    "secret",
    "clientSecret",
    "client_secret",
    "partnerKey",
    "password",
    "refreshToken",
    "refresh_token",
)
_REQUIRED_RE = re.compile(r"^'(?P<name>.+)' is a required property$")


# --- Validation helpers -------------------------------------------------------------------------------------------
def _check_json_size(name: str, value: Any) -> None:
    size = len(json.dumps(value, separators=(",", ":"), default=str).encode())
    if size > MAX_JSON_BYTES:
        raise ValidationFailed(
            f"{name}: larger than {MAX_JSON_BYTES // 1024} KB.",
            details={name: [f"Must be at most {MAX_JSON_BYTES // 1024} KB of JSON ({size} bytes given)."]},
        )


def _schema_message(error) -> str:
    """A jsonschema error without the offending value (it may be a secret)."""
    validator, expected = error.validator, error.validator_value
    if validator == "type":
        return f"Must be of type {expected if isinstance(expected, str) else ' or '.join(expected)}."
    if validator == "enum":
        return f"Must be one of: {', '.join(map(str, expected))}."
    if validator == "const":
        return f"Must be {expected!r}."
    if validator == "pattern":
        return "Does not match the expected format."
    if validator == "format":
        return f"Must be a valid {expected}."
    if validator == "additionalProperties":
        return error.message  # names the unexpected keys, never a value
    if validator in ("minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "multipleOf"):
        return f"Fails {validator} {expected}."
    return f"Fails the {validator!r} rule."


def schema_errors(schema: dict | None, instance: Any, prefix: str) -> dict[str, list[str]]:
    """Field errors of `instance` against a JSON Schema, keyed like `credentials.apiKey`; values never echoed."""
    if not schema:
        return {}
    errors: dict[str, list[str]] = {}
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    for error in sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path]):
        path = [prefix, *[str(p) for p in error.absolute_path]]
        match = _REQUIRED_RE.match(error.message) if error.validator == "required" else None
        if match:
            errors.setdefault(".".join([*path, match.group("name")]), []).append("This field is required.")
            continue
        errors.setdefault(".".join(path), []).append(_schema_message(error))
    return errors


def _raise_field_errors(errors: dict[str, list[str]]) -> None:
    if errors:
        field, problems = next(iter(errors.items()))
        raise ValidationFailed(f"{field}: {problems[0]}", details=errors)


def _camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _align_keys(values: dict, schema: dict | None) -> dict:
    """Rename keys the schema knows under the other spelling (seed 004's `api_key` for a schema's `apiKey`)."""
    properties = (schema or {}).get("properties") or {}
    if not properties:
        return values
    aligned = {}
    for key, value in values.items():
        if key not in properties:
            for candidate in (camel_key(key), _camel_to_snake(key)):
                if candidate in properties and candidate not in values:
                    key = candidate
                    break
        aligned[key] = value
    return aligned


def validate_config(provider: Provider, config: Any) -> dict:
    """`config` against the provider's configSchema (where it gives one), at most 64 KB."""
    if not isinstance(config, dict):
        raise ValidationFailed("config: must be a JSON object.", details={"config": ["Must be a JSON object."]})
    _check_json_size("config", config)
    config = _align_keys(config, provider.config_schema)
    _raise_field_errors(schema_errors(provider.config_schema, config, "config"))
    return config


def validate_settings(provider: Provider, values: Any) -> dict:
    """`settings` is free-form, but a key the configSchema describes must satisfy that property's schema."""
    if not isinstance(values, dict):
        raise ValidationFailed("settings: must be a JSON object.", details={"settings": ["Must be a JSON object."]})
    _check_json_size("settings", values)
    properties = (provider.config_schema or {}).get("properties") or {}
    errors: dict[str, list[str]] = {}
    for key, value in values.items():
        if key in properties:
            errors.update(schema_errors(properties[key], value, f"settings.{key}"))
    _raise_field_errors(errors)
    return values


def normalize_credential_type(credential_type: str | None, provider: Provider) -> str:
    value = (credential_type or provider.auth_type or "").strip().lower()
    value = CREDENTIAL_TYPE_ALIASES.get(value, value)
    if value not in CREDENTIAL_TYPES:
        raise ValidationFailed(
            "credentialType: must be one of oauth2, api_key, basic, custom.",
            details={"credentialType": [f"Must be one of: {', '.join(CREDENTIAL_TYPES)}."]},
        )
    return value


def validate_credentials(provider: Provider, credentials: Any, credential_type: str) -> dict:
    """A non-empty object; for the provider's own auth type, shaped as its credentialSchema says."""
    if not isinstance(credentials, dict) or not credentials:
        raise ValidationFailed(
            "credentials: must be a non-empty JSON object.",
            details={"credentials": ["Must be a non-empty JSON object."]},
        )
    _check_json_size("credentials", credentials)
    if credential_type == provider.auth_type and provider.credential_schema:
        credentials = _align_keys(credentials, provider.credential_schema)
        _raise_field_errors(schema_errors(provider.credential_schema, credentials, "credentials"))
    return credentials


# A hint shows at most this many trailing characters of the main secret, and none of one shorter than
# CREDENTIAL_HINT_MIN_LENGTH: the first characters of a key are often a guessable prefix, and every character
# shown of a short secret is a large share of it.
CREDENTIAL_HINT_VISIBLE = 4
CREDENTIAL_HINT_MIN_LENGTH = 20
CREDENTIAL_HINT_MASK = "********"


def credential_hint(credentials: dict) -> str:
    """A masked hint of the main secret: `…WxYz` (its last 4 characters), fully masked under 20 characters."""
    value = next((credentials[k] for k in _MAIN_SECRET_KEYS if isinstance(credentials.get(k), str)), None)
    if value is None:
        strings = [v for v in credentials.values() if isinstance(v, str)]
        value = max(strings, key=len) if strings else ""
    if len(value) < CREDENTIAL_HINT_MIN_LENGTH:
        return CREDENTIAL_HINT_MASK
    return f"…{value[-CREDENTIAL_HINT_VISIBLE:]}"


# --- Internals ----------------------------------------------------------------------------------------------------
def _lock(integration: Integration) -> Integration:
    return (
        Integration.objects.select_for_update(of=("self",)).select_related("provider", "tenant").get(pk=integration.pk)
    )


def _tenant_connection(integration: Integration, *, lock: bool = False) -> Connection | None:
    queryset = Connection.objects.filter(integration=integration, user__isnull=True)
    if lock:
        queryset = queryset.select_for_update()
    return queryset.first()


def _live_credentials(connection: Connection | None) -> dict | None:
    if connection is None or connection.status == ConnectionStatus.REVOKED or not connection.credentials:
        return None
    return connection.credentials


def _store_credentials(integration: Integration, credentials: dict, credential_type: str) -> Connection:
    connection = _tenant_connection(integration, lock=True)
    now = timezone.now()
    if connection is None:
        connection = Connection(tenant_id=integration.tenant_id, integration=integration, user=None)
    connection.auth_type = credential_type
    connection.credentials = credentials
    connection.credential_hint = credential_hint(credentials)
    connection.status = ConnectionStatus.ACTIVE
    connection.connected_at = now
    connection.validation_error = ""
    if hasattr(connection, "disconnected_at"):
        connection.disconnected_at = None
    if hasattr(connection, "token_generation"):
        connection.token_generation = (connection.token_generation or 0) + 1
    connection.save()
    return connection


def _drop_credentials(integration: Integration, *, keep_tenant: bool, actor, reason: str) -> list[Connection]:
    """Wipe the stored credentials of `integration`'s connections (the tenant's unless `keep_tenant`, and every
    user's), as a disconnect does but without calling the provider: status `revoked`, `credentialsSet` false.

    Used when the API origin the credentials were given for changes: they must not follow the integration to a
    host someone else chose. Each dropped connection gets `integration.disconnected` with `reason`."""
    queryset = Connection.objects.select_for_update().filter(integration=integration)
    queryset = queryset.exclude(status=ConnectionStatus.REVOKED)
    if keep_tenant:
        queryset = queryset.filter(user__isnull=False)
    dropped = list(queryset)
    if not dropped:
        return []
    now = timezone.now()
    message = "The API origin changed: the stored credentials were dropped; connect again."
    for connection in dropped:
        connection.status = ConnectionStatus.REVOKED
        connection.credentials = {}
        connection.credential_hint = ""
        connection.expires_at = None
        connection.granted_scopes = []
        connection.metadata = {}
        connection.token_generation = (connection.token_generation or 0) + 1
        connection.disconnected_at = now
        connection.validation_error = message
        connection.save()
        events.emit(
            integration.tenant,
            "integration.disconnected",
            events.connection_data(connection, disconnectedAt=now, reason=reason),
        )
    log_activity(
        integration=integration,
        type=ActivityType.DISCONNECT,
        status=ActivityStatus.SUCCESS,
        message=f"{message} ({len(dropped)} connection(s))",
        details={"reason": reason, "connectionIds": [str(c.pk) for c in dropped]},
        actor=actor,
    )
    logger.info(
        "integrations.credentials.dropped",
        extra={"integration_id": str(integration.pk), "reason": reason, "count": len(dropped)},
    )
    return dropped


def _origin_moved(integration: Integration, old_config: dict) -> bool:
    """True when the API origin (scheme, host, port) computed from the config differs from the one before."""
    provider = integration.provider
    return api_origins(provider, old_config) != api_origins(provider, integration.config)


def _record_version(
    integration: Integration, changed_fields: list[str], actor, *, extra: dict | None = None
) -> IntegrationVersion:
    """A new version of a locked integration: the next number, a full snapshot, the tenant credentials encrypted."""
    connection = _tenant_connection(integration)
    credentials = _live_credentials(connection)
    number = integration.current_version + 1
    version = IntegrationVersion.objects.create(
        tenant_id=integration.tenant_id,
        integration=integration,
        number=number,
        snapshot={
            "config": integration.config,
            "settings": integration.settings,
            "credentialType": connection.auth_type if credentials else None,
            **(extra or {}),
        },
        credentials=credentials,
        credentials_set=credentials is not None,
        changed_fields=list(changed_fields),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    integration.current_version = number
    Integration.objects.filter(pk=integration.pk).update(current_version=number)
    return version


def _with_connection_state(integration: Integration, connection: Connection | None) -> Integration:
    """Set what the serializer shows for credentials (`credentialsSet`, `credentialHint`) without another query."""
    integration._conn_status = connection.status if connection else None
    integration._conn_hint = connection.credential_hint if connection else None
    return integration


def integration_public_data(integration: Integration) -> dict[str, Any]:
    """The integration as the API shows it (camelCase, no credentials): the `data` of lifecycle events."""
    from djangorestframework_camel_case.util import camelize

    from integrations.serializers import IntegrationSerializer

    data = camelize(IntegrationSerializer(integration).data, **django_settings.JSON_CAMEL_CASE["JSON_UNDERSCOREIZE"])
    # `integrationId` lets a subscription tied to one integration receive only that integration's events.
    return json.loads(json.dumps({**data, "integrationId": data["id"]}, default=str))


def _resolve_new_provider(provider: Provider | str) -> Provider:
    if isinstance(provider, Provider):
        return provider
    found = Provider.objects.filter(key=provider).first()
    if found is None:
        raise ValidationFailed(
            f"provider: unknown provider {provider!r}.",
            details={"provider": [f"Unknown provider {provider!r}; see GET /api/v1/catalog."]},
        )
    return found


def _refuse_unavailable(provider: Provider) -> None:
    reason = None
    if provider.status in (ProviderStatus.DISABLED, ProviderStatus.DEPRECATED):
        reason = f"Provider {provider.key!r} is {provider.status} and cannot be used for new integrations."
    elif provider.audience != Audience.TENANT:
        reason = f"Provider {provider.key!r} is not available to tenants."
    if reason:
        raise ValidationFailed(reason, details={"provider": [reason]})


def _check_name_free(tenant, name: str, exclude_pk=None) -> None:
    queryset = Integration.objects.filter(tenant=tenant, name=name)
    if exclude_pk is not None:
        queryset = queryset.exclude(pk=exclude_pk)
    if queryset.exists():
        raise _duplicate(name)


def _duplicate(name: str) -> Conflict:
    return Conflict(f"An integration named {name!r} already exists in this tenant.", details={"name": name})


def _save_unique(integration: Integration, **kwargs) -> None:
    """Save, turning the (tenant, name) unique constraint into 409 CONFLICT (concurrent duplicates included)."""
    try:
        with transaction.atomic():
            integration.save(**kwargs)
    except IntegrityError as exc:
        if "name" in str(exc).lower() or "uniq_integration_tenant_name" in str(exc):
            raise _duplicate(integration.name)
        raise


def _validate_entities(provider: Provider, entities: list[str] | None) -> list[str]:
    entities = list(entities or [])
    unknown = [e for e in entities if e not in (provider.searchable_entities or [])]
    if unknown:
        raise ValidationFailed(
            f"searchableEntities: {', '.join(unknown)} not searchable with {provider.key}.",
            details={"searchableEntities": [f"Must be among: {', '.join(provider.searchable_entities or []) or '-'}."]},
        )
    return entities


def _credentials_type_for(provider: Provider, credential_type: str | None) -> str:
    if provider.auth_type == "none":
        raise ValidationFailed(
            f"credentials: provider {provider.key!r} takes no credentials.",
            details={"credentials": [f"Provider {provider.key!r} takes no credentials."]},
        )
    value = normalize_credential_type(credential_type, provider)
    if value != provider.auth_type:
        raise ValidationFailed(
            f"credentialType: provider {provider.key!r} authenticates with {provider.auth_type}.",
            details={"credentialType": [f"Must be {provider.auth_type} for provider {provider.key!r}."]},
        )
    return value


def _check_category(provider: Provider, category: str | None) -> None:
    if category and category != provider.category:
        raise ValidationFailed(
            f"type: provider {provider.key!r} is in category {provider.category}.",
            details={"type": [f"Must be {provider.category} for provider {provider.key!r} (or be left out)."]},
        )


def _check_auth_type(provider: Provider, auth_type: str | None) -> None:
    if auth_type and auth_type != provider.auth_type:
        raise ValidationFailed(
            f"authType: provider {provider.key!r} authenticates with {provider.auth_type}.",
            details={"authType": [f"Must be {provider.auth_type} for provider {provider.key!r} (or be left out)."]},
        )


# --- Services -----------------------------------------------------------------------------------------------------
@transaction.atomic
def integration_create(
    *,
    tenant,
    provider: Provider | str,
    name: str,
    actor=None,
    description: str = "",
    environment: str = Environment.PRODUCTION,
    config: dict | None = None,
    settings: dict | None = None,
    icon: str = "",
    allowed_shard_types: list[str] | None = None,
    search_enabled: bool = False,
    searchable_entities: list[str] | None = None,
    user_scoped: bool | None = None,
    auth_type: str | None = None,
    category: str | None = None,
    credentials: dict | None = None,
    credential_type: str | None = None,
) -> Integration:
    """Create an integration (status pending, version 1); credentials, when given, go to its tenant connection."""
    provider = _resolve_new_provider(provider)
    _refuse_unavailable(provider)
    _check_category(provider, category)
    _check_auth_type(provider, auth_type)
    config = validate_config(provider, config if config is not None else {})
    settings = validate_settings(provider, settings if settings is not None else {})
    entities = _validate_entities(provider, searchable_entities)
    if credentials is not None:
        credential_type = _credentials_type_for(provider, credential_type)
        credentials = validate_credentials(provider, credentials, credential_type)
    _check_name_free(tenant, name)
    integration = Integration(
        tenant=tenant,
        provider=provider,
        name=name,
        description=description or "",
        environment=environment,
        config=config,
        settings=settings,
        icon=icon or "",
        allowed_shard_types=list(allowed_shard_types or []),
        search_enabled=bool(search_enabled),
        searchable_entities=entities,
        user_scoped=provider.requires_user_scoping if user_scoped is None else bool(user_scoped),
        auth_type=provider.auth_type,
        status=IntegrationStatus.PENDING,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    _save_unique(integration)
    connection = None
    changed = ["config", "settings"]
    if credentials is not None:
        connection = _store_credentials(integration, credentials, credential_type)
        changed.append("credentials")
    _record_version(integration, changed, actor)
    log_activity(
        integration=integration,
        type=ActivityType.CREATE,
        status=ActivityStatus.SUCCESS,
        message=f"Integration {name!r} created.",
        details={"provider": provider.key, "environment": environment, "credentialsSet": connection is not None},
        actor=actor,
    )
    _with_connection_state(integration, connection)
    events.emit(tenant, "integration.created", integration_public_data(integration))
    logger.info("integrations.created", extra={"integration_id": str(integration.pk), "provider": provider.key})
    return integration


_UPDATABLE = (
    "name",
    "description",
    "environment",
    "config",
    "settings",
    "icon",
    "allowed_shard_types",
    "search_enabled",
    "searchable_entities",
    "user_scoped",
)


@transaction.atomic
def integration_update(
    *,
    integration: Integration,
    actor=None,
    changes: dict[str, Any],
) -> Integration:
    """Apply the given fields (PUT and PATCH alike: absent fields stay). A change of config, settings or
    credentials makes a new version; `status` may be set to active or inactive (as activate/deactivate do).
    A config change that moves the API origin (scheme, host, port) drops the stored credentials, the tenant's and
    every user's, unless new tenant credentials come in the same call (docs/security.md)."""
    integration = _lock(integration)
    provider = integration.provider
    changes = dict(changes)
    provider_key = changes.pop("provider", None)
    if provider_key is not None and provider_key not in (provider.key, str(provider.pk)):
        raise ValidationFailed(
            "provider: the provider of an integration cannot be changed.", details={"provider": ["Cannot be changed."]}
        )
    _check_category(provider, changes.pop("category", None))
    _check_auth_type(provider, changes.pop("auth_type", None))
    credentials = changes.pop("credentials", None)
    credential_type = changes.pop("credential_type", None)
    status = changes.pop("status", None)
    unknown = set(changes) - set(_UPDATABLE)
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    if "config" in changes:
        changes["config"] = validate_config(provider, changes["config"])
    if "settings" in changes:
        changes["settings"] = validate_settings(provider, changes["settings"])
    if "searchable_entities" in changes:
        changes["searchable_entities"] = _validate_entities(provider, changes["searchable_entities"])
    if credentials is not None:
        credential_type = _credentials_type_for(provider, credential_type)
        credentials = validate_credentials(provider, credentials, credential_type)
    if "name" in changes and changes["name"] != integration.name:
        _check_name_free(integration.tenant, changes["name"], exclude_pk=integration.pk)

    changed = [field for field, value in changes.items() if getattr(integration, field) != value]
    old_config = integration.config
    for field in changed:
        setattr(integration, field, changes[field])
    if status is not None and status != integration.status:
        if status == IntegrationStatus.ACTIVE:
            _refuse_disabled_provider(provider)
            integration.enabled_at = timezone.now()
            integration.enabled_by = actor if getattr(actor, "is_authenticated", False) else None
            changed += ["enabled_at", "enabled_by"]
        integration.status = status
        changed.append("status")
    connection = None
    # Credentials belong to the origin they were given for; new ones sent with the move are stored below.
    moved = "config" in changed and _origin_moved(integration, old_config)
    if moved and _drop_credentials(
        integration, keep_tenant=credentials is not None, actor=actor, reason="origin_changed"
    ):
        changed.append("credentials")
    if credentials is not None:
        current = _tenant_connection(integration)
        if _live_credentials(current) != credentials or current.auth_type != credential_type:
            connection = _store_credentials(integration, credentials, credential_type)
            if "credentials" not in changed:
                changed.append("credentials")
    if not changed:
        return integration
    _save_unique(integration)
    versioned = [f for f in VERSIONED_FIELDS if f in changed]
    if versioned:
        _record_version(integration, versioned, actor)
    public_changed = [f for f in changed if f not in ("enabled_at", "enabled_by")]
    log_activity(
        integration=integration,
        type=ActivityType.UPDATE,
        status=ActivityStatus.SUCCESS,
        message=f"Integration updated: {', '.join(public_changed)}.",
        details={"changedFields": public_changed, "version": integration.current_version},
        actor=actor,
    )
    if connection is None:
        connection = _tenant_connection(integration)
    _with_connection_state(integration, connection)
    events.emit(
        integration.tenant,
        "integration.updated",
        {**integration_public_data(integration), "changedFields": public_changed},
    )
    return integration


def _refuse_disabled_provider(provider: Provider) -> None:
    if provider.status == ProviderStatus.DISABLED:
        reason = f"Provider {provider.key!r} is disabled; its integrations cannot be activated."
        raise ValidationFailed(reason, details={"provider": [reason]})


@transaction.atomic
def integration_activate(*, integration: Integration, actor=None) -> Integration:
    """Status active, `enabledAt`/`enabledBy` set (seed 003). Refused while the provider is disabled."""
    integration = _lock(integration)
    _refuse_disabled_provider(integration.provider)
    integration.status = IntegrationStatus.ACTIVE
    integration.enabled_at = timezone.now()
    integration.enabled_by = actor if getattr(actor, "is_authenticated", False) else None
    integration.save(update_fields=["status", "enabled_at", "enabled_by", "updated_at"])
    return _status_changed(integration, ActivityType.ACTIVATE, "Integration activated.", actor)


@transaction.atomic
def integration_deactivate(*, integration: Integration, actor=None) -> Integration:
    integration = _lock(integration)
    integration.status = IntegrationStatus.INACTIVE
    integration.save(update_fields=["status", "updated_at"])
    return _status_changed(integration, ActivityType.DEACTIVATE, "Integration deactivated.", actor)


def _status_changed(integration: Integration, activity_type: str, message: str, actor) -> Integration:
    """The activity entry and the `integration.updated` event of an activate/deactivate."""
    log_activity(
        integration=integration, type=activity_type, status=ActivityStatus.SUCCESS, message=message, actor=actor
    )
    _with_connection_state(integration, _tenant_connection(integration))
    events.emit(
        integration.tenant, "integration.updated", {**integration_public_data(integration), "changedFields": ["status"]}
    )
    return integration


@transaction.atomic
def integration_delete(*, integration: Integration, actor=None) -> None:
    """Delete with its connections, versions, webhooks and inbound endpoints (database cascades); the activity
    entry of the deletion stays (its integration link becomes null) and `integration.deleted` is emitted."""
    integration = _lock(integration)
    _with_connection_state(integration, _tenant_connection(integration))
    data = integration_public_data(integration)
    log_activity(
        integration=integration,
        type=ActivityType.DELETE,
        status=ActivityStatus.SUCCESS,
        message=f"Integration {integration.name!r} deleted.",
        details={"integrationId": str(integration.pk), "name": integration.name, "provider": integration.provider.key},
        actor=actor,
    )
    events.emit(integration.tenant, "integration.deleted", data)
    integration.delete()
    logger.info("integrations.deleted", extra={"integration_id": data["id"]})


@transaction.atomic
def integration_set_credentials(
    *, integration: Integration, credentials: dict, credential_type: str, actor=None
) -> Connection:
    """Store credentials on the integration's tenant-level connection (created if absent): encrypted, masked hint,
    status active, `connected_at` now. Makes a new version and an activity entry. No HTTP here: test the
    credentials against the provider before calling this."""
    integration = _lock(integration)
    provider = integration.provider
    credential_type = normalize_credential_type(credential_type, provider)
    credentials = validate_credentials(provider, credentials, credential_type)
    connection = _store_credentials(integration, credentials, credential_type)
    _record_version(integration, ["credentials"], actor)
    log_activity(
        integration=integration,
        type=ActivityType.CREDENTIALS,
        status=ActivityStatus.SUCCESS,
        message="Credentials updated.",
        details={"credentialType": credential_type, "credentialHint": connection.credential_hint},
        actor=actor,
    )
    return connection


@transaction.atomic
def integration_restore_version(
    *, integration: Integration, number: int, actor=None, restore_credentials: bool = False
) -> Integration:
    """Bring back config and settings of version `number`, as a new version. Credentials come back only with
    `restore_credentials` (an admin's explicit choice, checked by the view) and when the version holds some;
    otherwise the current ones stay, unless the restored config moves the API origin, which drops them."""
    integration = _lock(integration)
    version = IntegrationVersion.objects.filter(integration=integration, number=number).first()
    if version is None:
        raise NotFound("version", f"Version {number} of this integration not found.")
    changed = []
    old_config = integration.config
    for field in ("config", "settings"):
        value = version.snapshot.get(field, {})
        if getattr(integration, field) != value:
            setattr(integration, field, value)
            changed.append(field)
    restored = version.credentials if restore_credentials and version.credentials_set else None
    moved = "config" in changed and _origin_moved(integration, old_config)
    if moved and _drop_credentials(integration, keep_tenant=bool(restored), actor=actor, reason="origin_changed"):
        changed.append("credentials")
    connection = _tenant_connection(integration)
    if restored and _live_credentials(connection) != restored:
        credential_type = version.snapshot.get("credentialType") or integration.provider.auth_type
        connection = _store_credentials(integration, restored, credential_type)
        if "credentials" not in changed:
            changed.append("credentials")
    integration.save()
    _record_version(integration, changed, actor, extra={"restoredFrom": number})
    log_activity(
        integration=integration,
        type=ActivityType.UPDATE,
        status=ActivityStatus.SUCCESS,
        message=f"Version {number} restored as version {integration.current_version}.",
        details={"restoredFrom": number, "changedFields": changed, "version": integration.current_version},
        actor=actor,
    )
    _with_connection_state(integration, connection)
    events.emit(
        integration.tenant,
        "integration.updated",
        {**integration_public_data(integration), "changedFields": changed, "restoredFrom": number},
    )
    return integration


def activity_prune(*, older_than_days: int | None = None, batch_size: int = 1000) -> int:
    """Delete activity entries older than the retention (ACTIVITY_LOG_RETENTION_DAYS), in batches; returns count."""
    days = older_than_days if older_than_days is not None else django_settings.ACTIVITY_LOG_RETENTION_DAYS
    cutoff = timezone.now() - timedelta(days=days)
    total = 0
    while True:
        ids = list(ActivityLog.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        deleted, _ = ActivityLog.objects.filter(pk__in=ids).delete()
        total += deleted
        if len(ids) < batch_size:
            break
    logger.info("integrations.activity.pruned", extra={"deleted": total, "retention_days": days})
    return total
