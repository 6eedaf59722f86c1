"""Shared helpers of the connection tests: integrations on real catalog providers, OAuth client settings,
provider token payloads shaped like the providers' documented ones, and an event recorder."""

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from accounts.models import Role
from integrations import events
from integrations.models import Connection
from tests.integrations.factories import IntegrationFactory, catalog_provider

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_REVOKE_URL = "https://oauth2.googleapis.com/revoke"
RETURN_URL = "http://testserver/app/integrations"

OAUTH_CLIENT_SETTINGS = {
    "GOOGLE_CLIENT_ID": "google-client-id.apps.example",
    "GOOGLE_CLIENT_SECRET": "google-client-secret-XYZ",
    "SALESFORCE_CLIENT_ID": "sf-consumer-key",
    "SALESFORCE_CLIENT_SECRET": "sf-consumer-secret-XYZ",
    "SLACK_CLIENT_ID": "1234.5678",
    "SLACK_CLIENT_SECRET": "slack-secret-XYZ",
    "DOCUSIGN_CLIENT_ID": "ds-integration-key",
    "DOCUSIGN_CLIENT_SECRET": "ds-secret-XYZ",
    "HUBSPOT_CLIENT_ID": "hubspot-client",
    "HUBSPOT_CLIENT_SECRET": "hubspot-secret-XYZ",
    "MICROSOFT_CLIENT_ID": "ms-client",
    "MICROSOFT_CLIENT_SECRET": "ms-secret-XYZ",
    "DROPBOX_CLIENT_ID": "dbx-client",
    "DROPBOX_CLIENT_SECRET": "dbx-secret-XYZ",
}


@pytest.fixture
def oauth_clients(monkeypatch):
    """The OAuth clients of the catalog's providers, in the environment (where they are read from, only)."""
    for name, value in OAUTH_CLIENT_SETTINGS.items():
        monkeypatch.setenv(name, value)
    return OAUTH_CLIENT_SETTINGS


@pytest.fixture(autouse=True)
def no_backoff_sleep(monkeypatch):
    """Retries in providers.http wait through this: record the waits instead of sleeping."""
    waits = []
    monkeypatch.setattr("providers.http._sleep", waits.append)
    return waits


@pytest.fixture
def emitted(monkeypatch):
    """Every lifecycle event emitted (the real outbox still records it)."""
    seen = []
    real = events.emit

    def record(tenant, event, data):
        seen.append((event, data))
        return real(tenant, event, data)

    monkeypatch.setattr(events, "emit", record)
    return seen


def event_names(emitted) -> list[str]:
    return [name for name, _ in emitted]


def make_integration(tenant, key: str, **fields):
    provider = catalog_provider(key)
    fields.setdefault("user_scoped", provider.requires_user_scoping)
    return IntegrationFactory(tenant=tenant, provider=provider, **fields)


def google_token(access="ya29.access-1", refresh="1//refresh-1", expires_in=3599, **extra) -> dict:
    body = {
        "access_token": access,
        "expires_in": expires_in,
        "scope": "https://www.googleapis.com/auth/calendar.readonly https://www.googleapis.com/auth/calendar.events",
        "token_type": "Bearer",
    }
    if refresh:
        body["refresh_token"] = refresh
    body.update(extra)
    return body


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def form_of(request) -> dict[str, str]:
    body = request.body if isinstance(request.body, str) else (request.body or b"").decode()
    return {k: v[0] for k, v in parse_qs(body).items()}


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def start_oauth(client, integration, return_url=RETURN_URL, *, me=False) -> tuple[str, str]:
    prefix = "/api/v1/me/integrations" if me else "/api/v1/integrations"
    response = client.post(f"{prefix}/{integration.pk}/connect/oauth", {"returnUrl": return_url}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    return body["authorizationUrl"], body["state"]


def callback_redirect(client, params: dict) -> dict[str, str]:
    """The provider sends the browser to the public callback: it stores nothing and 302s to the return URL; the
    query the front-end receives."""
    response = client.get("/api/v1/oauth/callback", params)
    assert response.status_code == 302, response.content
    return query_of(response["Location"])


def complete_url(integration, *, me=False) -> str:
    prefix = "/api/v1/me/integrations" if me else "/api/v1/integrations"
    return f"{prefix}/{integration.pk}/oauth/callback"


def finish_oauth(client, integration, code: str, state: str, *, me=False):
    """The front-end's half: the user who started the flow posts code and state with their token."""
    return client.post(complete_url(integration, me=me), {"code": code, "state": state}, format="json")


def complete_google_oauth(client, integration, rsps, *, me=False, token=None, code="auth-code-1") -> Connection:
    """Start the flow as `client`, pass the public callback (which redirects with code and state), answer the
    provider's token endpoint with `token`, and complete with the client's own token."""
    _url, state = start_oauth(client, integration, me=me)
    rsps.add(responses.POST, GOOGLE_TOKEN_URL, json=token or google_token())
    back = callback_redirect(client, {"code": code, "state": state})
    assert back["code"] == code and back["state"] == state, back
    response = finish_oauth(client, integration, back["code"], back["state"], me=me)
    assert response.status_code == 200, response.content
    user = client.user if me else None
    return Connection.objects.get(integration=integration, user=user)


def oauth_connection(integration, *, user=None, access="ya29.stored", refresh="1//stored-refresh", expires_in=3600):
    """A connected OAuth connection written directly (for refresh / disconnect tests)."""
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    return Connection.objects.create(
        tenant=integration.tenant,
        integration=integration,
        user=user,
        auth_type="oauth2",
        status="active",
        credentials={"access_token": access, "refresh_token": refresh, "token_type": "Bearer"},
        expires_at=now + timedelta(seconds=expires_in) if expires_in is not None else None,
        connected_at=now,
        token_generation=1,
    )


ROLES = (Role.ADMIN, Role.INTEGRATION_MANAGER, Role.MEMBER)
