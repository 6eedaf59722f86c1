"""Disconnect: RFC 7009 revocation at the provider (best effort), credentials wiped, the row kept for a reconnect."""

# ruff: noqa: F811 (pytest fixtures imported from tests.integrations.connection_support)

import pytest
import requests
import responses

from integrations.models import ActivityLog, Connection
from tests.helpers import assert_error
from tests.integrations.connection_support import (  # noqa: F401
    GOOGLE_REVOKE_URL,
    complete_google_oauth,
    emitted,
    event_names,
    form_of,
    google_token,
    make_integration,
    no_backoff_sleep,
    oauth_clients,
    oauth_connection,
)

pytestmark = pytest.mark.django_db


def _disconnect(client, integration):
    return client.post(f"/api/v1/integrations/{integration.pk}/disconnect")


@responses.activate
def test_disconnect_revokes_the_refresh_token_and_wipes_the_credentials(admin_client, oauth_clients, emitted):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    connection = oauth_connection(integration)
    responses.add(responses.POST, GOOGLE_REVOKE_URL, body="")

    response = _disconnect(admin_client, integration)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True and body["disconnectedAt"].endswith("Z")
    sent = form_of(responses.calls[0].request)
    assert sent["token"] == "1//stored-refresh" and sent["token_type_hint"] == "refresh_token"
    assert sent["client_id"] == oauth_clients["GOOGLE_CLIENT_ID"]
    connection.refresh_from_db()
    assert connection.status == "revoked" and connection.credentials == {}
    assert connection.credential_hint == "" and connection.expires_at is None
    integration.refresh_from_db()
    assert integration.status == "pending"
    assert event_names(emitted) == ["integration.disconnected"]
    entry = ActivityLog.objects.get(integration=integration, type="disconnect")
    assert entry.details["revokedAtProvider"] is True


@pytest.mark.parametrize(
    "answer",
    [{"status": 500, "body": "oops"}, {"body": requests.exceptions.ConnectionError("refused")}],
    ids=["500", "unreachable"],
)
@responses.activate
def test_a_failing_revocation_is_recorded_and_the_disconnect_still_happens(admin_client, oauth_clients, answer):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    connection = oauth_connection(integration)
    responses.add(responses.POST, GOOGLE_REVOKE_URL, **answer)

    response = _disconnect(admin_client, integration)

    assert response.status_code == 200
    connection.refresh_from_db()
    assert connection.status == "revoked" and connection.credentials == {}
    failure = ActivityLog.objects.get(integration=integration, type="disconnect", status="error")
    assert "stored-refresh" not in failure.message and "ya29" not in failure.message
    assert (
        ActivityLog.objects.get(integration=integration, type="disconnect", status="success").details[
            "revokedAtProvider"
        ]
        is None
    )


@responses.activate
def test_a_provider_without_revocation_url_is_disconnected_without_a_call(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "microsoft_teams", user_scoped=False)
    oauth_connection(integration)

    assert _disconnect(admin_client, integration).status_code == 200
    assert len(responses.calls) == 0


@responses.activate
def test_slack_revocation_posts_the_token_as_bearer(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "slack")
    oauth_connection(integration, access="xoxb-bot-token", refresh=None)
    responses.add(responses.POST, "https://slack.com/api/auth.revoke", json={"ok": True, "revoked": True})

    assert _disconnect(admin_client, integration).status_code == 200
    assert responses.calls[0].request.headers["Authorization"] == "Bearer xoxb-bot-token"


@responses.activate
def test_hubspot_refresh_token_is_deleted_at_its_own_endpoint(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "hubspot")
    oauth_connection(integration, refresh="hs-refresh-token")
    responses.add(responses.DELETE, "https://api.hubapi.com/oauth/v1/refresh-tokens/hs-refresh-token", status=204)

    assert _disconnect(admin_client, integration).status_code == 200
    assert len(responses.calls) == 1


@responses.activate
def test_an_api_key_connection_is_disconnected_without_a_provider_call(admin_client):
    integration = make_integration(admin_client.tenant, "stripe")
    Connection.objects.create(
        tenant=integration.tenant, integration=integration, auth_type="api_key", credentials={"apiKey": "sk_test_x"}
    )

    assert _disconnect(admin_client, integration).status_code == 200
    assert len(responses.calls) == 0


def test_disconnect_when_never_connected_is_404_and_when_already_disconnected_409(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "microsoft_teams", user_scoped=False)

    assert_error(_disconnect(admin_client, integration), 404, "CONNECTION_NOT_FOUND")
    oauth_connection(integration)
    assert _disconnect(admin_client, integration).status_code == 200
    assert_error(_disconnect(admin_client, integration), 409, "CONFLICT")


@responses.activate
def test_reconnecting_after_a_disconnect_keeps_the_connection_id(admin_client, oauth_clients, emitted):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    first = complete_google_oauth(admin_client, integration, responses)
    responses.add(responses.POST, GOOGLE_REVOKE_URL, body="")
    _disconnect(admin_client, integration)

    second = complete_google_oauth(admin_client, integration, responses, token=google_token(access="ya29.again"))

    assert second.pk == first.pk and second.status == "active"
    assert event_names(emitted) == ["integration.connected", "integration.disconnected", "integration.connected"]


@pytest.mark.parametrize(("role", "status"), [("integration_manager", 200), ("member", 403)])
def test_disconnect_needs_update_permission(make_client, oauth_clients, role, status):
    client = make_client(role)
    integration = make_integration(client.tenant, "microsoft_teams", user_scoped=False)
    oauth_connection(integration)

    assert _disconnect(client, integration).status_code == status
