"""Connections: OAuth 2.0 (authorization code + PKCE), API key / basic / custom credentials, refresh, test,
disconnect, status. Views and tasks call these; provider HTTP goes through provider clients and providers.http.

Lifecycle (docs/connections.md tells it for users): every connect, refresh, test and disconnect writes an activity
entry; connect emits `integration.connected` (again after a recovery), disconnect `integration.disconnected`, a
refresh refused with `invalid_grant` (not explained by a concurrent refresh) `integration.connection_expired`.
Per provider (`oauthConfig`): `keepAliveHours` refreshes a connection at least that often (refresh tokens that die
unused), `giveUpAfterHours` expires one whose refreshes kept failing that long; transient failures (5xx, timeouts,
unreachable, rate limited) never expire a connection. The first successful refresh, test or connect after a
connection was `expired` or `error` emits `integration.connection_recovered`. A broken connection says why in
`status_reason` (`reconnectReason` in the API); connecting again keeps its id.

Refresh is single-flight per connection: a named lock (Redis in production) is held across the token call, the
row is re-read once the lock is held, and the write is conditional on the token generation it read, so neither a
concurrent refresh nor a reconnect is ever overwritten with older tokens.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from config.errors import (
    Conflict,
    ConnectionFailed,
    DomainError,
    InvalidCredentials,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from integrations import events, oauth
from integrations.activity import log_activity
from integrations.locks import LockTimeout, named_lock
from integrations.models import (
    Connection,
    ConnectionScope,
    ConnectionStatus,
    Integration,
    IntegrationStatus,
    OAuthState,
    ReconnectReason,
)
from providers import budget as budgets
from providers import discovery
from providers.clients.base import CheckKind, CheckResult, ProviderClient
from providers.http import redact
from providers.registry import client_class, get_system_client

logger = logging.getLogger(__name__)

CREDENTIAL_AUTH_TYPES = ("api_key", "basic", "custom")
REFRESH_LOCK_TTL_SECONDS = 60
REFRESH_LOCK_WAIT_SECONDS = 45


# --- lookups --------------------------------------------------------------------------------------------------------
def connection_get(*, integration: Integration, user=None) -> Connection | None:
    """The tenant-level connection (user None) or `user`'s connection of `integration`, whatever its status."""
    queryset = Connection.objects.filter(integration=integration)
    queryset = queryset.filter(user=user) if user is not None else queryset.filter(user__isnull=True)
    return queryset.first()


def connection_for_caller(*, integration: Integration, user) -> Connection | None:
    """The connection a caller's test/status uses: theirs for a user-scoped integration, else the tenant's."""
    return connection_get(integration=integration, user=user if integration.user_scoped else None)


def default_connection(integration: Integration) -> Connection | None:
    """What `get_client(integration)` uses: the tenant-level connection; None for a user-scoped integration, whose
    connections are each one user's grant, used only on that user's behalf (never as a "sample" for others)."""
    if integration.user_scoped:
        return None
    return connection_get(integration=integration)


def _client(integration: Integration, connection: Connection | None) -> ProviderClient:
    return client_class(integration.provider.key)(integration, connection=connection)


def _require_scope(integration: Integration, scope: str) -> None:
    if scope == ConnectionScope.TENANT and integration.user_scoped:
        raise ValidationFailed(
            "This integration is user-scoped: each user connects their own account under "
            "/api/v1/me/integrations/{id}/…, not with a tenant-level connection.",
            details={"userScoped": ["The integration is user-scoped."]},
        )
    if scope == ConnectionScope.USER and not integration.user_scoped:
        raise ValidationFailed(
            "This integration is not user-scoped: it has one tenant-level connection, made under "
            "/api/v1/integrations/{id}/connect/….",
            details={"userScoped": ["The integration is not user-scoped."]},
        )


def _oauth_client(integration: Integration) -> tuple[str, str]:
    from providers.services import provider_oauth_client

    pair = provider_oauth_client(integration.provider)
    if not pair:
        cfg = integration.provider.oauth_config or {}
        names = "/".join(filter(None, (cfg.get("clientIdEnv"), cfg.get("clientSecretEnv")))) or "its client id/secret"
        raise ValidationFailed(
            f"The OAuth client of {integration.provider.display_name} is not configured (set {names}).",
            details={"provider": ["OAuth client not configured."]},
        )
    return pair


# --- return URLs ------------------------------------------------------------------------------------------------
def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def allowed_return_origins() -> set[tuple[str, str, int]]:
    origins = {_origin(settings.PUBLIC_BASE_URL)}
    origins.update(_origin(o) for o in getattr(settings, "OAUTH_RETURN_URL_ORIGINS", []) or [])
    if getattr(settings, "OAUTH_DEFAULT_RETURN_URL", ""):
        origins.add(_origin(settings.OAUTH_DEFAULT_RETURN_URL))
    return {o for o in origins if o}


def allowed_return_origin_strings() -> list[str]:
    """The same origins as `scheme://host[:port]` strings (default ports left out), for postMessage targets."""
    out = []
    for scheme, host, port in sorted(allowed_return_origins()):
        netloc = f"[{host}]" if ":" in host else host
        if port != (443 if scheme == "https" else 80):
            netloc += f":{port}"
        out.append(f"{scheme}://{netloc}")
    return out


def validate_return_url(url: str) -> str:
    """An absolute URL on PUBLIC_BASE_URL's origin or one of OAUTH_RETURN_URL_ORIGINS (a path is taken relative to
    PUBLIC_BASE_URL); anything else is a 400, so the callback never redirects to a place we did not vouch for."""
    problem = None
    url = (url or "").strip()
    if not url or len(url) > 2000:
        problem = "Must be a URL of at most 2000 characters."
    elif any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url) or "\\" in url:
        problem = "Must not contain spaces, control characters or backslashes."
    else:
        if url.startswith("/") and not url.startswith("//"):
            url = urljoin(settings.PUBLIC_BASE_URL.rstrip("/") + "/", url.lstrip("/"))
        parts = urlsplit(url)
        if "@" in parts.netloc:
            problem = "Must not contain credentials."
        elif _origin(url) not in allowed_return_origins():
            problem = "Must be on this application's origin or one listed in OAUTH_RETURN_URL_ORIGINS."
    if problem:
        raise ValidationFailed(f"returnUrl: {problem}", details={"returnUrl": [problem]})
    return url


# --- OAuth ----------------------------------------------------------------------------------------------------------
def oauth_start(
    *, integration: Integration, user, scope: str, return_url: str | None, client_state: str = ""
) -> tuple[str, str]:
    """Start the authorization code flow: (authorization URL with state and an S256 code challenge, state).
    The state is stored hashed, bound to tenant, user, integration and redirect URI, with the PKCE verifier
    encrypted, for OAUTH_STATE_TTL_SECONDS (10 minutes)."""
    _require_scope(integration, scope)
    provider = integration.provider
    if provider.auth_type != "oauth2":
        raise ValidationFailed(
            f"{provider.display_name} does not connect with OAuth 2.0; use connect/api-key, connect/basic or "
            "connect/custom.",
            details={"authType": [f"The provider's auth type is {provider.auth_type}."]},
        )
    return_url = validate_return_url(return_url) if return_url else ""
    client_id, _secret = _oauth_client(integration)
    client = _client(integration, None)
    cfg = client.oauth
    token = secrets.token_urlsafe(32)
    request = oauth.authorization_request(
        authorization_url=client.oauth_url("authorizationUrl"),
        client_id=client_id,
        scopes=list(cfg.get("scopes") or []),
        scope_separator=cfg.get("scopeSeparator") or " ",
        state=token,
        pkce=bool(cfg.get("pkce", True)),
        extra_params=cfg.get("extraAuthorizationParams") or {},
    )
    OAuthState.objects.create(
        state_hash=OAuthState.hash_token(token),
        tenant_id=integration.tenant_id,
        user=user,
        integration=integration,
        scope=str(scope),
        redirect_uri=oauth.redirect_uri(),
        return_url=return_url,
        client_state=(client_state or "")[:200],
        code_verifier=request.code_verifier,
        oauth_client_id=client_id,
        expires_at=timezone.now() + timedelta(seconds=settings.OAUTH_STATE_TTL_SECONDS),
    )
    logger.info("integrations.oauth.started", extra={"integration_id": str(integration.pk), "scope": str(scope)})
    return request.url, token


@dataclass
class OAuthResult:
    success: bool
    error: str = ""
    error_description: str = ""
    return_url: str = ""
    client_state: str = ""
    integration: Integration | None = None
    connection: Connection | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _state_lookup(state: str) -> OAuthState | None:
    token = (state or "").strip()
    if not token or len(token) > 200:
        return None
    return (
        OAuthState.objects.select_related("integration__provider", "integration__tenant", "user")
        .filter(state_hash=OAuthState.hash_token(token))
        .first()
    )


def _invalid_state() -> OAuthResult:
    logger.info("integrations.oauth.invalid_state")
    return OAuthResult(False, "invalid_state", "The authorization request is unknown; start connecting again.")


def oauth_callback_check(*, state: str, error: str | None = None, iss: str | None = None) -> OAuthResult:
    """The public redirect target's half of the flow: is `state` one of ours, unexpired and unused? Stores nothing,
    exchanges nothing (RFC 9700 §4.7: the browser that arrives here has not proved it is the user who started the
    flow; the code is completed by that user's authenticated POST, see `oauth_complete`).

    `iss` (RFC 9207, the mix-up defence) is checked here, where the authorization server hands it over: for a
    provider configured with an `issuer`, an `iss` naming another server is refused (`invalid_issuer`, the code is
    not passed on), and so is a missing one when the server advertises
    `authorization_response_iss_parameter_supported`. That refusal is final: the state is marked used (the one
    write here; no token is exchanged or stored), so the response can never be completed, and the activity log
    says why.

    `return_url` is the flow's returnUrl, else OAUTH_DEFAULT_RETURN_URL, else empty (the caller shows the hand-off
    page); it is only set when the state is ours, so a forged state never redirects anywhere.
    """
    found = _state_lookup(state)
    if found is None:
        return _invalid_state()
    base = {
        "return_url": found.return_url or getattr(settings, "OAUTH_DEFAULT_RETURN_URL", "") or "",
        "client_state": found.client_state,
        "integration": found.integration,
    }
    if found.used_at is not None:
        return OAuthResult(False, "state_already_used", "This authorization response was already used.", **base)
    if found.expires_at <= timezone.now():
        return OAuthResult(False, "state_expired", "The authorization request expired; start connecting again.", **base)
    issuer_problem = authorization_response_issuer_problem(found.integration.provider, iss, required=True)
    if issuer_problem:
        OAuthState.objects.filter(pk=found.pk, used_at__isnull=True).update(used_at=timezone.now())
        _activity(
            found.integration,
            "connect",
            "error",
            f"OAuth callback refused: {issuer_problem}",
            {"error": "invalid_issuer"},
        )
        return OAuthResult(False, "invalid_issuer", issuer_problem, **base)
    if error:
        return OAuthResult(False, oauth.safe_error_code(error), "The provider did not grant access.", **base)
    return OAuthResult(True, **base)


def oauth_complete(
    *,
    state: str,
    code: str | None,
    user,
    tenant,
    integration: Integration,
    scope: str,
    error: str | None = None,
    error_description: str | None = None,
    iss: str | None = None,
) -> OAuthResult:
    """Finish the flow: the authenticated `user` hands back the code and state the callback passed to the front-end.
    The state is checked once (atomically consumed), the code exchanged, the tokens stored.

    Only the user who started the flow can finish it: a state of this integration started by someone else raises
    PermissionDenied (403) and consumes nothing, so a consent link forwarded to a victim never yields the victim's
    tokens to the forwarder (nor the forwarder's grant to the victim). A state of another tenant, integration or
    connection scope is `invalid_state`, like an unknown one. Other bad callbacks do not raise: the result says
    `error` (safe code) and `error_description` (safe text). `iss` (RFC 9207), when the front-end passes on the one
    the public callback received, is compared with the provider's issuer again (the callback already refused a
    mismatch, and a missing `iss` from a server that advertises sending it).
    """
    found = _state_lookup(state)
    if (
        found is None
        or found.tenant_id != tenant.pk
        or found.integration_id != integration.pk
        or str(found.scope) != str(scope)
    ):
        return _invalid_state()
    if found.user_id != user.pk:
        logger.warning(
            "integrations.oauth.completion_by_another_user",
            extra={"integration_id": str(integration.pk), "user_id": str(user.pk)},
        )
        _activity(
            found.integration,
            "connect",
            "error",
            "OAuth completion refused: the flow was started by another user.",
            {"error": "wrong_user"},
            user,
        )
        raise PermissionDenied("Only the user who started this authorization can complete it.")

    now = timezone.now()
    consumed = OAuthState.objects.filter(pk=found.pk, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
    integration = found.integration
    base = {"return_url": found.return_url, "client_state": found.client_state, "integration": integration}
    if not consumed:
        used = found.used_at is not None
        code_name = "state_already_used" if used else "state_expired"
        text = (
            "This authorization response was already used; start connecting again."
            if used
            else "The authorization request expired; start connecting again."
        )
        _activity(integration, "connect", "error", f"OAuth callback refused: {code_name}.", {"error": code_name})
        return OAuthResult(False, code_name, text, **base)

    issuer_problem = authorization_response_issuer_problem(integration.provider, iss, required=False)
    if issuer_problem:
        _activity(
            integration, "connect", "error", f"OAuth callback refused: {issuer_problem}", {"error": "invalid_issuer"}
        )
        return OAuthResult(False, "invalid_issuer", issuer_problem, **base)
    if error:
        code_name = oauth.safe_error_code(error)
        text = _safe_text(error_description) or "The provider did not grant access."
        _activity(integration, "connect", "error", f"The provider answered {code_name}.", {"error": code_name})
        return OAuthResult(False, code_name, text, **base)
    if not code:
        _activity(integration, "connect", "error", "OAuth callback without a code.", {"error": "invalid_request"})
        return OAuthResult(False, "invalid_request", "The callback carries no authorization code.", **base)

    user = found.user if found.scope == ConnectionScope.USER else None
    try:
        client_id, client_secret = _oauth_client(integration)
        client = _client(integration, None)
        token_response = oauth.exchange_code(
            token_url=client.oauth_url("tokenUrl"),
            client_id=client_id,
            client_secret=client_secret,
            code=code,
            code_verifier=found.code_verifier,
            token_auth_method=client.token_auth_method,
            guarded=client.guard_for(client.oauth.get("tokenUrl"))[0],
        )
        metadata = client.after_token_exchange(token_response)
    except oauth.OAuthFlowError as exc:
        _activity(integration, "connect", "error", f"Code exchange failed: {exc.error}.", {"error": exc.error})
        return OAuthResult(False, exc.error, exc.description, **base)
    except DomainError as exc:
        text = redact(exc.message)
        _activity(integration, "connect", "error", f"Connecting failed: {text}", {"error": exc.code})
        return OAuthResult(False, "provider_error", text, **base)

    connection = store_oauth_connection(
        integration=integration,
        user=user,
        token=token_response,
        metadata=metadata,
        oauth_client_id=client_id,
        actor=found.user,
    )
    return OAuthResult(True, connection=connection, **base)


def authorization_response_issuer_problem(provider, iss: str | None, *, required: bool) -> str:
    """RFC 9207 mix-up defence: why an authorization response's `iss` is refused ("" when it is fine).

    Applies to providers configured with an `issuer` (discovery): a given `iss` must equal it exactly; a missing one
    is refused when `required` and the issuer's metadata says `authorization_response_iss_parameter_supported`.
    """
    issuer = (provider.oauth_config or {}).get("issuer") if isinstance(provider.oauth_config, dict) else None
    if not issuer:
        return ""
    if iss is not None and iss != "":
        return "" if iss == issuer else "The authorization response names another issuer (iss); nothing was stored."
    if not required:
        return ""
    try:
        supported = discovery.issuer_parameter_supported(issuer)
    except discovery.DiscoveryFailed:
        supported = False
    return "The authorization server sends iss but this response has none; nothing was stored." if supported else ""


def _safe_text(value: str | None) -> str:
    text = re.sub(r"[^\w .,:;'()/-]", " ", (value or ""))[:300]
    return re.sub(r"\s+", " ", text).strip()


def _activity(integration, type_, status, message, details=None, actor=None) -> None:
    log_activity(integration=integration, type=type_, status=status, message=message, details=details, actor=actor)


@transaction.atomic
def store_oauth_connection(
    *, integration: Integration, user, token: dict[str, Any], metadata: dict[str, Any], oauth_client_id: str, actor
) -> Connection:
    """Save a token response on the tenant-level (user None) or the user's connection: same row (and id) when one
    exists, status active, tokens encrypted; then the activity entry and `integration.connected`."""
    fields = oauth.token_fields(token)
    previous = connection_get(integration=integration, user=user)
    previous_status = previous.status if previous else None
    if user is None:
        from integrations.services import integration_set_credentials

        connection = integration_set_credentials(
            integration=integration, credentials=fields["credentials"], credential_type="oauth2", actor=actor
        )
    else:
        connection = _user_connection_for_update(integration, user)
        connection.auth_type = "oauth2"
        connection.credentials = fields["credentials"]
        connection.credential_hint = _hint(fields["credentials"]["access_token"])
        connection.token_generation = (connection.token_generation or 0) + 1
    now = timezone.now()
    connection.status = ConnectionStatus.ACTIVE
    connection.expires_at = fields["expires_at"]
    connection.granted_scopes = fields["granted_scopes"]
    connection.metadata = {k: v for k, v in (metadata or {}).items() if v is not None}
    connection.oauth_client_id = oauth_client_id
    connection.connected_at = now
    connection.last_validated_at = now
    connection.last_refreshed_at = None
    connection.validation_error = ""
    connection.disconnected_at = None
    _clear_lifecycle(connection)
    connection.save()
    _mark_connected(integration, connection, previous_status, actor, method="oauth2")
    return connection


def _clear_lifecycle(connection: Connection) -> None:
    connection.status_reason = ""
    connection.refresh_failures = 0
    connection.refresh_failing_since = None


def _user_connection_for_update(integration: Integration, user) -> Connection:
    existing = Connection.objects.select_for_update().filter(integration=integration, user=user).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Connection.objects.create(
                tenant_id=integration.tenant_id, integration=integration, user=user, auth_type="oauth2"
            )
    except IntegrityError:  # a concurrent callback of the same user created it first
        return Connection.objects.select_for_update().get(integration=integration, user=user)


def _hint(secret: str) -> str:
    from integrations.services import credential_hint

    return credential_hint({"token": secret})


BROKEN_STATUSES = (ConnectionStatus.EXPIRED, ConnectionStatus.ERROR)
TRANSIENT_REFRESH_ERRORS = frozenset(
    {"token_endpoint_error", "token_endpoint_timeout", "token_endpoint_unreachable", "temporarily_unavailable"}
)


def _emit_recovered(integration, connection, previous_status, *, via: str, actor=None) -> None:
    """`integration.connection_recovered` and its activity entry: a connection that was expired or in error works."""
    now = timezone.now()
    _activity(
        integration,
        "connect" if via == "connect" else via,
        "success",
        f"Connection recovered ({previous_status} before, {via}).",
        {"connectionId": str(connection.pk), "previousStatus": previous_status, "via": via, "recovered": True},
        actor,
    )
    events.emit(
        integration.tenant,
        "integration.connection_recovered",
        events.connection_data(connection, previousStatus=previous_status, recoveredAt=now, via=via),
    )


def _mark_connected(integration, connection, previous_status, actor, *, method: str) -> None:
    recovered = previous_status in (ConnectionStatus.EXPIRED, ConnectionStatus.ERROR, ConnectionStatus.REVOKED)
    if connection.user_id is None:
        Integration.objects.filter(pk=integration.pk).update(
            status=IntegrationStatus.ACTIVE, last_error="", updated_at=timezone.now()
        )
        integration.status = IntegrationStatus.ACTIVE
    connection.integration = integration
    _activity(
        integration,
        "connect",
        "success",
        "Connected." if not recovered else "Reconnected.",
        {"connectionId": str(connection.pk), "authType": method, "scope": str(connection.scope)},
        actor,
    )
    events.emit(
        integration.tenant,
        "integration.connected",
        events.connection_data(connection, connectedAt=connection.connected_at, recovered=recovered),
    )
    if previous_status in BROKEN_STATUSES:
        _emit_recovered(integration, connection, previous_status, via="connect", actor=actor)
    logger.info("integrations.connection.connected", extra={"connection_id": str(connection.pk), "method": method})


# --- API key / basic / custom -----------------------------------------------------------------------------------
def _credentials_from(kind: str, provider, payload: dict[str, Any]) -> dict[str, Any]:
    """Map the body of connect/api-key, connect/basic or connect/custom onto the provider's credential fields."""
    if provider.auth_type == "oauth2":
        raise ValidationFailed(
            f"{provider.display_name} connects with OAuth 2.0; use connect/oauth.",
            details={"authType": ["The provider's auth type is oauth2."]},
        )
    properties = (provider.credential_schema or {}).get("properties") or {}
    required = list((provider.credential_schema or {}).get("required") or [])
    if kind == "api_key":
        if provider.auth_type != "api_key" and "apiKey" not in properties:
            raise ValidationFailed(
                f"{provider.display_name} does not take an API key; use connect/{_endpoint_for(provider)}.",
                details={"apiKey": ["The provider does not take an API key."]},
            )
        return {"apiKey": payload["api_key"]}
    if kind == "basic":
        if "username" in properties or (provider.auth_type != "basic" and not properties):
            return {"username": payload["username"], "password": payload["password"]}
        if provider.auth_type == "basic" and len(required) >= 2:
            return {required[0]: payload["username"], required[1]: payload["password"]}
        raise ValidationFailed(
            f"{provider.display_name} does not take a username and password; use connect/{_endpoint_for(provider)}.",
            details={"username": ["The provider does not take basic credentials."]},
        )
    credentials = payload["credentials"]
    if not isinstance(credentials, dict) or not credentials:
        raise ValidationFailed("credentials: must be a non-empty object.", details={"credentials": ["Required."]})
    return dict(credentials)


def _endpoint_for(provider) -> str:
    return {"api_key": "api-key", "basic": "basic", "oauth2": "oauth"}.get(provider.auth_type, "custom")


def connect_credentials(
    *, integration: Integration, kind: str, payload: dict[str, Any], display_name: str = "", actor=None
) -> Connection:
    """connect/api-key (`kind` api_key), connect/basic, connect/custom: validate against the credential schema, test
    with the provider's health-check request, and only then store (nothing is stored when the test fails)."""
    from integrations.services import integration_set_credentials, validate_credentials

    _require_scope(integration, ConnectionScope.TENANT)
    provider = integration.provider
    credentials = _credentials_from(kind, provider, payload)
    auth_type = provider.auth_type if provider.auth_type in CREDENTIAL_AUTH_TYPES else "custom"
    credentials = validate_credentials(provider, credentials, auth_type)
    candidate = Connection(
        tenant_id=integration.tenant_id, integration=integration, auth_type=auth_type, credentials=credentials
    )
    result = _client(integration, candidate).test_connection()
    _raise_unless_usable(integration, result, actor)

    previous = connection_get(integration=integration)
    previous_status = previous.status if previous else None
    with transaction.atomic():
        connection = integration_set_credentials(
            integration=integration, credentials=credentials, credential_type=auth_type, actor=actor
        )
        connection.display_name = (display_name or "")[:200]
        connection.status = ConnectionStatus.ACTIVE
        connection.expires_at = None
        connection.granted_scopes = []
        connection.metadata = {}
        connection.oauth_client_id = ""
        connection.last_validated_at = result.checked_at if result.kind == CheckKind.OK else None
        connection.last_test_result = result.as_dict()
        connection.validation_error = ""
        connection.disconnected_at = None
        _clear_lifecycle(connection)
        connection.save()
        _mark_connected(integration, connection, previous_status, actor, method=auth_type)
    return connection


def _raise_unless_usable(integration: Integration, result: CheckResult, actor) -> None:
    if result.ok:
        return
    _activity(
        integration,
        "test",
        "error",
        f"Credentials refused before storing: {result.message}",
        {"kind": str(result.kind), "statusCode": result.status_code},
        actor,
    )
    details = {"kind": str(result.kind), "providerStatus": result.status_code}
    if result.kind in (CheckKind.AUTH_FAILED, CheckKind.CLIENT_ERROR):
        raise InvalidCredentials(f"The provider rejected the credentials: {result.message}", details=details)
    if result.kind == CheckKind.NOT_CONFIGURED:
        raise ValidationFailed(result.message, details=details)
    raise ConnectionFailed(
        f"The provider could not be reached to check the credentials: {result.message}", details=details
    )


def credentials_update(
    *, integration: Integration, credential_type: str, credentials: dict[str, Any], actor=None
) -> Connection:
    """PATCH …/credentials: replace the tenant-level credentials (tested first, like a connect). For an OAuth
    provider, `credentials` carries tokens (`accessToken`, optional `refreshToken`, `expiresIn`)."""
    provider = integration.provider
    kind = {"oauth": "oauth2"}.get((credential_type or "").lower(), (credential_type or "").lower())
    if kind not in ("oauth2", *CREDENTIAL_AUTH_TYPES):
        raise ValidationFailed(
            "credentialType: must be one of oauth, api_key, basic, custom.",
            details={"credentialType": ["Must be one of: oauth, api_key, basic, custom."]},
        )
    if not isinstance(credentials, dict) or not credentials:
        raise ValidationFailed("credentials: must be a non-empty object.", details={"credentials": ["Required."]})
    if (kind == "oauth2") != (provider.auth_type == "oauth2"):
        raise ValidationFailed(
            f"credentialType {credential_type!r} does not fit {provider.display_name} "
            f"(auth type {provider.auth_type}).",
            details={"credentialType": [f"The provider's auth type is {provider.auth_type}."]},
        )
    if kind != "oauth2":
        payload: dict[str, Any] = {"credentials": credentials}
        if kind == "api_key" and ("apiKey" in credentials or "api_key" in credentials) and len(credentials) == 1:
            payload = {"api_key": credentials.get("apiKey") or credentials.get("api_key")}
        elif kind == "basic" and {"username", "password"} <= set(credentials) and len(credentials) == 2:
            payload = {"username": credentials["username"], "password": credentials["password"]}
        else:
            kind = "custom"
        existing = connection_get(integration=integration)
        return connect_credentials(
            integration=integration,
            kind=kind,
            payload=payload,
            display_name=existing.display_name if existing else "",
            actor=actor,
        )
    _require_scope(integration, ConnectionScope.TENANT)
    access = credentials.get("accessToken") or credentials.get("access_token")
    if not isinstance(access, str) or not access:
        raise ValidationFailed("credentials.accessToken: required.", details={"credentials.accessToken": ["Required."]})
    token = {
        "access_token": access,
        "refresh_token": credentials.get("refreshToken") or credentials.get("refresh_token") or "",
        "token_type": "Bearer",
    }
    expires_in = credentials.get("expiresIn") or credentials.get("expires_in")
    if expires_in not in (None, ""):
        try:
            token["expires_in"] = int(expires_in)
        except (TypeError, ValueError):
            raise ValidationFailed("credentials.expiresIn: must be a number of seconds.")
    candidate = Connection(
        tenant_id=integration.tenant_id,
        integration=integration,
        auth_type="oauth2",
        credentials=token,
        metadata=(connection_get(integration=integration) or Connection()).metadata or {},
    )
    _raise_unless_usable(integration, _client(integration, candidate).test_connection(), actor)
    client_id = (_oauth_client_or_none(integration) or ("", ""))[0]
    return store_oauth_connection(
        integration=integration,
        user=None,
        token=token,
        metadata=candidate.metadata,
        oauth_client_id=client_id,
        actor=actor,
    )


def _oauth_client_or_none(integration):
    from providers.services import provider_oauth_client

    return provider_oauth_client(integration.provider)


def credential_secret_name(connection: Connection) -> str:
    """Where the secret lives: a stable name, not the secret (seed 003's credentialSecretName)."""
    return f"tenants/{connection.tenant_id}/connections/{connection.pk}/{connection.auth_type}"


# --- refresh ----------------------------------------------------------------------------------------------------
def refresh_margin_seconds(provider) -> int:
    override = (provider.oauth_config or {}).get("refreshMarginSeconds")
    return int(override) if override is not None else int(settings.OAUTH_REFRESH_MARGIN_SECONDS)


def _expiring(connection: Connection, now=None) -> bool:
    """Inside the refresh margin, or due for a keep-alive refresh (provider's oauthConfig.keepAliveHours)."""
    now = now or timezone.now()
    if connection.expires_at is not None and connection.expires_at <= now + timedelta(
        seconds=refresh_margin_seconds(connection.integration.provider)
    ):
        return True
    return _keep_alive_due(connection, now)


def _hours_setting(provider, name: str) -> float | None:
    value = (provider.oauth_config or {}).get(name) if isinstance(provider.oauth_config, dict) else None
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _keep_alive_due(connection: Connection, now) -> bool:
    hours = _hours_setting(connection.integration.provider, "keepAliveHours")
    if hours is None:
        return False
    last = connection.last_refreshed_at or connection.connected_at or connection.created_at
    return last is None or last <= now - timedelta(hours=hours)


def refresh_connection(
    *, connection: Connection, actor=None, reason: str = "manual", only_if_expiring: bool = False
) -> Connection:
    """Refresh `connection`'s OAuth tokens, single-flight: whoever waits on the lock while another refreshes gets
    the other's fresh row without a token request of its own. `only_if_expiring` (the periodic task) skips a
    connection that is no longer inside its refresh margin once the lock is held."""
    observed = connection.token_generation
    try:
        with named_lock(
            f"connection-refresh:{connection.pk}", timeout=REFRESH_LOCK_TTL_SECONDS, wait=REFRESH_LOCK_WAIT_SECONDS
        ):
            fresh = Connection.objects.select_related("integration__provider", "integration__tenant").get(
                pk=connection.pk
            )
            if fresh.token_generation != observed:
                return fresh  # refreshed (or reconnected) by someone else while we waited
            if not fresh.is_oauth:
                raise ValidationFailed("Only OAuth connections have tokens to refresh.")
            # An `error` connection (the provider refused its access token) may still be saved by a refresh.
            if fresh.status not in (ConnectionStatus.ACTIVE, ConnectionStatus.ERROR):
                raise Conflict(f"The connection is {fresh.status}; reconnect the integration.")
            if only_if_expiring and not _expiring(fresh):
                return fresh
            if not fresh.refresh_token:
                raise Conflict("The provider gave no refresh token for this connection; reconnect the integration.")
            return _refresh_locked(fresh, actor=actor, reason=reason)
    except LockTimeout:
        raise ConnectionFailed("Another refresh of this connection is still running; try again shortly.")


def _refresh_locked(connection: Connection, *, actor, reason: str) -> Connection:
    integration = connection.integration
    client = _client(integration, connection)
    client_id, client_secret = _oauth_client(integration)
    budgets.acquire(provider=integration.provider, connection_id=connection.pk)  # the connection's shared budget
    try:
        token = oauth.refresh_tokens(
            token_url=client.oauth_url("tokenUrl"),
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=connection.refresh_token,
            token_auth_method=client.token_auth_method,
            on_response=lambda response: budgets.learn(
                provider=integration.provider,
                connection_id=connection.pk,
                status=response.status_code,
                headers=response.headers,
            ),
            guarded=client.guard_for(client.oauth.get("tokenUrl"))[0],
        )
        metadata = client.after_token_refresh(token)
    except oauth.OAuthFlowError as exc:
        if exc.error == "invalid_grant":
            return _refresh_refused(connection, actor=actor, reason=reason)
        _activity(
            integration,
            "refresh",
            "error",
            f"Token refresh failed: {exc.error}.",
            {"reason": reason, "error": exc.error, "connectionId": str(connection.pk)},
            actor,
        )
        Connection.objects.filter(pk=connection.pk).update(validation_error=f"Token refresh failed: {exc.description}")
        if exc.error not in TRANSIENT_REFRESH_ERRORS:
            _count_refresh_failure(connection, exc, actor=actor, reason=reason)
        raise ConnectionFailed(f"Token refresh failed: {exc.description}", details={"error": exc.error})
    except DomainError as exc:
        _activity(integration, "refresh", "error", f"Token refresh failed: {redact(exc.message)}", {"reason": reason})
        raise

    fields = oauth.token_fields(token, previous_refresh_token=connection.refresh_token)
    now = timezone.now()
    rotated = fields["credentials"].get("refresh_token") != connection.refresh_token
    written = Connection.objects.filter(pk=connection.pk, token_generation=connection.token_generation).update(
        credentials=fields["credentials"],
        expires_at=fields["expires_at"],
        granted_scopes=fields["granted_scopes"] or connection.granted_scopes,
        metadata={**(connection.metadata or {}), **{k: v for k, v in metadata.items() if v is not None}},
        token_generation=connection.token_generation + 1,
        last_refreshed_at=now,
        validation_error="",
        status=ConnectionStatus.ACTIVE,
        status_reason="",
        refresh_failures=0,
        refresh_failing_since=None,
        updated_at=now,
    )
    fresh = Connection.objects.select_related("integration__provider", "integration__tenant").get(pk=connection.pk)
    if not written:  # a reconnect or disconnect wrote meanwhile: theirs is newer, keep it
        logger.info("integrations.connection.refresh_superseded", extra={"connection_id": str(connection.pk)})
        return fresh
    _activity(
        integration,
        "refresh",
        "success",
        "Access token refreshed.",
        {
            "reason": reason,
            "connectionId": str(connection.pk),
            "rotated": rotated,
            "expiresAt": fresh.expires_at.isoformat() if fresh.expires_at else None,
        },
        actor,
    )
    if connection.status in BROKEN_STATUSES:
        _emit_recovered(integration, fresh, connection.status, via="refresh", actor=actor)
    logger.info("integrations.connection.refreshed", extra={"connection_id": str(connection.pk), "reason": reason})
    return fresh


def _count_refresh_failure(connection: Connection, exc, *, actor, reason: str) -> None:
    """One more refresh failure that is not transient; past the provider's giveUpAfterHours (and at least the second
    in a row) the connection expires like after invalid_grant."""
    now = timezone.now()
    since = connection.refresh_failing_since or now
    failures = connection.refresh_failures + 1
    Connection.objects.filter(pk=connection.pk).update(refresh_failures=failures, refresh_failing_since=since)
    connection.refresh_failures, connection.refresh_failing_since = failures, since
    hours = _hours_setting(connection.integration.provider, "giveUpAfterHours")
    if hours is None or failures < 2 or now - since < timedelta(hours=hours):
        return
    message = (
        f"Token refresh kept failing for {hours:g} hours ({failures} attempts, last: {exc.error}): reconnect the "
        "integration."
    )
    _expire(
        connection,
        message=message,
        reason_code=ReconnectReason.REFRESH_FAILED,
        error=exc.error,
        actor=actor,
        refresh_reason=reason,
    )


def _expire(connection: Connection, *, message: str, reason_code: str, error: str, actor, refresh_reason: str) -> None:
    integration = connection.integration
    now = timezone.now()
    with transaction.atomic():
        Connection.objects.filter(pk=connection.pk).update(
            status=ConnectionStatus.EXPIRED, status_reason=reason_code, validation_error=message, updated_at=now
        )
        connection.status = ConnectionStatus.EXPIRED
        connection.status_reason = reason_code
        if connection.user_id is None:
            Integration.objects.filter(pk=integration.pk).update(
                status=IntegrationStatus.ERROR, last_error=message, last_error_at=now, updated_at=now
            )
        _activity(
            integration, "refresh", "error", message, {"reason": refresh_reason, "error": error, "expired": True}, actor
        )
        events.emit(
            integration.tenant,
            "integration.connection_expired",
            events.connection_data(connection, expiredAt=now, error=error, reconnectReason=str(reason_code)),
        )


def _refresh_refused(connection: Connection, *, actor, reason: str) -> Connection:
    """invalid_grant: a race when the stored refresh token changed meanwhile (return the fresh row), otherwise the
    grant is gone: the connection expires and `integration.connection_expired` is emitted."""
    current = Connection.objects.select_related("integration__provider", "integration__tenant").get(pk=connection.pk)
    if current.token_generation != connection.token_generation or current.refresh_token != connection.refresh_token:
        logger.info("integrations.connection.refresh_race", extra={"connection_id": str(connection.pk)})
        return current
    message = "The provider refused the refresh token (invalid_grant): reconnect the integration."
    _expire(
        current,
        message=message,
        reason_code=ReconnectReason.REFRESH_TOKEN_REVOKED,
        error="invalid_grant",
        actor=actor,
        refresh_reason=reason,
    )
    raise InvalidCredentials(message, details={"error": "invalid_grant", "connectionStatus": "expired"})


def due_for_refresh(now=None) -> list[str]:
    """Ids of active OAuth connections inside their provider's refresh margin (the periodic task's work list)."""
    from providers.models import Provider

    now = now or timezone.now()
    overrides = [
        int((cfg or {}).get("refreshMarginSeconds") or 0)
        for cfg in Provider.objects.filter(auth_type="oauth2").values_list("oauth_config", flat=True)
    ]
    widest = max([int(settings.OAUTH_REFRESH_MARGIN_SECONDS), *overrides])
    keep_alive = [
        key
        for key, cfg in Provider.objects.filter(auth_type="oauth2").values_list("key", "oauth_config")
        if isinstance(cfg, dict) and (cfg.get("keepAliveHours") or 0) > 0
    ]
    due = Q(expires_at__isnull=False, expires_at__lte=now + timedelta(seconds=widest))
    if keep_alive:
        due |= Q(integration__provider__key__in=keep_alive)
    candidates = Connection.objects.filter(due, status=ConnectionStatus.ACTIVE, auth_type="oauth2").select_related(
        "integration__provider"
    )
    return [str(c.pk) for c in candidates if _expiring(c, now) and c.refresh_token]


# --- disconnect -----------------------------------------------------------------------------------------------------
def disconnect(*, integration: Integration, user=None, actor=None) -> Connection:
    """Revoke at the provider where it can (best effort: a failure is logged and recorded, the disconnect still
    happens), then wipe the credentials: the row stays, status `revoked`, for a reconnect under the same id.
    404 CONNECTION_NOT_FOUND when never connected, 409 CONFLICT when already disconnected."""
    _require_scope(integration, ConnectionScope.USER if user is not None else ConnectionScope.TENANT)
    connection = connection_get(integration=integration, user=user)
    if connection is None:
        raise NotFound("connection", "The integration has no connection to disconnect.")
    if connection.status == ConnectionStatus.REVOKED:
        raise Conflict("The integration is already disconnected.")
    connection.integration = integration
    revoked = None
    if connection.is_oauth and connection.credentials:
        revoked = _revoke(integration, connection, actor)
    now = timezone.now()
    with transaction.atomic():
        Connection.objects.filter(pk=connection.pk).update(
            status=ConnectionStatus.REVOKED,
            credentials={},
            credential_hint="",
            expires_at=None,
            granted_scopes=[],
            metadata={},
            token_generation=F("token_generation") + 1,
            disconnected_at=now,
            validation_error="",
            status_reason=ReconnectReason.DISCONNECTED.value,
            refresh_failures=0,
            refresh_failing_since=None,
            updated_at=now,
        )
        connection.refresh_from_db()
        if user is None:
            Integration.objects.filter(pk=integration.pk).update(status=IntegrationStatus.PENDING, updated_at=now)
        _activity(
            integration,
            "disconnect",
            "success",
            "Disconnected.",
            {"connectionId": str(connection.pk), "revokedAtProvider": revoked, "scope": str(connection.scope)},
            actor,
        )
        events.emit(
            integration.tenant, "integration.disconnected", events.connection_data(connection, disconnectedAt=now)
        )
    return connection


def connection_expire(*, connection: Connection, actor=None, reason: str = "Expired by an administrator.") -> bool:
    """Mark a connection expired (an administrator's call, e.g. after a leak or a provider-side revocation): its
    credentials stay stored but are no longer used until the tenant reconnects. A tenant-level connection puts its
    integration in `error`. Emits `integration.connection_expired`. False when it was not active (nothing done)."""
    now = timezone.now()
    with transaction.atomic():
        changed = Connection.objects.filter(pk=connection.pk, status=ConnectionStatus.ACTIVE).update(
            status=ConnectionStatus.EXPIRED, validation_error=reason[:1000], updated_at=now
        )
        if not changed:
            return False
        current = Connection.objects.select_related("integration__provider", "integration__tenant").get(
            pk=connection.pk
        )
        integration = current.integration
        if current.user_id is None:
            Integration.objects.filter(pk=integration.pk).update(
                status=IntegrationStatus.ERROR, last_error=reason[:1000], last_error_at=now, updated_at=now
            )
        _activity(integration, "credentials", "success", reason, {"connectionId": str(current.pk)}, actor)
        events.emit(
            integration.tenant, "integration.connection_expired", events.connection_data(current, expiredAt=now)
        )
    return True


def _revoke(integration: Integration, connection: Connection, actor) -> bool | None:
    """True revoked, False nothing to revoke (no revocation URL), None failed (recorded)."""
    try:
        pair = _oauth_client_or_none(integration) or ("", "")
        return _client(integration, connection).revoke(client_id=pair[0], client_secret=pair[1])
    except Exception as exc:  # best effort by design: the local disconnect must happen whatever the provider does
        text = redact(getattr(exc, "message", None) or type(exc).__name__, connection_secrets(connection))
        logger.warning(
            "integrations.connection.revoke_failed", extra={"connection_id": str(connection.pk), "error": text}
        )
        _activity(
            integration,
            "disconnect",
            "error",
            f"Revoking the token at the provider failed: {text}",
            {"connectionId": str(connection.pk)},
            actor,
        )
        return None


def connection_secrets(connection: Connection) -> list[str]:
    return [str(v) for v in (connection.credentials or {}).values() if isinstance(v, str) and len(v) >= 8]


# --- test and status --------------------------------------------------------------------------------------------
def connection_test(*, integration: Integration, user=None, actor=None) -> CheckResult:
    """Test the caller's connection (theirs for a user-scoped integration) with the provider's test request.
    Records the outcome on the integration (`last_connection_test`) and the connection (`last_validated_at`,
    `validation_error`); an auth failure marks the connection `error`, a later success restores it (and emits
    `integration.connected` again)."""
    connection = connection_for_caller(integration=integration, user=user)
    live = connection if connection is not None and connection.status != ConnectionStatus.REVOKED else None
    if live is None and integration.provider.auth_type != "none":
        result = CheckResult(False, CheckKind.NOT_CONFIGURED, "The integration is not connected.")
    else:
        result = _client(integration, live).test_connection()
    now = result.checked_at
    with transaction.atomic():
        Integration.objects.filter(pk=integration.pk).update(last_connection_test=now)
        integration.last_connection_test = now
        if live is not None:
            live.refresh_from_db()
            previous_status = live.status
            updates: dict[str, Any] = {
                "validation_error": "" if result.ok else result.message[:1000],
                "last_test_result": result.as_dict(),
                "updated_at": timezone.now(),
            }
            if result.kind == CheckKind.OK:
                updates["last_validated_at"] = now
                if previous_status == ConnectionStatus.ERROR:
                    updates["status"] = ConnectionStatus.ACTIVE
                    updates["status_reason"] = ""
            elif result.kind == CheckKind.AUTH_FAILED and previous_status == ConnectionStatus.ACTIVE:
                updates["status"] = ConnectionStatus.ERROR
                updates["status_reason"] = ReconnectReason.INVALID_CREDENTIALS.value
            Connection.objects.filter(pk=live.pk).update(**updates)
            for name, value in updates.items():
                setattr(live, name, value)
            live.integration = integration
            if updates.get("status") == ConnectionStatus.ACTIVE:
                events.emit(
                    integration.tenant,
                    "integration.connected",
                    events.connection_data(live, connectedAt=live.connected_at, recovered=True),
                )
                _emit_recovered(integration, live, previous_status, via="test", actor=actor)
        _activity(
            integration,
            "test",
            "success" if result.ok else "error",
            result.message,
            {
                "kind": str(result.kind),
                "statusCode": result.status_code,
                "responseTime": result.response_time_ms,
                "connectionId": str(live.pk) if live else None,
            },
            actor,
        )
    return result


def connection_status(*, integration: Integration, user=None) -> dict[str, Any]:
    """Seed 004's status body, from what is stored (no provider call: the last test's outcome is reported)."""
    connection = connection_for_caller(integration=integration, user=user)
    last = (connection.last_test_result or {}) if connection else {}
    provider = integration.provider
    return {
        "service_type": provider.category,
        "provider": provider.key,
        "is_connected": bool(connection and connection.status == ConnectionStatus.ACTIVE),
        "last_checked": connection.last_validated_at if connection else None,
        "details": {
            "connectionId": str(connection.pk) if connection else None,
            "connectionStatus": connection.status if connection else None,
            "validationError": (connection.validation_error or None) if connection else None,
            "expiresAt": connection.expires_at.isoformat() if connection and connection.expires_at else None,
            **(last.get("details") or {}),
        },
        "integration_id": integration.pk,
        "integration_name": integration.name,
        "integration_type": provider.category,
        "integration_status": integration.status,
        "integration_environment": integration.environment,
        "last_connection_test": integration.last_connection_test,
    }


def provider_system_test(*, provider) -> CheckResult:
    """The super admin's provider test (no tenant credentials involved); see ProviderClient.system_test."""
    from providers.services import provider_oauth_client

    result = get_system_client(provider).system_test(oauth_client=provider_oauth_client(provider))
    logger.info("providers.system_test", extra={"provider": provider.key, "ok": result.ok, "kind": str(result.kind)})
    return result
