"""Activity log: written on every change, `GET …/logs` with filters and pagination, pruning after the retention."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from config.periodic import periodic_tasks
from integrations.activity import log_activity
from integrations.models import ActivityLog, Integration
from integrations.services import activity_prune
from integrations.tasks.activity import PRUNE_TASK, prune_activity_logs
from tests.helpers import assert_error
from tests.integrations.factories import IntegrationFactory, catalog_provider

URL = "/api/v1/integrations"


@pytest.fixture
def integration_id(admin_client, db):
    catalog_provider("stripe")
    response = admin_client.post(URL, {"provider": "stripe", "name": "Pay"}, format="json", HTTP_X_REQUEST_ID="req-1")
    assert response.status_code == 201
    return response.json()["id"]


def logs(client, integration_id, query="") -> list[dict]:
    response = client.get(f"{URL}/{integration_id}/logs{query}")
    assert response.status_code == 200, response.content
    return response.json()["items"]


def test_create_update_activate_deactivate_each_write_an_entry(admin_client, integration_id):
    base = f"{URL}/{integration_id}"
    admin_client.patch(base, {"description": "new"}, format="json")
    admin_client.post(f"{base}/activate")
    admin_client.post(f"{base}/deactivate")
    admin_client.patch(base, {"credentials": {"apiKey": "sk_test_abcdefghijklmnopqrst"}}, format="json")

    items = logs(admin_client, integration_id)

    assert [i["type"] for i in items] == ["update", "deactivate", "activate", "update", "create"]
    assert all(i["status"] == "success" for i in items)
    created = items[-1]
    assert created["requestId"] == "req-1"
    assert created["actor"] == {"id": str(admin_client.user.id), "email": admin_client.user.email}
    assert created["integrationId"] == integration_id and created["tenantId"] == str(admin_client.tenant.id)
    assert items[0]["details"]["changedFields"] == ["credentials"]
    assert "sk_test_abcdefghijklmnopqrst" not in str(items)


def test_log_activity_redacts_secret_looking_details(db):
    integration = IntegrationFactory(provider=catalog_provider("stripe"))

    entry = log_activity(
        integration=integration,
        type="api_call",
        status="error",
        message="GET /v1/balance failed",
        details={"status": 401, "headers": {"Authorization": "Bearer sk_x"}, "nested": [{"password": "p"}]},
    )

    entry.refresh_from_db()
    assert entry.details == {
        "status": 401,
        "headers": {"Authorization": "[redacted]"},
        "nested": [{"password": "[redacted]"}],
    }
    assert entry.request_id == "" and entry.actor is None


def test_log_activity_refuses_unknown_types(db):
    integration = IntegrationFactory(provider=catalog_provider("stripe"))
    with pytest.raises(ValueError, match="Unknown activity type"):
        log_activity(integration=integration, type="party", status="success", message="")


@pytest.fixture
def history(integration_id):
    integration = Integration.objects.get(pk=integration_id)
    now = timezone.now()
    for days, kind, status in ((10, "test", "error"), (5, "sync", "success"), (1, "test", "success")):
        entry = log_activity(integration=integration, type=kind, status=status, message=f"{kind} {days}")
        ActivityLog.objects.filter(pk=entry.pk).update(created_at=now - timedelta(days=days))
    return now


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?status=error", ["test 10"]),
        ("?status=failed", ["test 10"]),
        ("?type=test", ["test 1", "test 10"]),
        ("?type=sync,test&status=success", ["test 1", "sync 5"]),
    ],
)
def test_logs_filter_by_status_and_type(admin_client, integration_id, history, query, expected):
    assert [i["message"] for i in logs(admin_client, integration_id, query)] == expected


def test_logs_filter_by_date_range(admin_client, integration_id, history):
    since = (history - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    until = (history - timedelta(days=2)).date().isoformat()

    got = [i["message"] for i in logs(admin_client, integration_id, f"?from={since}&to={until}")]

    assert got == ["sync 5"]


@pytest.mark.parametrize("query", ["?from=yesterday", "?to=2025-13-40", "?status=meh", "?type=party", "?limit=0"])
def test_bad_log_filters_are_400(admin_client, integration_id, query):
    assert_error(admin_client.get(f"{URL}/{integration_id}/logs{query}"), 400, "VALIDATION_ERROR")


def test_from_after_to_is_400(admin_client, integration_id):
    assert_error(
        admin_client.get(f"{URL}/{integration_id}/logs?from=2025-02-01&to=2025-01-01"), 400, "VALIDATION_ERROR"
    )


def test_logs_paginate_with_page_alias(admin_client, integration_id, history):
    body = admin_client.get(f"{URL}/{integration_id}/logs?page=2&limit=3").json()

    assert body["total"] == 4 and body["offset"] == 3 and body["hasMore"] is False
    assert [i["message"] for i in body["items"]] == ["test 10"]


def test_member_can_read_logs(admin_client, make_client, integration_id):
    member = make_client(Role.MEMBER, tenant=admin_client.tenant)
    assert len(logs(member, integration_id)) == 1


def test_logs_query_count_is_constant(admin_client, integration_id, django_assert_max_num_queries):
    integration = Integration.objects.get(pk=integration_id)
    with django_assert_max_num_queries(4) as few:
        logs(admin_client, integration_id)
    baseline = len(few.captured_queries)
    for i in range(30):
        log_activity(integration=integration, type="sync", status="success", message=str(i), actor=admin_client.user)
    with django_assert_max_num_queries(baseline):
        assert len(logs(admin_client, integration_id)) == 31


def test_prune_deletes_entries_older_than_the_retention_in_batches(integration_id, history, settings):
    settings.ACTIVITY_LOG_RETENTION_DAYS = 3

    deleted = activity_prune(batch_size=1)

    assert deleted == 2
    assert sorted(ActivityLog.objects.values_list("message", flat=True)) == ["Integration 'Pay' created.", "test 1"]


def test_prune_task_uses_the_setting_and_is_registered_daily(integration_id, history, settings):
    settings.ACTIVITY_LOG_RETENTION_DAYS = 7

    assert prune_activity_logs() == 1

    spec = next(s for s in periodic_tasks() if s.task == PRUNE_TASK)
    assert spec.every_seconds == 86400
