"""The OAuth `state`: random, stored hashed, single-use, bound to tenant/user/integration, expiring in 10 minutes."""

# ruff: noqa: F811 (pytest fixtures imported from tests.integrations.connection_support)

from datetime import timedelta

import pytest
import responses
from django.db import connection as db_connection
from django.utils import timezone

from integrations.models import Connection, OAuthState
from integrations.tasks.refresh import purge_oauth_states
from tests.helpers import assert_error
from tests.integrations.connection_support import (  # noqa: F401
    GOOGLE_TOKEN_URL,
    finish_oauth,
    google_token,
    make_integration,
    no_backoff_sleep,
    oauth_clients,
    query_of,
    start_oauth,
)

pytestmark = pytest.mark.django_db


def test_state_is_stored_hashed_with_an_encrypted_verifier_bound_to_its_flow(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)

    _url, state = start_oauth(admin_client, integration)

    stored = OAuthState.objects.get()
    assert stored.state_hash == OAuthState.hash_token(state) and state not in stored.state_hash
    assert (stored.tenant_id, stored.user_id, stored.integration_id) == (
        admin_client.tenant.pk,
        admin_client.user.pk,
        integration.pk,
    )
    assert stored.scope == "tenant"
    assert stored.redirect_uri == "http://testserver/api/v1/oauth/callback"
    assert timedelta(seconds=590) < stored.expires_at - timezone.now() <= timedelta(seconds=600)
    assert len(stored.code_verifier) >= 43
    with db_connection.cursor() as cursor:
        cursor.execute(f"SELECT code_verifier FROM {OAuthState._meta.db_table}")
        raw = cursor.fetchone()[0]
    assert stored.code_verifier not in raw and raw.startswith("gAAAAA")


def test_two_flows_get_different_states(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)

    assert start_oauth(admin_client, integration)[1] != start_oauth(admin_client, integration)[1]


@responses.activate
def test_a_replayed_state_is_refused_and_the_code_is_not_exchanged_twice(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    _url, state = start_oauth(admin_client, integration)
    responses.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token())
    assert finish_oauth(admin_client, integration, "c1", state).status_code == 200

    replay = finish_oauth(admin_client, integration, "c1", state)
    replay_get = admin_client.get("/api/v1/oauth/callback", {"code": "c1", "state": state})

    assert replay.status_code == 400 and replay.json()["error"] == "state_already_used"
    assert query_of(replay_get["Location"])["error"] == "state_already_used"
    assert "code" not in query_of(replay_get["Location"])
    assert len(responses.calls) == 1
    assert Connection.objects.get(integration=integration).status == "active"


def test_an_expired_state_is_refused(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    _url, state = start_oauth(admin_client, integration)
    OAuthState.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = admin_client.get("/api/v1/oauth/callback", {"code": "c1", "state": state})
    completed = finish_oauth(admin_client, integration, "c1", state)

    assert query_of(response["Location"])["error"] == "state_expired"
    assert completed.status_code == 400 and completed.json()["error"] == "state_expired"
    assert not Connection.objects.exists()


@pytest.mark.parametrize("state", ["forged-state-value", "", "x" * 500])
def test_a_forged_state_renders_an_error_page_and_never_redirects(anon_client, db, state):
    response = anon_client.get("/api/v1/oauth/callback", {"code": "c1", "state": state})

    assert response.status_code == 400
    assert "Location" not in response
    assert b"invalid_state" in response.content
    assert response["Content-Type"].startswith("text/html")


def test_a_flow_started_without_return_url_shows_the_hand_off_page_with_the_provider_error(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    auth_url = admin_client.get(f"/api/v1/integrations/{integration.pk}/oauth/authorize").json()["authUrl"]

    response = admin_client.get(
        "/api/v1/oauth/callback", {"error": "access_denied", "state": query_of(auth_url)["state"]}
    )

    assert response.status_code == 200 and "Location" not in response
    assert b"access_denied" in response.content
    assert response["Cache-Control"] == "no-store"


def test_another_tenants_state_is_invalid_on_the_post_callback_and_stays_usable(
    admin_client, other_tenant_client, oauth_clients
):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    own = make_integration(other_tenant_client.tenant, "google_calendar", user_scoped=False)
    _url, state = start_oauth(admin_client, integration)

    response = other_tenant_client.post(
        f"/api/v1/integrations/{own.pk}/oauth/callback", {"code": "c", "state": state}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_state"
    assert OAuthState.objects.get().used_at is None


def test_a_state_of_another_user_is_403_and_of_another_integration_invalid_on_the_post_callback(
    make_client, oauth_clients
):
    alice = make_client("admin")
    bob = make_client("admin", tenant=alice.tenant)
    first = make_integration(alice.tenant, "google_calendar", user_scoped=False)
    second = make_integration(alice.tenant, "google_calendar", user_scoped=False)
    _url, state = start_oauth(alice, first)

    by_bob = bob.post(f"/api/v1/integrations/{first.pk}/oauth/callback", {"code": "c", "state": state}, format="json")
    on_other = alice.post(
        f"/api/v1/integrations/{second.pk}/oauth/callback", {"code": "c", "state": state}, format="json"
    )

    assert_error(by_bob, 403, "PERMISSION_DENIED")
    assert on_other.json()["error"] == "invalid_state"
    assert OAuthState.objects.get().used_at is None


def test_post_callback_needs_a_code_or_an_error(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)

    response = admin_client.post(
        f"/api/v1/integrations/{integration.pk}/oauth/callback", {"state": "abc"}, format="json"
    )

    assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_old_states_are_purged(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    start_oauth(admin_client, integration)
    start_oauth(admin_client, integration)
    OAuthState.objects.filter(pk=OAuthState.objects.first().pk).update(expires_at=timezone.now() - timedelta(days=2))

    assert purge_oauth_states() == 1
    assert OAuthState.objects.count() == 1
