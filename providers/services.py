"""Writes to the provider catalog: create/update through the catalog entry schema, sync from the data files, locks.

A provider's API/admin representation is the catalog entry (camelCase keys, `providers.catalog_loader`), so a super
admin's POST or PATCH is validated by the very schema the shipped files are (`validate_entry`). Fields a super admin
changes by hand are added to `locked_fields`, and `sync_providers` leaves them alone.
"""

import logging
import os
from typing import Any

from django.conf import settings
from django.db import transaction

from config.errors import Conflict, ValidationFailed
from providers.catalog_loader import CatalogError, complete_entry, oauth_env_name_problem, validate_entry
from providers.models import Provider, ProviderStatus

logger = logging.getLogger(__name__)

# Catalog entry key -> model field. Order follows the catalog files.
ENTRY_FIELDS: dict[str, str] = {
    "provider": "key",
    "name": "name",
    "displayName": "display_name",
    "description": "description",
    "category": "category",
    "status": "status",
    "audience": "audience",
    "capabilities": "capabilities",
    "supportedSyncDirections": "supported_sync_directions",
    "supportsRealtime": "supports_realtime",
    "supportsWebhooks": "supports_webhooks",
    "supportsNotifications": "supports_notifications",
    "supportsSearch": "supports_search",
    "searchableEntities": "searchable_entities",
    "searchCapabilities": "search_capabilities",
    "requiresUserScoping": "requires_user_scoping",
    "authType": "auth_type",
    "oauthConfig": "oauth_config",
    "apiKeyPlacement": "api_key_placement",
    "credentialSchema": "credential_schema",
    "configSchema": "config_schema",
    "healthCheck": "health_check",
    "apiBaseUrl": "api_base_url",
    "inboundSignatureScheme": "inbound_signature_scheme",
    "docsUrl": "docs_url",
    "availableEntities": "available_entities",
    "entityMappings": "entity_mappings",
    "icon": "icon",
    "color": "color",
    "version": "version",
    "isPremium": "is_premium",
    "requiredPlan": "required_plan",
    "notes": "notes",
    "rateLimit": "rate_limit",
}
MODEL_FIELDS = {field: key for key, field in ENTRY_FIELDS.items()}
# Entry null <-> model "" for these text columns.
_NULL_AS_BLANK = {"api_base_url", "inbound_signature_scheme", "docs_url", "required_plan", "notes"}
# oauthConfig keys a super admin may set that the catalog files never carry (the secret is stored encrypted apart).
CLIENT_ID_KEY, CLIENT_SECRET_KEY = "clientId", "clientSecret"
_UNSET = object()


# --- Entry <-> model ----------------------------------------------------------------------------------------------
def provider_entry(provider: Provider) -> dict[str, Any]:
    """The provider as a catalog entry (camelCase; oauthConfig without the client id/secret)."""
    entry = {}
    for key, field in ENTRY_FIELDS.items():
        value = getattr(provider, field)
        if field in _NULL_AS_BLANK and value == "":
            value = None
        entry[key] = value
    if isinstance(entry["oauthConfig"], dict):
        entry["oauthConfig"] = {k: v for k, v in entry["oauthConfig"].items() if k != CLIENT_ID_KEY}
    return entry


def entry_values(entry: dict[str, Any]) -> dict[str, Any]:
    """Model field values of a (validated) catalog entry."""
    values = {}
    for key, field in ENTRY_FIELDS.items():
        value = entry.get(key)
        if field in _NULL_AS_BLANK and value is None:
            value = ""
        values[field] = value
    return values


def entry_defaults(entry: dict[str, Any]) -> dict[str, Any]:
    """Fill what a hand-written entry may leave out (see `providers.catalog_loader.complete_entry`)."""
    return complete_entry(entry)


def catalog_error_details(exc: CatalogError) -> dict[str, list[str]]:
    """`CatalogError` problems ("<source>: <field.path>: <problem>") as api.md field errors."""
    details: dict[str, list[str]] = {}
    prefix = f"{exc.source}: "
    for line in exc.problems:
        line = line.removeprefix(prefix)
        field, sep, problem = line.partition(": ")
        if not sep:
            field, problem = "(entry)", line
        details.setdefault(field, []).append(problem)
    return details


def _validate(entry: dict[str, Any], source: str, *, stored_client: set[str] | None = None) -> dict[str, Any]:
    try:
        return validate_entry(
            entry,
            source=source,
            http_allowed_networks=settings.PROVIDER_ALLOWED_NETWORKS,
            stored_client=stored_client or set(),
        )
    except CatalogError as exc:
        details = catalog_error_details(exc)
        first_field, problems = next(iter(details.items()))
        raise ValidationFailed(f"{first_field}: {problems[0]}", details=details)


def _given(value: Any) -> bool:
    return value is not _UNSET and isinstance(value, str) and bool(value)


def _split_oauth_client(oauth: Any) -> tuple[Any, Any, Any]:
    """oauthConfig without clientId/clientSecret, and those two (or _UNSET when absent)."""
    if not isinstance(oauth, dict):
        return oauth, _UNSET, _UNSET
    oauth = dict(oauth)
    client_id = oauth.pop(CLIENT_ID_KEY, _UNSET)
    client_secret = oauth.pop(CLIENT_SECRET_KEY, _UNSET)
    for name, value in ((CLIENT_ID_KEY, client_id), (CLIENT_SECRET_KEY, client_secret)):
        if value is not _UNSET and value is not None and not isinstance(value, str):
            raise ValidationFailed(
                f"oauthConfig.{name}: must be a string.", details={f"oauthConfig.{name}": ["Must be a string."]}
            )
    return oauth, client_id, client_secret


def _apply_oauth_client(provider: Provider, client_id: Any, client_secret: Any) -> list[str]:
    if (client_id is not _UNSET or client_secret is not _UNSET) and provider.auth_type != "oauth2":
        raise ValidationFailed(
            "oauthConfig: only an OAuth provider (authType oauth2) has a client id and secret.",
            details={"oauthConfig": ["Client id and secret apply to authType oauth2 only."]},
        )
    changed = []
    if client_id is not _UNSET:
        oauth = dict(provider.oauth_config or {})
        if client_id:
            oauth[CLIENT_ID_KEY] = client_id
        else:
            oauth.pop(CLIENT_ID_KEY, None)
        if provider.oauth_config is not None or client_id:
            provider.oauth_config = oauth
        changed.append("oauth_client_id")
    if client_secret is not _UNSET:
        provider.oauth_client_secret = client_secret or ""
        changed.append("oauth_client_secret")
    return changed


# --- Services -----------------------------------------------------------------------------------------------------
@transaction.atomic
def provider_create(*, data: dict[str, Any], actor=None) -> Provider:
    """Create a provider from a catalog entry (camelCase); defaults fill the keys a hand-written entry omits."""
    if not isinstance(data, dict):
        raise ValidationFailed("The body must be a JSON object.")
    oauth, client_id, client_secret = _split_oauth_client(data.get("oauthConfig"))
    entry = entry_defaults({**data, "oauthConfig": oauth} if "oauthConfig" in data else dict(data))
    stored = {name for name, value in ((CLIENT_ID_KEY, client_id), (CLIENT_SECRET_KEY, client_secret)) if _given(value)}
    entry = _validate(entry, source="<request>", stored_client=stored)
    if Provider.objects.filter(key=entry["provider"]).exists():
        raise Conflict(
            f"A provider with the key {entry['provider']!r} already exists.", details={"provider": entry["provider"]}
        )
    provider = Provider(**entry_values(entry))
    _apply_oauth_client(provider, client_id, client_secret)
    provider.save()
    logger.info("providers.created", extra={"provider": provider.key, "actor_id": str(getattr(actor, "pk", "") or "")})
    return provider


@transaction.atomic
def provider_update(*, provider: Provider, data: dict[str, Any], actor=None, lock: bool = True) -> Provider:
    """Apply a partial catalog entry (camelCase), validated as a whole; every changed catalog field gets locked.

    `oauthConfig` in `data` is merged key by key over the current one; its `clientId`/`clientSecret` set the OAuth
    client (the secret encrypted) and never lock anything.
    """
    if not isinstance(data, dict):
        raise ValidationFailed("The body must be a JSON object.")
    provider = Provider.objects.select_for_update().get(pk=provider.pk)
    if "provider" in data and data["provider"] != provider.key:
        raise ValidationFailed(
            "provider: the key of a provider cannot be changed.", details={"provider": ["Cannot be changed."]}
        )
    current = provider_entry(provider)
    patch = dict(data)
    client_id = client_secret = _UNSET
    if "oauthConfig" in patch:
        oauth, client_id, client_secret = _split_oauth_client(patch["oauthConfig"])
        if isinstance(oauth, dict) and isinstance(current["oauthConfig"], dict):
            oauth = {**current["oauthConfig"], **oauth}
        if isinstance(oauth, dict) and not oauth and current["oauthConfig"] is None:
            oauth = None  # only the client was given for a provider without OAuth: validation below says so if wrong
        patch["oauthConfig"] = oauth
    stored = set()
    if _given(client_id) or (client_id is _UNSET and (provider.oauth_config or {}).get(CLIENT_ID_KEY)):
        stored.add(CLIENT_ID_KEY)
    if _given(client_secret) or (client_secret is _UNSET and provider.oauth_client_secret):
        stored.add(CLIENT_SECRET_KEY)
    entry = _validate({**current, **patch}, source="<request>", stored_client=stored)
    changed = []
    for field, value in entry_values(entry).items():
        if field == "oauth_config" and isinstance(value, dict) and (provider.oauth_config or {}).get(CLIENT_ID_KEY):
            value = {**value, CLIENT_ID_KEY: provider.oauth_config[CLIENT_ID_KEY]}
        if getattr(provider, field) != value:
            setattr(provider, field, value)
            changed.append(field)
    client_changes = _apply_oauth_client(provider, client_id, client_secret)
    if lock and changed:
        provider.locked_fields = sorted(set(provider.locked_fields or []) | set(changed))
    if changed or client_changes:
        provider.save()
        logger.info(
            "providers.updated",
            extra={
                "provider": provider.key,
                "fields": changed + client_changes,
                "actor_id": str(getattr(actor, "pk", "") or ""),
            },
        )
    return provider


def provider_set_status(*, provider: Provider, status: str, actor=None) -> Provider:
    return provider_update(provider=provider, data={"status": status}, actor=actor)


def provider_set_audience(*, provider: Provider, audience: str, actor=None) -> Provider:
    return provider_update(provider=provider, data={"audience": audience}, actor=actor)


def provider_lock_fields(*, provider: Provider, fields: list[str]) -> Provider:
    """Mark fields as edited by hand (used by Django admin), so `sync_providers` keeps them."""
    fields = [f for f in fields if f in MODEL_FIELDS and f != "key"]
    merged = sorted(set(provider.locked_fields or []) | set(fields))
    if merged != sorted(provider.locked_fields or []):
        provider.locked_fields = merged
        Provider.objects.filter(pk=provider.pk).update(locked_fields=merged)
    return provider


@transaction.atomic
def provider_bulk_set_status(*, providers, status: str) -> int:
    """Django admin's bulk action: set `status` on many providers and lock the field on each."""
    if status not in ProviderStatus.values:
        raise ValidationFailed(f"Unknown status {status!r}.")
    count = 0
    for provider in Provider.objects.select_for_update().filter(pk__in=[p.pk for p in providers]):
        provider.status = status
        provider.locked_fields = sorted(set(provider.locked_fields or []) | {"status"})
        provider.save(update_fields=["status", "locked_fields", "updated_at"])
        count += 1
    return count


@transaction.atomic
def provider_delete(*, provider: Provider, actor=None) -> None:
    """Delete a provider no integration uses; 409 CONFLICT otherwise."""
    provider = Provider.objects.select_for_update().get(pk=provider.pk)
    in_use = provider.integrations.count()
    if in_use:
        raise Conflict(
            f"The provider {provider.key!r} is used by {in_use} integration(s); disable it instead.",
            details={"integrations": in_use},
        )
    provider.delete()
    logger.info("providers.deleted", extra={"provider": provider.key, "actor_id": str(getattr(actor, "pk", "") or "")})


def provider_sync_entry(entry: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
    """Create or update one provider from a validated catalog entry, keeping its locked fields and OAuth client.

    Returns `{"provider", "action": created|updated|unchanged, "fields": [...], "kept": [...]}`; `kept` lists the
    locked fields whose catalog value differs from the database.
    """
    values = entry_values(entry)
    key = values.pop("key")
    provider = Provider.objects.filter(key=key).first()
    if provider is None:
        if not dry_run:
            Provider.objects.create(key=key, **values)
        return {"provider": key, "action": "created", "fields": sorted(values), "kept": []}
    locked = set(provider.locked_fields or [])
    changed, kept = [], []
    for field, value in values.items():
        current = getattr(provider, field)
        if field == "oauth_config" and isinstance(value, dict) and (current or {}).get(CLIENT_ID_KEY):
            value = {**value, CLIENT_ID_KEY: current[CLIENT_ID_KEY]}
        if current == value:
            continue
        if field in locked:
            kept.append(field)
            continue
        setattr(provider, field, value)
        changed.append(field)
    if changed and not dry_run:
        provider.save()
    return {"provider": key, "action": "updated" if changed else "unchanged", "fields": changed, "kept": kept}


@transaction.atomic
def providers_sync(*, entries: list[dict[str, Any]], dry_run: bool = False) -> list[dict[str, Any]]:
    """Sync every catalog entry (one transaction); also lists providers in the database that no entry names."""
    results = [provider_sync_entry(entry, dry_run=dry_run) for entry in entries]
    keys = {entry["provider"] for entry in entries}
    for key in Provider.objects.exclude(key__in=keys).values_list("key", flat=True):
        results.append({"provider": key, "action": "not_in_catalog", "fields": [], "kept": []})
    return results


# --- OAuth client ---------------------------------------------------------------------------------------------------
def _env(name: str | None, key: str) -> str:
    """The environment variable `name`, read only when it is an OAuth client name (`*_CLIENT_ID` /
    `*_CLIENT_SECRET`, see `oauth_env_name_problem`); never a Django setting, so no entry can make the server send
    SECRET_KEY or DATABASE_URL to a provider's URL."""
    if not name or oauth_env_name_problem(key, name):
        return ""
    return os.environ.get(name, "")


def provider_oauth_client(provider: Provider) -> tuple[str, str] | None:
    """(client_id, client_secret) for an OAuth provider, or None when either is missing.

    Each comes from what a super admin stored (`oauthConfig.clientId`, the encrypted `oauth_client_secret`) or else
    from the environment variable the entry names (`clientIdEnv`, `clientSecretEnv`, e.g. GOOGLE_CLIENT_ID).
    """
    oauth = provider.oauth_config or {}
    if not isinstance(oauth, dict) or provider.auth_type != "oauth2":
        return None
    client_id = oauth.get(CLIENT_ID_KEY) or _env(oauth.get("clientIdEnv"), "clientIdEnv")
    client_secret = provider.oauth_client_secret or _env(oauth.get("clientSecretEnv"), "clientSecretEnv")
    if not client_id or not client_secret:
        return None
    return client_id, client_secret
