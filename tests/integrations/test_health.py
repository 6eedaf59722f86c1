"""Health monitoring: verdicts from provider answers stood in by `responses`, transitions, events, schedule, API."""

import time
from datetime import timedelta

import pytest
import requests
import responses
from django.utils import timezone

from accounts.models import Role
from integrations import events
from integrations.health import health_check_run
from integrations.models import ActivityLog, Connection, HealthCheck, Integration
from integrations.tasks.health import health_check_task, health_fan_out_task, jitter_seconds, prune_health_checks
from tests.helpers import assert_error, assert_tenant_isolation
from tests.integrations.factories import IntegrationFactory, catalog_provider

pytestmark = pytest.mark.django_db

BALANCE_URL = "https://api.stripe.com/v1/balance"
# https://docs.stripe.com/api/balance/balance_object
BALANCE = {
    "object": "balance",
    "available": [{"amount": 666670, "currency": "usd", "source_types": {"card": 666670}}],
    "livemode": False,
    "pending": [{"amount": 61414, "currency": "usd", "source_types": {"card": 61414}}],
}
STRIPE_401 = {
    "error": {
        "message": "Invalid API Key provided: sk_test_****1234",
        "type": "invalid_request_error",
    }
}
STRIPE_429 = {"error": {"message": "Too many requests hit the API too quickly.", "type": "rate_limit_error"}}


@pytest.fixture(autouse=True)
def no_backoff_sleep(monkeypatch):
    monkeypatch.setattr("providers.http._sleep", lambda seconds: None)


@pytest.fixture
def health_events(monkeypatch):
    seen = []
    real = events.emit

    def record(tenant, event, data):
        if event == "integration.health_changed":
            seen.append(data)
        return real(tenant, event, data)

    monkeypatch.setattr(events, "emit", record)
    return seen


def stripe_integration(tenant=None, *, status="active", connection_status="active", connected=True, **fields):
    kwargs = {"tenant": tenant} if tenant is not None else {}
    integration = IntegrationFactory(provider=catalog_provider("stripe"), status=status, **kwargs, **fields)
    if connected:
        Connection.objects.create(
            tenant=integration.tenant,
            integration=integration,
            auth_type="api_key",
            status=connection_status,
            credentials={"apiKey": "sk_test_51AbCdEfGhIjKlMnOpQrStUvWxYz1234"},
            connected_at=timezone.now(),
        )
    return integration


def check(integration, **kwargs):
    result = health_check_run(integration=Integration.objects.get(pk=integration.pk), **kwargs)
    integration.refresh_from_db()
    return result


class TestVerdicts:
    @responses.activate
    def test_expected_answer_is_healthy(self, health_events):
        responses.get(BALANCE_URL, json=BALANCE)
        integration = stripe_integration()
        result = check(integration)
        assert result.status == "healthy" and result.status_code == 200 and result.response_time_ms is not None
        assert responses.calls[0].request.headers["Authorization"] == "Bearer sk_test_51AbCdEfGhIjKlMnOpQrStUvWxYz1234"
        assert integration.health_status == "healthy"
        assert integration.last_health_check_at == result.checked_at
        assert integration.last_error == "" and integration.consecutive_health_failures == 0
        assert [(e["previousStatus"], e["status"]) for e in health_events] == [("unknown", "healthy")]
        entry = ActivityLog.objects.get(integration=integration, type="health_check")
        assert entry.status == "success" and entry.details["status"] == "healthy"
        assert "sk_test" not in str(entry.details) + entry.message

    @responses.activate
    def test_slow_answer_is_degraded(self, settings):
        settings.HEALTH_SLOW_MS = 50

        def slow(request):
            time.sleep(0.08)
            return 200, {}, '{"object": "balance", "available": [], "pending": []}'

        responses.add_callback(responses.GET, BALANCE_URL, callback=slow)
        integration = stripe_integration()
        result = check(integration)
        assert result.status == "degraded" and result.kind == "slow"
        assert result.response_time_ms >= 80
        assert integration.health_status == "degraded"
        assert integration.last_error.startswith("Slow response:") and integration.last_error_at is not None

    @responses.activate
    def test_rate_limited_is_degraded_at_once(self):
        responses.get(BALANCE_URL, json=STRIPE_429, status=429)
        integration = stripe_integration()
        result = check(integration)
        assert result.status == "degraded" and result.kind == "rate_limited" and result.status_code == 429
        assert len(responses.calls) == 1  # a 429 is never retried: the shared budget learns from it instead
        assert "Too many requests" in integration.last_error
        assert integration.consecutive_health_failures == 0

    @responses.activate
    def test_server_error_is_degraded(self):
        responses.get(BALANCE_URL, json={"error": {"message": "An unknown error occurred"}}, status=500)
        result = check(stripe_integration())
        assert result.status == "degraded" and result.kind == "server_error" and result.status_code == 500

    @responses.activate
    def test_refused_key_is_unhealthy(self):
        responses.get(BALANCE_URL, json=STRIPE_401, status=401)
        integration = stripe_integration()
        result = check(integration)
        assert result.status == "unhealthy" and result.kind == "auth_failed" and result.status_code == 401
        assert "Invalid API Key" in integration.last_error
        assert integration.consecutive_health_failures == 1 and integration.status == "active"

    @responses.activate
    def test_one_timeout_is_degraded_two_in_a_row_unhealthy(self):
        responses.get(BALANCE_URL, body=requests.exceptions.ReadTimeout("Read timed out. (read timeout=20)"))
        integration = stripe_integration()
        first = check(integration)
        assert first.status == "degraded" and first.kind == "timeout" and "timed out" in first.error
        second = check(integration)
        assert second.status == "unhealthy" and second.kind == "timeout"
        assert integration.health_status == "unhealthy"

    @responses.activate
    def test_unreachable_after_retries_is_unhealthy(self):
        responses.get(BALANCE_URL, body=requests.exceptions.ConnectionError("Name or service not known"))
        result = check(stripe_integration())
        assert result.status == "unhealthy" and result.kind == "unreachable"
        assert len(responses.calls) == 3

    @responses.activate
    def test_expired_connection_is_unhealthy_without_calling(self):
        integration = stripe_integration(connection_status="expired")
        result = check(integration)
        assert result.status == "unhealthy" and result.kind == "connection_expired"
        assert "reconnect" in integration.last_error
        assert len(responses.calls) == 0

    @responses.activate
    def test_no_connection_is_unhealthy(self):
        result = check(stripe_integration(connected=False))
        assert result.status == "unhealthy" and result.kind == "not_configured"
        assert len(responses.calls) == 0

    def test_provider_without_a_health_request_is_unknown(self, health_events):
        integration = IntegrationFactory(provider=catalog_provider("custom_webhook"), status="active")
        result = check(integration)
        assert result.status == "unknown" and result.kind == "skipped"
        assert integration.health_status == "unknown" and health_events == []


class TestTransitions:
    @responses.activate
    def test_three_unhealthy_checks_set_error_and_one_healthy_check_recovers(self, settings, health_events):
        settings.HEALTH_UNHEALTHY_THRESHOLD = 3
        integration = stripe_integration()
        responses.get(BALANCE_URL, json=BALANCE)
        check(integration)
        responses.replace(responses.GET, BALANCE_URL, json=STRIPE_401, status=401)
        check(integration)
        check(integration)
        assert integration.status == "active" and integration.consecutive_health_failures == 2
        check(integration)
        assert integration.status == "error" and integration.consecutive_health_failures == 3
        check(integration)
        assert integration.status == "error" and integration.consecutive_health_failures == 4
        responses.replace(responses.GET, BALANCE_URL, json=BALANCE)
        check(integration)
        assert integration.status == "active" and integration.health_status == "healthy"
        assert integration.consecutive_health_failures == 0 and integration.last_error == ""
        assert integration.last_error_at is not None
        transitions = [(e["previousStatus"], e["status"], e["integrationStatus"]) for e in health_events]
        assert transitions == [
            ("unknown", "healthy", "active"),
            ("healthy", "unhealthy", "active"),
            ("unhealthy", "healthy", "active"),
        ]
        recovery = health_events[-1]
        assert recovery["previousIntegrationStatus"] == "error" and recovery["provider"] == "stripe"
        assert recovery["integrationId"] == str(integration.id) and recovery["error"] is None

    @responses.activate
    def test_degraded_does_not_count_towards_error(self, settings):
        settings.HEALTH_UNHEALTHY_THRESHOLD = 2
        integration = stripe_integration()
        responses.get(BALANCE_URL, json=STRIPE_401, status=401)
        check(integration)
        responses.replace(responses.GET, BALANCE_URL, json=STRIPE_429, status=429)
        check(integration)
        responses.replace(responses.GET, BALANCE_URL, json=STRIPE_401, status=401)
        check(integration)
        assert integration.status == "active" and integration.consecutive_health_failures == 1

    @responses.activate
    @pytest.mark.parametrize("status", ["pending", "inactive"])
    def test_pending_and_inactive_integrations_keep_their_status(self, settings, status):
        settings.HEALTH_UNHEALTHY_THRESHOLD = 1
        responses.get(BALANCE_URL, json=STRIPE_401, status=401)
        integration = stripe_integration(status=status)
        check(integration)
        assert integration.status == status and integration.health_status == "unhealthy"

    @responses.activate
    def test_scheduled_check_writes_activity_only_on_change(self):
        responses.get(BALANCE_URL, json=BALANCE)
        integration = stripe_integration()
        for _ in range(3):
            check(integration, trigger="scheduled")
        assert HealthCheck.objects.filter(integration=integration).count() == 3
        assert ActivityLog.objects.filter(integration=integration, type="health_check").count() == 1


class TestSchedule:
    def test_beat_schedule_exists_after_migrate(self):
        from django_celery_beat.models import PeriodicTask

        task = PeriodicTask.objects.get(name="integrations: health checks")
        assert task.task == "integrations.health.fan_out"
        assert task.interval.every == 300 and task.interval.period == "seconds"
        assert task.queue == "health" and task.enabled

    def test_setup_periodic_tasks_is_idempotent(self):
        from django.core.management import call_command
        from django_celery_beat.models import PeriodicTask

        call_command("setup_periodic_tasks", stdout=open("/dev/null", "w"))  # noqa: SIM115
        call_command("setup_periodic_tasks", stdout=open("/dev/null", "w"))  # noqa: SIM115
        assert PeriodicTask.objects.filter(name="integrations: health checks").count() == 1

    def test_fan_out_enqueues_active_and_error_integrations_spread_over_the_period(self, monkeypatch):
        sent = []
        monkeypatch.setattr(
            health_check_task, "apply_async", lambda args, countdown, expires: sent.append((args, countdown))
        )
        active = [stripe_integration() for _ in range(4)]
        failing = stripe_integration(status="error")
        stripe_integration(status="inactive")
        stripe_integration(status="pending")
        assert health_fan_out_task() == 5
        assert {args[0] for args, _ in sent} == {str(i.id) for i in [*active, failing]}
        countdowns = {args[0]: countdown for args, countdown in sent}
        assert all(0 <= c < 300 for c in countdowns.values())
        assert len(set(countdowns.values())) > 1
        assert countdowns[str(failing.id)] == jitter_seconds(failing.id, 300)
        slots = {args[1] for args, _ in sent}
        assert len(slots) == 1 and next(iter(slots)) % 300 == 0

    @responses.activate
    def test_check_task_runs_once_per_slot(self):
        responses.get(BALANCE_URL, json=BALANCE)
        integration = stripe_integration()
        slot = int(time.time()) // 300 * 300
        assert health_check_task(str(integration.id), slot) == "healthy"
        assert health_check_task(str(integration.id), slot) is None  # a redelivered message
        assert HealthCheck.objects.filter(integration=integration).count() == 1
        assert len(responses.calls) == 1

    def test_check_task_skips_paused_and_deleted_integrations(self):
        paused = stripe_integration(status="inactive")
        assert health_check_task(str(paused.id), None) is None
        assert health_check_task("00000000-0000-0000-0000-000000000000", None) is None
        assert not HealthCheck.objects.exists()

    def test_old_checks_are_pruned(self, settings):
        settings.HEALTH_CHECK_RETENTION_DAYS = 30
        integration = stripe_integration()
        old = HealthCheck.objects.create(
            tenant=integration.tenant,
            integration=integration,
            status="healthy",
            checked_at=timezone.now() - timedelta(days=31),
        )
        recent = HealthCheck.objects.create(tenant=integration.tenant, integration=integration, status="healthy")
        assert prune_health_checks() == 1
        assert list(HealthCheck.objects.values_list("id", flat=True)) == [recent.id] and old.id != recent.id


class TestApi:
    @responses.activate
    def test_post_check_is_synchronous_with_seed_000_shape(self, admin_client):
        responses.get(BALANCE_URL, json=BALANCE)
        integration = stripe_integration(admin_client.tenant)
        response = admin_client.post(f"/api/v1/integrations/{integration.id}/health/check")
        assert response.status_code == 200
        body = response.json()
        assert body["integrationId"] == str(integration.id) and body["provider"] == "stripe"
        assert body["status"] == "healthy" and isinstance(body["responseTime"], int)
        assert body["checkedAt"].endswith("Z") and body["statusCode"] == 200 and body["error"] is None
        entry = ActivityLog.objects.get(integration=integration, type="health_check")
        assert entry.actor == admin_client.user

    @responses.activate
    def test_get_health_after_a_failed_check(self, admin_client):
        responses.get(BALANCE_URL, json=STRIPE_401, status=401)
        integration = stripe_integration(admin_client.tenant)
        admin_client.post(f"/api/v1/integrations/{integration.id}/health/check")
        body = admin_client.get(f"/api/v1/integrations/{integration.id}/health").json()
        assert body["status"] == "unhealthy"
        assert body["lastCheckAt"].endswith("Z")
        assert "Invalid API Key" in body["lastError"]
        assert body["consecutiveFailures"] == 1 and body["integrationStatus"] == "active"

    def test_get_health_before_any_check(self, make_client):
        member = make_client(Role.MEMBER)
        integration = stripe_integration(member.tenant)
        body = member.get(f"/api/v1/integrations/{integration.id}/health").json()
        assert body == {
            "status": "unknown",
            "lastCheckAt": None,
            "lastError": None,
            "lastErrorAt": None,
            "consecutiveFailures": 0,
            "integrationStatus": "active",
        }

    def test_member_cannot_run_a_check(self, make_client):
        member = make_client(Role.MEMBER)
        integration = stripe_integration(member.tenant)
        assert_error(member.post(f"/api/v1/integrations/{integration.id}/health/check"), 403, "PERMISSION_DENIED")

    @responses.activate
    def test_integration_manager_can_run_a_check(self, make_client):
        responses.get(BALANCE_URL, json=BALANCE)
        manager = make_client(Role.INTEGRATION_MANAGER)
        integration = stripe_integration(manager.tenant)
        assert manager.post(f"/api/v1/integrations/{integration.id}/health/check").json()["status"] == "healthy"

    def test_anonymous_is_401_and_unknown_is_404(self, anon_client, admin_client):
        integration = stripe_integration(admin_client.tenant)
        assert_error(anon_client.get(f"/api/v1/integrations/{integration.id}/health"), 401, "AUTHENTICATION_REQUIRED")
        missing = "/api/v1/integrations/00000000-0000-0000-0000-000000000000/health"
        assert_error(admin_client.get(missing), 404, "INTEGRATION_NOT_FOUND")

    def test_check_history_is_paginated_and_filtered(self, admin_client, django_assert_max_num_queries):
        integration = stripe_integration(admin_client.tenant)
        for status in ("healthy", "degraded", "unhealthy", "healthy"):
            HealthCheck.objects.create(tenant=integration.tenant, integration=integration, status=status)
        url = f"/api/v1/integrations/{integration.id}/health/checks"
        with django_assert_max_num_queries(6):
            body = admin_client.get(f"{url}?limit=2").json()
        assert body["total"] == 4 and len(body["items"]) == 2 and body["hasMore"] is True
        assert admin_client.get(f"{url}?status=healthy").json()["total"] == 2
        assert_error(admin_client.get(f"{url}?status=fine"), 400, "VALIDATION_ERROR")
        assert_error(admin_client.get(f"{url}?sortBy=status"), 400, "VALIDATION_ERROR")

    def test_tenant_isolation(self, admin_client, other_tenant_client):
        integration = stripe_integration(admin_client.tenant)
        check_row = HealthCheck.objects.create(tenant=integration.tenant, integration=integration, status="healthy")
        assert_tenant_isolation(
            other_tenant_client,
            [
                f"/api/v1/integrations/{integration.id}/health",
                ("post", f"/api/v1/integrations/{integration.id}/health/check", {}),
                f"/api/v1/integrations/{integration.id}/health/checks",
            ],
            [integration.id, check_row.id],
        )
        assert HealthCheck.objects.filter(integration=integration).count() == 1


def test_admin_lists_health_checks_read_only():
    from django.test import Client

    from tests.factories import UserFactory

    integration = stripe_integration()
    row = HealthCheck.objects.create(
        tenant=integration.tenant, integration=integration, status="degraded", kind="rate_limited", error="429"
    )
    browser = Client()
    browser.force_login(UserFactory(is_staff=True, is_superuser=True))
    listing = browser.get("/admin/integrations/healthcheck/?status__exact=degraded")
    assert listing.status_code == 200 and b"rate_limited" in listing.content
    assert browser.get(f"/admin/integrations/healthcheck/{row.pk}/change/").status_code == 200
    assert browser.get("/admin/integrations/healthcheck/add/").status_code == 403
