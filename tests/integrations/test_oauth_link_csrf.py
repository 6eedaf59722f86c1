"""OAuth account-linking CSRF (RFC 9700 §4.7): the public callback stores nothing; only the user who started a flow
completes it, with their own token, once."""

# ruff: noqa: F811 (pytest fixtures imported from tests.integrations.connection_support)

import json
import re

import pytest
import responses

from integrations.models import ActivityLog, Connection, OAuthState
from tests.helpers import assert_error
from tests.integrations.connection_support import (  # noqa: F401
    GOOGLE_TOKEN_URL,
    RETURN_URL,
    callback_redirect,
    finish_oauth,
    google_token,
    make_integration,
    no_backoff_sleep,
    oauth_clients,
    query_of,
    start_oauth,
)

pytestmark = pytest.mark.django_db


@responses.activate
def test_a_forwarded_consent_link_never_connects_the_victims_account_to_the_forwarder(make_client, oauth_clients):
    """Mallory starts her own connection and forwards the consent link; the victim consents. The provider sends the
    victim's browser to our callback with a code for the victim's account."""
    mallory = make_client("member")
    victim = make_client("member", tenant=mallory.tenant)
    integration = make_integration(mallory.tenant, "google_calendar")
    consent_url, state = start_oauth(mallory, integration, me=True)
    responses.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token(access="ya29.victims-calendar"))

    # The victim's browser arrives at the public callback (no token of anyone).
    back = callback_redirect(victim, {"code": "victims-code", "state": query_of(consent_url)["state"]})

    assert back == {"code": "victims-code", "state": state, "integrationId": str(integration.pk)}
    assert not Connection.objects.exists() and not responses.calls  # nothing exchanged, nothing stored
    # The victim's front-end completes with the victim's token: refused, and still nothing stored.
    refused = finish_oauth(victim, integration, back["code"], back["state"], me=True)
    assert_error(refused, 403, "PERMISSION_DENIED")
    assert not Connection.objects.exists() and not responses.calls
    assert OAuthState.objects.get().used_at is None


@responses.activate
def test_the_starter_completes_once_through_the_me_endpoint(make_client, oauth_clients):
    member = make_client("member")
    integration = make_integration(member.tenant, "google_calendar")
    _url, state = start_oauth(member, integration, me=True)
    responses.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token(access="ya29.mine"))
    back = callback_redirect(member, {"code": "my-code", "state": state})

    first = finish_oauth(member, integration, back["code"], back["state"], me=True)
    second = finish_oauth(member, integration, back["code"], back["state"], me=True)

    assert first.status_code == 200 and first.json()["success"] is True
    assert second.status_code == 400 and second.json()["error"] == "state_already_used"
    assert len(responses.calls) == 1
    connection = Connection.objects.get(integration=integration, user=member.user)
    assert connection.credentials["access_token"] == "ya29.mine"


@responses.activate
def test_tenant_level_completion_by_another_admin_is_403_and_stores_nothing(make_client, oauth_clients):
    alice = make_client("admin")
    bob = make_client("admin", tenant=alice.tenant)
    integration = make_integration(alice.tenant, "google_calendar", user_scoped=False)
    _url, state = start_oauth(alice, integration)
    responses.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token())

    refused = finish_oauth(bob, integration, "code-x", state)

    assert_error(refused, 403, "PERMISSION_DENIED")
    assert not Connection.objects.exists() and not responses.calls
    assert ActivityLog.objects.filter(integration=integration, status="error", details__error="wrong_user").exists()
    assert finish_oauth(alice, integration, "code-x", state).status_code == 200  # the starter still can


def test_a_state_completes_only_on_its_own_scope(make_client, oauth_clients):
    admin = make_client("admin")
    tenant_level = make_integration(admin.tenant, "google_calendar", user_scoped=False)
    _url, state = start_oauth(admin, tenant_level)

    response = finish_oauth(admin, tenant_level, "c", state, me=True)

    assert response.status_code == 400 and response.json()["error"] == "invalid_state"
    assert OAuthState.objects.get().used_at is None


def test_me_completion_is_tenant_isolated(make_client, other_tenant_client, oauth_clients):
    member = make_client("member")
    integration = make_integration(member.tenant, "google_calendar")
    _url, state = start_oauth(member, integration, me=True)

    response = finish_oauth(other_tenant_client, integration, "c", state, me=True)

    assert_error(response, 404, "INTEGRATION_NOT_FOUND")
    assert OAuthState.objects.get().used_at is None


def test_a_flow_without_return_url_goes_to_the_default_return_url(admin_client, oauth_clients, settings):
    settings.OAUTH_DEFAULT_RETURN_URL = "https://app.example.test/oauth/done"
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    auth_url = admin_client.get(f"/api/v1/integrations/{integration.pk}/oauth/authorize").json()["authUrl"]
    state = query_of(auth_url)["state"]

    response = admin_client.get("/api/v1/oauth/callback", {"code": "c-1", "state": state})

    assert response.status_code == 302
    assert response["Location"].startswith("https://app.example.test/oauth/done?")
    assert query_of(response["Location"]) == {"code": "c-1", "state": state, "integrationId": str(integration.pk)}
    assert not Connection.objects.exists()


def test_without_any_return_url_a_page_hands_code_and_state_to_the_opener_on_allowed_origins_only(
    admin_client, oauth_clients, settings
):
    settings.OAUTH_DEFAULT_RETURN_URL = ""
    settings.OAUTH_RETURN_URL_ORIGINS = ["https://app.example.test"]
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    auth_url = admin_client.get(f"/api/v1/integrations/{integration.pk}/oauth/authorize", {"state": "ui-42"}).json()[
        "authUrl"
    ]
    state = query_of(auth_url)["state"]

    response = admin_client.get("/api/v1/oauth/callback", {"code": "c-2", "state": state})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert response["Cache-Control"] == "no-store" and response["Referrer-Policy"] == "no-referrer"
    html = response.content.decode()

    def script(name):
        return json.loads(re.search(rf'<script id="{name}" type="application/json">(.*?)</script>', html).group(1))

    assert script("oauth-message") == {
        "type": "oauth_callback",
        "code": "c-2",
        "state": state,
        "integrationId": str(integration.pk),
        "clientState": "ui-42",
    }
    assert script("oauth-origins") == ["http://testserver", "https://app.example.test"]
    assert "postMessage(message, origin)" in html and '"*"' not in html and "'*'" not in html
    assert not Connection.objects.exists()


def test_an_unknown_state_with_a_code_renders_an_error_page_and_redirects_nowhere(anon_client, db):
    response = anon_client.get("/api/v1/oauth/callback", {"code": "c", "state": "not-ours"})

    assert response.status_code == 400 and "Location" not in response
    assert b"postMessage" not in response.content
