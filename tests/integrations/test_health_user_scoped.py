# ruff: noqa: F811 (pytest fixtures imported from tests.integrations.connection_support)
"""Health of a user-scoped integration never runs on another user's grant: the scheduled check is a system-level
reachability check (no user's credentials), and a check a user asks for uses that user's own connection only."""

import pytest
import responses
from django.utils import timezone

from accounts.models import Role
from integrations.models import Connection, HealthCheck
from integrations.tasks.health import health_check_task
from providers.registry import get_client
from tests.integrations.connection_support import (  # noqa: F401
    make_integration,
    no_backoff_sleep,
    oauth_clients,
    oauth_connection,
)

pytestmark = pytest.mark.django_db

CALENDAR_LIST = "https://www.googleapis.com/calendar/v3/users/me/calendarList"
GOOGLE_API = "https://www.googleapis.com"
ALICE_TOKEN = "ya29.alice-only-token"
BOB_TOKEN = "ya29.bob-only-token"


def _tokens_sent() -> list[str]:
    return [c.request.headers.get("Authorization", "") for c in responses.calls]


def _calendar(tenant, alice):
    integration = make_integration(tenant, "google_calendar", user_scoped=True, status="active")
    oauth_connection(integration, user=alice, access=ALICE_TOKEN)
    return integration


@responses.activate
def test_the_scheduled_check_uses_no_users_grant(make_client, oauth_clients):
    # Given a user-scoped integration that Alice connected
    alice = make_client(Role.MEMBER)
    integration = _calendar(alice.tenant, alice.user)
    responses.add(responses.GET, CALENDAR_LIST, json={"items": []})
    responses.add(responses.GET, GOOGLE_API, status=404)

    # When the scheduled check runs
    status = health_check_task(str(integration.pk))

    # Then no request carried Alice's token, and the provider's reachability decided the verdict
    assert all(ALICE_TOKEN not in sent for sent in _tokens_sent())
    assert _tokens_sent() == [""]
    assert status == "healthy"
    assert HealthCheck.objects.get(integration=integration).status == "healthy"


@responses.activate
def test_a_users_check_uses_only_their_own_connection(make_client, oauth_clients):
    alice = make_client(Role.MEMBER)
    bob = make_client(Role.INTEGRATION_MANAGER, tenant=alice.tenant)
    integration = _calendar(alice.tenant, alice.user)
    oauth_connection(integration, user=bob.user, access=BOB_TOKEN)
    # Alice's grant is the most recently validated one: a "sample" connection would be hers
    Connection.objects.filter(integration=integration, user=alice.user).update(last_validated_at=timezone.now())
    responses.add(responses.GET, CALENDAR_LIST, json={"items": []})

    response = bob.post(f"/api/v1/integrations/{integration.pk}/health/check")

    assert response.status_code == 200, response.content
    assert _tokens_sent() == [f"Bearer {BOB_TOKEN}"]


@responses.activate
def test_a_user_without_a_connection_gets_the_reachability_check_not_someone_elses_grant(make_client, oauth_clients):
    alice = make_client(Role.MEMBER)
    carol = make_client(Role.ADMIN, tenant=alice.tenant)
    integration = _calendar(alice.tenant, alice.user)
    responses.add(responses.GET, CALENDAR_LIST, json={"items": []})
    responses.add(responses.GET, GOOGLE_API, status=404)

    response = carol.post(f"/api/v1/integrations/{integration.pk}/health/check")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "healthy"
    assert all(ALICE_TOKEN not in sent for sent in _tokens_sent())


@responses.activate
def test_the_reachability_check_reports_an_unreachable_provider_and_a_missing_oauth_client(make_client, monkeypatch):
    alice = make_client(Role.MEMBER)
    integration = _calendar(alice.tenant, alice.user)
    monkeypatch.delenv("GOOGLE_CLIENT_ID", raising=False)

    health_check_task(str(integration.pk))

    check = HealthCheck.objects.get(integration=integration)
    assert check.status == "unhealthy" and "GOOGLE_CLIENT_ID" in check.error
    assert len(responses.calls) == 0


def test_get_client_never_picks_another_users_connection(make_client):
    alice = make_client(Role.MEMBER)
    integration = _calendar(alice.tenant, alice.user)

    assert get_client(integration).connection is None
