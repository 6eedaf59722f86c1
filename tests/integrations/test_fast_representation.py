"""The fast read path writes exactly what the DRF path wrote: integration rows built from `values()` and rendered by
orjson are byte for byte IntegrationSerializer's output camelCased and rendered by DRF's JSONRenderer."""

import datetime as dt
import decimal
import json
import uuid

import pytest
from django.utils import timezone
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from accounts.models import Role
from config.api import CamelCased, CamelCaseJSONRenderer, camelize_fast
from integrations import selectors
from integrations.models import Connection, Integration
from integrations.serializers import (
    IntegrationSerializer,
    integration_page_representations,
    integration_representations,
)
from tests.integrations.factories import IntegrationFactory, catalog_provider

pytestmark = pytest.mark.django_db

URL = "/api/v1/integrations"


def drf_bytes(data) -> bytes:
    """What the API answered before: DRF's serializer output, camelCased, through DRF's own JSONRenderer."""
    return JSONRenderer().render(camelize_fast(data, CamelCaseJSONRenderer.opaque))


def fast_bytes(data) -> bytes:
    return CamelCaseJSONRenderer().render(CamelCased(data) if isinstance(data, dict) else data)


@pytest.fixture
def varied(admin_client):
    """Integrations that take every branch of the representation."""
    tenant = admin_client.tenant
    stripe, slack = catalog_provider("stripe"), catalog_provider("slack")
    moment = timezone.now().replace(microsecond=0)  # no microseconds: isoformat would drop them, DRF's format keeps
    rows = [
        IntegrationFactory(tenant=tenant, provider=stripe, name="plain"),
        IntegrationFactory(
            tenant=tenant,
            provider=slack,
            name="everything set \u2028 ünïcode",
            description='line\u2029separator, </script>, "quotes"',
            icon="custom-icon",
            config={"snake_key": {"nested_key": [1, 2.5, None, True]}, "big": 2**70, "unicode": "é\u2028"},
            settings={"sync_enabled": False},
            allowed_shard_types=["a_b", "c"],
            searchable_entities=["contacts"],
            search_enabled=True,
            user_scoped=True,
            enabled_at=moment,
            enabled_by=admin_client.user,
            last_sync_at=timezone.now(),
            last_health_check_at=moment,
            health_status="degraded",
            last_error="Slow response",
            last_error_at=timezone.now(),
            last_connection_test=timezone.now(),
            current_version=7,
            status="active",
            environment="sandbox",
        ),
        IntegrationFactory(tenant=tenant, provider=stripe, name="revoked", status="error"),
        IntegrationFactory(tenant=tenant, provider=stripe, name="connected, no hint"),
    ]
    Connection.objects.create(
        tenant=tenant, integration=rows[1], auth_type="oauth2", credential_hint="xoxb…abcd", status="active"
    )
    Connection.objects.create(
        tenant=tenant, integration=rows[2], auth_type="api_key", credential_hint="sk_l…WXYZ", status="revoked"
    )
    Connection.objects.create(tenant=tenant, integration=rows[3], auth_type="api_key", credential_hint="")
    user = admin_client.user  # a user-level connection is not the integration's credentials
    Connection.objects.create(
        tenant=tenant, integration=rows[0], user=user, auth_type="api_key", credential_hint="user…hint"
    )
    return rows


def test_rows_are_byte_for_byte_the_serializers(admin_client, varied):
    queryset = selectors.integration_list(tenant=admin_client.tenant, filters={})
    old = IntegrationSerializer(list(queryset), many=True).data
    total, page = selectors.integration_page(tenant=admin_client.tenant, filters={}, limit=50, offset=0)
    new = integration_page_representations(page)
    assert total == 4
    detail_path = integration_representations(selectors.integration_row_queryset(tenant=admin_client.tenant))
    assert {row["id"]: row for row in detail_path} == {row["id"]: row for row in new}  # the detail writes the same
    assert [list(row) for row in new] == [list(camelize_fast(row, frozenset())) for row in old]  # same keys, order
    for before, after in zip(old, new, strict=True):
        assert fast_bytes(after).decode() == drf_bytes(before).decode()


def test_list_detail_and_by_provider_answer_what_the_serializer_writes(admin_client, varied):
    queryset = selectors.integration_list(tenant=admin_client.tenant, filters={})
    expected = {str(row["id"]): drf_bytes(row) for row in IntegrationSerializer(list(queryset), many=True).data}
    listing = admin_client.get(f"{URL}?limit=2&offset=1")
    assert listing.status_code == 200
    body = listing.json()
    assert (body["total"], body["limit"], body["offset"], body["hasMore"], body["nextOffset"]) == (4, 2, 1, True, 3)
    for integration in varied:
        detail = admin_client.get(f"{URL}/{integration.pk}")
        assert detail.status_code == 200
        assert detail.content == expected[str(integration.pk)]
    by_provider = admin_client.get(f"{URL}/provider/slack").json()
    assert [item["name"] for item in by_provider["items"]] == ["everything set \u2028 ünïcode"]


def test_another_tenants_integration_is_a_404_on_the_fast_detail(admin_client, make_client, varied):
    other = make_client(Role.ADMIN)
    response = other.get(f"{URL}/{varied[0].pk}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "INTEGRATION_NOT_FOUND"
    assert Integration.objects.filter(pk=varied[0].pk).exists()


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"provider": "stripe"},
        {"providerName": "slack", "status": "connected"},
        {"status": "error"},
        {"category": "messaging"},
        {"type": "PAYMENT_PROVIDER"},
        {"environment": "sandbox"},
        {"search": "ÜNÏ"},
        {"search": "%"},
        {"search": "no_ hint"},
        {"search": "separator"},
        {"sortBy": "name"},
        {"sortBy": "name", "sortOrder": "desc"},
        {"sortBy": "provider", "sortOrder": "desc"},
        {"sortBy": "status"},
        {"sortBy": "updatedAt", "sortOrder": "desc"},
        {"sortBy": "createdAt"},
    ],
)
def test_the_sql_page_filters_and_sorts_like_the_orm_list(admin_client, varied, filters):
    expected = [
        str(pk)
        for pk in selectors.integration_list(tenant=admin_client.tenant, filters=filters).values_list("pk", flat=True)
    ]
    total, rows = selectors.integration_page(tenant=admin_client.tenant, filters=filters, limit=100, offset=0)
    assert [str(row[0]) for row in rows] == expected and total == len(expected)
    total, rows = selectors.integration_page(tenant=admin_client.tenant, filters=filters, limit=1, offset=1)
    assert [str(row[0]) for row in rows] == expected[1:2] and total == len(expected)
    assert selectors.integration_page(tenant=admin_client.tenant, filters=filters, limit=5, offset=9) == (
        len(expected),
        [],
    )


def test_the_sql_page_is_the_tenants_only(admin_client, make_client, varied):
    other = make_client(Role.ADMIN)
    IntegrationFactory(tenant=other.tenant, name="theirs")
    total, rows = selectors.integration_page(tenant=other.tenant, filters={}, limit=50, offset=0)
    assert total == 1 and [row[2] for row in rows] == ["theirs"]
    assert other.get(URL).json()["total"] == 1


@pytest.mark.parametrize(
    "data",
    [
        {"created_at": dt.datetime(2025, 1, 2, 3, 4, 5, 6789, tzinfo=dt.UTC), "naive": dt.datetime(2025, 1, 2)},
        {
            "when": dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "day": dt.date(2025, 1, 2),
        },
        {"amount": decimal.Decimal("12.50"), "id": uuid.UUID(int=7), "lazy": gettext_lazy("Not found.")},
        {"big": 2**70, "separators": "a\u2028b\u2029c", "nested": {"snake_case": [(1, 2), {"x_y": None}]}},
        {"float": 0.1, "neg": -0.0, "third": 1 / 3, "large": 123456789.125},
        {"int_key": {1: "one"}},
        [{"list_body": True}],
    ],
)
def test_the_orjson_renderer_writes_what_drfs_renderer_wrote(data):
    renderer = CamelCaseJSONRenderer()
    camelized = camelize_fast(data, renderer.opaque)
    assert renderer.render(data) == JSONRenderer().render(camelized)


def test_floats_in_exponent_form_keep_their_value():
    """The one spelling that differs: orjson writes 1e-7 where json writes 1e-07 (the same number)."""
    data = {"tiny": 1e-7, "huge": 1.5e300}
    body = CamelCaseJSONRenderer().render(data)
    assert body == b'{"tiny":1e-7,"huge":1.5e300}'
    assert json.loads(body) == json.loads(JSONRenderer().render(data)) == data


def test_an_indented_answer_still_goes_through_drfs_renderer():
    body = CamelCaseJSONRenderer().render({"a_b": 1}, accepted_media_type="application/json; indent=2")
    assert body == b'{\n  "aB": 1\n}'


def test_activity_rows_are_byte_for_byte_the_serializers(admin_client, varied):
    from integrations.activity import log_activity
    from integrations.models import ActivityLog
    from integrations.serializers import ActivityLogSerializer, activity_representations

    integration = varied[1]
    log_activity(
        integration=integration, type="update", status="success", message="by a person", actor=admin_client.user
    )
    log_activity(
        integration=integration,
        type="health_check",
        status="error",
        message="Health healthy -> unhealthy: \u2028 ünïcode",
        details={"status_code": 401, "nested_key": {"big": 2**70, "float": 0.5}},
    )
    ActivityLog.objects.filter(integration=integration).update(request_id="req-1")
    queryset = selectors.activity_list(integration=integration, filters={})
    old = ActivityLogSerializer(list(queryset), many=True).data
    new = activity_representations(queryset)
    assert len(new) == len(old) >= 2
    for before, after in zip(old, new, strict=True):
        assert fast_bytes(after).decode() == drf_bytes(before).decode()

    body = admin_client.get(f"{URL}/{integration.pk}/logs?limit=1&offset=1").json()
    assert (body["total"], body["limit"], body["offset"], body["hasMore"]) == (len(old), 1, 1, len(old) > 2)
    assert body["items"] == [json.loads(drf_bytes(old[1]))]
    assert admin_client.get(f"{URL}/{integration.pk}/logs?offset=50").json()["items"] == []
