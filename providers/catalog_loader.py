"""Load and validate the provider catalog shipped in ``providers/catalog/*.json``.

One JSON file per provider; the file name (without ``.json``) is the provider key. Keys are camelCase. A file (or a
super admin's POST) may leave optional keys out: :func:`complete_entry` fills them with defaults derived from the rest
(an ``api_key`` provider gets a credential schema for ``apiKey``, an ``oauth2`` one ``scopeSeparator " "`` and no extra
parameters, ...), and the completed entry must then hold every key of :data:`PROVIDER_ENTRY_SCHEMA`.

URLs are ``https://``; ``http://`` only for hosts inside the networks the caller allows (``PROVIDER_ALLOWED_NETWORKS``
in settings, empty by default: test and on-premise authorization servers).

This module is deliberately pure Python (stdlib + ``jsonschema``) so it can be used by management commands, tests and
tooling without Django being configured.

Placeholders
------------
``apiBaseUrl``, ``healthCheck.path`` and the OAuth URLs may contain ``{name}`` placeholders (``name`` matches
``[a-zA-Z][a-zA-Z0-9_]*``). :func:`validate_entry` checks that every placeholder can be filled:

* in ``oauthConfig`` URLs: from the integration ``config`` only (the URLs are needed before any token exists), so
  the name must be a *required* property of ``configSchema``;
* in ``apiBaseUrl`` and ``healthCheck.path``: from ``config`` or ``credentials`` (a *required* property of
  ``configSchema`` or ``credentialSchema``), or, for ``authType == "oauth2"`` only, from a value learnt while
  connecting, listed in :data:`CONNECTION_DERIVED_PLACEHOLDERS` (e.g. Salesforce ``instanceUrl``).

Learnt values come only from what the provider answered while connecting (the connection's metadata), never from
a tenant's config or credentials, so an oauth2 entry's schemas may not define a property of that name. A learnt
value that holds a URL (:data:`CONNECTION_DERIVED_URL_PLACEHOLDERS`) must be https on a host under one of the
domains the entry lists in ``oauthConfig.learntUrlDomains`` (:func:`learnt_url_problem`); an entry that uses one must
list them. See docs/security.md (SSRF policy).

OAuth client credentials are read from environment variables the entry names: ``clientIdEnv`` must end in
``_CLIENT_ID`` and ``clientSecretEnv`` in ``_CLIENT_SECRET`` (:func:`oauth_env_name_problem`), so no entry can
name a server secret such as ``SECRET_KEY`` or ``DATABASE_URL``. Either may be left out when the super admin stores
``clientId`` / ``clientSecret`` in the provider's settings instead.

:func:`render_template` fills them in.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

__all__ = [
    "CATALOG_DIR",
    "CONNECTION_DERIVED_PLACEHOLDERS",
    "CONNECTION_DERIVED_URL_PLACEHOLDERS",
    "PROVIDER_ENTRY_SCHEMA",
    "CatalogError",
    "MissingPlaceholder",
    "complete_entry",
    "learnt_url_problem",
    "load_catalog",
    "oauth_env_name_problem",
    "placeholders",
    "render_template",
    "validate_entry",
]

CATALOG_DIR = Path(__file__).parent / "catalog"
_PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Placeholder names whose values are not typed in by the tenant but learnt while connecting an OAuth integration.
#: The connection code must store them (e.g. in the integration's config/metadata) before rendering URLs.
CONNECTION_DERIVED_PLACEHOLDERS: dict[str, str] = {
    "instanceUrl": "Salesforce: `instance_url` of the OAuth token response, e.g. https://acme.my.salesforce.com",
    "baseUri": "DocuSign: `accounts[].base_uri` of GET https://account.docusign.com/oauth/userinfo after the exchange",
    "accountId": "DocuSign: `accounts[].account_id` of the same userinfo response (the default account)",
}

#: The learnt values that hold a base URL (https://host): checked with :func:`learnt_url_problem` wherever used.
CONNECTION_DERIVED_URL_PLACEHOLDERS = frozenset({"instanceUrl", "baseUri"})

#: What the environment variable names of an OAuth client must end with (see :func:`oauth_env_name_problem`).
OAUTH_ENV_SUFFIXES = {"clientIdEnv": "_CLIENT_ID", "clientSecretEnv": "_CLIENT_SECRET"}

PLACEHOLDER_RE = re.compile(r"\{([a-zA-Z][a-zA-Z0-9_]*)\}")

# ---------------------------------------------------------------------------------------------------------------
# Schema
# ---------------------------------------------------------------------------------------------------------------

CATEGORIES = [
    "calendar",
    "hris",
    "esignature",
    "job_board",
    "communication",
    "messaging",
    "email",
    "crm",
    "payment_gateway",
    "sms",
    "storage",
    "data_source",
    "custom",
]
STATUSES = ["active", "beta", "deprecated", "disabled"]
AUDIENCES = ["tenant", "system"]
AUTH_TYPES = ["oauth2", "api_key", "basic", "custom", "none"]
SYNC_DIRECTIONS = ["pull", "push", "bidirectional"]
INBOUND_SIGNATURE_SCHEMES = ["hmac_sha256", "stripe", "github", "slack", "standard_webhooks", "twilio"]
ENTITY_OPERATIONS = ["read", "create", "update", "delete"]

# https://… or a leading placeholder that itself holds an https base URL ("{instanceUrl}/services/…", "{baseUrl}").
# http://… passes the schema but is refused by validate_entry unless its host lies in an allowed network.
URL_PATTERN = r"^(https?://|\{[a-zA-Z][a-zA-Z0-9_]*\})\S*$"
#: oauthConfig / entry fields holding URLs the server calls: http:// is checked against the allowed networks.
HTTP_CHECKED_URLS = (
    "apiBaseUrl",
    "oauthConfig.authorizationUrl",
    "oauthConfig.tokenUrl",
    "oauthConfig.revocationUrl",
    "oauthConfig.issuer",
)
_SNAKE = r"^[a-z][a-z0-9_]*$"
_ENV_NAME = r"^[A-Z][A-Z0-9_]*$"
_DOMAIN = r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"

_url = {"type": "string", "pattern": URL_PATTERN}
_nullable_url = {"type": ["string", "null"], "pattern": URL_PATTERN}
_snake_list = {"type": "array", "items": {"type": "string", "pattern": _SNAKE}, "uniqueItems": True}
_sub_schema = {
    # A JSON Schema describing a dict; validate_entry additionally runs Draft202012Validator.check_schema on it.
    "type": ["object", "null"],
    "required": ["type"],
    "properties": {"type": {"const": "object"}},
}

PROVIDER_ENTRY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Provider catalog entry",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "provider",
        "name",
        "displayName",
        "description",
        "category",
        "status",
        "audience",
        "capabilities",
        "supportedSyncDirections",
        "supportsRealtime",
        "supportsWebhooks",
        "supportsNotifications",
        "supportsSearch",
        "searchableEntities",
        "searchCapabilities",
        "requiresUserScoping",
        "authType",
        "oauthConfig",
        "apiKeyPlacement",
        "credentialSchema",
        "configSchema",
        "healthCheck",
        "apiBaseUrl",
        "inboundSignatureScheme",
        "docsUrl",
        "availableEntities",
        "entityMappings",
        "icon",
        "color",
        "version",
        "isPremium",
        "requiredPlan",
        "notes",
    ],
    "properties": {
        "provider": {"type": "string", "pattern": r"^[a-z][a-z0-9_]{1,63}$"},
        "name": {"type": "string", "minLength": 1},
        "displayName": {"type": "string", "minLength": 1},
        "description": {"type": "string", "minLength": 1},
        "category": {"enum": CATEGORIES},
        "status": {"enum": STATUSES},
        "audience": {"enum": AUDIENCES},
        "capabilities": _snake_list,
        "supportedSyncDirections": {"type": "array", "items": {"enum": SYNC_DIRECTIONS}, "uniqueItems": True},
        "supportsRealtime": {"type": "boolean"},
        "supportsWebhooks": {"type": "boolean"},
        "supportsNotifications": {"type": "boolean"},
        "supportsSearch": {"type": "boolean"},
        "searchableEntities": _snake_list,
        "searchCapabilities": {
            "type": "object",
            "additionalProperties": False,
            "required": ["fullText", "fieldSpecific", "filtered"],
            "properties": {
                "fullText": {"type": "boolean"},
                "fieldSpecific": {"type": "boolean"},
                "filtered": {"type": "boolean"},
            },
        },
        "requiresUserScoping": {"type": "boolean"},
        "authType": {"enum": AUTH_TYPES},
        "oauthConfig": {
            "type": ["object", "null"],
            "additionalProperties": False,
            # authorizationUrl/tokenUrl may come from discovery (issuer); clientIdEnv/clientSecretEnv are needed only
            # when no client is stored with the provider (validate_entry checks both).
            "required": ["revocationUrl", "scopes", "scopeSeparator", "pkce", "extraAuthorizationParams"],
            "properties": {
                "issuer": {"type": "string", "pattern": r"^https?://[^\s?#]+$"},
                "authorizationUrl": _url,
                "tokenUrl": _url,
                "revocationUrl": _nullable_url,
                "scopes": {"type": "array", "items": {"type": "string", "pattern": r"^\S+$"}, "uniqueItems": True},
                "scopeSeparator": {"enum": [" ", ","]},
                "pkce": {"type": "boolean"},
                "extraAuthorizationParams": {"type": "object", "additionalProperties": {"type": "string"}},
                "clientIdEnv": {"type": "string", "pattern": _ENV_NAME},
                "clientSecretEnv": {"type": "string", "pattern": _ENV_NAME},
                "refreshMarginSeconds": {"type": "integer", "minimum": 0, "maximum": 86400},
                "keepAliveHours": {"type": "number", "exclusiveMinimum": 0, "maximum": 8760},
                "giveUpAfterHours": {"type": "number", "exclusiveMinimum": 0, "maximum": 8760},
                # Domains (e.g. "salesforce.com") a URL learnt while connecting must be on or under.
                "learntUrlDomains": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {"type": "string", "pattern": _DOMAIN},
                },
            },
        },
        "apiKeyPlacement": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "required": ["in", "name", "format"],
            "properties": {
                "in": {"enum": ["header", "query"]},
                "name": {"type": "string", "minLength": 1},
                "format": {"type": "string", "pattern": r"\{apiKey\}"},
            },
        },
        "credentialSchema": _sub_schema,
        "configSchema": _sub_schema,
        "healthCheck": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "required": ["method", "path", "expectedStatus"],
            "properties": {
                "method": {"enum": ["GET", "POST", "HEAD"]},
                "path": {"type": "string", "pattern": r"^/\S*$"},
                "expectedStatus": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "integer", "minimum": 100, "maximum": 599},
                },
            },
        },
        "apiBaseUrl": _nullable_url,
        "inboundSignatureScheme": {"enum": [*INBOUND_SIGNATURE_SCHEMES, None]},
        "docsUrl": {"type": ["string", "null"], "pattern": r"^https://\S+$"},
        "availableEntities": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "displayName", "operations"],
                "properties": {
                    "name": {"type": "string", "pattern": _SNAKE},
                    "displayName": {"type": "string", "minLength": 1},
                    "operations": {"type": "array", "items": {"enum": ENTITY_OPERATIONS}, "uniqueItems": True},
                },
            },
        },
        "entityMappings": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["entity", "shardType"],
                "properties": {
                    "entity": {"type": "string", "pattern": _SNAKE},
                    "shardType": {"type": "string", "minLength": 1},
                },
            },
        },
        "icon": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]*$"},
        "color": {"type": "string", "pattern": r"^#[0-9A-Fa-f]{6}$"},
        "version": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"\S"},
        "isPremium": {"type": "boolean"},
        "requiredPlan": {"type": ["string", "null"], "minLength": 1},
        "notes": {"type": ["string", "null"], "minLength": 1},
        "rateLimit": {
            "description": "This provider's budget per connection, shared by every call (see providers.budget).",
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                "requestsPerMinute": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000000},
                "maxWaitSeconds": {"type": ["integer", "null"], "minimum": 1, "maximum": 3600},
            },
        },
    },
    "allOf": [
        {
            "description": "oauthConfig is required when authType is 'oauth2'",
            "if": {"properties": {"authType": {"const": "oauth2"}}},
            "then": {"properties": {"oauthConfig": {"type": "object"}}},
        },
        {
            "description": "oauthConfig must be null unless authType is 'oauth2'",
            "if": {"properties": {"authType": {"not": {"const": "oauth2"}}}},
            "then": {"properties": {"oauthConfig": {"type": "null"}}},
        },
        {
            "description": "apiKeyPlacement is required when authType is 'api_key'",
            "if": {"properties": {"authType": {"const": "api_key"}}},
            "then": {"properties": {"apiKeyPlacement": {"type": "object"}}},
        },
        {
            "description": "apiKeyPlacement must be null unless authType is 'api_key'",
            "if": {"properties": {"authType": {"not": {"const": "api_key"}}}},
            "then": {"properties": {"apiKeyPlacement": {"type": "null"}}},
        },
        {
            "description": "credentialSchema is required for authType api_key, basic and custom",
            "if": {"properties": {"authType": {"enum": ["api_key", "basic", "custom"]}}},
            "then": {"properties": {"credentialSchema": {"type": "object"}}},
        },
        {
            "description": "searchableEntities must be empty when supportsSearch is false",
            "if": {"properties": {"supportsSearch": {"const": False}}},
            "then": {"properties": {"searchableEntities": {"maxItems": 0}}},
        },
    ],
}

_ENTRY_VALIDATOR = Draft202012Validator(PROVIDER_ENTRY_SCHEMA)

# ---------------------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------------------


class CatalogError(ValueError):
    """A catalog file is unreadable or an entry is invalid.

    The message is one ``<source>: <field.path>: <problem>`` line per problem; ``problems`` holds the same lines.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = [f"{source}: {problem}" for problem in problems]
        super().__init__("\n".join(self.problems))


class MissingPlaceholder(KeyError):
    """A ``{name}`` placeholder in a template has no (non-empty) value."""

    def __init__(self, name: str, template: str = "") -> None:
        self.name = name
        self.template = template
        super().__init__(name)

    def __str__(self) -> str:  # KeyError would repr() the argument
        where = f" in {self.template!r}" if self.template else ""
        return f"no value for placeholder {{{self.name}}}{where}"


def _field_path(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(entry)"


def _describe(error: ValidationError) -> str:
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        # Name the unknown key itself, so an API caller gets it as a field error ("fooBar": [...]).
        allowed = set((error.schema or {}).get("properties") or {})
        unknown = sorted(str(k) for k in error.instance if k not in allowed)
        if len(unknown) == 1:
            return f"{_field_path([*error.absolute_path, unknown[0]])}: {error.message}"
    message = f"{_field_path(error.absolute_path)}: {error.message}"
    schema_path = list(error.absolute_schema_path)
    if len(schema_path) >= 2 and schema_path[0] == "allOf" and isinstance(schema_path[1], int):
        rule = PROVIDER_ENTRY_SCHEMA["allOf"][schema_path[1]]
        if "description" in rule:
            message += f" ({rule['description']})"
    return message


# ---------------------------------------------------------------------------------------------------------------
# Placeholders
# ---------------------------------------------------------------------------------------------------------------


def placeholders(template: str | None) -> set[str]:
    """Return the ``{name}`` placeholder names used in ``template`` (empty set for ``None``)."""
    return set(PLACEHOLDER_RE.findall(template or ""))


def render_template(template: str, values: Mapping[str, Any]) -> str:
    """Fill the ``{name}`` placeholders of ``template`` from ``values``.

    A placeholder at the very start of the template (``"{baseUrl}"``, ``"{instanceUrl}/services/data/v60.0"``) holds a
    base URL and is inserted verbatim; every other value is URL-quoted with ``quote(value, safe="")`` so it stays one
    path segment / host label. Other braces are left alone (no ``str.format``). Raises :class:`MissingPlaceholder`
    when a value is absent, ``None`` or ``""``.
    """

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        value = values.get(name)
        if value is None or value == "":
            raise MissingPlaceholder(name, template)
        text = str(value)
        return text if match.start() == 0 else quote(text, safe="")

    return PLACEHOLDER_RE.sub(fill, template)


def oauth_env_name_problem(key: str, value: Any) -> str | None:
    """Why `value` cannot be `oauthConfig.<key>` (``clientIdEnv`` / ``clientSecretEnv``), None when it can.

    The value names an environment variable read for the OAuth client; only names ending in ``_CLIENT_ID`` /
    ``_CLIENT_SECRET`` are allowed, so a provider entry (which a super admin may edit) cannot make the server send
    ``SECRET_KEY``, ``ENCRYPTION_KEYS`` or ``DATABASE_URL`` to a URL of its choosing.
    """
    suffix = OAUTH_ENV_SUFFIXES[key]
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z][A-Z0-9_]*", value) or not value.endswith(suffix):
        return f"must be the name of an environment variable ending in {suffix} (e.g. ACME{suffix})"
    return None


def learnt_url_problem(value: Any, domains: list[str] | tuple[str, ...] | None) -> str | None:
    """Why `value` cannot be a learnt base URL (Salesforce's instance_url, DocuSign's base_uri), None when it can.

    It must be ``https://host`` (a trailing ``/`` allowed), with no credentials, port, path, query or fragment, and
    its host must equal one of `domains` or end in ``.<domain>``. Applied when the provider's answer is stored and
    again before every request that uses it.
    """
    allowed = [str(d).lower().strip(".") for d in (domains or []) if d]
    where = " or ".join(f"*.{d}" for d in allowed) or "the provider's domains (the catalog lists none)"
    problem = f"must be an https URL on {where}"
    if not isinstance(value, str) or not allowed or any(ord(c) <= 0x20 or c == "\\" for c in value):
        return problem
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return problem
    host = (parts.hostname or "").lower()
    if (
        parts.scheme != "https"
        or not host
        or "@" in parts.netloc
        or port is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        return problem
    if not any(host == domain or host.endswith("." + domain) for domain in allowed):
        return problem
    return None


def _required_props(schema: Mapping[str, Any] | None) -> set[str]:
    if not schema:
        return set()
    properties = schema.get("properties") or {}
    return {name for name in schema.get("required") or [] if name in properties}


def _placeholder_problems(entry: Mapping[str, Any]) -> list[str]:
    config = _required_props(entry.get("configSchema"))
    credentials = _required_props(entry.get("credentialSchema"))
    derived = set(CONNECTION_DERIVED_PLACEHOLDERS) if entry.get("authType") == "oauth2" else set()
    problems: list[str] = []

    request_fields = {"apiBaseUrl": entry.get("apiBaseUrl")}
    if entry.get("healthCheck"):
        request_fields["healthCheck.path"] = entry["healthCheck"].get("path")
    suffix = " nor a connection-derived value" if derived else ""
    for field, template in request_fields.items():
        for name in sorted(placeholders(template) - config - credentials - derived):
            problems.append(
                f"{field}: placeholder {{{name}}} is not a required property of configSchema or "
                f"credentialSchema{suffix}"
            )

    oauth = entry.get("oauthConfig") or {}
    for field in ("authorizationUrl", "tokenUrl", "revocationUrl"):
        for name in sorted(placeholders(oauth.get(field)) - config):
            problems.append(f"oauthConfig.{field}: placeholder {{{name}}} is not a required property of configSchema")

    if derived:
        # A learnt value is filled from the connection's metadata only: a tenant-typed property of the same name
        # would suggest otherwise (and once let a tenant aim API calls anywhere).
        for field in ("configSchema", "credentialSchema"):
            for name in sorted(set((entry.get(field) or {}).get("properties") or {}) & derived):
                problems.append(f"{field}.properties.{name}: {name} is learnt while connecting and cannot be typed in")
        used = set().union(*(placeholders(t) for t in request_fields.values()))
        if used & CONNECTION_DERIVED_URL_PLACEHOLDERS and not oauth.get("learntUrlDomains"):
            names = ", ".join(f"{{{n}}}" for n in sorted(used & CONNECTION_DERIVED_URL_PLACEHOLDERS))
            problems.append(f"oauthConfig.learntUrlDomains: required when apiBaseUrl uses {names}")
    return problems


# ---------------------------------------------------------------------------------------------------------------
# Defaults of a sparse entry
# ---------------------------------------------------------------------------------------------------------------

API_KEY_CREDENTIAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiKey"],
    "properties": {"apiKey": {"type": "string", "minLength": 1, "title": "API key"}},
}
BASIC_CREDENTIAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["username", "password"],
    "properties": {"username": {"type": "string", "minLength": 1}, "password": {"type": "string", "minLength": 1}},
}
OAUTH_CONFIG_DEFAULTS: dict[str, Any] = {
    "revocationUrl": None,
    "scopes": [],
    "scopeSeparator": " ",
    "pkce": True,
    "extraAuthorizationParams": {},
}


def complete_entry(entry: Any) -> Any:
    """``entry`` with every optional key it leaves out filled from the rest of it (a non-dict is returned as is).

    What a hand-written entry (seed-style POST body, sparse catalog file) may omit: ``description`` (the display
    name), the ``supports*`` flags (false; ``supportsSearch`` true when ``searchableEntities`` are named), lists
    (empty), ``credentialSchema`` (``apiKey`` for an ``api_key`` provider, ``username``/``password`` for ``basic``),
    in ``oauthConfig`` the revocation URL (none), scopes (none), ``scopeSeparator`` (" "), PKCE (on) and extra
    parameters (none). Keys given, even as null, are kept: validation judges them.
    """
    if not isinstance(entry, dict):
        return entry
    key = entry.get("provider") if isinstance(entry.get("provider"), str) else ""
    auth_type = entry.get("authType")
    searchable = entry.get("searchableEntities")
    credential_schema = None
    if auth_type == "api_key":
        credential_schema = API_KEY_CREDENTIAL_SCHEMA
    elif auth_type == "basic":
        credential_schema = BASIC_CREDENTIAL_SCHEMA
    defaults: dict[str, Any] = {
        "description": entry.get("displayName") or entry.get("name"),
        "status": "active",
        "audience": "tenant",
        "capabilities": [],
        "supportedSyncDirections": [],
        "supportsRealtime": False,
        "supportsWebhooks": False,
        "supportsNotifications": False,
        "supportsSearch": bool(searchable) if isinstance(searchable, list) else False,
        "searchableEntities": [],
        "searchCapabilities": {"fullText": False, "fieldSpecific": False, "filtered": False},
        "requiresUserScoping": False,
        "oauthConfig": None,
        "apiKeyPlacement": None,
        "credentialSchema": credential_schema,
        "configSchema": None,
        "healthCheck": None,
        "apiBaseUrl": None,
        "inboundSignatureScheme": None,
        "docsUrl": None,
        "availableEntities": [],
        "entityMappings": [],
        "icon": key.replace("_", "-") or "plug",
        "color": "#6B7280",
        "version": "1.0.0",
        "isPremium": False,
        "requiredPlan": None,
        "notes": None,
    }
    completed = {**defaults, **entry}
    if isinstance(completed.get("searchCapabilities"), dict):
        completed["searchCapabilities"] = {**defaults["searchCapabilities"], **completed["searchCapabilities"]}
    if isinstance(completed.get("oauthConfig"), dict):
        completed["oauthConfig"] = {**OAUTH_CONFIG_DEFAULTS, **completed["oauthConfig"]}
    return completed


def host_in_networks(host: str, networks: Iterable[str]) -> bool:
    """True when ``host`` (an IP literal or a name, resolved now) has only addresses inside ``networks``."""
    parsed = []
    for item in networks:
        try:
            parsed.append(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError:
            continue
    if not parsed or not host:
        return False
    try:
        addresses = {ipaddress.ip_address(host.strip("[]"))}
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return False
        addresses = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
    return bool(addresses) and all(
        any(address.version == net.version and address in net for net in parsed) for address in addresses
    )


def _http_problems(entry: Mapping[str, Any], allowed_networks: Iterable[str]) -> list[str]:
    networks = list(allowed_networks or ())
    oauth = entry.get("oauthConfig") if isinstance(entry.get("oauthConfig"), dict) else {}
    problems = []
    for name in HTTP_CHECKED_URLS:
        value = oauth.get(name.split(".", 1)[1]) if name.startswith("oauthConfig.") else entry.get(name)
        if not isinstance(value, str) or not value.lower().startswith("http://"):
            continue
        host = urlsplit(value).hostname or ""
        if not host_in_networks(host, networks):
            problems.append(f"{name}: http:// is allowed only for hosts inside PROVIDER_ALLOWED_NETWORKS; use https://")
    return problems


def _oauth_problems(entry: Mapping[str, Any], stored_client: Iterable[str]) -> list[str]:
    oauth = entry.get("oauthConfig")
    if not isinstance(oauth, dict):
        return []
    problems = []
    if not oauth.get("issuer"):
        for name in ("authorizationUrl", "tokenUrl"):
            if not oauth.get(name):
                problems.append(f"oauthConfig.{name}: required unless oauthConfig.issuer is given (discovery)")
    stored = set(stored_client or ())
    for env_key, client_key in (("clientIdEnv", "clientId"), ("clientSecretEnv", "clientSecret")):
        if env_key in oauth:  # optional, but when given only a *_CLIENT_ID / *_CLIENT_SECRET name (os.environ)
            problem = oauth_env_name_problem(env_key, oauth[env_key])
            if problem:
                problems.append(f"oauthConfig.{env_key}: {problem}")
        elif client_key not in stored:
            problems.append(f"oauthConfig.{env_key}: required unless oauthConfig.{client_key} is given")
    return problems


# ---------------------------------------------------------------------------------------------------------------
# Validation and loading
# ---------------------------------------------------------------------------------------------------------------


def validate_entry(
    entry: dict[str, Any],
    *,
    source: str,
    http_allowed_networks: Iterable[str] = (),
    stored_client: Iterable[str] = (),
) -> dict[str, Any]:
    """Validate one (completed, see :func:`complete_entry`) catalog entry and return it unchanged.

    ``http_allowed_networks``: CIDRs whose hosts may be called over ``http://``. ``stored_client``: which of
    ``clientId`` / ``clientSecret`` the provider has stored (then ``clientIdEnv`` / ``clientSecretEnv`` are optional).

    ``source`` names where the entry came from (a file path, or e.g. ``"<test>"``); when it ends in ``.json`` the
    entry's ``provider`` must equal the file stem. Besides :data:`PROVIDER_ENTRY_SCHEMA` this checks that
    ``credentialSchema`` / ``configSchema`` are valid draft 2020-12 schemas, that ``searchableEntities`` name
    ``availableEntities`` and that every URL placeholder can be filled (see the module docstring).
    Raises :class:`CatalogError` listing every problem found.
    """
    if not isinstance(entry, dict):
        raise CatalogError(source, [f"(entry): expected a JSON object, got {type(entry).__name__}"])

    errors = sorted(_ENTRY_VALIDATOR.iter_errors(entry), key=lambda e: ([str(p) for p in e.absolute_path], e.message))
    if errors:
        raise CatalogError(source, [_describe(error) for error in errors])

    problems: list[str] = []
    if source.endswith(".json"):
        stem = Path(source).stem
        if entry["provider"] != stem:
            problems.append(f"provider: {entry['provider']!r} does not match the file name {stem!r}")

    for field in ("credentialSchema", "configSchema"):
        if entry[field] is not None:
            try:
                Draft202012Validator.check_schema(entry[field])
            except SchemaError as exc:
                where = _field_path([field, *exc.absolute_path])
                problems.append(f"{where}: not a valid JSON Schema: {exc.message}")

    entity_names = [item["name"] for item in entry["availableEntities"]]
    if len(set(entity_names)) != len(entity_names):
        problems.append("availableEntities: entity names must be unique")
    for name in entry["searchableEntities"]:
        if name not in entity_names:
            problems.append(f"searchableEntities: {name!r} is not one of availableEntities")
    for index, mapping in enumerate(entry["entityMappings"]):
        if mapping["entity"] not in entity_names:
            problems.append(f"entityMappings[{index}].entity: {mapping['entity']!r} is not one of availableEntities")

    problems.extend(_placeholder_problems(entry))
    problems.extend(_oauth_problems(entry, stored_client))
    problems.extend(_http_problems(entry, http_allowed_networks))
    if problems:
        raise CatalogError(source, problems)
    return entry


def _display_path(path: Path) -> str:
    resolved = path.resolve()
    try:
        return resolved.relative_to(_PROJECT_ROOT).as_posix()
    except ValueError:
        return str(path)


def load_catalog(directory: Path = CATALOG_DIR, *, http_allowed_networks: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Load, complete (:func:`complete_entry`) and validate every ``*.json`` file in ``directory`` (sorted by name).

    Raises :class:`CatalogError` naming the file (and line/column for invalid JSON) on the first bad file. Provider
    keys are unique because each must equal its file name.
    """
    entries: list[dict[str, Any]] = []
    for path in sorted(Path(directory).glob("*.json")):
        source = _display_path(path)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CatalogError(source, [f"line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}"]) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise CatalogError(source, [f"cannot read file: {exc}"]) from exc
        entries.append(
            validate_entry(complete_entry(entry), source=source, http_allowed_networks=http_allowed_networks)
        )
    return entries
