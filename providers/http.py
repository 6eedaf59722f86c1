"""The one HTTP helper for every call to a third party.

    response = provider_request("GET", url, integration=integration, connection=connection, authenticate=auth_fn)

What every call gets, whoever makes it:
- timeouts always: connect 5 s, read `PROVIDER_HTTP_TIMEOUT_SECONDS` (20 s) unless the caller gives its own;
- retries with exponential backoff on 5xx (and on connection errors before anything was sent), at most
  `max_retries` (2), honouring `Retry-After` up to `PROVIDER_HTTP_MAX_RETRY_AFTER_SECONDS`, for idempotent methods
  only (POST when the caller says `idempotent=True`, e.g. a search POST). A 429 is never retried: it is returned at
  once, and what it says is learnt by the connection's shared rate budget (`providers.budget`), which refuses
  further calls (`ProviderRateLimited`, 429) until the provider's wait is over;
- one CA bundle (`REQUESTS_CA_BUNDLE`, for a private CA of on-premise systems) trusted by every session, and proxy
  environment variables (`HTTPS_PROXY`, …) and .netrc ignored (`trust_env` off);
- for an OAuth connection, a 401 triggers one single-flight refresh of the connection's tokens and one retry;
- one activity-log entry per call (type `api_call`: method, host + path without the query string, status,
  duration, attempts) when an integration is given;
- secrets redacted: no header, query string or known secret value reaches a log line, an activity entry or an
  error message;
- a host that comes from a placeholder (`ssrf_guard=True`: custom_api's `{baseUrl}`, Zendesk's `{subdomain}`,
  Salesforce's learnt `{instanceUrl}`) is checked with `webhooks.destinations.check_url` (resolving the name first
  unless `resolve_host=False`) and sent through its connection-time guarded session, which follows no redirect
  (the auth proxy always is; `extra_allowed_networks` adds `PROVIDER_ALLOWED_NETWORKS` for hosts the catalog itself
  names).

The response is returned whatever its status; the caller interprets it. Network failures raise `ProviderUnreachable`
(a 502 CONNECTION_FAILED), a refused destination raises `UnsafeBaseUrl` (a 400 VALIDATION_ERROR).
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from config.errors import ConnectionFailed, ValidationFailed
from providers import budget as budgets
from providers.budget import retry_after_from_header
from webhooks.destinations import UnsafeDestination, check_url, find_unsafe_destination, safe_session

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
REDACTED = "[REDACTED]"
USER_AGENT = "integration-framework/1.0"

_sleep = time.sleep  # tests replace this to run without waiting


class ProviderUnreachable(ConnectionFailed):
    """DNS, connect or read failure, or a timeout: the provider could not be reached."""

    def __init__(self, message: str, *, kind: str = "unreachable"):
        super().__init__(message, details={"kind": kind})
        self.kind = kind


class UnsafeBaseUrl(ValidationFailed):
    """A tenant-supplied URL points at a private, loopback or otherwise refused address."""


@dataclass
class RequestAuth:
    """What `authenticate(connection)` adds to a request: headers, query parameters, a requests auth tuple."""

    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    auth: Any = None
    secrets: tuple[str, ...] = ()


# --- redaction ------------------------------------------------------------------------------------------------------
_URL_QUERY = re.compile(r"(https?://[^\s?#'\"]+)\?[^\s'\"]*")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without known secret values, URL query strings or Authorization header values."""
    text = str(text)
    for secret in sorted({s for s in secrets if s and len(str(s)) >= 4}, key=len, reverse=True):
        text = text.replace(str(secret), REDACTED)
    text = _URL_QUERY.sub(r"\1", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def url_for_log(url: str, secrets: Iterable[str] = ()) -> tuple[str, str]:
    """(host, path) of `url`, no scheme, credentials or query string, secret values redacted."""
    parts = urlsplit(url)
    return parts.hostname or "", redact(parts.path or "/", secrets)


# --- sessions -------------------------------------------------------------------------------------------------------
_plain_session: requests.Session | None = None
_guarded_sessions: dict[tuple[str, ...], requests.Session] = {}


def ca_bundle() -> str | bool:
    """What every provider session verifies TLS against: the operator's `REQUESTS_CA_BUNDLE`, else certifi's."""
    return getattr(settings, "REQUESTS_CA_BUNDLE", "") or True


def configure_session(session: requests.Session) -> requests.Session:
    """Proxy variables and .netrc ignored, the operator's CA bundle trusted (every session that calls a provider)."""
    session.trust_env = False
    session.verify = ca_bundle()
    return session


def guarded_networks(extra: Iterable[str] = ()) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*(getattr(settings, "WEBHOOK_ALLOWED_NETWORKS", None) or []), *extra]))


def _session(guarded: bool, networks: tuple[str, ...] = ()) -> requests.Session:
    global _plain_session
    if guarded:
        session = _guarded_sessions.get(networks)
        if session is None:
            session = _guarded_sessions[networks] = safe_session(allowed_networks=list(networks))
            session.headers["User-Agent"] = USER_AGENT
        session.verify = ca_bundle()  # read per call: settings may change (tests, reloads)
        return session
    if _plain_session is None:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=50, pool_maxsize=50, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        _plain_session = session
    return configure_session(_plain_session)


def default_timeout() -> tuple[float, float]:
    return (
        float(getattr(settings, "PROVIDER_HTTP_CONNECT_TIMEOUT_SECONDS", 5)),
        float(getattr(settings, "PROVIDER_HTTP_TIMEOUT_SECONDS", 20)),
    )


def retry_after_seconds(response: requests.Response) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    value = retry_after_from_header(response.headers.get("Retry-After"))
    return None if value is None else max(0.0, value)


def _backoff(attempt: int) -> float:
    base = float(getattr(settings, "PROVIDER_HTTP_BACKOFF_SECONDS", 0.5))
    return base * (2**attempt) * (1 + random.random() * 0.25)


# --- the helper -----------------------------------------------------------------------------------------------------
def provider_request(
    method: str,
    url: str,
    *,
    integration=None,
    connection=None,
    authenticate: Callable[[Any], RequestAuth] | None = None,
    params: dict | None = None,
    json: Any = None,
    data: Any = None,
    headers: dict | None = None,
    timeout: float | tuple[float, float] | None = None,
    max_retries: int = 2,
    idempotent: bool | None = None,
    refresh_on_401: bool = True,
    ssrf_guard: bool = False,
    extra_allowed_networks: Iterable[str] = (),
    resolve_host: bool = True,
    log_activity: bool = True,
    secrets: Iterable[str] = (),
    stream: bool = False,
) -> requests.Response:
    """Send one request to a third party (see the module docstring). `authenticate(connection)` is called before
    every attempt, so a retry after a token refresh carries the new token. With an integration, the call draws
    from the (provider, connection) rate budget first and feeds what the answer says back into it."""
    method = method.upper()
    may_retry_5xx = idempotent if idempotent is not None else method in IDEMPOTENT_METHODS
    known_secrets = set(secrets)
    networks = guarded_networks(extra_allowed_networks) if ssrf_guard else ()
    if ssrf_guard:
        try:
            check_url(url, allowed_networks=list(networks), resolve=resolve_host)
        except UnsafeDestination as exc:
            raise UnsafeBaseUrl(f"The API base URL is not allowed: {redact(str(exc), known_secrets)}.")
    budget_provider = getattr(integration, "provider", None) if integration is not None else None
    budget_connection = getattr(connection, "pk", None)
    if budget_provider is not None:
        budgets.acquire(provider=budget_provider, connection_id=budget_connection)

    started = time.monotonic()
    attempts = 0
    refreshed = False
    response: requests.Response | None = None
    error: ProviderUnreachable | None = None
    retries_left = max_retries
    while True:
        attempts += 1
        auth = authenticate(connection) if authenticate else RequestAuth()
        known_secrets.update(auth.secrets)
        try:
            response = _session(ssrf_guard, networks).request(
                method,
                url,
                params={**(params or {}), **auth.params} or None,
                json=json,
                data=data,
                headers={"Accept": "application/json", **(headers or {}), **auth.headers},
                auth=auth.auth,
                timeout=timeout or default_timeout(),
                allow_redirects=not ssrf_guard,
                stream=stream,
            )
            error = None
        except (UnsafeDestination, requests.RequestException) as exc:
            unsafe = find_unsafe_destination(exc)
            if unsafe is not None:
                _record(integration, method, url, None, started, attempts, known_secrets, log_activity, "unsafe")
                raise UnsafeBaseUrl(f"The API base URL is not allowed: {redact(str(unsafe), known_secrets)}.")
            kind = "timeout" if isinstance(exc, requests.Timeout) else "unreachable"
            host, _ = url_for_log(url)
            error = ProviderUnreachable(
                f"{host} could not be reached ({'timed out' if kind == 'timeout' else type(exc).__name__}).",
                kind=kind,
            )
            nothing_sent = isinstance(exc, requests.ConnectTimeout) or (
                isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout)
            )
            if retries_left > 0 and (may_retry_5xx or nothing_sent):
                retries_left -= 1
                _sleep(_backoff(attempts - 1))
                continue
            break

        status = response.status_code
        if budget_provider is not None:
            budgets.learn(
                provider=budget_provider, connection_id=budget_connection, status=status, headers=response.headers
            )
        if (
            status == 401
            and refresh_on_401
            and not refreshed
            and connection is not None
            and getattr(connection, "is_oauth", False)
            and connection.pk
        ):
            refreshed = True
            if _refresh_after_401(connection):
                continue
        if status in RETRY_STATUSES and retries_left > 0 and may_retry_5xx:
            wait = retry_after_seconds(response)
            cap = float(getattr(settings, "PROVIDER_HTTP_MAX_RETRY_AFTER_SECONDS", 10))
            if wait is not None and wait > cap:
                break  # the provider asks for longer than a request should wait: give its answer back now
            retries_left -= 1
            response.close()
            _sleep(wait if wait is not None else _backoff(attempts - 1))
            continue
        break

    _record(
        integration,
        method,
        url,
        response.status_code if error is None and response is not None else None,
        started,
        attempts,
        known_secrets,
        log_activity,
        error.kind if error else None,
    )
    if error is not None:
        raise error
    return response


def _refresh_after_401(connection) -> bool:
    """Refresh `connection`'s tokens once (single-flight) and copy the fresh ones onto it; False when impossible."""
    from integrations.connections import refresh_connection  # connections imports this module

    try:
        fresh = refresh_connection(connection=connection, reason="unauthorized")
    except Exception as exc:  # the 401 stands; the refresh recorded its own failure
        logger.info(
            "providers.http.refresh_after_401_failed",
            extra={"connection_id": str(connection.pk), "error": type(exc).__name__},
        )
        return False
    for name in ("credentials", "metadata", "expires_at", "token_generation", "status"):
        setattr(connection, name, getattr(fresh, name))
    return bool(connection.access_token)


def _record(integration, method, url, status, started, attempts, secrets, log_activity, error_kind) -> None:
    duration_ms = int((time.monotonic() - started) * 1000)
    host, path = url_for_log(url, secrets)
    fields = {
        "method": method,
        "host": host,
        "path": path,
        "status": status,
        "durationMs": duration_ms,
        "attempts": attempts,
    }
    if error_kind:
        fields["error"] = error_kind
    logger.info("providers.http.call", extra={"integration_id": str(getattr(integration, "pk", "") or ""), **fields})
    if integration is None or not log_activity:
        return
    from integrations.activity import log_activity as write_activity

    ok = status is not None and status < 400
    outcome = status if status is not None else error_kind
    try:
        write_activity(
            integration=integration,
            type="api_call",
            status="success" if ok else "error",
            message=f"{method} {host}{path} -> {outcome} in {duration_ms} ms",
            details=fields,
        )
    except Exception:  # an activity row must never break the provider call it describes
        logger.exception("providers.http.activity_failed", extra={"integration_id": str(integration.pk)})
