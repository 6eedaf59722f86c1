"""OAuth discovery (RFC 8414, then OpenID Connect), its cache, the RFC 9207 `iss` check, and the whole flow (PKCE,
code exchange, rotating refresh tokens) against a real authorization server on 127.0.0.1 (tests/.../local_auth_server).
The provider is registered through the admin API with a sparse body: only `issuer` and the client."""

# ruff: noqa: F811 (pytest fixtures imported from tests.integrations.connection_support)

import pytest
import requests
from django.core.cache import cache

from config.errors import InvalidCredentials
from integrations.connections import refresh_connection
from integrations.models import ActivityLog, Connection, OAuthState
from providers import discovery
from tests.helpers import assert_error
from tests.integrations.connection_support import (  # noqa: F401
    RETURN_URL,
    emitted,
    event_names,
    finish_oauth,
    no_backoff_sleep,
    query_of,
)
from tests.integrations.factories import IntegrationFactory
from tests.integrations.local_auth_server import LocalAuthServer

CLIENT_ID, CLIENT_SECRET = "local-client", "local-client-secret-XYZ"
REDIRECT_URI = "http://testserver/api/v1/oauth/callback"


@pytest.fixture
def loopback_providers(settings):
    settings.PROVIDER_ALLOWED_NETWORKS = ["127.0.0.0/8"]


def _server(**kwargs) -> LocalAuthServer:
    return LocalAuthServer(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT_URI, **kwargs)


@pytest.fixture
def auth_server(loopback_providers):
    server = _server().start()
    yield server
    server.stop()


def register(super_admin_client, issuer: str, key: str = "local_idp", **oauth):
    body = {
        "provider": key,
        "name": "Local IdP",
        "displayName": "Local IdP",
        "category": "custom",
        "authType": "oauth2",
        "capabilities": ["read_profile"],
        "oauthConfig": {"issuer": issuer, "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, **oauth},
    }
    return super_admin_client.post("/api/v1/admin/providers", body, format="json")


def _integration(super_admin_client, admin_client, issuer: str, **oauth):
    response = register(super_admin_client, issuer, **oauth)
    assert response.status_code == 201, response.content
    from providers.models import Provider

    return IntegrationFactory(tenant=admin_client.tenant, provider=Provider.objects.get(key="local_idp"))


def _start(admin_client, integration):
    return admin_client.post(
        f"/api/v1/integrations/{integration.pk}/connect/oauth", {"returnUrl": RETURN_URL}, format="json"
    )


def _authorize(authorization_url: str) -> dict[str, str]:
    """What a browser does at the authorization server: follow the URL, get the redirect back to us."""
    answer = requests.get(authorization_url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"].startswith(REDIRECT_URI)
    return query_of(answer.headers["Location"])


def _land(client, callback: dict[str, str]) -> dict[str, str]:
    """The browser arrives at the public callback, which stores nothing and 302s to the return URL: its query."""
    landed = client.get("/api/v1/oauth/callback", callback)
    assert landed.status_code == 302, landed.content
    return query_of(landed["Location"])


def _complete(client, integration, back: dict[str, str]):
    """The front-end of the user who started the flow posts what the return URL received (code, state and iss)."""
    body = {k: back[k] for k in ("code", "state", "iss") if k in back}
    return client.post(f"/api/v1/integrations/{integration.pk}/oauth/callback", body, format="json")


def _connect(client, integration, auth_server) -> None:
    back = _land(client, _authorize(_start(client, integration).json()["authorizationUrl"]))
    assert back.get("iss") == auth_server.issuer and "error" not in back, back
    finished = _complete(client, integration, back)
    assert finished.status_code == 200 and finished.json()["success"] is True, finished.content


def test_sparse_oauth_provider_connects_and_refreshes_against_a_real_server(
    super_admin_client, admin_client, auth_server, emitted
):
    integration = _integration(super_admin_client, admin_client, auth_server.issuer)

    started = _start(admin_client, integration)
    assert started.status_code == 200, started.content
    url = started.json()["authorizationUrl"]
    assert url.startswith(f"{auth_server.issuer}/authorize?")
    callback = _authorize(url)
    assert callback["iss"] == auth_server.issuer
    back = _land(admin_client, callback)

    # The callback checked state and iss, passed them on with the code, and stored and spent nothing.
    assert back["code"] == callback["code"] and back["iss"] == auth_server.issuer, back
    assert not Connection.objects.filter(integration=integration).exists() and auth_server.token_requests == []
    finished = _complete(admin_client, integration, back)
    assert finished.status_code == 200 and finished.json()["success"] is True, finished.content
    connection = Connection.objects.get(integration=integration, user=None)
    assert connection.status == "active" and connection.access_token.startswith("at-")
    exchange = auth_server.token_requests[0]
    assert exchange["grant_type"] == "authorization_code" and exchange["code_verifier"]  # PKCE checked by the server
    assert auth_server.hits[0] == "/.well-known/oauth-authorization-server"

    # Rotating refresh tokens: the new one is kept, the old one is dead at the server.
    first_refresh = connection.refresh_token
    fresh = refresh_connection(connection=connection)
    assert fresh.refresh_token != first_refresh and fresh.refresh_token in auth_server.refresh_tokens
    assert first_refresh in auth_server.used_refresh_tokens
    fresher = refresh_connection(connection=fresh)
    assert fresher.token_generation == fresh.token_generation + 1

    # The server revokes every grant: the next refresh expires the connection.
    auth_server.revoke_all_refresh_tokens()
    with pytest.raises(InvalidCredentials):
        refresh_connection(connection=fresher)
    expired = Connection.objects.get(pk=connection.pk)
    assert expired.status == "expired" and expired.reconnect_reason == "refresh_token_revoked"
    assert "integration.connection_expired" in event_names(emitted)
    view = admin_client.get(f"/api/v1/integrations/{integration.pk}/connection").json()
    assert view["needsReconnect"] is True and view["reconnectReason"] == "refresh_token_revoked"

    # Reconnecting keeps the connection id and emits connection_recovered.
    _connect(admin_client, integration, auth_server)
    again = Connection.objects.get(integration=integration, user=None)
    assert again.pk == connection.pk and again.status == "active" and again.reconnect_reason is None
    assert event_names(emitted)[-1] == "integration.connection_recovered"
    assert ActivityLog.objects.filter(integration=integration, details__recovered=True).count() == 1


def test_openid_configuration_is_the_fallback(super_admin_client, admin_client, loopback_providers):
    server = _server(metadata_paths=("oidc",)).start()
    try:
        integration = _integration(super_admin_client, admin_client, server.issuer)
        started = _start(admin_client, integration)
        assert started.status_code == 200, started.content
        assert server.hits[:2] == ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]
    finally:
        server.stop()


def test_metadata_is_cached_then_refreshed(super_admin_client, admin_client, auth_server, settings):
    integration = _integration(super_admin_client, admin_client, auth_server.issuer)
    for _ in range(3):
        assert _start(admin_client, integration).status_code == 200
    assert auth_server.hits.count("/.well-known/oauth-authorization-server") == 1

    cache.delete(discovery._cache_key(auth_server.issuer, "fresh"))  # the cache time is over
    assert _start(admin_client, integration).status_code == 200
    assert auth_server.hits.count("/.well-known/oauth-authorization-server") == 2


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("{not json", "malformed"),
        ({"issuer": "ISSUER", "token_endpoint": "ISSUER/token"}, "malformed"),  # no authorization_endpoint
        ({"issuer": "https://evil.example", "authorization_endpoint": "x", "token_endpoint": "y"}, "issuer_mismatch"),
        ([1, 2], "malformed"),
    ],
)
def test_a_bad_document_is_a_clear_error_and_no_authorization_url(
    super_admin_client, admin_client, auth_server, document, problem
):
    if isinstance(document, dict):
        document = {k: v.replace("ISSUER", auth_server.issuer) for k, v in document.items()}
    auth_server.document_override = document
    integration = _integration(super_admin_client, admin_client, auth_server.issuer)

    error = assert_error(_start(admin_client, integration), 502, "OAUTH_DISCOVERY_FAILED")

    assert error["details"]["problem"] == problem and error["details"]["issuer"] == auth_server.issuer
    assert not OAuthState.objects.filter(integration=integration).exists()


def test_a_missing_document_is_a_clear_error(super_admin_client, admin_client, loopback_providers):
    server = _server(metadata_paths=()).start()
    try:
        integration = _integration(super_admin_client, admin_client, server.issuer)
        error = assert_error(_start(admin_client, integration), 502, "OAUTH_DISCOVERY_FAILED")
        assert error["details"]["problem"] == "missing"
        assert "authorizationUrl" not in error["message"]
    finally:
        server.stop()


@pytest.mark.parametrize("iss", ["https://attacker.example", None])
def test_callback_refuses_a_wrong_or_missing_iss_when_the_server_advertises_it(
    super_admin_client, admin_client, auth_server, iss
):
    integration = _integration(super_admin_client, admin_client, auth_server.issuer)
    callback = _authorize(_start(admin_client, integration).json()["authorizationUrl"])
    if iss is None:
        del callback["iss"]
    else:
        callback["iss"] = iss

    back = _land(admin_client, callback)

    assert back["error"] == "invalid_issuer" and "code" not in back and "iss" not in back  # the code is not passed on
    assert ActivityLog.objects.filter(integration=integration, details__error="invalid_issuer").exists()
    # The refusal is final: even the user who started the flow cannot complete it with the code.
    late = finish_oauth(admin_client, integration, callback["code"], callback["state"])
    assert late.status_code == 400 and late.json()["error"] == "state_already_used"
    assert not Connection.objects.filter(integration=integration).exists()
    assert not [r for r in auth_server.token_requests if r["grant_type"] == "authorization_code"]  # code not spent


def test_completion_refuses_an_iss_naming_another_server(super_admin_client, admin_client, auth_server):
    """The front-end passes on the `iss` it received; one that was tampered with on the way is refused again."""
    integration = _integration(super_admin_client, admin_client, auth_server.issuer)
    back = _land(admin_client, _authorize(_start(admin_client, integration).json()["authorizationUrl"]))

    refused = _complete(admin_client, integration, {**back, "iss": "https://attacker.example"})

    assert refused.status_code == 400 and refused.json()["error"] == "invalid_issuer"
    assert not Connection.objects.filter(integration=integration).exists()
    assert not [r for r in auth_server.token_requests if r["grant_type"] == "authorization_code"]


def test_an_http_issuer_outside_the_allowed_networks_is_refused(super_admin_client, db):
    error = assert_error(register(super_admin_client, "http://idp.example.com"), 400, "VALIDATION_ERROR")
    assert "oauthConfig.issuer" in error["details"]


def test_oauth_provider_needs_an_issuer_or_both_urls(super_admin_client, db):
    body = register(super_admin_client, "https://idp.example.com").json()
    assert body["oauthConfig"]["issuer"] == "https://idp.example.com"
    response = super_admin_client.post(
        "/api/v1/admin/providers",
        {
            "provider": "no_urls",
            "name": "No URLs",
            "displayName": "No URLs",
            "category": "custom",
            "authType": "oauth2",
            "oauthConfig": {"clientId": "x", "clientSecret": "y"},
        },
        format="json",
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert {"oauthConfig.authorizationUrl", "oauthConfig.tokenUrl"} <= set(error["details"])


def test_a_day_old_copy_is_used_while_the_server_is_unreachable(super_admin_client, admin_client, loopback_providers):
    server = _server().start()
    integration = _integration(super_admin_client, admin_client, server.issuer)
    assert _start(admin_client, integration).status_code == 200
    server.stop()
    cache.delete(discovery._cache_key(server.issuer, "fresh"))

    started = _start(admin_client, integration)

    assert started.status_code == 200 and started.json()["authorizationUrl"].startswith(f"{server.issuer}/authorize")
    cache.delete(discovery._cache_key(server.issuer, "stale"))
    error = assert_error(_start(admin_client, integration), 502, "OAUTH_DISCOVERY_FAILED")
    assert error["details"]["problem"] == "unreachable"


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_refreshes_leave_one_live_refresh_token_at_the_server(
    super_admin_client, admin_client, auth_server
):
    import threading

    from django.db import connection as db_connection

    integration = _integration(super_admin_client, admin_client, auth_server.issuer)
    _connect(admin_client, integration, auth_server)
    connection = Connection.objects.get(integration=integration, user=None)
    start, results, errors = threading.Barrier(10), [], []

    def worker():
        try:
            stale = Connection.objects.get(pk=connection.pk)
            start.wait()
            results.append(refresh_connection(connection=stale, reason="concurrency-test"))
        except Exception as exc:
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == [] and len(results) == 10
    refreshes = [r for r in auth_server.token_requests if r["grant_type"] == "refresh_token"]
    assert len(refreshes) == 1
    final = Connection.objects.get(pk=connection.pk)
    assert list(auth_server.refresh_tokens) == [final.refresh_token]  # the one live token is the stored one
    assert {r.access_token for r in results} == {final.access_token}
