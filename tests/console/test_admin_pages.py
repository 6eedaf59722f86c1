"""Every console page: readable names, a tenant column and filter on tenant-owned lists, search, and no secret."""

import pytest
from django.contrib import admin
from django.urls import reverse

from integrations.models import Connection
from webhooks.models import Delivery, Webhook, WebhookEvent

# Tenant-owned models whose lists must show and filter by tenant.
TENANT_OWNED = [
    "integrations.integration",
    "integrations.connection",
    "integrations.oauthstate",
    "integrations.healthcheck",
    "integrations.integrationversion",
    "integrations.activitylog",
    "webhooks.webhook",
    "webhooks.webhookevent",
    "webhooks.delivery",
    "webhooks.deliveryattempt",
    "webhooks.inboundendpoint",
    "webhooks.inboundevent",
    "accounts.membership",
]


def _admin(label):
    model = next(m for m in admin.site._registry if m._meta.label_lower == label)
    return model, admin.site._registry[model]


def _pages(seeded):
    """The changelist of every registered model and the change page of its first row."""
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        yield reverse("admin:{}_{}_changelist".format(*info))
        obj = model.objects.first()
        if obj is not None:
            yield reverse("admin:{}_{}_change".format(*info), args=[obj.pk])


@pytest.mark.parametrize("label", TENANT_OWNED)
def test_every_tenant_owned_list_has_a_tenant_column_and_filter(label):
    _, model_admin = _admin(label)
    assert "tenant" in model_admin.list_display
    filters = [f if isinstance(f, str) else f[0] for f in model_admin.list_filter]
    assert any(f.split("__")[-1] == "tenant" for f in filters), filters
    assert model_admin.search_fields


def test_names_read_well(console):
    html = console.get("/admin/").content.decode()
    assert "OAuth states" in html
    assert "O auth" not in html
    assert "Webhook subscriptions" in html


def test_no_console_page_renders_a_planted_secret(console, seeded):
    pages = list(_pages(seeded))
    assert len(pages) > 30
    for url in pages:
        response = console.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        for secret in seeded.secrets:
            assert secret not in html, f"{secret} shown on {url}"


def test_lists_filter_by_tenant_and_search_by_name_id_and_event_type(console, seeded):
    url = reverse("admin:webhooks_delivery_changelist")
    only_globex = console.get(url, {"tenant__id__exact": seeded.other_tenant.pk}).content.decode()
    assert "Broken CRM sync" in only_globex and "Orders to ERP" not in only_globex

    by_id = console.get(url, {"q": str(seeded.failed_delivery.pk)}).context["cl"]
    assert [d.pk for d in by_id.result_list] == [seeded.failed_delivery.pk]
    by_type = console.get(reverse("admin:webhooks_inboundevent_changelist"), {"q": "invoice.paid"}).context["cl"]
    assert by_type.result_count == 5
    by_name = console.get(reverse("admin:webhooks_webhook_changelist"), {"q": "Broken"}).context["cl"]
    assert [w.name for w in by_name.result_list] == ["Broken CRM sync"]
    assert console.get(url, {"q": "not-a-uuid"}).status_code == 200


def test_a_delivery_shows_its_attempts_with_secret_headers_masked(console, seeded):
    html = console.get(reverse("admin:webhooks_delivery_change", args=[seeded.failed_delivery.pk])).content.decode()

    assert 'data-testid="request-headers"' in html
    assert "X-Route-Token" in html and "********" in html  # the custom header: name shown, value masked
    assert "application/json" in html  # ordinary headers as sent
    assert "upstream exploded" in html  # the response excerpt
    assert "HTTP 500" in html
    assert "42" in html  # duration


def test_an_event_shows_its_deliveries(console, seeded):
    event = WebhookEvent.objects.get(deliveries=seeded.failed_delivery)
    html = console.get(reverse("admin:webhooks_webhookevent_change", args=[event.pk])).content.decode()
    assert "deliveries of this event" in html.lower()
    assert reverse("admin:webhooks_delivery_change", args=[seeded.failed_delivery.pk]) in html


def test_a_subscription_shows_its_custom_header_names_not_values(console, seeded):
    html = console.get(reverse("admin:webhooks_webhook_change", args=[seeded.good.pk])).content.decode()
    assert 'data-testid="custom-headers"' in html and "X-Route-Token" in html
    assert Webhook.objects.get(pk=seeded.good.pk).headers == {"X-Route-Token": "planted-custom-header-value-7f3a9c"}


def test_a_connection_change_page_is_read_only(console, seeded):
    url = reverse("admin:integrations_connection_change", args=[seeded.expired_connection.pk])
    response = console.post(url, {"status": "active"})
    assert response.status_code == 403
    assert Connection.objects.get(pk=seeded.expired_connection.pk).status == "expired"


def test_a_delivery_cannot_be_edited_by_hand(console, seeded):
    url = reverse("admin:webhooks_delivery_change", args=[seeded.failed_delivery.pk])
    assert console.post(url, {"status": "success"}).status_code == 403
    assert Delivery.objects.get(pk=seeded.failed_delivery.pk).status == "failed"
