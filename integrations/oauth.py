"""OAuth 2.0 authorization code grant with PKCE (S256), through requests-oauthlib's OAuth2Session.

Pure protocol: build the authorization URL, exchange a code, refresh, turn a token response into what a Connection
stores. No database access here (integrations.connections does that). Token endpoint calls are never retried: an
authorization code is single-use and a rotating refresh token may already have been spent by the first attempt.

Errors come out as `OAuthFlowError(error, description)`, `error` being an RFC 6749 code (`invalid_grant`, …) or one
of ours (`token_endpoint_unreachable`, `token_endpoint_timeout`, `token_endpoint_error`, `invalid_token_response`).
No message carries a token, a code, a verifier or a client secret.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from oauthlib.oauth2 import OAuth2Error, WebApplicationClient
from requests_oauthlib import OAuth2Session

from providers.catalog_loader import host_in_networks
from providers.http import configure_session, default_timeout
from webhooks.destinations import UnsafeDestination, safe_session

logger = logging.getLogger(__name__)

CALLBACK_PATH = "/api/v1/oauth/callback"
_SAFE_ERROR = re.compile(r"[^a-z0-9_.-]")


class OAuthFlowError(Exception):
    """An OAuth step failed. `error` is a short code safe to show; `description` a safe sentence."""

    def __init__(self, error: str, description: str = "", *, status_code: int | None = None):
        self.error = safe_error_code(error)
        self.description = description[:300]
        self.status_code = status_code
        super().__init__(f"{self.error}: {self.description}")


class _TokenEndpointFailed(Exception):
    def __init__(self, status_code: int):
        self.status_code = status_code


def safe_error_code(value: str | None) -> str:
    """A provider's error code reduced to `[a-z0-9_.-]`, at most 64 characters (it ends up in URLs and pages)."""
    return _SAFE_ERROR.sub("_", (value or "unknown_error").strip().lower())[:64] or "unknown_error"


_insecure_lock = threading.Lock()
_insecure_users = 0


@contextlib.contextmanager
def allow_http_for(url: str | None):
    """oauthlib refuses http:// endpoints; one whose host lies in PROVIDER_ALLOWED_NETWORKS (a test or on-premise
    authorization server the super admin registered) is let through for the duration of the call."""
    global _insecure_users
    host = urlsplit(url or "").hostname or ""
    allowed = (url or "").startswith("http://") and host_in_networks(host, settings.PROVIDER_ALLOWED_NETWORKS)
    if not allowed:
        yield
        return
    with _insecure_lock:
        _insecure_users += 1
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    try:
        yield
    finally:
        with _insecure_lock:
            _insecure_users -= 1
            if _insecure_users == 0:
                os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)


def redirect_uri() -> str:
    """The exact redirect URI registered with every provider: PUBLIC_BASE_URL + the public callback path."""
    return settings.PUBLIC_BASE_URL.rstrip("/") + CALLBACK_PATH


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    code_verifier: str


def authorization_request(
    *,
    authorization_url: str,
    client_id: str,
    scopes: list[str],
    scope_separator: str,
    state: str,
    pkce: bool,
    extra_params: dict[str, str] | None = None,
) -> AuthorizationRequest:
    """The provider's authorization URL with client_id, redirect_uri, scope, state and (when pkce) an S256
    code_challenge; returns the code_verifier to keep for the exchange."""
    scope = scope_separator.join(scopes) if scopes else None
    session = OAuth2Session(client_id, redirect_uri=redirect_uri(), scope=scope)
    params = dict(extra_params or {})
    verifier = ""
    if pkce:
        helper = WebApplicationClient(client_id)
        verifier = helper.create_code_verifier(64)
        params["code_challenge"] = helper.create_code_challenge(verifier, "S256")
        params["code_challenge_method"] = "S256"
    with allow_http_for(authorization_url):
        url, _ = session.authorization_url(authorization_url, state=state, **params)
    return AuthorizationRequest(url=url, code_verifier=verifier)


def _session(client_id: str, on_response=None, guarded: bool = False) -> tuple[OAuth2Session, dict[str, int]]:
    """A session whose token responses are checked for a 5xx or a 429 (both transient: `token_endpoint_error`) before
    oauthlib parses them; `on_response(response)` sees every answer first (the rate budget learns from it). Like every
    provider session it ignores proxy variables and trusts the operator's CA bundle. `guarded` (a token URL whose host
    comes from a tenant's config, e.g. Zendesk's `{subdomain}`) sends through the SSRF guard's adapters and follows
    no redirect."""
    session = configure_session(OAuth2Session(client_id, redirect_uri=redirect_uri()))
    if guarded:
        safe = safe_session(pool_connections=1, pool_maxsize=1)
        for prefix in ("https://", "http://"):
            session.mount(prefix, safe.get_adapter(prefix))
        session.max_redirects = 0  # a redirect becomes TooManyRedirects: token_endpoint_unreachable
    seen: dict[str, int] = {}

    def check(response: requests.Response) -> requests.Response:
        seen["status"] = response.status_code
        if on_response is not None:
            on_response(response)
        if response.status_code >= 500 or response.status_code == 429:
            raise _TokenEndpointFailed(response.status_code)
        return response

    session.register_compliance_hook("access_token_response", check)
    session.register_compliance_hook("refresh_token_response", check)
    return session, seen


def _client_auth(token_auth_method: str, client_id: str, client_secret: str) -> tuple[Any, dict[str, str]]:
    if token_auth_method == "client_secret_basic":
        return requests.auth.HTTPBasicAuth(client_id, client_secret), {}
    return None, {"client_id": client_id, "client_secret": client_secret}


def exchange_code(
    *,
    token_url: str,
    client_id: str,
    client_secret: str,
    code: str,
    code_verifier: str,
    token_auth_method: str = "client_secret_post",  # noqa: S107 (a method name, not a secret)
    guarded: bool = False,
) -> dict[str, Any]:
    """POST the authorization code (and the PKCE code_verifier) to the token endpoint; the token dict."""
    session, seen = _session(client_id, guarded=guarded)
    auth, body = _client_auth(token_auth_method, client_id, client_secret)
    kwargs: dict[str, Any] = {"code_verifier": code_verifier} if code_verifier else {}
    if auth is None:
        kwargs.update(include_client_id=True, client_secret=body["client_secret"])
    with allow_http_for(token_url):
        return _call(
            lambda: session.fetch_token(token_url, code=code, auth=auth, timeout=default_timeout(), **kwargs),
            seen,
            "exchange",
        )


def refresh_tokens(
    *,
    token_url: str,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    token_auth_method: str = "client_secret_post",  # noqa: S107 (a method name, not a secret)
    on_response=None,
    guarded: bool = False,
) -> dict[str, Any]:
    """grant_type=refresh_token at the token endpoint. A refresh token the provider does not resend is kept in the
    answer (requests-oauthlib copies the old one in). `on_response(response)` sees the raw answer first."""
    session, seen = _session(client_id, on_response, guarded)
    auth, body = _client_auth(token_auth_method, client_id, client_secret)
    with allow_http_for(token_url):
        return _call(
            lambda: session.refresh_token(
                token_url, refresh_token=refresh_token, auth=auth, timeout=default_timeout(), **body
            ),
            seen,
            "refresh",
        )


def _call(fn, seen: dict[str, int], step: str) -> dict[str, Any]:
    try:
        return dict(fn())
    except _TokenEndpointFailed as exc:
        raise OAuthFlowError(
            "token_endpoint_error",
            f"The provider's token endpoint answered {exc.status_code}.",
            status_code=exc.status_code,
        )
    except OAuth2Error as exc:
        if exc.error == "missing_token" or not exc.error:
            raise OAuthFlowError(
                "invalid_token_response",
                f"The provider's token endpoint answered {seen.get('status', '?')} without an access token.",
                status_code=seen.get("status"),
            )
        description = exc.description if exc.description and len(exc.description) < 300 else ""
        raise OAuthFlowError(exc.error, description or f"The provider refused the {step}.", status_code=exc.status_code)
    except UnsafeDestination:
        raise OAuthFlowError("token_endpoint_refused", "The provider's token endpoint is not an allowed address.")
    except requests.Timeout:
        raise OAuthFlowError("token_endpoint_timeout", "The provider's token endpoint did not answer in time.")
    except requests.RequestException:
        raise OAuthFlowError("token_endpoint_unreachable", "The provider's token endpoint could not be reached.")
    except (ValueError, Warning) as exc:  # oauthlib: unparsable body, insecure transport, scope warnings
        logger.info("integrations.oauth.bad_token_response", extra={"step": step, "error": type(exc).__name__})
        raise OAuthFlowError(
            "invalid_token_response",
            f"The provider's token endpoint answered {seen.get('status', '?')} with an unreadable body.",
            status_code=seen.get("status"),
        )


def token_fields(token: dict[str, Any], *, previous_refresh_token: str = "") -> dict[str, Any]:
    """What a Connection stores from a token response: the credentials dict, expires_at and the granted scopes."""
    credentials = {
        "access_token": str(token.get("access_token") or ""),
        "token_type": str(token.get("token_type") or "Bearer"),
    }
    refresh = token.get("refresh_token") or previous_refresh_token
    if refresh:
        credentials["refresh_token"] = str(refresh)
    expires_at = None
    if token.get("expires_at"):
        expires_at = datetime.fromtimestamp(float(token["expires_at"]), tz=UTC)
    elif token.get("expires_in"):
        expires_at = datetime.fromtimestamp(time.time() + float(token["expires_in"]), tz=UTC)
    scope = token.get("scope") or []
    if isinstance(scope, str):
        scope = re.split(r"[ ,]+", scope)
    scopes = sorted({s for item in scope for s in re.split(r"[ ,]+", str(item)) if s})
    return {"credentials": credentials, "expires_at": expires_at, "granted_scopes": scopes}
