"""The auth proxy: `…/integrations/{id}/proxy/{path}` forwards a call to the provider's API with the stored
credentials injected, so an application can use any endpoint of the provider without handling tokens.

Rules (docs/connections.md has the user's view):
- the target is the provider's API base URL + `path`; a path that could leave it (`.`/`..` segments, encoded dots,
  slashes or backslashes, an absolute URL, `//host`, control characters) is a 400 and nothing is sent;
- credentials are injected by the provider client (OAuth bearer, refreshed first when it is about to expire and once
  more on a 401; API key placed as the catalog says; basic auth); the caller's own `Authorization`, `Cookie` and
  hop-by-hop headers are dropped, and `Set-Cookie` / hop-by-hop headers of the answer too;
- every call goes through the SSRF-guarded session (webhooks.destinations): no redirects followed, private and
  loopback addresses refused (unless in `WEBHOOK_ALLOWED_NETWORKS`, or `PROVIDER_ALLOWED_NETWORKS` for a base URL the
  catalog itself names), DNS rebinding caught at connect time;
- bodies are limited both ways to `PROXY_MAX_BODY_BYTES` (413 beyond);
- it draws from the connection's shared rate budget (providers.budget): a provider's 429 is passed back at once, a
  spent budget is our own 429 with `Retry-After` and no call;
- exactly one activity entry per proxied call: method, path (no query string), status, duration; no bodies, no
  secrets.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from django.conf import settings
from django.utils import timezone

from config.errors import Conflict, DomainError, ValidationFailed
from integrations.activity import log_activity
from integrations.connections import connection_for_caller, refresh_connection, refresh_margin_seconds
from integrations.models import ConnectionStatus, Integration
from providers.http import ProviderUnreachable, provider_request, redact
from providers.registry import client_class
from webhooks.destinations import read_limited

logger = logging.getLogger(__name__)

PROXY_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
# RFC 9110 section 7.6.1 hop-by-hop headers, plus what we set ourselves or must never forward.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "set-cookie2"})
_NOT_FORWARDED = frozenset({"host", "content-length", "forwarded", "x-request-id", "x-real-ip", "accept-encoding"})
_NOT_RETURNED = frozenset({"content-length", "content-encoding", "www-authenticate", "server", "date"})
_ENCODED_TRAVERSAL = re.compile(r"%(2e|2f|5c|25)", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    default_message = "The body is larger than this proxy allows."


@dataclass
class ProxyResult:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


def _bad_path(reason: str) -> ValidationFailed:
    return ValidationFailed(f"path: {reason}", details={"path": [reason]})


def safe_path(path: str, *, raw_path: str = "") -> str:
    """`path` (already percent-decoded once by the server) as a quoted relative path, or a 400 when it could leave
    the API base URL. `raw_path` is the request line's path when the server gives it, to catch encoded separators."""
    if _ENCODED_TRAVERSAL.search(raw_path or "") or _ENCODED_TRAVERSAL.search(path):
        raise _bad_path("Encoded dots, slashes, backslashes or percent signs are not allowed.")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path) or "\\" in path:
        raise _bad_path("Control characters and backslashes are not allowed.")
    if path.startswith("/") or _SCHEME.match(path):
        raise _bad_path("Must be a path relative to the provider's API base URL, not an absolute URL or //host.")
    segments = path.split("/")
    if any(segment in (".", "..") for segment in segments):
        raise _bad_path("Must not contain . or .. segments.")
    return quote(path, safe="/:@!$&'()*+,;=-._~")


def _target(base: str, path: str) -> str:
    url = f"{base.rstrip('/')}/{path}"
    base_parts, parts = urlsplit(base), urlsplit(url)
    if (parts.scheme, parts.netloc) != (base_parts.scheme, base_parts.netloc) or not parts.path.startswith(
        base_parts.path.rstrip("/") + "/"
    ):
        raise _bad_path("Must stay under the provider's API base URL.")
    return url


def _query(query_string: str, client) -> str:
    """The caller's query string, without a parameter named like the injected API key (the key is ours to set)."""
    placement = client.provider.api_key_placement or {}
    if not query_string or placement.get("in") != "query":
        return query_string
    pairs = [(k, v) for k, v in parse_qsl(query_string, keep_blank_values=True) if k != placement.get("name")]
    return urlencode(pairs)


def forwarded_headers(headers: dict[str, str]) -> dict[str, str]:
    drop = HOP_BY_HOP | CREDENTIAL_HEADERS | _NOT_FORWARDED
    connection_tokens = {t.strip().lower() for t in headers.get("Connection", "").split(",") if t.strip()}
    return {
        name: value
        for name, value in headers.items()
        if name.lower() not in drop
        and name.lower() not in connection_tokens
        and not name.lower().startswith("x-forwarded-")
    }


def returned_headers(headers) -> list[tuple[str, str]]:
    drop = HOP_BY_HOP | CREDENTIAL_HEADERS | _NOT_RETURNED
    return [(name, value) for name, value in headers.items() if name.lower() not in drop]


def proxy_call(
    *,
    integration: Integration,
    user,
    method: str,
    path: str,
    raw_path: str = "",
    query_string: str = "",
    headers: dict[str, str],
    body: bytes | None,
) -> ProxyResult:
    """Forward one call (see the module docstring). Raises the API's errors for what is never sent."""
    method = method.upper()
    if method not in PROXY_METHODS:
        raise ValidationFailed(f"method: {method} is not proxied.", details={"method": ["Not proxied."]})
    limit = int(settings.PROXY_MAX_BODY_BYTES)
    if body is not None and len(body) > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.", details={"limit": limit})
    relative = safe_path(path, raw_path=raw_path)
    connection = connection_for_caller(integration=integration, user=user)
    provider = integration.provider
    if provider.auth_type != "none" and (
        connection is None or connection.status in (ConnectionStatus.EXPIRED, ConnectionStatus.REVOKED)
    ):
        raise Conflict(
            "The integration is not connected" + (f" ({connection.status}); reconnect it." if connection else "."),
            details={"needsReconnect": True, "reconnectReason": connection.reconnect_reason if connection else None},
        )
    if connection is not None:
        connection.integration = integration
        if connection.is_oauth and connection.refresh_token and _expires_soon(connection):
            connection = refresh_connection(connection=connection, reason="proxy")
            connection.integration = integration
    client = client_class(provider.key)(integration, connection=connection)
    url = _target(client.base_url(), relative)
    forwarded = forwarded_headers(headers)
    if not body:
        forwarded = {k: v for k, v in forwarded.items() if k.lower() != "content-type"}
    query = _query(query_string, client)
    if query:
        url = f"{url}?{query}"

    started = time.monotonic()
    status: int | None = None
    outcome = "error"
    try:
        response = provider_request(
            method,
            url,
            integration=integration,
            connection=connection,
            authenticate=client.authenticate,
            data=body if body else None,
            headers={**client.default_headers, **forwarded},
            max_retries=0,
            ssrf_guard=True,
            extra_allowed_networks=() if client.ssrf_guard else settings.PROVIDER_ALLOWED_NETWORKS,
            log_activity=False,
            secrets=client.secrets(),
            stream=True,
        )
        status = response.status_code
        content, truncated = read_limited(response, limit)
        if truncated:
            outcome = "response_too_large"
            raise PayloadTooLarge(
                f"The provider's answer is larger than {limit} bytes; ask for less (pagination, fields).",
                details={"limit": limit, "side": "response"},
            )
        outcome = "ok"
        return ProxyResult(status=status, body=content, headers=returned_headers(response.headers))
    except ProviderUnreachable as exc:
        outcome = exc.kind
        raise
    except DomainError as exc:
        outcome = outcome if outcome != "error" else exc.code.lower()
        raise
    finally:
        _record(integration, method, redact(relative, client.secrets()), status, started, outcome)


def _expires_soon(connection) -> bool:
    margin = timedelta(seconds=refresh_margin_seconds(connection.integration.provider))
    return connection.expires_at is not None and connection.expires_at <= timezone.now() + margin


def _record(integration, method: str, path: str, status: int | None, started: float, outcome: str) -> None:
    duration_ms = int((time.monotonic() - started) * 1000)
    shown = "/" + unquote(path)[:500]
    details = {"method": method, "path": shown, "status": status, "durationMs": duration_ms, "proxied": True}
    if outcome != "ok":
        details["error"] = outcome
    ok = outcome == "ok" and status is not None and status < 400
    try:
        log_activity(
            integration=integration,
            type="api_call",
            status="success" if ok else "error",
            message=f"Proxy {method} {shown} -> {status if status is not None else outcome} in {duration_ms} ms",
            details=details,
        )
    except Exception:  # the entry must never turn a provider's answer into our 500
        logger.exception("integrations.proxy.activity_failed", extra={"integration_id": str(integration.pk)})
