"""The outbound webhooks API: every endpoint x role, validation, tenant isolation and query counts."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from standardwebhooks.webhooks import Webhook as StandardWebhook

from accounts.models import Role
from tests.e2e.conftest import Receiver, Reply
from tests.helpers import assert_error, assert_tenant_isolation
from webhooks import services
from webhooks.models import Delivery, DeliveryStatus, Webhook, WebhookEvent, WebhookSecret

pytestmark = pytest.mark.django_db

BASE = "/api/v1/integrations/webhooks"
SAFE_URL = "http://127.0.0.1:9/hooks"


def create_body(**overrides):
    body = {
        "name": "Application Events",
        "url": SAFE_URL,
        "events": ["application.created", "application.stage_changed"],
        "headers": {"X-Custom-Header": "value"},
        "retryAttempts": 3,
        "timeoutMs": 30000,
    }
    body.update(overrides)
    return body


def make_webhook(tenant, url=SAFE_URL, **kwargs):
    kwargs.setdefault("events", ["*"])
    return services.webhook_create(tenant=tenant, name=kwargs.pop("name", "Hook"), url=url, **kwargs)


def make_integration(tenant, name="CRM"):
    from integrations.models import Integration
    from providers.models import Provider

    provider, _ = Provider.objects.get_or_create(
        key="acme_crm", defaults={"name": "Acme", "display_name": "Acme CRM", "category": "crm", "auth_type": "api_key"}
    )
    return Integration.objects.create(tenant=tenant, provider=provider, name=name, auth_type="api_key")


def make_deliveries(webhook, statuses):
    """Deliveries of ``webhook`` in the given statuses, one event each (no HTTP)."""
    ids = []
    for n, status in enumerate(statuses):
        event = WebhookEvent.objects.create(
            tenant_id=webhook.tenant_id,
            event="job.created" if n % 2 else "application.created",
            payload={"n": n},
            body=json.dumps({"n": n}),
            created_at=timezone.now() - timedelta(minutes=len(statuses) - n),
        )
        delivery = Delivery.objects.create(
            tenant_id=webhook.tenant_id,
            webhook=webhook,
            event=event,
            event_type=event.event,
            status=status,
            attempt_count=0 if status == "pending" else 1,
            last_response_status={"success": 200, "failed": 500}.get(status),
            last_error="HTTP 500" if status == "failed" else "",
            created_at=event.created_at,
            completed_at=None if status == "pending" else event.created_at,
        )
        ids.append(delivery.pk)
    return ids


# --------------------------------------------------------------------------- create


def test_create_returns_201_with_a_generated_secret_once(admin_client):
    response = admin_client.post(BASE, create_body(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["tenantId"] == str(admin_client.tenant.pk)
    assert body["status"] == "active"
    assert body["events"] == ["application.created", "application.stage_changed"]
    assert body["headers"] == {"X-Custom-Header": "********"}  # names untouched by camelCase, values write-only
    assert (body["retryAttempts"], body["timeoutMs"]) == (3, 30000)
    assert (body["successCount"], body["failureCount"]) == (0, 0)
    assert body["integrationId"] is None
    webhook = Webhook.objects.get(pk=body["id"])
    assert WebhookSecret.objects.get(webhook=webhook).secret == body["secret"]
    # never again
    again = admin_client.get(f"{BASE}/{webhook.pk}").json()
    assert "secret" not in again and body["secret"] not in json.dumps(again)


def test_create_keeps_a_given_secret_and_applies_defaults(admin_client):
    response = admin_client.post(
        BASE, {"name": "Mine", "url": SAFE_URL, "events": ["*"], "secret": "optional_secret"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert body["secret"] == "optional_secret"
    assert (body["retryAttempts"], body["timeoutMs"]) == (3, 10000)


def test_create_accepts_snake_case_and_an_integration_of_the_tenant(admin_client):
    integration = make_integration(admin_client.tenant)
    response = admin_client.post(
        BASE,
        {
            "name": "Bound",
            "url": SAFE_URL,
            "events": ["integration.*"],
            "retry_attempts": 0,
            "integration_id": str(integration.pk),
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["integrationId"] == str(integration.pk)
    assert response.json()["retryAttempts"] == 0


@pytest.mark.parametrize(("role", "status"), [(Role.ADMIN, 201), (Role.INTEGRATION_MANAGER, 201), (Role.MEMBER, 403)])
def test_create_by_role(make_client, role, status):
    response = make_client(role).post(BASE, create_body(), format="json")
    assert response.status_code == status
    if status == 403:
        assert_error(response, 403, "PERMISSION_DENIED")


def test_anonymous_callers_get_401_everywhere(anon_client):
    some = "5f0c8a2e-6b1d-4c3e-9f7a-2d8e1b4c6a90"
    for method, path in [
        ("get", BASE),
        ("post", BASE),
        ("get", f"{BASE}/{some}"),
        ("post", f"{BASE}/trigger"),
        ("get", f"{BASE}/{some}/logs"),
        ("get", f"{BASE}/{some}/stats"),
    ]:
        assert_error(getattr(anon_client, method)(path), 401, "AUTHENTICATION_REQUIRED")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"url": "ftp://example.com/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "http://10.0.0.5/hook"}, "url"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "url"),
        ({"url": "http://192.168.1.10:8080/hook"}, "url"),
        ({"url": "http://[::ffff:10.0.0.1]/hook"}, "url"),
        ({"url": "http://user:pass@127.0.0.1/hook"}, "url"),
        ({"url": "http://does-not-resolve.invalid/hook"}, "url"),
        ({"events": ["application.exploded"]}, "events"),
        ({"events": ["nothing.*"]}, "events"),
        ({"events": []}, "events"),
        ({"events": "application.created"}, "events"),
        ({"retryAttempts": 11}, "retryAttempts"),
        ({"retryAttempts": -1}, "retryAttempts"),
        ({"timeoutMs": 999}, "timeoutMs"),
        ({"timeoutMs": 30001}, "timeoutMs"),
        ({"timeoutMs": "fast"}, "timeoutMs"),
        ({"headers": {"X-Webhook-Signature": "forged"}}, "headers"),
        ({"headers": {"webhook-id": "x"}}, "headers"),
        ({"headers": {"Host": "internal"}}, "headers"),
        ({"headers": {"Content-Length": "1"}}, "headers"),
        ({"headers": {"Bad Name": "x"}}, "headers"),
        ({"headers": {"X-Ok": "line\r\nInjected: yes"}}, "headers"),
        ({"headers": {f"X-H{n}": "v" for n in range(21)}}, "headers"),
        ({"headers": ["X-A"]}, "headers"),
        ({"secret": "short"}, "secret"),
        ({"secret": "whsec_!!!not-base64!!!"}, "secret"),
        ({"status": "disabled"}, "status"),
        ({"integrationId": "5f0c8a2e-6b1d-4c3e-9f7a-2d8e1b4c6a90"}, "integrationId"),
        ({"integrationId": "nope"}, "integrationId"),
        ({"name": ""}, "name"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_create_refuses_bad_input_with_a_clear_400(admin_client, overrides, field):
    response = admin_client.post(BASE, create_body(**overrides), format="json")

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert field in error["details"], error
    assert not Webhook.objects.exists()


def test_create_refuses_an_integration_of_another_tenant(admin_client, other_tenant_client):
    foreign = make_integration(other_tenant_client.tenant)
    response = admin_client.post(BASE, create_body(integrationId=str(foreign.pk)), format="json")
    assert "integrationId" in assert_error(response, 400, "VALIDATION_ERROR")["details"]


def test_create_refuses_garbage_bodies(admin_client):
    assert_error(admin_client.post(BASE, "{not json", content_type="application/json"), 400, "VALIDATION_ERROR")
    assert_error(admin_client.post(BASE, [1, 2], format="json"), 400, "VALIDATION_ERROR")


# --------------------------------------------------------------------------- list, retrieve


def test_list_is_paginated_filtered_and_never_shows_secrets(admin_client):
    tenant = admin_client.tenant
    integration = make_integration(tenant)
    _, secret_a = make_webhook(tenant, name="A", events=["application.*"])
    make_webhook(tenant, name="B", events=["job.created"], integration_id=integration.pk)
    make_webhook(tenant, name="C", events=["*"], status="inactive")

    body = admin_client.get(BASE).json()
    assert body["total"] == 3 and body["hasMore"] is False
    assert [i["name"] for i in body["items"]] == ["C", "B", "A"]  # newest first
    assert secret_a not in json.dumps(body) and "secret" not in body["items"][0]

    def names(**params):
        response = admin_client.get(BASE, params)
        assert response.status_code == 200, response.content
        return sorted(i["name"] for i in response.json()["items"])

    assert names(status="inactive") == ["C"]
    assert names(integrationId=str(integration.pk)) == ["B"]
    assert names(event="application.hired") == ["A", "C"]
    assert names(event="job.created") == ["B", "C"]
    assert names(sortBy="name", sortOrder="asc") == ["A", "B", "C"]
    assert [i["name"] for i in admin_client.get(BASE, {"sortBy": "name", "limit": 2}).json()["items"]] == ["A", "B"]


@pytest.mark.parametrize(
    "params",
    [
        {"status": "sleeping"},
        {"integrationId": "x"},
        {"event": "nope"},
        {"sortBy": "url"},
        {"limit": 0},
        {"limit": 101},
    ],
)
def test_list_refuses_bad_filters(admin_client, params):
    assert_error(admin_client.get(BASE, params), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("role", [Role.ADMIN, Role.INTEGRATION_MANAGER, Role.MEMBER])
def test_every_role_reads_subscriptions(make_client, role):
    client = make_client(role)
    webhook, _ = make_webhook(client.tenant)
    assert client.get(BASE).json()["total"] == 1
    detail = client.get(f"{BASE}/{webhook.pk}")
    assert detail.status_code == 200
    assert detail.json()["id"] == str(webhook.pk)


def test_list_query_count_does_not_grow_with_rows(admin_client):
    tenant = admin_client.tenant
    make_webhook(tenant, name="first")
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(BASE, {"event": "job.created"}).status_code == 200
    for n in range(25):
        make_webhook(tenant, name=f"hook {n}")
    with CaptureQueriesContext(connection) as many:
        assert admin_client.get(BASE, {"event": "job.created"}).json()["total"] == 26
    assert len(many) == len(few) <= 5


def test_list_query_count_is_bounded(admin_client, django_assert_max_num_queries):
    for n in range(30):
        make_webhook(admin_client.tenant, name=f"hook {n}")
    with django_assert_max_num_queries(4):
        admin_client.get(BASE)


def test_unknown_id_is_404_webhook_not_found(admin_client):
    assert_error(admin_client.get(f"{BASE}/5f0c8a2e-6b1d-4c3e-9f7a-2d8e1b4c6a90"), 404, "WEBHOOK_NOT_FOUND")


# --------------------------------------------------------------------------- update, delete


@pytest.mark.parametrize("method", ["put", "patch"])
def test_update_changes_only_the_given_fields(admin_client, method):
    webhook, _ = make_webhook(admin_client.tenant, name="Old", events=["application.created"])

    response = getattr(admin_client, method)(
        f"{BASE}/{webhook.pk}",
        {"name": "Updated Name", "status": "inactive", "events": ["application.created", "application.hired"]},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "Updated Name"
    assert body["status"] == "inactive"
    assert body["events"] == ["application.created", "application.hired"]
    assert body["url"] == SAFE_URL


@pytest.mark.parametrize(
    "payload",
    [
        {"url": "http://10.1.2.3/"},
        {"events": ["bogus.event"]},
        {"retryAttempts": 42},
        {"timeoutMs": 100},
        {"status": "disabled"},
        {"secret": "whsec_dGVzdHRlc3R0ZXN0dGVzdA=="},
        {"name": ""},
    ],
)
def test_update_refuses_bad_input(admin_client, payload):
    webhook, _ = make_webhook(admin_client.tenant)
    assert_error(admin_client.patch(f"{BASE}/{webhook.pk}", payload, format="json"), 400, "VALIDATION_ERROR")


def test_reactivating_a_disabled_subscription_queues_what_waited(
    admin_client, enqueued, django_capture_on_commit_callbacks
):
    webhook, _ = make_webhook(admin_client.tenant)
    Webhook.objects.filter(pk=webhook.pk).update(status="disabled", disabled_reason="410")
    waiting = make_deliveries(webhook, ["pending", "pending", "failed"])

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.patch(f"{BASE}/{webhook.pk}", {"status": "active"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "active" and response.json()["disabledReason"] == ""
    assert sorted(i for i, _ in enqueued) == sorted(waiting[:2])


@pytest.mark.parametrize(
    ("role", "update_status", "delete_status"),
    [(Role.ADMIN, 200, 204), (Role.INTEGRATION_MANAGER, 200, 403), (Role.MEMBER, 403, 403)],
)
def test_update_and_delete_by_role(make_client, role, update_status, delete_status):
    client = make_client(role)
    webhook, _ = make_webhook(client.tenant)
    make_deliveries(webhook, ["success"])

    assert client.patch(f"{BASE}/{webhook.pk}", {"name": "x"}, format="json").status_code == update_status
    assert client.put(f"{BASE}/{webhook.pk}", {"name": "y"}, format="json").status_code == update_status
    response = client.delete(f"{BASE}/{webhook.pk}")
    assert response.status_code == delete_status
    assert Webhook.objects.filter(pk=webhook.pk).exists() is (delete_status != 204)
    if delete_status == 204:
        assert not Delivery.objects.filter(webhook_id=webhook.pk).exists()


# --------------------------------------------------------------------------- test


def test_test_endpoint_sends_a_signed_webhook_test_event_now(admin_client, receiver):
    webhook, secret = make_webhook(admin_client.tenant, receiver.url("/t"), events=["job.created"])

    response = admin_client.post(f"{BASE}/{webhook.pk}/test")

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Webhook test successful"
    assert body["responseStatus"] == 200
    (request,) = receiver.received("/t")
    StandardWebhook(secret).verify(request.body, request.headers)
    assert json.loads(request.body)["event"] == "webhook.test"
    assert request.header("X-Webhook-Event") == "webhook.test"
    delivery = Delivery.objects.get(pk=body["deliveryId"])
    assert delivery.status == DeliveryStatus.SUCCESS and delivery.attempt_count == 1


def test_a_failing_test_reports_the_status_without_retrying(admin_client, receiver, enqueued):
    receiver.script("/t500", Reply(500, b"broken"))
    webhook, _ = make_webhook(admin_client.tenant, receiver.url("/t500"))

    body = admin_client.post(f"{BASE}/{webhook.pk}/test").json()

    assert body == {
        "success": False,
        "message": "HTTP 500 Internal Server Error",
        "responseStatus": 500,
        "deliveryId": body["deliveryId"],
    }
    assert Delivery.objects.get(pk=body["deliveryId"]).status == DeliveryStatus.FAILED
    assert enqueued == []
    webhook.refresh_from_db()
    assert webhook.consecutive_failures == 0  # a test does not count towards auto-disable


def test_a_test_against_an_unreachable_receiver_has_no_status(admin_client):
    down = Receiver().start()
    url = down.url("/x")
    down.stop()
    webhook, _ = make_webhook(admin_client.tenant, url)

    body = admin_client.post(f"{BASE}/{webhook.pk}/test").json()

    assert body["success"] is False
    assert body["responseStatus"] is None
    assert body["message"].startswith("Connection error")


@pytest.mark.parametrize(("role", "status"), [(Role.INTEGRATION_MANAGER, 200), (Role.MEMBER, 403)])
def test_test_endpoint_by_role(make_client, receiver, role, status):
    client = make_client(role)
    webhook, _ = make_webhook(client.tenant, receiver.url("/r"))
    assert client.post(f"{BASE}/{webhook.pk}/test").status_code == status


# --------------------------------------------------------------------------- logs, stats


def test_logs_have_seed_000s_shape_with_request_and_response_excerpts(admin_client, receiver):
    receiver.script("/logs", Reply(500, b'{"error": "down"}'))
    webhook, _ = make_webhook(admin_client.tenant, receiver.url("/logs"))
    admin_client.post(f"{BASE}/{webhook.pk}/test")
    admin_client.post(f"{BASE}/{webhook.pk}/test")

    body = admin_client.get(f"{BASE}/{webhook.pk}/logs", {"limit": 100}).json()

    assert body["total"] == 2
    newest, oldest = body["items"]
    assert set(newest) >= {
        "id",
        "webhookId",
        "event",
        "status",
        "responseStatus",
        "attemptCount",
        "durationMs",
        "error",
        "createdAt",
        "completedAt",
        "request",
        "response",
    }
    assert newest["webhookId"] == str(webhook.pk)
    assert newest["event"] == "webhook.test"
    assert (newest["status"], newest["responseStatus"], newest["error"]) == ("success", 200, None)
    assert (oldest["status"], oldest["responseStatus"]) == ("failed", 500)
    assert oldest["error"] == "HTTP 500 Internal Server Error"
    assert oldest["response"]["body"] == '{"error": "down"}'
    assert oldest["request"]["headers"]["X-Webhook-Event"] == "webhook.test"
    assert json.loads(oldest["request"]["body"])["event"] == "webhook.test"
    assert oldest["createdAt"].endswith("Z")


def test_logs_filter_by_status_and_event_and_paginate(admin_client):
    webhook, _ = make_webhook(admin_client.tenant)
    make_deliveries(webhook, ["success", "failed", "pending", "failed", "success"])

    def count(**params):
        response = admin_client.get(f"{BASE}/{webhook.pk}/logs", params)
        assert response.status_code == 200, response.content
        return response.json()["total"]

    assert count() == 5
    assert count(status="failed") == 2
    assert count(event="job.created") == 2
    assert count(event="application.created", status="success") == 2
    page = admin_client.get(f"{BASE}/{webhook.pk}/logs", {"limit": 2, "page": 2}).json()
    assert (page["offset"], len(page["items"]), page["hasMore"]) == (2, 2, True)
    assert_error(admin_client.get(f"{BASE}/{webhook.pk}/logs", {"status": "lost"}), 400, "VALIDATION_ERROR")


def test_logs_query_count_does_not_grow_with_rows(admin_client):
    webhook, _ = make_webhook(admin_client.tenant)
    make_deliveries(webhook, ["success"])
    with CaptureQueriesContext(connection) as few:
        admin_client.get(f"{BASE}/{webhook.pk}/logs")
    make_deliveries(webhook, ["failed"] * 30)
    with CaptureQueriesContext(connection) as many:
        assert admin_client.get(f"{BASE}/{webhook.pk}/logs").json()["total"] == 31
    assert len(many) == len(few) <= 4


def test_stats_come_from_one_aggregate_query(admin_client):
    webhook, _ = make_webhook(admin_client.tenant)
    make_deliveries(webhook, ["success"] * 150 + ["failed"] * 2 + ["pending"])

    with CaptureQueriesContext(connection) as queries:
        body = admin_client.get(f"{BASE}/{webhook.pk}/stats").json()

    assert body == {"total": 153, "success": 150, "failed": 2, "pending": 1, "successRate": 98.68}
    aggregates = [q for q in queries if "webhooks_delivery" in q["sql"]]
    assert len(aggregates) == 1
    empty, _ = make_webhook(admin_client.tenant, name="empty")
    assert admin_client.get(f"{BASE}/{empty.pk}/stats").json() == {
        "total": 0,
        "success": 0,
        "failed": 0,
        "pending": 0,
        "successRate": 0.0,
    }


@pytest.mark.parametrize("role", [Role.ADMIN, Role.INTEGRATION_MANAGER, Role.MEMBER])
def test_every_role_reads_logs_and_stats(make_client, role):
    client = make_client(role)
    webhook, _ = make_webhook(client.tenant)
    assert client.get(f"{BASE}/{webhook.pk}/logs").status_code == 200
    assert client.get(f"{BASE}/{webhook.pk}/stats").status_code == 200


# --------------------------------------------------------------------------- rotate, retry, replay


def test_rotate_secret_returns_the_new_secret_once_and_keeps_the_old_one_live(admin_client):
    webhook, old = make_webhook(admin_client.tenant)

    response = admin_client.post(f"{BASE}/{webhook.pk}/rotate-secret")

    assert response.status_code == 200
    new = response.json()["secret"]
    assert new.startswith("whsec_") and new != old
    live = WebhookSecret.objects.filter(webhook=webhook)
    assert {s.secret for s in live} == {old, new}
    expiring = live.get(expires_at__isnull=False)
    assert expiring.secret == old
    assert timedelta(hours=23) < expiring.expires_at - timezone.now() <= timedelta(hours=24)
    assert new not in json.dumps(admin_client.get(f"{BASE}/{webhook.pk}").json())

    chosen = admin_client.post(f"{BASE}/{webhook.pk}/rotate-secret", {"secret": "my-own-long-secret"}, format="json")
    assert chosen.json()["secret"] == "my-own-long-secret"
    assert WebhookSecret.objects.filter(webhook=webhook).count() == 3  # old (expiring), previous, current


@pytest.mark.parametrize(("role", "status"), [(Role.INTEGRATION_MANAGER, 200), (Role.MEMBER, 403)])
def test_rotate_secret_by_role(make_client, role, status):
    client = make_client(role)
    webhook, _ = make_webhook(client.tenant)
    assert client.post(f"{BASE}/{webhook.pk}/rotate-secret").status_code == status


def test_retry_one_delivery(admin_client, enqueued, django_capture_on_commit_callbacks):
    webhook, _ = make_webhook(admin_client.tenant)
    (failed,) = make_deliveries(webhook, ["failed"])

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{BASE}/{webhook.pk}/deliveries/{failed}/retry")

    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    assert [i for i, _ in enqueued] == [failed]


def test_retry_refuses_a_delivery_in_flight_and_unknown_ones(admin_client, enqueued):
    webhook, _ = make_webhook(admin_client.tenant)
    other, _ = make_webhook(admin_client.tenant, name="other")
    (busy,) = make_deliveries(webhook, ["pending"])
    Delivery.objects.filter(pk=busy).update(locked_until=timezone.now() + timedelta(seconds=30))
    (elsewhere,) = make_deliveries(other, ["failed"])

    assert_error(admin_client.post(f"{BASE}/{webhook.pk}/deliveries/{busy}/retry"), 409, "CONFLICT")
    assert_error(admin_client.post(f"{BASE}/{webhook.pk}/deliveries/{elsewhere}/retry"), 404, "DELIVERY_NOT_FOUND")
    assert enqueued == []


def test_replay_resends_failed_deliveries_of_a_window(admin_client, enqueued, django_capture_on_commit_callbacks):
    webhook, _ = make_webhook(admin_client.tenant)
    ids = make_deliveries(webhook, ["failed", "success", "failed", "pending"])
    since = (timezone.now() - timedelta(hours=1)).isoformat()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{BASE}/{webhook.pk}/replay", {"since": since}, format="json")

    assert response.status_code == 202
    body = response.json()
    assert body["replayed"] == 2 and body["success"] is True
    assert sorted(body["deliveryIds"]) == sorted(str(i) for i in (ids[0], ids[2]))
    assert sorted(i for i, _ in enqueued) == sorted([ids[0], ids[2]])
    assert Delivery.objects.filter(webhook=webhook, status="pending").count() == 3

    narrow = admin_client.post(
        f"{BASE}/{webhook.pk}/replay",
        {"since": since, "until": (timezone.now() - timedelta(minutes=59)).isoformat(), "status": "success"},
        format="json",
    )
    assert narrow.json()["replayed"] == 0


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"since": "yesterday"},
        {"since": "2025-01-02T00:00:00Z", "until": "2025-01-01T00:00:00Z"},
        {"since": "2025-01-01T00:00:00Z", "status": "pending"},
        {"since": "2025-01-01T00:00:00Z", "extra": 1},
    ],
)
def test_replay_refuses_bad_input(admin_client, payload):
    webhook, _ = make_webhook(admin_client.tenant)
    assert_error(admin_client.post(f"{BASE}/{webhook.pk}/replay", payload, format="json"), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(("role", "status"), [(Role.INTEGRATION_MANAGER, 202), (Role.MEMBER, 403)])
def test_retry_and_replay_by_role(make_client, enqueued, role, status):
    client = make_client(role)
    webhook, _ = make_webhook(client.tenant)
    (failed,) = make_deliveries(webhook, ["failed"])
    assert client.post(f"{BASE}/{webhook.pk}/deliveries/{failed}/retry").status_code == status
    replay = client.post(f"{BASE}/{webhook.pk}/replay", {"since": "2020-01-01T00:00:00Z"}, format="json")
    assert replay.status_code == status


# --------------------------------------------------------------------------- trigger


def test_trigger_endpoint_records_and_queues(admin_client, enqueued):
    make_webhook(admin_client.tenant, events=["application.*"])
    make_webhook(admin_client.tenant, events=["job.*"], name="jobs")

    response = admin_client.post(
        f"{BASE}/trigger",
        {"event": "application.created", "payload": {"applicationId": "a1", "candidate_id": "c1"}},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Webhook triggered successfully"
    assert body["deliveries"] == 1
    event = WebhookEvent.objects.get(pk=body["eventId"])
    assert event.payload == {"applicationId": "a1", "candidate_id": "c1"}  # user data keys untouched
    assert event.tenant_id == admin_client.tenant.pk


def test_trigger_endpoint_accepts_data_and_an_idempotency_key(admin_client, enqueued):
    make_webhook(admin_client.tenant)
    first = admin_client.post(
        f"{BASE}/trigger", {"event": "job.opened", "data": {"jobId": "j"}, "idempotencyKey": "k1"}, format="json"
    ).json()
    again = admin_client.post(
        f"{BASE}/trigger", {"event": "job.opened", "data": {"jobId": "j"}}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    ).json()

    assert again["eventId"] == first["eventId"]
    assert again["deliveries"] == first["deliveries"] == 1
    assert WebhookEvent.objects.count() == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"event": "application.exploded", "payload": {}},
        {"event": "application.*", "payload": {}},
        {"payload": {}},
        {"event": "job.opened", "payload": [1]},
        {"event": "job.opened", "payload": {}, "data": {}},
        {"event": "job.opened", "unknown": 1},
    ],
)
def test_trigger_endpoint_refuses_bad_input(admin_client, payload, enqueued):
    assert_error(admin_client.post(f"{BASE}/trigger", payload, format="json"), 400, "VALIDATION_ERROR")
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(("role", "status"), [(Role.ADMIN, 200), (Role.INTEGRATION_MANAGER, 200), (Role.MEMBER, 403)])
def test_trigger_by_role(make_client, enqueued, role, status):
    response = make_client(role).post(f"{BASE}/trigger", {"event": "job.created", "payload": {}}, format="json")
    assert response.status_code == status


# --------------------------------------------------------------------------- isolation


def test_another_tenant_sees_none_of_it(admin_client, other_tenant_client, receiver, enqueued):
    webhook, _ = make_webhook(admin_client.tenant, receiver.url("/iso"))
    (delivery,) = make_deliveries(webhook, ["failed"])
    event_id = Delivery.objects.get(pk=delivery).event_id
    make_webhook(other_tenant_client.tenant, name="theirs")
    detail = f"{BASE}/{webhook.pk}"

    assert_tenant_isolation(
        other_tenant_client,
        [
            BASE,
            f"{BASE}?event=job.created",
            detail,
            ("put", detail, {"name": "stolen"}),
            ("patch", detail, {"name": "stolen"}),
            ("delete", detail),
            ("post", f"{detail}/test"),
            f"{detail}/logs",
            f"{detail}/stats",
            ("post", f"{detail}/rotate-secret"),
            ("post", f"{detail}/deliveries/{delivery}/retry"),
            ("post", f"{detail}/replay", {"since": "2020-01-01T00:00:00Z"}),
            ("post", f"{BASE}/trigger", {"event": "job.created", "payload": {}}),
        ],
        [webhook.pk, delivery, event_id],
    )
    webhook.refresh_from_db()
    assert webhook.name == "Hook"
    assert receiver.received() == []
    assert Delivery.objects.filter(webhook=webhook).count() == 1


# --------------------------------------------------------------------------- Django admin


def test_admin_shows_a_subscription_with_recent_deliveries_and_runs_its_actions(enqueued):
    from django.test import Client

    from tests.factories import TenantFactory, UserFactory

    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    webhook, secret = make_webhook(TenantFactory())
    make_deliveries(webhook, ["failed"] * 25)

    page = client.get(f"/admin/webhooks/webhook/{webhook.pk}/change/")
    assert page.status_code == 200
    assert page.content.decode().count("HTTP 500") == 20  # the 20 most recent deliveries
    assert secret not in page.content.decode()
    assert client.get("/admin/webhooks/delivery/").status_code == 200

    changelist = "/admin/webhooks/webhook/"
    client.post(changelist, {"action": "disable", "_selected_action": [webhook.pk]})
    webhook.refresh_from_db()
    assert webhook.status == "disabled"
    client.post(changelist, {"action": "enable", "_selected_action": [webhook.pk]})
    webhook.refresh_from_db()
    assert webhook.status == "active"
    response = client.post(changelist, {"action": "rotate_secret", "_selected_action": [webhook.pk]})
    assert WebhookSecret.objects.filter(webhook=webhook).count() == 2
    new_secret = WebhookSecret.objects.get(webhook=webhook, expires_at__isnull=True).secret
    assert response.status_code == 200 and new_secret in response.content.decode()  # shown once, on this page
    client.post(changelist, {"action": "retry_failed", "_selected_action": [webhook.pk]})
    assert Delivery.objects.filter(webhook=webhook, status="pending").count() == 25
