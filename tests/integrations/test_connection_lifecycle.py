"""The connection lifecycle: keep-alive refreshes, giving up after giveUpAfterHours (never on transient errors),
connection_recovered, needsReconnect / reconnectReason, and reconnecting under the same connection id."""

# ruff: noqa: F811 (pytest fixtures imported from tests.integrations.connection_support)

from datetime import timedelta

import pytest
import requests
import responses
from django.utils import timezone

from config.errors import ConnectionFailed, InvalidCredentials
from integrations.connections import due_for_refresh, refresh_connection
from integrations.models import ActivityLog, Connection
from tests.integrations.connection_support import (  # noqa: F401
    GOOGLE_TOKEN_URL,
    emitted,
    event_names,
    google_token,
    make_integration,
    no_backoff_sleep,
    oauth_clients,
    oauth_connection,
)
from webhooks.models import Webhook

STRIPE_KEY = "sk_test_51HxAbCdEfGhIjKlMnOpQrStUv"
BALANCE = {"object": "balance", "livemode": False, "available": [{"amount": 0, "currency": "usd"}], "pending": []}


def google(tenant, **oauth):
    integration = make_integration(tenant, "google_calendar", user_scoped=False)
    provider = integration.provider
    provider.oauth_config = {**provider.oauth_config, **oauth}
    provider.save()
    return integration


def _age(connection, **fields):
    Connection.objects.filter(pk=connection.pk).update(**fields)
    connection.refresh_from_db()
    return connection


# --- keep-alive -----------------------------------------------------------------------------------------------------
@responses.activate
def test_keep_alive_refreshes_a_connection_not_refreshed_for_keep_alive_hours(admin_client, oauth_clients):
    other = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    integration = google(admin_client.tenant, keepAliveHours=24)
    stale = _age(
        oauth_connection(integration, expires_in=7 * 86400), last_refreshed_at=timezone.now() - timedelta(hours=25)
    )
    recent = _age(oauth_connection(other, expires_in=7 * 86400), last_refreshed_at=timezone.now() - timedelta(hours=2))
    responses.post(GOOGLE_TOKEN_URL, json=google_token(access="ya29.kept-alive", refresh="1//new"))

    due = due_for_refresh()
    refreshed = refresh_connection(connection=stale, reason="scheduled", only_if_expiring=True)

    assert str(stale.pk) in due and str(recent.pk) not in due
    assert refreshed.access_token == "ya29.kept-alive" and refreshed.last_refreshed_at > stale.last_refreshed_at
    assert len(responses.calls) == 1


def test_without_keep_alive_a_long_lived_token_is_left_alone(admin_client, oauth_clients):
    integration = google(admin_client.tenant)
    connection = _age(
        oauth_connection(integration, expires_in=7 * 86400), connected_at=timezone.now() - timedelta(days=30)
    )
    assert str(connection.pk) not in due_for_refresh()


# --- giving up ------------------------------------------------------------------------------------------------------
@responses.activate
def test_repeated_refresh_failures_over_give_up_after_hours_expire_the_connection(admin_client, oauth_clients, emitted):
    integration = google(admin_client.tenant, giveUpAfterHours=48)
    connection = oauth_connection(integration)
    responses.post(GOOGLE_TOKEN_URL, status=401, json={"error": "invalid_client", "error_description": "Unauthorized"})

    with pytest.raises(ConnectionFailed):
        refresh_connection(connection=connection)
    first = Connection.objects.get(pk=connection.pk)
    assert first.status == "active" and first.refresh_failures == 1 and first.refresh_failing_since is not None

    _age(first, refresh_failing_since=timezone.now() - timedelta(hours=49))
    with pytest.raises(ConnectionFailed):
        refresh_connection(connection=first)

    expired = Connection.objects.get(pk=connection.pk)
    assert expired.status == "expired" and expired.reconnect_reason == "refresh_failed"
    assert event_names(emitted) == ["integration.connection_expired"]
    assert emitted[0][1]["reconnectReason"] == "refresh_failed" and emitted[0][1]["error"] == "invalid_client"
    body = admin_client.get(f"/api/v1/integrations/{integration.pk}/connection").json()
    assert body["needsReconnect"] is True and body["reconnectReason"] == "refresh_failed"


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 503, "json": {"error": "temporarily_unavailable"}},
        {"status": 500, "body": "upstream error"},
        {"body": requests.exceptions.ReadTimeout("read timed out")},
        {"body": requests.exceptions.ConnectionError("connection refused")},
    ],
)
@responses.activate
def test_transient_refresh_errors_never_expire_a_connection(admin_client, oauth_clients, emitted, failure):
    integration = google(admin_client.tenant, giveUpAfterHours=1)
    connection = _age(
        oauth_connection(integration), refresh_failures=5, refresh_failing_since=timezone.now() - timedelta(days=10)
    )
    responses.post(GOOGLE_TOKEN_URL, **failure)

    for _ in range(3):
        with pytest.raises(ConnectionFailed):
            refresh_connection(connection=connection)

    after = Connection.objects.get(pk=connection.pk)
    assert after.status == "active" and after.refresh_failures == 5 and after.reconnect_reason is None
    assert "integration.connection_expired" not in event_names(emitted)


@responses.activate
def test_invalid_grant_expires_at_once_with_its_reason(admin_client, oauth_clients, emitted):
    integration = google(admin_client.tenant)
    connection = oauth_connection(integration)
    responses.post(
        GOOGLE_TOKEN_URL,
        status=400,
        json={"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
    )

    with pytest.raises(InvalidCredentials):
        refresh_connection(connection=connection)

    assert Connection.objects.get(pk=connection.pk).reconnect_reason == "refresh_token_revoked"


# --- recovery -------------------------------------------------------------------------------------------------------
@responses.activate
def test_first_successful_refresh_after_an_error_emits_connection_recovered(admin_client, oauth_clients, emitted):
    integration = google(admin_client.tenant)
    connection = _age(
        oauth_connection(integration),
        status="error",
        status_reason="invalid_credentials",
        refresh_failures=2,
        refresh_failing_since=timezone.now(),
    )
    responses.post(GOOGLE_TOKEN_URL, json=google_token(access="ya29.back"))

    fresh = refresh_connection(connection=connection)
    refresh_connection(connection=_age(fresh, expires_at=timezone.now()))  # a second success: no second event

    assert fresh.status == "active" and fresh.reconnect_reason is None and fresh.refresh_failures == 0
    assert event_names(emitted) == ["integration.connection_recovered"]
    assert emitted[0][1]["previousStatus"] == "error" and emitted[0][1]["via"] == "refresh"
    entry = ActivityLog.objects.get(integration=integration, details__recovered=True)
    assert entry.type == "refresh" and entry.status == "success"


@responses.activate
def test_reconnecting_keeps_the_connection_id_settings_webhooks_and_history(admin_client, emitted):
    integration = make_integration(admin_client.tenant, "stripe", settings={"syncInterval": 15})
    webhook = Webhook.objects.create(
        tenant=integration.tenant, integration=integration, name="w", url="https://example.com/h", events=["*"]
    )
    responses.get("https://api.stripe.com/v1/balance", json=BALANCE)
    first = admin_client.post(
        f"/api/v1/integrations/{integration.pk}/connect/api-key", {"apiKey": STRIPE_KEY}, format="json"
    )
    assert first.status_code == 200, first.content
    connection_id = first.json()["connectionId"]

    # The key is revoked at Stripe: a test marks the connection `error`.
    responses.replace(
        responses.GET,
        "https://api.stripe.com/v1/balance",
        status=401,
        json={"error": {"message": "Invalid API Key provided: sk_test_****UtUv", "type": "invalid_request_error"}},
    )
    admin_client.post(f"/api/v1/integrations/{integration.pk}/test")
    broken = admin_client.get(f"/api/v1/integrations/{integration.pk}/connection").json()
    history = ActivityLog.objects.filter(integration=integration).count()

    responses.replace(responses.GET, "https://api.stripe.com/v1/balance", json=BALANCE)
    again = admin_client.post(
        f"/api/v1/integrations/{integration.pk}/connect/api-key", {"apiKey": STRIPE_KEY + "2"}, format="json"
    )

    assert broken["needsReconnect"] is True and broken["reconnectReason"] == "invalid_credentials"
    assert broken["status"] == "error"
    assert again.status_code == 200 and again.json()["connectionId"] == connection_id
    now = admin_client.get(f"/api/v1/integrations/{integration.pk}/connection").json()
    assert now["connectionId"] == connection_id and now["needsReconnect"] is False and now["reconnectReason"] is None
    integration.refresh_from_db()
    assert integration.settings == {"syncInterval": 15}
    assert Webhook.objects.filter(pk=webhook.pk, integration=integration).exists()
    assert ActivityLog.objects.filter(integration=integration).count() > history  # nothing was deleted
    assert "integration.connection_recovered" in event_names(emitted)


@responses.activate
def test_a_disconnected_connection_needs_a_reconnect(admin_client, oauth_clients):
    integration = google(admin_client.tenant)
    oauth_connection(integration)
    responses.post("https://oauth2.googleapis.com/revoke", body="")
    admin_client.post(f"/api/v1/integrations/{integration.pk}/disconnect")

    body = admin_client.get(f"/api/v1/integrations/{integration.pk}/connection").json()

    assert body["status"] == "revoked" and body["needsReconnect"] is True and body["reconnectReason"] == "disconnected"


@responses.activate
def test_a_429_of_the_token_endpoint_is_transient_and_spends_the_connections_budget(
    admin_client, oauth_clients, emitted
):
    from providers.budget import ProviderRateLimited

    integration = google(admin_client.tenant, giveUpAfterHours=1)
    connection = _age(
        oauth_connection(integration), refresh_failures=3, refresh_failing_since=timezone.now() - timedelta(days=1)
    )
    responses.post(GOOGLE_TOKEN_URL, status=429, headers={"Retry-After": "20"}, json={"error": "rate_limit_exceeded"})

    with pytest.raises(ConnectionFailed):
        refresh_connection(connection=connection)
    with pytest.raises(ProviderRateLimited):  # the next refresh waits for the budget: no token request
        refresh_connection(connection=connection)

    assert len(responses.calls) == 1
    after = Connection.objects.get(pk=connection.pk)
    assert after.status == "active" and after.refresh_failures == 3
