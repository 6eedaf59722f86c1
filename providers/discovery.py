"""OAuth 2.0 authorization server discovery: RFC 8414, then OpenID Connect Discovery 1.0.

A provider may give only `oauthConfig.issuer` (plus its client): its authorization, token and revocation endpoints
come from the issuer's metadata document, tried at

1. `/.well-known/oauth-authorization-server` inserted between the issuer's host and path (RFC 8414 section 3),
2. `<issuer>/.well-known/openid-configuration` (OpenID Connect Discovery section 4).

A document must be a JSON object whose `issuer` is exactly the configured one (RFC 8414 section 3.3: anything else
could be an attacker's metadata) and that names an `authorization_endpoint` and a `token_endpoint`. A document that is
missing, malformed or names another issuer raises `DiscoveryFailed`: no authorization URL is handed out.

Documents are cached (`OAUTH_DISCOVERY_CACHE_SECONDS`, 1 hour) and refetched once stale; a copy a day old is still
used while the server cannot be reached or answers 5xx (a transient outage must not break every connection), never
after it answered with a bad document.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.cache import cache

from config.errors import ConnectionFailed
from providers.catalog_loader import host_in_networks
from providers.http import ProviderUnreachable, provider_request

logger = logging.getLogger(__name__)

STALE_SECONDS = 86400
#: catalog oauthConfig key -> metadata field
ENDPOINT_FIELDS = {
    "authorizationUrl": "authorization_endpoint",
    "tokenUrl": "token_endpoint",
    "revocationUrl": "revocation_endpoint",
}
_MAX_DOCUMENT_BYTES = 256 * 1024


class DiscoveryFailed(ConnectionFailed):
    """The issuer's metadata could not be used (missing, malformed, another issuer, unreachable)."""

    code = "OAUTH_DISCOVERY_FAILED"


def metadata_urls(issuer: str) -> list[str]:
    """Where the issuer's metadata may live, in the order tried."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    rfc8414 = urlunsplit((parts.scheme, parts.netloc, "/.well-known/oauth-authorization-server" + path, "", ""))
    oidc = issuer.rstrip("/") + "/.well-known/openid-configuration"
    return [rfc8414, oidc]


def _cache_key(issuer: str, kind: str) -> str:
    return f"oauth-discovery:{kind}:{hashlib.sha256(issuer.encode()).hexdigest()}"


def _endpoint_ok(value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    parts = urlsplit(value)
    return parts.scheme in ("https", "http") and bool(parts.hostname) and not parts.fragment


def _check_document(issuer: str, url: str, document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise DiscoveryFailed(
            f"The OAuth metadata at {url} is not a JSON object.", details={"issuer": issuer, "problem": "malformed"}
        )
    if document.get("issuer") != issuer:
        raise DiscoveryFailed(
            f"The OAuth metadata at {url} names another issuer ({str(document.get('issuer'))[:200]!r}, expected "
            f"{issuer!r}).",
            details={"issuer": issuer, "problem": "issuer_mismatch"},
        )
    for field in ("authorization_endpoint", "token_endpoint"):
        if not _endpoint_ok(document.get(field)):
            raise DiscoveryFailed(
                f"The OAuth metadata at {url} has no valid {field}.",
                details={"issuer": issuer, "problem": "malformed", "field": field},
            )
    for field in ("revocation_endpoint",):
        if field in document and not _endpoint_ok(document[field]):
            raise DiscoveryFailed(
                f"The OAuth metadata at {url} has an invalid {field}.",
                details={"issuer": issuer, "problem": "malformed", "field": field},
            )
    for field in ENDPOINT_FIELDS.values():
        value = document.get(field)
        insecure = isinstance(value, str) and value.startswith("http://")
        if insecure and not host_in_networks(urlsplit(value).hostname or "", settings.PROVIDER_ALLOWED_NETWORKS):
            raise DiscoveryFailed(
                f"The OAuth metadata at {url} names an http:// {field} outside PROVIDER_ALLOWED_NETWORKS.",
                details={"issuer": issuer, "problem": "insecure_endpoint", "field": field},
            )
    return document


def _fetch(issuer: str) -> dict[str, Any]:
    tried = []
    transient = False
    for url in metadata_urls(issuer):
        try:
            response = provider_request("GET", url, max_retries=1, refresh_on_401=False, log_activity=False)
        except ProviderUnreachable:
            transient = True
            tried.append(f"{url}: unreachable")
            continue
        if response.status_code >= 500:
            transient = True
            tried.append(f"{url}: {response.status_code}")
            continue
        if response.status_code != 200:
            tried.append(f"{url}: {response.status_code}")
            continue
        if len(response.content) > _MAX_DOCUMENT_BYTES:
            raise DiscoveryFailed(
                f"The OAuth metadata at {url} is too large.", details={"issuer": issuer, "problem": "malformed"}
            )
        try:
            document = response.json()
        except ValueError:
            raise DiscoveryFailed(
                f"The OAuth metadata at {url} is not JSON.", details={"issuer": issuer, "problem": "malformed"}
            )
        return _check_document(issuer, url, document)
    raise DiscoveryFailed(
        f"No OAuth metadata found for issuer {issuer!r} ({'; '.join(tried)}).",
        details={"issuer": issuer, "problem": "unreachable" if transient else "missing", "transient": transient},
    )


def discover(issuer: str, *, refresh: bool = False) -> dict[str, Any]:
    """The issuer's metadata document (cached; see the module docstring). Raises `DiscoveryFailed`."""
    if not refresh:
        cached = cache.get(_cache_key(issuer, "fresh"))
        if cached is not None:
            return cached
    try:
        document = _fetch(issuer)
    except DiscoveryFailed as exc:
        stale = cache.get(_cache_key(issuer, "stale")) if exc.details.get("transient") else None
        if stale is not None:
            logger.warning("providers.discovery.stale_used", extra={"issuer": issuer})
            return stale
        logger.warning("providers.discovery.failed", extra={"issuer": issuer, "problem": exc.details.get("problem")})
        raise
    cache.set(_cache_key(issuer, "fresh"), document, timeout=settings.OAUTH_DISCOVERY_CACHE_SECONDS)
    cache.set(_cache_key(issuer, "stale"), document, timeout=STALE_SECONDS)
    return document


def endpoint(issuer: str, name: str) -> str | None:
    """The discovered URL for a catalog oauthConfig key (authorizationUrl, tokenUrl, revocationUrl)."""
    field = ENDPOINT_FIELDS.get(name)
    if field is None:
        return None
    return discover(issuer).get(field) or None


def issuer_parameter_supported(issuer: str) -> bool:
    """RFC 9207: the server sends `iss` with every authorization response."""
    return discover(issuer).get("authorization_response_iss_parameter_supported") is True
