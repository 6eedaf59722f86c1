"""OAuth 2.0 authorization code + PKCE, end to end against `responses`-mocked provider endpoints."""

# ruff: noqa: F811 (pytest fixtures imported from tests.integrations.connection_support)

import pytest
import requests
import responses
from django.db import connection as db_connection

from integrations.models import ActivityLog, Connection
from tests.helpers import assert_error
from tests.integrations.connection_support import (  # noqa: F401
    GOOGLE_TOKEN_URL,
    RETURN_URL,
    callback_redirect,
    complete_google_oauth,
    emitted,
    event_names,
    finish_oauth,
    form_of,
    google_token,
    make_integration,
    no_backoff_sleep,
    oauth_clients,
    query_of,
    s256,
    start_oauth,
)

pytestmark = pytest.mark.django_db


def test_connect_oauth_returns_an_authorization_url_with_pkce_s256_and_state(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)

    url, state = start_oauth(admin_client, integration)

    assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    params = query_of(url)
    assert params["state"] == state and len(state) >= 40
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert params["client_id"] == oauth_clients["GOOGLE_CLIENT_ID"]
    assert params["redirect_uri"] == "http://testserver/api/v1/oauth/callback"
    assert params["response_type"] == "code"
    assert params["scope"] == (
        "https://www.googleapis.com/auth/calendar.readonly https://www.googleapis.com/auth/calendar.events"
    )
    assert params["access_type"] == "offline" and params["prompt"] == "consent"
    assert "client_secret" not in url and oauth_clients["GOOGLE_CLIENT_SECRET"] not in url


def test_seed000_authorize_endpoint_returns_auth_url(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)

    response = admin_client.get(f"/api/v1/integrations/{integration.pk}/oauth/authorize", {"state": "my-ui-state"})

    assert response.status_code == 200
    params = query_of(response.json()["authUrl"])
    assert params["code_challenge_method"] == "S256"
    assert params["state"] != "my-ui-state"  # our own random state; the caller's is kept as clientState


def test_slack_scopes_are_comma_separated(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "slack")

    url, _ = start_oauth(admin_client, integration)

    assert query_of(url)["scope"] == "channels:read,channels:history,chat:write,users:read"


@responses.activate
def test_callback_exchanges_the_code_with_the_verifier_and_stores_encrypted_tokens(
    admin_client, oauth_clients, emitted
):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    url, state = start_oauth(admin_client, integration)
    challenge = query_of(url)["code_challenge"]
    responses.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token(access="ya29.secret-access"))

    response = admin_client.get("/api/v1/oauth/callback", {"code": "4/0AX-code", "state": state})

    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(RETURN_URL + "?")
    assert query_of(location) == {"code": "4/0AX-code", "state": state, "integrationId": str(integration.pk)}
    assert not responses.calls and not Connection.objects.filter(integration=integration).exists()  # nothing yet

    completed = finish_oauth(admin_client, integration, "4/0AX-code", state)

    assert completed.status_code == 200
    sent = form_of(responses.calls[0].request)
    assert sent["grant_type"] == "authorization_code"
    assert sent["code"] == "4/0AX-code"
    assert sent["redirect_uri"] == "http://testserver/api/v1/oauth/callback"
    assert s256(sent["code_verifier"]) == challenge
    assert sent["client_id"] == oauth_clients["GOOGLE_CLIENT_ID"]

    connection = Connection.objects.get(integration=integration, user__isnull=True)
    assert connection.status == "active"
    assert connection.credentials["access_token"] == "ya29.secret-access"
    assert connection.credentials["refresh_token"] == "1//refresh-1"
    assert connection.expires_at is not None
    assert "https://www.googleapis.com/auth/calendar.events" in connection.granted_scopes
    assert connection.oauth_client_id == oauth_clients["GOOGLE_CLIENT_ID"]
    with db_connection.cursor() as cursor:
        cursor.execute(f"SELECT credentials FROM {Connection._meta.db_table} WHERE id = %s", [connection.pk.hex])
        rows = cursor.fetchall()
    if not rows:  # PostgreSQL stores uuids natively
        with db_connection.cursor() as cursor:
            cursor.execute(f"SELECT credentials FROM {Connection._meta.db_table} WHERE id = %s", [str(connection.pk)])
            rows = cursor.fetchall()
    raw = rows[0][0]
    assert "ya29.secret-access" not in raw and "refresh-1" not in raw and raw.startswith("gAAAAA")
    integration.refresh_from_db()
    assert integration.status == "active"
    assert event_names(emitted) == ["integration.connected"]
    assert emitted[0][1]["integrationId"] == str(integration.pk)
    assert ActivityLog.objects.filter(integration=integration, type="connect", status="success").exists()


@responses.activate
def test_post_callback_variant_answers_seed000_success(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    _url, state = start_oauth(admin_client, integration)
    responses.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token())

    response = admin_client.post(
        f"/api/v1/integrations/{integration.pk}/oauth/callback", {"code": "c0de", "state": state}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "OAuth authentication successful"}
    assert Connection.objects.get(integration=integration).status == "active"


def test_provider_error_access_denied_redirects_with_error_and_stores_nothing(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    _url, state = start_oauth(admin_client, integration)

    response = admin_client.get(
        "/api/v1/oauth/callback",
        {"error": "access_denied", "error_description": "The user denied access", "state": state},
    )

    assert response.status_code == 302
    assert query_of(response["Location"]) == {
        "error": "access_denied",
        "state": state,
        "integrationId": str(integration.pk),
    }
    assert not Connection.objects.filter(integration=integration).exists()
    assert not ActivityLog.objects.filter(integration=integration).exists()  # the public callback writes nothing


def test_post_callback_with_provider_error_answers_seed000_error_shape(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    _url, state = start_oauth(admin_client, integration)

    response = admin_client.post(
        f"/api/v1/integrations/{integration.pk}/oauth/callback",
        {"state": state, "error": "access_denied", "errorDescription": "User denied access"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"success": False, "error": "access_denied", "errorDescription": "User denied access"}


@pytest.mark.parametrize(
    ("answer", "expected_error"),
    [
        ({"status": 500, "body": "<html><body>Internal error</body></html>"}, "token_endpoint_error"),
        ({"status": 200, "body": "<html>maintenance</html>", "content_type": "text/html"}, "invalid_token_response"),
        ({"body": requests.exceptions.ReadTimeout("read timed out")}, "token_endpoint_timeout"),
        ({"status": 400, "json": {"error": "invalid_grant", "error_description": "Bad Request"}}, "invalid_grant"),
    ],
    ids=["500", "html", "timeout", "invalid_grant"],
)
@responses.activate
def test_token_endpoint_failures_answer_a_clear_error_and_store_nothing(
    admin_client, oauth_clients, answer, expected_error
):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    _url, state = start_oauth(admin_client, integration)
    responses.add(responses.POST, GOOGLE_TOKEN_URL, **answer)
    back = callback_redirect(admin_client, {"code": "the-code-xyz", "state": state})

    response = finish_oauth(admin_client, integration, back["code"], back["state"])

    assert response.status_code == 400
    assert response.json()["success"] is False and response.json()["error"] == expected_error
    assert not Connection.objects.filter(integration=integration).exists()
    assert len(responses.calls) == 1  # a code is single-use: never retried
    logged = " ".join(ActivityLog.objects.filter(integration=integration).values_list("message", flat=True))
    assert "the-code-xyz" not in logged and "google-client-secret" not in logged


@responses.activate
def test_post_callback_token_endpoint_failure_is_400_in_seed000_shape(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    _url, state = start_oauth(admin_client, integration)
    responses.add(responses.POST, GOOGLE_TOKEN_URL, status=503, body="upstream down")

    response = admin_client.post(
        f"/api/v1/integrations/{integration.pk}/oauth/callback", {"code": "c", "state": state}, format="json"
    )

    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and body["error"] == "token_endpoint_error"
    assert "503" in body["errorDescription"]


@pytest.mark.parametrize(
    "return_url",
    ["https://evil.example/steal", "//evil.example/x", "http://testserver.evil.example/", "javascript:alert(1)"],
)
def test_return_url_on_another_origin_is_refused(admin_client, oauth_clients, return_url):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)

    response = admin_client.post(
        f"/api/v1/integrations/{integration.pk}/connect/oauth", {"returnUrl": return_url}, format="json"
    )

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert "returnUrl" in error["details"]


def test_return_url_on_a_configured_origin_and_relative_paths_are_accepted(admin_client, oauth_clients, settings):
    settings.OAUTH_RETURN_URL_ORIGINS = ["https://app.example.com"]
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)

    start_oauth(admin_client, integration, "https://app.example.com/settings?tab=integrations")
    start_oauth(admin_client, integration, "/app/done")


def test_oauth_start_for_an_api_key_provider_is_refused(admin_client):
    integration = make_integration(admin_client.tenant, "stripe")

    response = admin_client.post(
        f"/api/v1/integrations/{integration.pk}/connect/oauth", {"returnUrl": RETURN_URL}, format="json"
    )

    assert "connect/api-key" in assert_error(response, 400, "VALIDATION_ERROR")["message"]


def test_oauth_start_without_a_configured_client_names_the_env_variables(admin_client, monkeypatch):
    monkeypatch.delenv("GOOGLE_CLIENT_ID", raising=False)
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)

    response = admin_client.post(
        f"/api/v1/integrations/{integration.pk}/connect/oauth", {"returnUrl": RETURN_URL}, format="json"
    )

    assert "GOOGLE_CLIENT_ID" in assert_error(response, 400, "VALIDATION_ERROR")["message"]


@responses.activate
def test_salesforce_instance_url_from_the_token_response_is_used_for_api_calls(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "salesforce")
    _url, state = start_oauth(admin_client, integration)
    responses.add(
        responses.POST,
        "https://login.salesforce.com/services/oauth2/token",
        json={
            "access_token": "00Dxx!sf-access",
            "refresh_token": "5Aep-sf-refresh",
            "instance_url": "https://acme.my.salesforce.com",
            "id": "https://login.salesforce.com/id/00Dxx/005xx",
            "token_type": "Bearer",
            "issued_at": "1700000000000",
            "signature": "abc=",
        },
    )
    responses.add(
        responses.GET, "https://acme.my.salesforce.com/services/data/v60.0/limits", json={"DailyApiRequests": {}}
    )

    finish_oauth(admin_client, integration, "sf-code", state)
    response = admin_client.post(f"/api/v1/integrations/{integration.pk}/test")

    connection = Connection.objects.get(integration=integration)
    assert connection.metadata["instanceUrl"] == "https://acme.my.salesforce.com"
    assert connection.expires_at is None  # Salesforce sends no expires_in: refreshed on 401 instead
    assert response.json()["success"] is True
    assert responses.calls[1].request.headers["Authorization"] == "Bearer 00Dxx!sf-access"


@responses.activate
def test_docusign_exchange_uses_basic_client_auth_and_learns_the_account_from_userinfo(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "docusign", user_scoped=False)
    _url, state = start_oauth(admin_client, integration)
    responses.add(
        responses.POST,
        "https://account.docusign.com/oauth/token",
        json={"access_token": "eyJ0-ds", "token_type": "Bearer", "refresh_token": "eyJ0-dsr", "expires_in": 28800},
    )
    responses.add(
        responses.GET,
        "https://account.docusign.com/oauth/userinfo",
        json={
            "sub": "u-1",
            "accounts": [
                {
                    "account_id": "acc-2",
                    "is_default": False,
                    "account_name": "Other",
                    "base_uri": "https://eu.docusign.net",
                },
                {
                    "account_id": "acc-1",
                    "is_default": True,
                    "account_name": "Acme",
                    "base_uri": "https://na3.docusign.net",
                },
            ],
        },
    )

    response = finish_oauth(admin_client, integration, "ds-code", state)

    assert response.status_code == 200
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert "client_secret" not in form_of(responses.calls[0].request)
    assert responses.calls[1].request.headers["Authorization"] == "Bearer eyJ0-ds"
    metadata = Connection.objects.get(integration=integration).metadata
    assert metadata["baseUri"] == "https://na3.docusign.net" and metadata["accountId"] == "acc-1"


@responses.activate
def test_reconnecting_keeps_the_connection_id_and_announces_the_recovery(admin_client, oauth_clients, emitted):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    first = complete_google_oauth(admin_client, integration, responses)
    Connection.objects.filter(pk=first.pk).update(status="expired")

    second = complete_google_oauth(
        admin_client, integration, responses, token=google_token(access="ya29.new", refresh="1//new")
    )

    assert second.pk == first.pk
    assert second.credentials["access_token"] == "ya29.new" and second.status == "active"
    assert [d["recovered"] for n, d in emitted if n == "integration.connected"] == [False, True]


def test_oauth_endpoints_need_update_permission(make_client, oauth_clients):
    member = make_client("member")
    integration = make_integration(member.tenant, "google_calendar", user_scoped=False)

    response = member.post(
        f"/api/v1/integrations/{integration.pk}/connect/oauth", {"returnUrl": RETURN_URL}, format="json"
    )

    assert_error(response, 403, "PERMISSION_DENIED")
    manager = make_client("integration_manager", tenant=member.tenant)
    assert start_oauth(manager, integration)[1]
