"""The provider client interface: what every provider family answers, driven by its catalog entry.

A client is made per use by `providers.registry.get_client(integration, connection=...)`. The base class reads the
catalog entry (base URL with placeholders, auth placement, the health-check request, OAuth URLs), so a provider that
needs no code is served by `GenericClient`; a subclass says only what the data cannot (Slack's `ok` field, Salesforce's
`instance_url`, DocuSign's userinfo, search calls).

Every HTTP call goes through `providers.http.provider_request`.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import requests
from django.utils import timezone

from config.errors import ConnectionFailed, ValidationFailed
from providers import discovery
from providers.budget import ProviderRateLimited
from providers.catalog_loader import (
    CONNECTION_DERIVED_PLACEHOLDERS,
    CONNECTION_DERIVED_URL_PLACEHOLDERS,
    PLACEHOLDER_RE,
    MissingPlaceholder,
    learnt_url_problem,
    placeholders,
    render_template,
)
from providers.http import ProviderUnreachable, RequestAuth, UnsafeBaseUrl, provider_request, redact

logger = logging.getLogger(__name__)

# Credential keys that are secret and never URL placeholders (everything else in credentials may fill one, e.g.
# Twilio's accountSid).
SECRET_CREDENTIAL_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "apiKey",
        "password",
        "authToken",
        "clientSecret",
        "refreshToken",
        "partnerKey",
        "signingSecret",
        "secret",
        "token",
    }
)


class CheckKind(StrEnum):
    OK = "ok"  # the provider answered as expected
    SKIPPED = "skipped"  # the provider has no test request: nothing was checked (ok is True)
    AUTH_FAILED = "auth_failed"  # 401/403 or the provider says the credentials are bad
    CLIENT_ERROR = "client_error"  # another 4xx (wrong account id, subdomain, …)
    RATE_LIMITED = "rate_limited"  # 429 (after retries)
    SERVER_ERROR = "server_error"  # 5xx (after retries) or an unreadable answer
    UNREACHABLE = "unreachable"  # DNS, connect or read failure, timeout
    NOT_CONFIGURED = "not_configured"  # no connection, missing config value, refused base URL, no OAuth client


# What a health check makes of each kind (the health engineer may refine "healthy" into "degraded" when slow).
HEALTH_BY_KIND = {
    CheckKind.OK: "healthy",
    CheckKind.SKIPPED: "unknown",
    CheckKind.AUTH_FAILED: "unhealthy",
    CheckKind.CLIENT_ERROR: "unhealthy",
    CheckKind.RATE_LIMITED: "degraded",
    CheckKind.SERVER_ERROR: "degraded",
    CheckKind.UNREACHABLE: "unhealthy",
    CheckKind.NOT_CONFIGURED: "unhealthy",
}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of `test_connection` / `health_check` / `system_test`. `message` is safe to show (no secret)."""

    ok: bool
    kind: CheckKind
    message: str
    status_code: int | None = None
    response_time_ms: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    checked_at: datetime = field(default_factory=timezone.now)

    @property
    def health_status(self) -> str:
        return HEALTH_BY_KIND[self.kind]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = str(self.kind)
        data["checked_at"] = self.checked_at.isoformat()
        return data


class ProviderError(ConnectionFailed):
    """A provider call failed (502 CONNECTION_FAILED); `kind` is a CheckKind, `provider_status` the provider's HTTP
    status (`status_code` stays the 502 our API answers)."""

    def __init__(self, message: str, *, kind: CheckKind, status_code: int | None = None):
        super().__init__(message, details={"kind": str(kind), "providerStatus": status_code})
        self.kind = kind
        self.provider_status = status_code


class NotSupported(ValidationFailed):
    """The provider (or this client) does not offer the operation."""


class NotConfigured(ValidationFailed):
    """A value the request needs is missing: a config field, a connection-derived value, the connection itself."""


class ProviderClient:
    """Base of every provider client. Subclasses are registered with `@providers.registry.register("key", ...)`."""

    #: the provider keys this class serves (set by `register`)
    provider_keys: ClassVar[tuple[str, ...]] = ()
    #: how the OAuth client authenticates at the token endpoint: client_secret_post (body) or client_secret_basic
    token_auth_method: ClassVar[str] = "client_secret_post"
    #: headers sent on every API call
    default_headers: ClassVar[dict[str, str]] = {}

    def __init__(self, integration=None, *, connection=None, provider=None):
        self.integration = integration
        self.provider = provider if provider is not None else integration.provider
        self.connection = connection

    # --- catalog data ---------------------------------------------------------------------------------------------
    @property
    def key(self) -> str:
        return self.provider.key

    @property
    def config(self) -> dict[str, Any]:
        return dict(getattr(self.integration, "config", None) or {})

    @property
    def credentials(self) -> dict[str, Any]:
        return dict(getattr(self.connection, "credentials", None) or {})

    @property
    def oauth(self) -> dict[str, Any]:
        return dict(self.provider.oauth_config or {})

    @property
    def learnt_names(self) -> frozenset[str]:
        """Placeholders filled only from the connection's metadata, i.e. from what the provider itself answered while
        connecting (Salesforce's instance_url, DocuSign's base_uri and account_id), never from config or credentials:
        a tenant who could type them could aim the stored token at any host (docs/security.md, SSRF policy)."""
        return frozenset(CONNECTION_DERIVED_PLACEHOLDERS) if self.provider.auth_type == "oauth2" else frozenset()

    def template_values(self) -> dict[str, Any]:
        """Values for the catalog's {placeholders}: integration config, non-secret credentials, connection metadata
        (the only source of the learnt values)."""
        learnt = self.learnt_names
        values = {k: v for k, v in self.credentials.items() if k not in SECRET_CREDENTIAL_KEYS and k not in learnt}
        values.update({k: v for k, v in self.config.items() if k not in learnt})
        values.update(getattr(self.connection, "metadata", None) or {})
        return values

    def learnt_url(self, name: str, value: Any) -> str:
        """`value` as the learnt base URL `name` (no trailing slash) when it is https on a host under the catalog's
        `oauthConfig.learntUrlDomains`; NotConfigured otherwise. Checked when the provider's answer is stored and
        again before every request that uses it."""
        problem = learnt_url_problem(value, self.oauth.get("learntUrlDomains"))
        if problem:
            raise NotConfigured(
                f"The {name} learnt while connecting to {self.provider.display_name} {problem}; "
                "reconnect the integration.",
                details={name: [problem[0].upper() + problem[1:] + "."]},
            )
        return str(value).rstrip("/")

    def render(self, template: str) -> str:
        values = self.template_values()
        for name in placeholders(template) & CONNECTION_DERIVED_URL_PLACEHOLDERS & self.learnt_names:
            if values.get(name) not in (None, ""):
                values[name] = self.learnt_url(name, values[name])
        try:
            return render_template(template, values)
        except MissingPlaceholder as exc:
            raise NotConfigured(
                f"The integration lacks the value {{{exc.name}}} needed to call {self.provider.display_name}.",
                details={exc.name: ["Required."]},
            )

    def base_url(self) -> str:
        if not self.provider.api_base_url:
            raise NotConfigured(f"{self.provider.display_name} has no API base URL.")
        return self.render(self.provider.api_base_url).rstrip("/")

    def url(self, path: str) -> str:
        if path.startswith("https://") or path.startswith("http://"):
            return path
        return self.base_url() + self.render(path)

    def guard_for(self, template: str | None) -> tuple[bool, bool]:
        """(ssrf_guard, resolve_first) for a request to `template`'s host.

        A host that comes from any placeholder (custom_api's `{baseUrl}`, Workday's `{host}`, Zendesk's
        `{subdomain}`, Salesforce's learnt `{instanceUrl}`) is called through the SSRF-guarded session: private,
        loopback, link-local and metadata addresses refused unless the operator allows them, no redirects followed.
        A host typed whole by the tenant is also resolved and checked before the call, for a clear 400 up front."""
        template = template or ""
        head = template.split("/", 1)[0] if template.startswith("{") else template.split("://", 1)[-1].split("/", 1)[0]
        names = placeholders(head)
        if not names:
            return False, False
        whole_host = template.startswith("{") or (head.startswith("{") and head.endswith("}"))
        return True, whole_host and not names <= self.learnt_names

    @property
    def ssrf_guard(self) -> bool:
        """True when the API host comes from a placeholder (see `guard_for`)."""
        return self.guard_for(self.provider.api_base_url)[0]

    def secrets(self) -> list[str]:
        return [str(v) for k, v in self.credentials.items() if k in SECRET_CREDENTIAL_KEYS and v]

    # --- authentication -------------------------------------------------------------------------------------------
    def authenticate(self, connection) -> RequestAuth:
        """Headers / params / auth for a request made with `connection` (re-read before every attempt)."""
        creds = dict(getattr(connection, "credentials", None) or {})
        auth_type = getattr(connection, "auth_type", "") or self.provider.auth_type
        if not creds:
            return RequestAuth()
        if auth_type == "oauth2" or "access_token" in creds:
            token = creds.get("access_token", "")
            return RequestAuth(headers={"Authorization": f"Bearer {token}"}, secrets=(token,))
        if auth_type == "api_key" and "apiKey" in creds:
            return self._api_key_auth(creds["apiKey"])
        user, password = self.basic_pair(creds)
        if user is not None:
            return RequestAuth(auth=(user, password), secrets=(password or "", self._basic_header(user, password)))
        return RequestAuth()

    def _api_key_auth(self, api_key: str) -> RequestAuth:
        placement = dict(self.provider.api_key_placement or {"in": "header", "name": "Authorization"})
        config = self.config
        where = config.get("apiKeyIn") or placement.get("in", "header")
        name = config.get("apiKeyName") or placement.get("name", "Authorization")
        fmt = config.get("apiKeyFormat") or placement.get("format") or "{apiKey}"
        value = fmt.replace("{apiKey}", api_key)
        if where == "query":
            return RequestAuth(params={name: value}, secrets=(api_key,))
        return RequestAuth(headers={name: value}, secrets=(api_key,))

    def basic_pair(self, creds: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """(username, password) for HTTP Basic: `username`/`password`, else the schema's first two required fields."""
        if "username" in creds:
            return str(creds["username"]), str(creds.get("password", ""))
        required = list((self.provider.credential_schema or {}).get("required") or [])
        if self.provider.auth_type == "basic" and len(required) >= 2 and required[0] in creds:
            return str(creds[required[0]]), str(creds.get(required[1], ""))
        return None, None

    @staticmethod
    def _basic_header(user: str, password: str | None) -> str:
        return base64.b64encode(f"{user}:{password or ''}".encode()).decode()

    # --- calls ----------------------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json: Any = None,
        data: Any = None,
        headers: dict | None = None,
        idempotent: bool | None = None,
        log_activity: bool = True,
        timeout: float | tuple[float, float] | None = None,
    ) -> requests.Response:
        guard, resolve = self.guard_for(self.provider.api_base_url)
        if path.startswith(("https://", "http://")):
            guard = True  # a full URL (a provider's next-page link) is not the catalog's host: check where it goes
        return provider_request(
            method,
            self.url(path),
            integration=self.integration if getattr(self.integration, "pk", None) else None,
            connection=self.connection,
            authenticate=self.authenticate,
            params=params,
            json=json,
            data=data,
            headers={**self.default_headers, **(headers or {})},
            idempotent=idempotent,
            ssrf_guard=guard,
            resolve_host=resolve,
            log_activity=log_activity,
            timeout=timeout,
            secrets=self.secrets(),
        )

    def get_json(self, path: str, **kwargs) -> Any:
        """GET `path` and return its JSON, raising ProviderError for anything but a 2xx JSON answer."""
        return self.json_or_raise(self.request("GET", path, **kwargs))

    def json_or_raise(self, response: requests.Response) -> Any:
        if response.status_code >= 400:
            kind = self.kind_for_status(response.status_code)
            raise ProviderError(
                f"{self.provider.display_name} answered {response.status_code}: {self.error_message(response)}",
                kind=kind,
                status_code=response.status_code,
            )
        try:
            return response.json()
        except ValueError:
            raise ProviderError(
                f"{self.provider.display_name} answered with something that is not JSON.",
                kind=CheckKind.SERVER_ERROR,
                status_code=response.status_code,
            )

    @staticmethod
    def kind_for_status(status: int) -> CheckKind:
        if status in (401, 403):
            return CheckKind.AUTH_FAILED
        if status == 429:
            return CheckKind.RATE_LIMITED
        if status >= 500:
            return CheckKind.SERVER_ERROR
        return CheckKind.CLIENT_ERROR

    def error_message(self, response: requests.Response, limit: int = 200) -> str:
        """The provider's own error text when its body carries one (redacted, truncated), else the reason."""
        text = ""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                text = str(error.get("message") or error.get("code") or "")
            elif isinstance(error, str):
                text = str(body.get("error_description") or error)
            text = text or str(body.get("message") or body.get("detail") or body.get("title") or "")
        elif isinstance(body, list) and body and isinstance(body[0], dict):  # Salesforce: [{"message", "errorCode"}]
            text = str(body[0].get("message") or body[0].get("errorCode") or "")
        text = text or response.reason or "error"
        return redact(text, self.secrets())[:limit]

    # --- the interface ----------------------------------------------------------------------------------------------
    def test_connection(self) -> CheckResult:
        """Check the connection's credentials against the provider (used before storing them, and by `…/test`)."""
        return self.health_check()

    def health_check(self, *, log_activity: bool = True) -> CheckResult:
        """Send the catalog's health-check request with the connection's credentials and judge the answer."""
        check = self.provider.health_check
        if not check:
            return CheckResult(True, CheckKind.SKIPPED, "This provider has no test request; nothing was checked.")
        if self.provider.auth_type != "none" and not self.credentials:
            return CheckResult(False, CheckKind.NOT_CONFIGURED, "The integration is not connected.")
        started = time.monotonic()
        try:
            response = self.request(
                check["method"], check["path"], idempotent=True, log_activity=log_activity, timeout=None
            )
        except ProviderUnreachable as exc:  # details.kind: "timeout" or "unreachable"
            return CheckResult(
                False, CheckKind.UNREACHABLE, exc.message, response_time_ms=_ms(started), details={"kind": exc.kind}
            )
        except (NotConfigured, UnsafeBaseUrl) as exc:
            return CheckResult(False, CheckKind.NOT_CONFIGURED, exc.message, response_time_ms=_ms(started))
        except ProviderRateLimited as exc:  # the connection's shared budget is spent: judged without a call
            return CheckResult(
                False, CheckKind.RATE_LIMITED, exc.message, details={"retryAfter": exc.retry_after, "called": False}
            )
        return self.interpret_check(response, expected=check.get("expectedStatus") or [200], elapsed_ms=_ms(started))

    def interpret_check(self, response: requests.Response, *, expected: list[int], elapsed_ms: int) -> CheckResult:
        status = response.status_code
        if status in expected:
            return CheckResult(
                True,
                CheckKind.OK,
                f"Connected to {self.provider.display_name}.",
                status_code=status,
                response_time_ms=elapsed_ms,
                details=self.check_details(response),
            )
        kind = self.kind_for_status(status)
        return CheckResult(
            False,
            kind,
            f"Failed to connect: {status} - {self.error_message(response)}",
            status_code=status,
            response_time_ms=elapsed_ms,
        )

    def check_details(self, response: requests.Response) -> dict[str, Any]:
        """Non-secret facts of a successful health answer worth showing (the account name, …); none by default."""
        return {}

    def search(
        self, query: str, *, entities: list[str] | None = None, limit: int = 20, filters: dict | None = None
    ) -> list[dict[str, Any]]:
        """Search the provider; hits are `{id, entity, title, description, url, updatedAt}` dicts."""
        raise NotSupported(f"{self.provider.display_name} does not support search here.")

    def fetch_entities(
        self, entity: str, *, limit: int = 50, filters: dict | None = None, fields: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Up to `limit` records of `entity` (one of the provider's availableEntities), as the provider shapes them."""
        raise NotSupported(f"Fetching {entity!r} from {self.provider.display_name} is not supported.")

    def check_entity(self, entity: str, supported: Mapping[str, Any]) -> None:
        if entity not in supported:
            raise NotSupported(
                f"{self.provider.display_name} entity {entity!r} is not supported; use one of: {', '.join(supported)}."
            )

    # --- OAuth hooks ------------------------------------------------------------------------------------------------
    def oauth_url(self, name: str) -> str | None:
        """An OAuth URL of the catalog (authorizationUrl, tokenUrl, revocationUrl) with config placeholders filled;
        one the entry leaves out comes from its `issuer`'s discovered metadata (providers.discovery)."""
        template = self.oauth.get(name)
        if not template and self.oauth.get("issuer"):
            return discovery.endpoint(self.oauth["issuer"], name)
        return self.render(template) if template else None

    def after_token_exchange(self, token: dict[str, Any]) -> dict[str, Any]:
        """Metadata to store after the code exchange (e.g. Salesforce instance_url); may call the provider."""
        return {}

    def after_token_refresh(self, token: dict[str, Any]) -> dict[str, Any]:
        """Metadata to update after a refresh; by default none."""
        return {}

    def post_token_as_bearer(self, url_key: str = "revocationUrl") -> requests.Response | None:
        """POST to an OAuth URL authenticated by the access token itself (Slack's auth.revoke, Dropbox's
        token/revoke); None when there is no token or no such URL."""
        token = self.credentials.get("access_token")
        url = self.oauth_url(url_key)
        if not token or not url:
            return None
        guard, resolve = self.guard_for(self.oauth.get(url_key))
        return provider_request(
            "POST",
            url,
            integration=self.integration,
            authenticate=lambda _c: RequestAuth(headers={"Authorization": f"Bearer {token}"}, secrets=(token,)),
            refresh_on_401=False,
            ssrf_guard=guard,
            resolve_host=resolve,
            secrets=(token,),
        )

    def revoke(self, *, client_id: str, client_secret: str) -> bool:
        """Revoke the connection's tokens at the provider (RFC 7009). False when the provider has no revocation URL.
        Raises ProviderError / ProviderUnreachable when the provider refuses or cannot be reached."""
        url = self.oauth_url("revocationUrl")
        if not url:
            return False
        creds = self.credentials
        token, hint = (
            (creds["refresh_token"], "refresh_token")
            if creds.get("refresh_token")
            else (creds.get("access_token"), "access_token")
        )
        if not token:
            return False
        data = {"token": token, "token_type_hint": hint}
        guard, resolve = self.guard_for(self.oauth.get("revocationUrl"))
        auth = None
        if self.token_auth_method == "client_secret_basic":
            auth = (client_id, client_secret)
        else:
            data.update(client_id=client_id, client_secret=client_secret)
        response = provider_request(
            "POST",
            url,
            integration=self.integration,
            authenticate=lambda _c: RequestAuth(auth=auth, secrets=(token, client_secret)),
            data=data,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            refresh_on_401=False,
            ssrf_guard=guard,
            resolve_host=resolve,
            secrets=(token, client_secret),
        )
        if response.status_code >= 400:
            raise ProviderError(
                f"Revocation answered {response.status_code}: {self.error_message(response)}",
                kind=self.kind_for_status(response.status_code),
                status_code=response.status_code,
            )
        return True

    # --- system level ---------------------------------------------------------------------------------------------
    def system_test(self, *, oauth_client: tuple[str, str] | None) -> CheckResult:
        """Super admin's provider test, without any tenant's credentials: the OAuth client is configured (for OAuth
        providers) and the provider's API host answers HTTP at all (any status below 500 counts as reachable)."""
        if self.provider.auth_type == "oauth2" and not oauth_client:
            names = "/".join(filter(None, (self.oauth.get("clientIdEnv"), self.oauth.get("clientSecretEnv"))))
            return CheckResult(
                False, CheckKind.NOT_CONFIGURED, f"The OAuth client is not configured (set {names or 'the client'})."
            )
        probe = self._system_probe()
        if not probe:
            return CheckResult(True, CheckKind.SKIPPED, "No fixed URL to probe; configuration looks complete.")
        target, guard, resolve = probe
        started = time.monotonic()
        try:
            response = provider_request(
                "GET",
                target,
                max_retries=0,
                refresh_on_401=False,
                log_activity=False,
                ssrf_guard=guard,
                resolve_host=resolve,
            )
        except ProviderUnreachable as exc:
            return CheckResult(
                False, CheckKind.UNREACHABLE, exc.message, response_time_ms=_ms(started), details={"kind": exc.kind}
            )
        except UnsafeBaseUrl as exc:
            return CheckResult(False, CheckKind.NOT_CONFIGURED, exc.message, response_time_ms=_ms(started))
        elapsed = _ms(started)
        host = urlsplit(target).hostname
        if response.status_code >= 500:
            return CheckResult(
                False,
                CheckKind.SERVER_ERROR,
                f"{host} answered {response.status_code}.",
                status_code=response.status_code,
                response_time_ms=elapsed,
            )
        return CheckResult(
            True,
            CheckKind.OK,
            f"{host} is reachable" + (" and the OAuth client is configured." if oauth_client else "."),
            status_code=response.status_code,
            response_time_ms=elapsed,
        )

    def reachability_check(self, *, oauth_client: tuple[str, str] | None) -> CheckResult:
        """The health of an integration checked without anybody's credentials (a user-scoped integration's
        scheduled check): `system_test`, its probe URL filled from the integration's config where it needs it.
        Each user's own grant is checked only when that user asks (connection test, their health check)."""
        result = self.system_test(oauth_client=oauth_client)
        note = " User connections are checked by each user with their own grant."
        return replace(result, message=result.message + note, details={**result.details, "check": "reachability"})

    def _system_probe(self) -> tuple[str, bool, bool] | None:
        """(URL, ssrf_guard, resolve_first) to probe: the API base URL, else the token URL; one with placeholders
        only when an integration's config fills them (never with a learnt value: there is no connection here)."""
        for template in (self.provider.api_base_url, self.oauth.get("tokenUrl")):
            if not template:
                continue
            if placeholders(template):
                if self.integration is None or self.connection is not None:
                    continue
                try:
                    url = self.render(template)
                except NotConfigured:
                    continue
            else:
                url = template
            guard, resolve = self.guard_for(template)
            return url, guard, resolve
        return None


def api_origins(provider, config: Mapping[str, Any] | None) -> frozenset[tuple[str, str, int | None]]:
    """The (scheme, host, port) origins the provider's API and OAuth URLs go to with integration `config`.

    Stored credentials are bound to these: a config change that moves one (custom_api's `{baseUrl}`, Zendesk's
    `{subdomain}`, Workday's `{host}`) drops them (`integrations.services`), so a manager cannot send an admin's key
    to a host of their own. Learnt placeholders never come from config and stay as written, like missing values."""
    learnt = CONNECTION_DERIVED_PLACEHOLDERS if provider.auth_type == "oauth2" else {}
    values = {k: v for k, v in (config or {}).items() if k not in learnt}
    oauth = provider.oauth_config if isinstance(provider.oauth_config, dict) else {}
    templates = [provider.api_base_url, *(oauth.get(k) for k in ("authorizationUrl", "tokenUrl", "revocationUrl"))]
    origins = set()
    for template in filter(None, templates):
        url = PLACEHOLDER_RE.sub(lambda m, t=template: _fill_for_origin(m, values, t), template)
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:  # not a URL at all: its text stands for the origin
            origins.add(("", url.split("/", 1)[0].lower(), None))
            continue
        scheme = parts.scheme.lower()
        port = port or {"https": 443, "http": 80}.get(scheme)
        origins.add((scheme, (parts.hostname or parts.netloc or url.split("/", 1)[0]).lower(), port))
    return frozenset(origins)


def _fill_for_origin(match, values: Mapping[str, Any], template: str) -> str:
    value = values.get(match.group(1))
    if value is None or value == "" or isinstance(value, dict | list):
        return match.group(0)
    return str(value) if match.start() == 0 else quote(str(value), safe="")


class GenericClient(ProviderClient):
    """Serves every provider without a class of its own, from its catalog entry alone."""


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
