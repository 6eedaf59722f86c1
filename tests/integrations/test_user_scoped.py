"""User-scoped connections (seed 003): each member connects, sees and disconnects only their own."""

# ruff: noqa: F811 (pytest fixtures imported from tests.integrations.connection_support)

import pytest
import responses

from integrations.models import Connection, OAuthState
from tests.helpers import assert_error, assert_tenant_isolation
from tests.integrations.connection_support import (  # noqa: F401
    GOOGLE_REVOKE_URL,
    GOOGLE_TOKEN_URL,
    RETURN_URL,
    complete_google_oauth,
    emitted,
    event_names,
    google_token,
    make_integration,
    no_backoff_sleep,
    oauth_clients,
    start_oauth,
)

pytestmark = pytest.mark.django_db


@responses.activate
def test_a_member_connects_their_own_account(make_client, oauth_clients, emitted):
    member = make_client("member")
    integration = make_integration(member.tenant, "google_calendar")
    assert integration.user_scoped

    connection = complete_google_oauth(member, integration, responses, me=True)

    assert connection.user_id == member.user.pk and connection.status == "active"
    assert OAuthState.objects.get().scope == "user"
    body = member.get(f"/api/v1/me/integrations/{integration.pk}/connection").json()
    assert body["connected"] is True and body["connectionId"] == str(connection.pk)
    assert body["status"] == "active" and body["lastConnectedAt"].endswith("Z")
    assert emitted[0][1]["scope"] == "user" and emitted[0][1]["userId"] == str(member.user.pk)
    integration.refresh_from_db()
    assert integration.status == "pending"  # a user's connection does not change the tenant-level status


@responses.activate
def test_members_see_and_disconnect_only_their_own_connection(make_client, oauth_clients, emitted):
    alice = make_client("member")
    bob = make_client("member", tenant=alice.tenant)
    integration = make_integration(alice.tenant, "google_calendar")
    alices = complete_google_oauth(alice, integration, responses, me=True, token=google_token(access="ya29.alice"))

    bobs_view = bob.get(f"/api/v1/me/integrations/{integration.pk}/connection")
    bobs_disconnect = bob.post(f"/api/v1/me/integrations/{integration.pk}/disconnect")

    assert bobs_view.json() == {
        "connected": False,
        "connectionId": None,
        "status": None,
        "lastConnectedAt": None,
        "needsReconnect": False,
        "reconnectReason": None,
    }
    assert_error(bobs_disconnect, 404, "CONNECTION_NOT_FOUND")
    assert Connection.objects.get(pk=alices.pk).status == "active"

    responses.add(responses.POST, GOOGLE_REVOKE_URL, body="")
    response = alice.post(f"/api/v1/me/integrations/{integration.pk}/disconnect")
    assert response.status_code == 200 and response.json()["success"] is True
    assert Connection.objects.get(pk=alices.pk).status == "revoked"
    assert alice.get(f"/api/v1/me/integrations/{integration.pk}/connection").json()["connected"] is False
    assert event_names(emitted) == ["integration.connected", "integration.disconnected"]


@responses.activate
def test_two_users_get_two_connections(make_client, oauth_clients):
    alice = make_client("member")
    bob = make_client("admin", tenant=alice.tenant)
    integration = make_integration(alice.tenant, "google_calendar")

    a = complete_google_oauth(alice, integration, responses, me=True, token=google_token(access="ya29.a"))
    b = complete_google_oauth(bob, integration, responses, me=True, token=google_token(access="ya29.b"))

    assert a.pk != b.pk
    assert Connection.objects.get(pk=a.pk).credentials["access_token"] == "ya29.a"
    assert Connection.objects.get(pk=b.pk).credentials["access_token"] == "ya29.b"


def test_a_user_scoped_integration_refuses_tenant_level_oauth(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "google_calendar")

    response = admin_client.post(
        f"/api/v1/integrations/{integration.pk}/connect/oauth", {"returnUrl": RETURN_URL}, format="json"
    )

    assert "user-scoped" in assert_error(response, 400, "VALIDATION_ERROR")["message"]


def test_a_tenant_level_integration_refuses_user_connections(make_client, oauth_clients):
    member = make_client("member")
    integration = make_integration(member.tenant, "slack")

    response = member.post(
        f"/api/v1/me/integrations/{integration.pk}/connect/oauth", {"returnUrl": RETURN_URL}, format="json"
    )
    disconnect = member.post(f"/api/v1/me/integrations/{integration.pk}/disconnect")

    assert "not user-scoped" in assert_error(response, 400, "VALIDATION_ERROR")["message"]
    assert_error(disconnect, 400, "VALIDATION_ERROR")


def test_another_user_cannot_finish_my_flow_with_the_post_callback(make_client, oauth_clients):
    alice = make_client("member")
    mallory = make_client("admin", tenant=alice.tenant)
    integration = make_integration(alice.tenant, "google_calendar")
    _url, state = start_oauth(alice, integration, me=True)

    response = mallory.post(
        f"/api/v1/integrations/{integration.pk}/oauth/callback", {"code": "c", "state": state}, format="json"
    )

    assert response.json()["error"] == "invalid_state"
    assert OAuthState.objects.get().used_at is None


@responses.activate
def test_test_and_status_use_the_callers_own_connection(make_client, oauth_clients):
    alice = make_client("integration_manager")
    integration = make_integration(alice.tenant, "google_calendar")
    complete_google_oauth(alice, integration, responses, me=True)
    responses.add(
        responses.GET,
        "https://www.googleapis.com/calendar/v3/users/me/calendarList?maxResults=1",
        json={"kind": "calendar#calendarList", "items": []},
    )

    test = alice.post(f"/api/v1/integrations/{integration.pk}/test").json()
    status = alice.get(f"/api/v1/integrations/{integration.pk}/status").json()

    assert test["success"] is True
    assert status["isConnected"] is True
    other = make_client("integration_manager", tenant=alice.tenant)
    assert other.post(f"/api/v1/integrations/{integration.pk}/test").json()["success"] is False


@responses.activate
def test_user_endpoints_are_tenant_isolated(make_client, other_tenant_client, oauth_clients):
    member = make_client("member")
    integration = make_integration(member.tenant, "google_calendar")
    connection = complete_google_oauth(member, integration, responses, me=True)

    assert_tenant_isolation(
        other_tenant_client,
        [
            f"/api/v1/me/integrations/{integration.pk}/connection",
            ("post", f"/api/v1/me/integrations/{integration.pk}/connect/oauth", {"returnUrl": RETURN_URL}),
            ("post", f"/api/v1/me/integrations/{integration.pk}/disconnect"),
        ],
        [integration.pk, connection.pk],
    )
    assert Connection.objects.get(pk=connection.pk).status == "active"


def test_user_endpoints_need_authentication(anon_client, db):
    response = anon_client.get("/api/v1/me/integrations/00000000-0000-0000-0000-000000000000/connection")

    assert_error(response, 401, "AUTHENTICATION_REQUIRED")
