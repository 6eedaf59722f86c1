"""OAuth started in the portal: the flow's returnUrl points back at the portal, the callback's answer is finished for
the portal user who started it, and the browser comes back to the page the flow started from."""

# ruff: noqa: F811 (pytest fixtures imported from tests.integrations.connection_support)

from urllib.parse import urlsplit

import pytest
import responses

from accounts.models import Role
from integrations.models import ActivityLog, Connection, OAuthState
from tests.integrations.connection_support import (  # noqa: F401
    GOOGLE_TOKEN_URL,
    google_token,
    make_integration,
    no_backoff_sleep,
    oauth_clients,
    query_of,
)

pytestmark = pytest.mark.django_db


def _start(client, integration, next_path="/portal/me/"):
    response = client.post(f"/portal/integrations/{integration.pk}/connect/oauth/", {"next": next_path})
    assert response.status_code == 302, response.content
    return response["Location"], OAuthState.objects.get(integration=integration)


def test_a_member_connects_their_own_account_and_comes_back_to_my_connections(portal_client, oauth_clients):
    client = portal_client(Role.MEMBER)
    integration = make_integration(client.tenant, "google_calendar")

    authorize, flow = _start(client, integration)

    assert authorize.startswith("https://accounts.google.com/")
    assert flow.user == client.user and flow.scope == "user"
    assert flow.return_url == (
        f"http://testserver/portal/integrations/{integration.pk}/oauth/complete?next=%2Fportal%2Fme%2F"
    )
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token())
        callback = client.get("/api/v1/oauth/callback", {"code": "auth-code-1", "state": query_of(authorize)["state"]})
    back = urlsplit(callback["Location"])
    assert back.path == f"/portal/integrations/{integration.pk}/oauth/complete"

    landing = client.get(f"{back.path}?{back.query}")

    assert landing["Location"] == "/portal/me/"
    page = client.get("/portal/me/").content.decode()
    assert "is connected" in page and "Connected" in page and "ya29" not in page
    assert Connection.objects.get(integration=integration, user=client.user).status == "active"


def test_a_callback_handing_back_code_and_state_is_finished_for_the_portal_user(portal_client, oauth_clients):
    """The callback shape where the signed-in user who started the flow completes it (code and state come back)."""
    client = portal_client(Role.MEMBER)
    integration = make_integration(client.tenant, "google_calendar")
    authorize, _flow = _start(client, integration)
    state = query_of(authorize)["state"]
    complete = f"/portal/integrations/{integration.pk}/oauth/complete"

    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token())
        landing = client.get(complete, {"code": "auth-code-1", "state": state, "next": "/portal/me/"})

    assert landing["Location"] == "/portal/me/"
    assert Connection.objects.get(integration=integration, user=client.user).status == "active"
    assert ActivityLog.objects.filter(integration=integration, type="connect", actor=client.user).exists()


def test_another_user_cannot_finish_my_flow_in_their_portal_session(portal_client, oauth_clients):
    mine = portal_client(Role.MEMBER)
    integration = make_integration(mine.tenant, "google_calendar")
    authorize, _flow = _start(mine, integration)
    theirs = portal_client(Role.ADMIN, tenant=mine.tenant)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token())
        theirs.get(
            f"/portal/integrations/{integration.pk}/oauth/complete",
            {"code": "stolen", "state": query_of(authorize)["state"]},
        )
        assert not rsps.calls

    assert not Connection.objects.filter(integration=integration).exists()


def test_tenant_level_oauth_needs_a_role_that_may_update(portal_client, oauth_clients):
    client = portal_client(Role.MEMBER)
    integration = make_integration(client.tenant, "salesforce")

    assert client.post(f"/portal/integrations/{integration.pk}/connect/oauth/").status_code == 403
    assert not OAuthState.objects.exists()

    manager = portal_client(Role.INTEGRATION_MANAGER, tenant=client.tenant)
    authorize, flow = _start(manager, integration, next_path=f"/portal/integrations/{integration.pk}/")
    assert flow.scope == "tenant" and "salesforce.com" in authorize


def test_a_member_disconnects_their_own_account(portal_client, oauth_clients):
    from tests.integrations.connection_support import oauth_connection

    client = portal_client(Role.MEMBER)
    integration = make_integration(client.tenant, "google_calendar")
    oauth_connection(integration, user=client.user)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.POST, "https://oauth2.googleapis.com/revoke", status=200)
        client.post(f"/portal/me/{integration.pk}/disconnect/")

    assert Connection.objects.get(integration=integration, user=client.user).status == "revoked"
