"""Recovery (POST /webhooks/{id}/recover): window rules, the dry run's counts and sample, the background job and its
status, and tenant isolation. The end-to-end run with a real worker is in tests/e2e/test_webhook_options.py."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import TenantFactory
from tests.helpers import assert_error, assert_tenant_isolation
from webhooks import recovery, services
from webhooks.models import Delivery, DeliveryStatus, WebhookEvent, WebhookRecovery

pytestmark = pytest.mark.django_db

BASE = "/api/v1/integrations/webhooks"


def failed_delivery(webhook, *, ago: timedelta, status: int | None, error: str = "", state="failed"):
    at = timezone.now() - ago
    event = WebhookEvent.objects.create(
        tenant_id=webhook.tenant_id, event="job.created", payload={}, body="{}", created_at=at
    )
    return Delivery.objects.create(
        tenant_id=webhook.tenant_id,
        webhook=webhook,
        event=event,
        event_type="job.created",
        status=state,
        attempt_count=4,
        round_attempts=4,
        last_response_status=status,
        last_error=error or (f"HTTP {status}" if status else "Timed out after 10000 ms"),
        created_at=at,
        completed_at=at,
    )


@pytest.fixture
def hook(admin_client):
    webhook, _ = services.webhook_create(tenant=admin_client.tenant, name="r", url="http://127.0.0.1:9/h", events=["*"])
    return webhook


@pytest.fixture
def history(hook):
    """Two exhausted (503, timeout), two failed for good (400, refused destination), one success, one too old."""
    return {
        "exhausted_503": failed_delivery(hook, ago=timedelta(hours=5), status=503),
        "exhausted_timeout": failed_delivery(hook, ago=timedelta(hours=4), status=None),
        "failed_400": failed_delivery(hook, ago=timedelta(hours=3), status=400),
        "failed_refused": failed_delivery(
            hook, ago=timedelta(hours=2), status=None, error="Destination refused: private address"
        ),
        "success": failed_delivery(hook, ago=timedelta(hours=1), status=200, state="success"),
        "old": failed_delivery(hook, ago=timedelta(days=3), status=500),
    }


def window(**extra):
    now = timezone.now()
    return {"since": (now - timedelta(days=1)).isoformat(), "until": now.isoformat(), **extra}


def test_dry_run_counts_failed_and_exhausted_and_sends_nothing(admin_client, hook, history, enqueued):
    response = admin_client.post(f"{BASE}/{hook.pk}/recover", window(dryRun=True), format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["counts"] == {"failed": 2, "exhausted": 2}
    assert [s["deliveryId"] for s in body["sample"]] == [
        str(history[k].pk) for k in ("exhausted_503", "exhausted_timeout", "failed_400", "failed_refused")
    ]
    assert [s["status"] for s in body["sample"]] == ["exhausted", "exhausted", "failed", "failed"]
    first = body["sample"][0]
    assert first["eventId"] == str(history["exhausted_503"].event_id) and first["event"] == "job.created"
    assert enqueued == [] and not WebhookRecovery.objects.exists()
    assert Delivery.objects.filter(status=DeliveryStatus.FAILED).count() == 5


def test_real_run_answers_202_and_the_job_resends_in_the_background(
    admin_client, hook, history, enqueued, django_capture_on_commit_callbacks, monkeypatch
):
    queued_jobs = []
    monkeypatch.setattr("webhooks.tasks.outbound.recover.delay", lambda job_id: queued_jobs.append(job_id))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{BASE}/{hook.pk}/recover", window(), format="json")

    assert response.status_code == 202, response.content
    job_id = response.json()["jobId"]
    assert queued_jobs == [job_id]
    status_url = f"{BASE}/{hook.pk}/recoveries/{job_id}"
    pending = admin_client.get(status_url).json()
    assert pending["status"] == "pending" and pending["total"] == 4 and pending["done"] == 0

    with django_capture_on_commit_callbacks(execute=True):
        assert recovery.webhook_recover_run(job_id=job_id) == "completed"

    done = admin_client.get(status_url).json()
    assert done["status"] == "completed" and done["total"] == 4 and done["done"] == 4 and done["finishedAt"]
    resent = {k for k, d in history.items() if Delivery.objects.get(pk=d.pk).status == DeliveryStatus.PENDING}
    assert resent == {"exhausted_503", "exhausted_timeout", "failed_400", "failed_refused"}
    again = Delivery.objects.get(pk=history["failed_400"].pk)
    assert again.round_attempts == 0 and again.attempt_count == 4  # a fresh budget on the same row (webhook-id)
    assert sorted(str(i) for i, _ in enqueued) == sorted(
        str(history[k].pk) for k in ("exhausted_503", "exhausted_timeout", "failed_400", "failed_refused")
    )
    assert recovery.webhook_recover_run(job_id=job_id) is None  # a redelivered task message does nothing


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"since": "2020-01-01T00:00:00Z"}, "since"),  # more than 14 days
        (
            {
                "since": (timezone.now() + timedelta(hours=1)).isoformat(),
                "until": (timezone.now() + timedelta(hours=2)).isoformat(),
            },
            "since",
        ),
        ({"since": (timezone.now() - timedelta(hours=1)).isoformat(), "until": "2099-01-01T00:00:00Z"}, "until"),
        ({"since": timezone.now().isoformat(), "until": (timezone.now() - timedelta(hours=1)).isoformat()}, "since"),
        ({"until": timezone.now().isoformat()}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"since": timezone.now().isoformat(), "dryRun": "maybe"}, "dryRun"),
        ({"since": timezone.now().isoformat(), "everything": True}, "everything"),
    ],
)
def test_bad_windows_are_400_with_the_field(admin_client, hook, body, field):
    error = assert_error(admin_client.post(f"{BASE}/{hook.pk}/recover", body, format="json"), 400, "VALIDATION_ERROR")
    assert field in error["details"], error
    assert not WebhookRecovery.objects.exists()


def test_the_window_limit_follows_the_setting(admin_client, hook, settings):
    settings.WEBHOOK_RECOVER_MAX_DAYS = 1
    body = {"since": (timezone.now() - timedelta(days=2)).isoformat(), "dryRun": True}
    assert_error(admin_client.post(f"{BASE}/{hook.pk}/recover", body, format="json"), 400)
    settings.WEBHOOK_RECOVER_MAX_DAYS = 3
    assert admin_client.post(f"{BASE}/{hook.pk}/recover", body, format="json").status_code == 200


def test_members_may_not_recover_and_jobs_are_tenant_scoped(make_client, admin_client, hook, history):
    member = make_client("member", tenant=admin_client.tenant)
    assert_error(member.post(f"{BASE}/{hook.pk}/recover", window(dryRun=True), format="json"), 403)
    job = recovery.webhook_recover_start(webhook=hook, since=timezone.now() - timedelta(days=1))
    assert member.get(f"{BASE}/{hook.pk}/recoveries/{job.pk}").status_code == 200

    other_tenant = make_client("admin", tenant=TenantFactory())
    assert_tenant_isolation(
        other_tenant,
        [
            f"{BASE}/{hook.pk}/recoveries/{job.pk}",
            ("post", f"{BASE}/{hook.pk}/recover", window(dryRun=True)),
            ("post", f"{BASE}/{hook.pk}/recover", window()),
        ],
        [job.pk, hook.pk],
    )
    other_hook, _ = services.webhook_create(
        tenant=admin_client.tenant, name="other", url="http://127.0.0.1:9/h", events=["*"]
    )
    assert_error(admin_client.get(f"{BASE}/{other_hook.pk}/recoveries/{job.pk}"), 404, "RECOVERY_NOT_FOUND")
