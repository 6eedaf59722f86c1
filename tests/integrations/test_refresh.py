"""Token refresh: rotation, kept refresh tokens, invalid_grant, races, the periodic task, and single-flight under
real concurrency (10 threads, one token request)."""

# ruff: noqa: F811 (pytest fixtures imported from tests.integrations.connection_support)

import threading
import time
from datetime import timedelta

import pytest
import responses
from django.db import connection as db_connection
from django.utils import timezone

from integrations.connections import due_for_refresh, refresh_connection
from integrations.models import ActivityLog, Connection
from integrations.tasks import refresh as refresh_tasks
from tests.helpers import assert_error
from tests.integrations.connection_support import (  # noqa: F401
    GOOGLE_TOKEN_URL,
    emitted,
    event_names,
    form_of,
    google_token,
    make_integration,
    no_backoff_sleep,
    oauth_clients,
    oauth_connection,
)


def _google(tenant, **kwargs):
    return make_integration(tenant, "google_calendar", user_scoped=False, **kwargs)


@pytest.mark.django_db
@responses.activate
def test_refresh_endpoint_rotates_the_refresh_token(admin_client, oauth_clients):
    integration = _google(admin_client.tenant)
    connection = oauth_connection(integration)
    responses.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token(access="ya29.new", refresh="1//rotated"))

    response = admin_client.post(f"/api/v1/integrations/{integration.pk}/oauth/refresh")

    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "Token refreshed successfully"}
    sent = form_of(responses.calls[0].request)
    assert sent["grant_type"] == "refresh_token" and sent["refresh_token"] == "1//stored-refresh"
    assert sent["client_secret"] == oauth_clients["GOOGLE_CLIENT_SECRET"]
    fresh = Connection.objects.get(pk=connection.pk)
    assert fresh.credentials["access_token"] == "ya29.new"
    assert fresh.credentials["refresh_token"] == "1//rotated"
    assert fresh.token_generation == connection.token_generation + 1
    assert fresh.last_refreshed_at is not None and fresh.expires_at > timezone.now() + timedelta(minutes=50)
    entry = ActivityLog.objects.get(integration=integration, type="refresh")
    assert entry.status == "success" and entry.details["rotated"] is True


@pytest.mark.django_db
@responses.activate
def test_a_refresh_token_the_provider_does_not_resend_is_kept(admin_client, oauth_clients):
    integration = _google(admin_client.tenant)
    connection = oauth_connection(integration)
    responses.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token(access="ya29.new", refresh=None))

    fresh = refresh_connection(connection=connection)

    assert fresh.credentials == {
        "access_token": "ya29.new",
        "refresh_token": "1//stored-refresh",
        "token_type": "Bearer",
    }


@pytest.mark.django_db
@responses.activate
def test_invalid_grant_expires_the_connection_and_emits_connection_expired(admin_client, oauth_clients, emitted):
    integration = _google(admin_client.tenant)
    connection = oauth_connection(integration)
    responses.add(
        responses.POST,
        GOOGLE_TOKEN_URL,
        status=400,
        json={"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
    )

    response = admin_client.post(f"/api/v1/integrations/{integration.pk}/oauth/refresh")

    error = assert_error(response, 400, "INVALID_CREDENTIALS")
    assert "stored-refresh" not in error["message"]
    connection.refresh_from_db()
    assert connection.status == "expired" and "invalid_grant" in connection.validation_error
    integration.refresh_from_db()
    assert integration.status == "error"
    assert event_names(emitted) == ["integration.connection_expired"]
    assert emitted[0][1]["connectionId"] == str(connection.pk)
    # a further refresh of an expired connection is a clear conflict, not another token request
    assert_error(admin_client.post(f"/api/v1/integrations/{integration.pk}/oauth/refresh"), 409, "CONFLICT")
    assert len(responses.calls) == 1


@pytest.mark.django_db
@responses.activate
def test_invalid_grant_after_a_concurrent_rotation_is_a_race_not_an_expiry(admin_client, oauth_clients, emitted):
    integration = _google(admin_client.tenant)
    connection = oauth_connection(integration)

    def rotated_meanwhile(request):
        # another worker (lock lost) rotated the refresh token while our request was in flight
        Connection.objects.filter(pk=connection.pk).update(
            credentials={"access_token": "ya29.theirs", "refresh_token": "1//theirs", "token_type": "Bearer"},
            token_generation=connection.token_generation + 1,
        )
        return 400, {}, '{"error": "invalid_grant"}'

    responses.add_callback(responses.POST, GOOGLE_TOKEN_URL, callback=rotated_meanwhile)

    fresh = refresh_connection(connection=connection)

    assert fresh.status == "active" and fresh.credentials["access_token"] == "ya29.theirs"
    assert emitted == []


@pytest.mark.django_db
@responses.activate
def test_token_endpoint_failure_keeps_the_connection_active(admin_client, oauth_clients):
    integration = _google(admin_client.tenant)
    connection = oauth_connection(integration)
    responses.add(responses.POST, GOOGLE_TOKEN_URL, status=502, body="<html>Bad gateway</html>")

    response = admin_client.post(f"/api/v1/integrations/{integration.pk}/oauth/refresh")

    assert_error(response, 502, "CONNECTION_FAILED")
    connection.refresh_from_db()
    assert connection.status == "active" and connection.credentials["access_token"] == "ya29.stored"
    assert ActivityLog.objects.filter(integration=integration, type="refresh", status="error").exists()


@pytest.mark.django_db
def test_refresh_errors_for_missing_or_non_oauth_connections(admin_client, oauth_clients):
    integration = _google(admin_client.tenant)
    assert_error(admin_client.post(f"/api/v1/integrations/{integration.pk}/oauth/refresh"), 404, "CONNECTION_NOT_FOUND")
    oauth_connection(integration, refresh=None)
    Connection.objects.update(credentials={"access_token": "ya29.only", "token_type": "Bearer"})
    assert_error(admin_client.post(f"/api/v1/integrations/{integration.pk}/oauth/refresh"), 409, "CONFLICT")


@pytest.mark.django_db
def test_refresh_needs_update_permission(make_client, oauth_clients):
    member = make_client("member")
    integration = _google(member.tenant)
    oauth_connection(integration)

    assert_error(member.post(f"/api/v1/integrations/{integration.pk}/oauth/refresh"), 403, "PERMISSION_DENIED")


@pytest.mark.django_db
@responses.activate
def test_a_waiter_that_finds_the_connection_refreshed_makes_no_token_request(admin_client, oauth_clients):
    integration = _google(admin_client.tenant)
    stale = oauth_connection(integration)
    responses.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token(access="ya29.first"))
    refresh_connection(connection=Connection.objects.get(pk=stale.pk))

    again = refresh_connection(connection=stale)  # read before the first refresh: generation is behind

    assert again.credentials["access_token"] == "ya29.first"
    assert len(responses.calls) == 1


@pytest.mark.django_db
def test_due_for_refresh_uses_the_margin_and_the_provider_override(admin_client, oauth_clients, settings):
    settings.OAUTH_REFRESH_MARGIN_SECONDS = 900
    google = _google(admin_client.tenant)
    soon = oauth_connection(google, expires_in=600)
    oauth_connection(_google(admin_client.tenant), expires_in=3600)
    oauth_connection(_google(admin_client.tenant), expires_in=None)
    Connection.objects.filter(pk=oauth_connection(_google(admin_client.tenant), expires_in=60).pk).update(
        status="expired"
    )
    slack = make_integration(admin_client.tenant, "slack")
    slack.provider.oauth_config = {**slack.provider.oauth_config, "refreshMarginSeconds": 7200}
    slack.provider.save()
    slack_conn = oauth_connection(slack, expires_in=3600)

    assert sorted(due_for_refresh()) == sorted([str(soon.pk), str(slack_conn.pk)])


@pytest.mark.django_db
@responses.activate
def test_periodic_task_enqueues_one_refresh_per_due_connection_and_each_refreshes(
    admin_client, oauth_clients, monkeypatch
):
    due = oauth_connection(_google(admin_client.tenant), expires_in=120)
    oauth_connection(_google(admin_client.tenant), expires_in=7200)
    queued = []
    monkeypatch.setattr(refresh_tasks.refresh_connection_task, "delay", queued.append)
    responses.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token(access="ya29.scheduled"))

    assert refresh_tasks.refresh_expiring_connections() == 1
    assert queued == [str(due.pk)]
    refresh_tasks.refresh_connection_task(queued[0])
    refresh_tasks.refresh_connection_task(queued[0])  # a duplicate delivery: already fresh, no second request

    assert Connection.objects.get(pk=due.pk).credentials["access_token"] == "ya29.scheduled"
    assert len(responses.calls) == 1


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_ten_threads_refreshing_one_connection_make_exactly_one_token_request(admin_client, oauth_clients):
    """Real Redis lock, real PostgreSQL rows: 10 concurrent refreshes, one token call, one shared token."""
    integration = _google(admin_client.tenant)
    connection = oauth_connection(integration)
    calls = []

    def slow_token_endpoint(request):
        calls.append(form_of(request)["refresh_token"])
        time.sleep(0.3)  # hold the lock long enough for every other thread to pile up behind it
        return 200, {}, '{"access_token": "ya29.single", "refresh_token": "1//single", "expires_in": 3599}'

    start = threading.Barrier(10)
    results, errors = [], []

    def worker():
        try:
            stale = Connection.objects.get(pk=connection.pk)
            start.wait()
            results.append(refresh_connection(connection=stale, reason="concurrency-test"))
        except Exception as exc:
            errors.append(exc)
        finally:
            db_connection.close()  # this thread's own database connection

    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.POST, GOOGLE_TOKEN_URL, callback=slow_token_endpoint)
        threads = [threading.Thread(target=worker) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    assert errors == []
    assert calls == ["1//stored-refresh"]
    assert len(results) == 10
    assert {r.credentials["access_token"] for r in results} == {"ya29.single"}
    final = Connection.objects.get(pk=connection.pk)
    assert final.credentials["refresh_token"] == "1//single"
    assert final.token_generation == connection.token_generation + 1
    assert final.status == "active"
