"""Console actions: each goes through the service the API uses and leaves an activity entry by the super admin."""

import re

import pytest
import responses
from django.urls import reverse

from integrations.models import ActivityLog, Connection, HealthCheck
from webhooks import services
from webhooks.models import Delivery, Webhook, WebhookSecret
from webhooks.models.inbound import InboundEndpoint, InboundEvent


@pytest.fixture
def enqueued(monkeypatch):
    calls = []
    monkeypatch.setattr(services, "enqueue_deliveries", lambda ids, countdown=None: calls.extend(ids) or len(calls))
    return calls


def act(console, model: str, action: str, objects):
    url = reverse(f"admin:{model.replace('.', '_')}_changelist")
    return console.post(url, {"action": action, "_selected_action": [str(o.pk) for o in objects]}, follow=False)


def console_entries(super_admin, action):
    return list(ActivityLog.objects.filter(actor=super_admin, details__source="console", details__action=action))


def test_retry_a_failed_delivery_requeues_it_and_logs_it(
    console, seeded, super_admin, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = act(console, "webhooks.delivery", "retry", [seeded.failed_delivery])
    assert response.status_code == 302

    delivery = Delivery.objects.get(pk=seeded.failed_delivery.pk)
    assert delivery.status == "pending" and enqueued == [delivery.pk]
    (entry,) = console_entries(super_admin, "delivery_retry")
    assert entry.tenant_id == seeded.tenant.pk and entry.integration_id == seeded.integration.pk
    assert entry.type == "webhook" and entry.details["deliveryId"] == str(delivery.pk)


def test_disable_then_enable_a_subscription(console, seeded, super_admin, enqueued):
    act(console, "webhooks.webhook", "disable", [seeded.broken])
    assert Webhook.objects.get(pk=seeded.broken.pk).status == "disabled"
    act(console, "webhooks.webhook", "enable", [seeded.broken])
    assert Webhook.objects.get(pk=seeded.broken.pk).status == "active"

    assert len(console_entries(super_admin, "disable")) == 1
    (entry,) = console_entries(super_admin, "enable")
    assert entry.tenant_id == seeded.other_tenant.pk and entry.integration_id is None


def test_rotating_a_signing_secret_shows_the_new_one_once_and_nowhere_else(console, seeded, super_admin):
    response = act(console, "webhooks.webhook", "rotate_secret", [seeded.good])

    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    current = WebhookSecret.objects.get(webhook=seeded.good, expires_at__isnull=True).secret
    assert current in response.content.decode()
    assert "secret" not in str(response.cookies.get("messages", ""))  # not parked in the messages cookie
    listing = console.get(reverse("admin:webhooks_webhook_changelist")).content.decode()
    assert current not in listing
    assert len(console_entries(super_admin, "rotate_secret")) == 1


def test_rotating_an_inbound_secret_shows_it_once(console, seeded, super_admin):
    endpoint = InboundEndpoint.objects.get()
    response = act(console, "webhooks.inboundendpoint", "rotate_secret", [endpoint])

    endpoint.refresh_from_db()
    assert endpoint.secret in response.content.decode()
    assert endpoint.previous_secret == "planted-inbound-secret-61f0aa"
    assert len(console_entries(super_admin, "inbound_rotate_secret")) == 1


def test_replay_failed_inbound_events_only_replays_the_failed(console, seeded, super_admin):
    events = list(InboundEvent.objects.all())
    act(console, "webhooks.inboundevent", "replay_failed", events)

    assert InboundEvent.objects.filter(status="failed").count() == 0
    assert InboundEvent.objects.filter(status="processed").count() == 3
    assert len(console_entries(super_admin, "inbound_replay")) == 1


def test_retry_failed_of_a_subscription_requeues_its_failed_deliveries(console, seeded, super_admin, enqueued):
    act(console, "webhooks.webhook", "retry_failed", [seeded.broken])

    assert Delivery.objects.filter(webhook=seeded.broken, status="pending").count() == 4
    (entry,) = console_entries(super_admin, "replay_failed")
    assert entry.details["replayed"] == 4


def test_expire_a_connection(console, seeded, super_admin):
    live = Connection.objects.get(status="active")
    act(console, "integrations.connection", "expire", [live])

    live.refresh_from_db()
    assert live.status == "expired" and live.credentials  # kept, unused until a reconnect
    live.integration.refresh_from_db()
    assert live.integration.status == "error"  # a tenant-level connection: the integration needs a reconnect
    entry = ActivityLog.objects.get(actor=super_admin, type="credentials")
    assert entry.integration_id == seeded.integration.pk and "administrator" in entry.message


def test_revoke_a_connection_disconnects_it(console, seeded, super_admin):
    live = Connection.objects.get(status="active")
    act(console, "integrations.connection", "revoke", [live])

    live.refresh_from_db()
    assert live.status == "revoked" and live.credentials == {}
    assert ActivityLog.objects.filter(actor=super_admin, type="disconnect", integration=seeded.integration).exists()


@responses.activate
def test_run_a_health_check_now(console, seeded, super_admin):
    responses.add(responses.GET, url=re.compile(r".*"), json={"ok": True})
    act(console, "integrations.integration", "run_health_check", [seeded.integration])

    check = HealthCheck.objects.get(integration=seeded.integration)
    assert check.trigger == "manual"
    assert ActivityLog.objects.filter(actor=super_admin, type="health_check", integration=seeded.integration).exists()


def test_deleting_an_integration_goes_through_the_service(console, seeded, super_admin):
    url = reverse("admin:integrations_integration_delete", args=[seeded.integration.pk])
    assert console.post(url, {"post": "yes"}).status_code == 302

    entry = ActivityLog.objects.get(type="delete", actor=super_admin)
    assert entry.details["integrationId"] == str(seeded.integration.pk) and entry.integration_id is None


def test_deleting_a_subscription_is_logged(console, seeded, super_admin):
    act(console, "webhooks.webhook", "delete_selected", [seeded.broken])
    console.post(
        reverse("admin:webhooks_webhook_changelist"),
        {"action": "delete_selected", "_selected_action": [str(seeded.broken.pk)], "post": "yes"},
    )

    assert not Webhook.objects.filter(pk=seeded.broken.pk).exists()
    assert len(console_entries(super_admin, "delete")) == 1


@pytest.mark.parametrize(
    "model",
    [
        "webhooks.delivery",
        "webhooks.deliveryattempt",
        "webhooks.webhookevent",
        "webhooks.inboundevent",
        "integrations.connection",
        "integrations.activitylog",
        "integrations.healthcheck",
    ],
)
def test_records_are_not_deleted_by_hand(console, seeded, model):
    from django.apps import apps

    obj = apps.get_model(model).objects.first()
    if obj is None:
        obj = HealthCheck.objects.create(tenant=seeded.tenant, integration=seeded.integration, status="healthy")
    url = reverse(f"admin:{model.replace('.', '_')}_delete", args=[obj.pk])
    assert console.post(url, {"post": "yes"}).status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_deleting_a_tenant_takes_its_history_along(console, seeded):
    from tenants.models import Tenant

    url = reverse("admin:tenants_tenant_delete", args=[seeded.other_tenant.pk])
    assert console.post(url, {"post": "yes"}).status_code == 302
    assert not Tenant.objects.filter(pk=seeded.other_tenant.pk).exists()
    assert not Delivery.objects.filter(tenant=seeded.other_tenant.pk).exists()


def test_editing_an_integration_in_the_console_is_logged(console, seeded, super_admin):
    url = reverse("admin:integrations_integration_change", args=[seeded.integration.pk])
    form = console.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update(
        {
            "name": "Acme CRM (EU)",
            "config": "{}",
            "settings": "{}",
            "allowed_shard_types": "[]",
            "searchable_entities": "[]",
            "tenant": seeded.tenant.pk,
            "provider": seeded.integration.provider_id,
            "versions-TOTAL_FORMS": 0,
            "versions-INITIAL_FORMS": 0,
        }
    )
    response = console.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""

    entry = ActivityLog.objects.get(actor=super_admin, type="update")
    assert "name" in entry.details["changedFields"] and entry.integration_id == seeded.integration.pk
