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


def _callback(client, authorize, **params):
    """The provider sends the browser to the public callback: it stores nothing and 302s to the flow's returnUrl."""
    response = client.get("/api/v1/oauth/callback", {"state": query_of(authorize)["state"], **params})
    assert response.status_code == 302, response.content
    return urlsplit(response["Location"])


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
        back = _callback(client, authorize, code="auth-code-1")
        assert not rsps.calls  # the public callback exchanges nothing and stores nothing
    assert back.path == f"/portal/integrations/{integration.pk}/oauth/complete"
    assert query_of(f"?{back.query}")["code"] == "auth-code-1"
    assert not Connection.objects.filter(integration=integration).exists()

    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token())
        landing = client.get(f"{back.path}?{back.query}")

    assert landing.status_code == 302 and landing["Location"] == "/portal/me/"
    page = client.get("/portal/me/").content.decode()
    assert "is connected" in page and "Connected" in page and "ya29" not in page
    connection = Connection.objects.get(integration=integration, user=client.user)
    assert connection.status == "active" and connection.credentials["access_token"] == "ya29.access-1"
    assert ActivityLog.objects.filter(integration=integration, type="connect", actor=client.user).exists()
    assert OAuthState.objects.get(pk=flow.pk).used_at is not None


def test_a_tenant_flow_started_on_the_integration_page_completes_there(portal_client, oauth_clients):
    manager = portal_client(Role.INTEGRATION_MANAGER)
    integration = make_integration(manager.tenant, "salesforce")
    here = f"/portal/integrations/{integration.pk}/"
    authorize, _flow = _start(manager, integration, next_path=here)
    back = _callback(manager, authorize, code="sf-code")

    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.POST,
            "https://login.salesforce.com/services/oauth2/token",
            json={
                "access_token": "00Dxx!sf-access",
                "refresh_token": "5Aep-sf-refresh",
                "instance_url": "https://acme.my.salesforce.com",
                "id": "https://login.salesforce.com/id/00Dxx/005xx",
                "token_type": "Bearer",
                "issued_at": "1700000000000",
                "signature": "sig",
            },
        )
        landing = manager.get(f"{back.path}?{back.query}")

    assert landing["Location"] == here
    connection = Connection.objects.get(integration=integration, user=None)
    assert connection.status == "active"
    assert "sf-access" not in manager.get(here).content.decode()


def test_another_signed_in_user_arriving_with_the_code_is_refused_and_nothing_is_stored(portal_client, oauth_clients):
    mine = portal_client(Role.MEMBER)
    integration = make_integration(mine.tenant, "google_calendar")
    authorize, flow = _start(mine, integration)
    back = _callback(mine, authorize, code="auth-code-1")  # e.g. a consent link forwarded to someone else
    theirs = portal_client(Role.ADMIN, tenant=mine.tenant)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token())
        refused = theirs.get(f"{back.path}?{back.query}")
        assert not rsps.calls  # the code is never exchanged

    assert refused.status_code == 403
    assert "Only the user who started this authorization can complete it." in refused.content.decode()
    assert not Connection.objects.filter(integration=integration).exists()
    assert OAuthState.objects.get(pk=flow.pk).used_at is None  # still the starter's to finish
    refusal = ActivityLog.objects.get(integration=integration, type="connect", status="error")
    assert refusal.actor == theirs.user and refusal.details["error"] == "wrong_user"

    with responses.RequestsMock() as rsps:  # the user who started it still can
        rsps.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token())
        assert mine.get(f"{back.path}?{back.query}")["Location"] == "/portal/me/"
    assert list(Connection.objects.filter(integration=integration).values_list("user", flat=True)) == [mine.user.pk]


def test_a_user_of_another_tenant_gets_a_404_and_nothing_is_stored(portal_client, oauth_clients):
    mine = portal_client(Role.MEMBER)
    integration = make_integration(mine.tenant, "google_calendar")
    authorize, flow = _start(mine, integration)
    back = _callback(mine, authorize, code="auth-code-1")
    stranger = portal_client(Role.ADMIN)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token())
        assert stranger.get(f"{back.path}?{back.query}").status_code == 404
        assert not rsps.calls
    assert not Connection.objects.exists() and OAuthState.objects.get(pk=flow.pk).used_at is None


def test_the_provider_refusing_access_comes_back_with_the_reason_and_stores_nothing(portal_client, oauth_clients):
    client = portal_client(Role.MEMBER)
    integration = make_integration(client.tenant, "google_calendar")
    authorize, flow = _start(client, integration)
    back = _callback(client, authorize, error="access_denied")

    landing = client.get(f"{back.path}?{back.query}")

    assert landing["Location"] == "/portal/me/"
    assert "Connecting failed" in client.get("/portal/me/").content.decode()
    assert not Connection.objects.exists()
    assert OAuthState.objects.get(pk=flow.pk).used_at is not None  # that authorization is over


def test_a_replayed_return_is_refused(portal_client, oauth_clients):
    client = portal_client(Role.MEMBER)
    integration = make_integration(client.tenant, "google_calendar")
    authorize, _flow = _start(client, integration)
    back = _callback(client, authorize, code="auth-code-1")
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token())
        client.get(f"{back.path}?{back.query}")

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token(access="ya29.second"))
        client.get(f"{back.path}?{back.query}")
        assert not rsps.calls

    assert "already used" in client.get("/portal/me/").content.decode()
    assert Connection.objects.get(integration=integration).credentials["access_token"] == "ya29.access-1"


def test_the_old_status_shape_connects_nothing(portal_client, oauth_clients):
    """`status=success` in the return URL proves nothing: only a completed code connects."""
    client = portal_client(Role.MEMBER)
    integration = make_integration(client.tenant, "google_calendar")

    client.get(f"/portal/integrations/{integration.pk}/oauth/complete", {"status": "success", "next": "/portal/me/"})

    page = client.get("/portal/me/").content.decode()
    assert "is connected" not in page and "Connecting failed" in page
    assert not Connection.objects.exists()


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


def test_an_authorization_response_naming_another_issuer_connects_nothing(portal_client, oauth_clients):
    """RFC 9207: the `iss` handed back with the code is checked again at completion, as by the API's POST."""
    client = portal_client(Role.MEMBER)
    integration = make_integration(client.tenant, "google_calendar")
    provider = integration.provider
    provider.oauth_config = {**provider.oauth_config, "issuer": "https://accounts.google.com"}
    provider.save(update_fields=["oauth_config"])
    authorize, _flow = _start(client, integration)
    back = _callback(client, authorize, code="auth-code-1", iss="https://accounts.google.com")
    assert query_of(f"?{back.query}")["iss"] == "https://accounts.google.com"
    forged = query_of(f"?{back.query}") | {"iss": "https://idp.evil.example"}

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token())
        landing = client.get(back.path, forged)
        assert not rsps.calls

    assert landing["Location"] == "/portal/me/"
    assert "another issuer" in client.get("/portal/me/").content.decode()
    assert not Connection.objects.filter(integration=integration).exists()
