"""Dashboard widgets of one integration (seed 003): status, recent activity, records of one entity."""

from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from accounts.models import Role
from integrations.activity import log_activity
from integrations.models import ActivityLog, Connection
from tests.helpers import assert_error, assert_tenant_isolation
from tests.integrations.connection_support import (  # noqa: F401
    make_integration,
    no_backoff_sleep,
    oauth_connection,
)

pytestmark = pytest.mark.django_db

STRIPE_KEY = "sk_test_51HxAbCdEfGhIjKlMnOpQrStUv"
STRIPE_CUSTOMERS_URL = "https://api.stripe.com/v1/customers"
HUBSPOT_CONTACTS_URL = "https://api.hubapi.com/crm/v3/objects/contacts"
GOOGLE_EVENTS_URL = "https://www.googleapis.com/calendar/v3/calendars/primary/events"


def widget(client, integration, name: str, params=None):
    return client.get(f"/api/v1/integrations/{integration.pk}/widgets/{name}", params or {})


def stripe(tenant, *, connected: bool = True, **fields):
    fields.setdefault("status", "active")
    integration = make_integration(tenant, "stripe", name=fields.pop("name", "Payments"), **fields)
    if connected:
        Connection.objects.create(
            tenant=tenant,
            integration=integration,
            auth_type="api_key",
            status="active",
            credentials={"apiKey": STRIPE_KEY},
            credential_hint="sk_t…StUv",
            connected_at=timezone.now() - timedelta(days=2),
        )
    return integration


def stripe_customer_list(*ids: str) -> dict:
    """https://docs.stripe.com/api/customers/list: a list object."""
    return {
        "object": "list",
        "url": "/v1/customers",
        "has_more": False,
        "data": [
            {
                "id": cid,
                "object": "customer",
                "name": f"Customer {cid}",
                "email": f"{cid}@acme.example",
                "created": 1680893993,
                "livemode": False,
                "invoice_settings": {"default_payment_method": None, "custom_fields": None},
                "metadata": {"crm_id": "512"},
            }
            for cid in ids
        ],
    }


# --- status -----------------------------------------------------------------------------------------------------------
def test_status_widget_shows_the_integration_and_its_tenant_connection(make_client):
    member = make_client(Role.MEMBER)
    pay = stripe(member.tenant, last_error="Stripe answered 503.", last_sync_at=timezone.now())

    response = widget(member, pay, "status")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body == {
        "integrationId": str(pay.pk),
        "name": "Payments",
        "provider": "stripe",
        "status": "active",
        "healthStatus": "unknown",
        "connectionStatus": "active",
        "lastConnectedAt": body["lastConnectedAt"],
        "lastSyncAt": body["lastSyncAt"],
        "error": "Stripe answered 503.",
    }
    assert body["lastConnectedAt"].endswith("Z") and body["lastSyncAt"].endswith("Z")


def test_status_widget_of_a_user_scoped_integration_shows_the_callers_own_connection(make_client):
    alice = make_client(Role.MEMBER)
    bob = make_client(Role.MEMBER, tenant=alice.tenant)
    cal = make_integration(alice.tenant, "google_calendar", status="active")
    oauth_connection(cal, user=alice.user, access="ya29.alice")

    alices = widget(alice, cal, "status").json()
    bobs = widget(bob, cal, "status").json()

    assert alices["connectionStatus"] == "active" and alices["lastConnectedAt"]
    assert bobs["connectionStatus"] is None and bobs["lastConnectedAt"] is None and bobs["error"] is None


def test_status_widget_of_an_unconnected_integration(admin_client):
    pay = stripe(admin_client.tenant, connected=False, status="pending")

    body = widget(admin_client, pay, "status").json()

    assert body["status"] == "pending" and body["connectionStatus"] is None and body["error"] is None


# --- activity ---------------------------------------------------------------------------------------------------------
def _entry(integration, type_, status, *, ago: timedelta, message="", details=None):
    entry = log_activity(integration=integration, type=type_, status=status, message=message, details=details)
    ActivityLog.objects.filter(pk=entry.pk).update(created_at=timezone.now() - ago)
    return entry


def test_activity_widget_lists_the_last_24_hours_newest_first_without_api_calls(make_client):
    member = make_client(Role.MEMBER)
    pay = stripe(member.tenant)
    old = _entry(pay, "connect", "success", ago=timedelta(days=2), message="Connected.")
    sync = _entry(pay, "sync", "error", ago=timedelta(hours=3), message="Sync failed.", details={"records": 12})
    test = _entry(pay, "test", "success", ago=timedelta(minutes=10), message="Connection test passed.")
    _entry(pay, "api_call", "success", ago=timedelta(minutes=5), message="GET api.stripe.com/v1/balance -> 200")

    response = widget(member, pay, "activity")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["total"] == 2
    assert [a["id"] for a in body["activities"]] == [str(test.pk), str(sync.pk)]
    assert body["activities"][1] == {
        "id": str(sync.pk),
        "type": "sync",
        "status": "error",
        "message": "Sync failed.",
        "timestamp": body["activities"][1]["timestamp"],
        "details": {"records": 12},
    }
    assert body["activities"][1]["timestamp"].endswith("Z")
    assert str(old.pk) not in response.content.decode()


@pytest.mark.parametrize(
    "time_range, expected", [("1h", ["m10"]), ("24h", ["m10", "h3"]), ("7d", ["m10", "h3", "d2"]), ("30d", None)]
)
def test_activity_widget_time_ranges(admin_client, time_range, expected):
    pay = stripe(admin_client.tenant)
    for label, ago in (
        ("m10", timedelta(minutes=10)),
        ("h3", timedelta(hours=3)),
        ("d2", timedelta(days=2)),
        ("d20", timedelta(days=20)),
        ("d40", timedelta(days=40)),
    ):
        _entry(pay, "health_check", "success", ago=ago, message=label)

    body = widget(admin_client, pay, "activity", {"timeRange": time_range}).json()

    assert [a["message"] for a in body["activities"]] == (expected or ["m10", "h3", "d2", "d20"])
    assert body["total"] == len(body["activities"])


def test_activity_widget_limit_slices_but_total_counts_the_range(admin_client):
    pay = stripe(admin_client.tenant)
    for minutes in range(1, 6):
        _entry(pay, "sync", "success", ago=timedelta(minutes=minutes), message=f"{minutes} min ago")

    body = widget(admin_client, pay, "activity", {"limit": 2}).json()

    assert [a["message"] for a in body["activities"]] == ["1 min ago", "2 min ago"]
    assert body["total"] == 5


def test_activity_widget_query_count_is_constant(admin_client, django_assert_max_num_queries):
    pay = stripe(admin_client.tenant)
    _entry(pay, "sync", "success", ago=timedelta(minutes=1))
    with django_assert_max_num_queries(10) as few:
        assert widget(admin_client, pay, "activity", {"limit": 100}).json()["total"] == 1
    baseline = len(few.captured_queries)
    for minutes in range(2, 42):
        _entry(pay, "sync", "success", ago=timedelta(minutes=minutes), details={"n": minutes})

    with django_assert_max_num_queries(baseline) as many:
        assert len(widget(admin_client, pay, "activity", {"limit": 100}).json()["activities"]) == 41

    activity_queries = [q["sql"] for q in many.captured_queries if "activitylog" in q["sql"].lower()]
    assert len(activity_queries) == 2  # one count, one slice


@pytest.mark.parametrize(
    "params, field",
    [
        ({"timeRange": "2d"}, "timeRange"),
        ({"timeRange": "1H"}, "timeRange"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
    ],
)
def test_bad_activity_widget_parameters_are_400(admin_client, params, field):
    pay = stripe(admin_client.tenant)

    error = assert_error(widget(admin_client, pay, "activity", params), 400, "VALIDATION_ERROR")

    assert field in error["details"], error


# --- data -------------------------------------------------------------------------------------------------------------
@responses.activate
def test_data_widget_fetches_records_as_the_provider_shapes_them(make_client):
    member = make_client(Role.MEMBER)
    pay = stripe(member.tenant)
    responses.add(responses.GET, STRIPE_CUSTOMERS_URL, json=stripe_customer_list("cus_A", "cus_B"))

    response = widget(member, pay, "data", {"entity": "customer", "limit": 5})

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"data", "total", "entity", "fetchedAt"}
    assert body["entity"] == "customer" and body["total"] == 2 and body["fetchedAt"].endswith("Z")
    assert [r["id"] for r in body["data"]] == ["cus_A", "cus_B"]
    # the provider's own keys reach the widget untouched (not camelCased)
    assert body["data"][0]["invoice_settings"] == {"default_payment_method": None, "custom_fields": None}
    assert body["data"][0]["metadata"] == {"crm_id": "512"}
    (call,) = responses.calls
    assert call.request.headers["Authorization"] == f"Bearer {STRIPE_KEY}"
    assert call.request.url == f"{STRIPE_CUSTOMERS_URL}?limit=5"
    assert ActivityLog.objects.filter(integration=pay, type="api_call", status="success").count() == 1


@responses.activate
def test_data_widget_hands_fields_to_the_provider(admin_client):
    crm = make_integration(admin_client.tenant, "hubspot", status="active")
    oauth_connection(crm, access="hubspot-access")
    responses.add(
        responses.GET,
        HUBSPOT_CONTACTS_URL,
        json={
            "results": [
                {
                    "id": "512",
                    "properties": {"email": "ada@acme.example", "firstname": "Ada", "hs_object_id": "512"},
                    "createdAt": "2023-11-02T08:00:00.000Z",
                    "updatedAt": "2024-05-03T10:00:00.000Z",
                    "archived": False,
                }
            ],
            "paging": {"next": {"after": "513", "link": "https://api.hubapi.com/crm/v3/objects/contacts?after=513"}},
        },
    )

    response = admin_client.get(
        f"/api/v1/integrations/{crm.pk}/widgets/data?entity=contact&fields=email,firstname&fields=lastname&limit=3"
    )

    assert response.status_code == 200, response.content
    assert response.json()["data"][0]["properties"]["hs_object_id"] == "512"
    url = responses.calls[0].request.url
    assert "properties=email%2Cfirstname%2Clastname" in url and "limit=3" in url


@responses.activate
def test_data_widget_of_a_user_scoped_integration_uses_the_callers_connection(make_client):
    alice = make_client(Role.MEMBER)
    bob = make_client(Role.MEMBER, tenant=alice.tenant)
    cal = make_integration(alice.tenant, "google_calendar", status="active")
    oauth_connection(cal, user=alice.user, access="ya29.alice")
    oauth_connection(cal, user=bob.user, access="ya29.bob")
    responses.add(
        responses.GET,
        GOOGLE_EVENTS_URL,
        json={"kind": "calendar#events", "items": [{"kind": "calendar#event", "id": "evt1", "summary": "1:1"}]},
    )

    response = widget(bob, cal, "data", {"entity": "event"})

    assert response.status_code == 200, response.content
    assert response.json()["data"] == [{"kind": "calendar#event", "id": "evt1", "summary": "1:1"}]
    assert [c.request.headers["Authorization"] for c in responses.calls] == ["Bearer ya29.bob"]
    assert_error(widget(bob, cal, "data", {"entity": "event", "userId": str(alice.user.pk)}), 403, "PERMISSION_DENIED")


@responses.activate
def test_data_widget_filters_must_be_a_json_object_and_reach_the_client(admin_client, monkeypatch):
    pay = stripe(admin_client.tenant)
    seen = {}
    from providers.clients.stripe import StripeClient

    real = StripeClient.fetch_entities

    def spy(self, entity, *, limit=50, filters=None, fields=None):
        seen.update(entity=entity, filters=filters, fields=fields)
        return real(self, entity, limit=limit, filters=filters, fields=fields)

    monkeypatch.setattr(StripeClient, "fetch_entities", spy)
    responses.add(responses.GET, STRIPE_CUSTOMERS_URL, json=stripe_customer_list("cus_A"))

    response = widget(admin_client, pay, "data", {"entity": "customer", "filters": '{"created_after": 1680000000}'})

    assert response.status_code == 200, response.content
    assert seen == {"entity": "customer", "filters": {"created_after": 1680000000}, "fields": None}


@pytest.mark.parametrize(
    "params, field",
    [
        ({}, "entity"),
        ({"entity": "customer", "filters": "{not json"}, "filters"),
        ({"entity": "customer", "filters": "[1, 2]"}, "filters"),
        ({"entity": "customer", "limit": "-1"}, "limit"),
        ({"entity": "customer", "limit": "101"}, "limit"),
        ({"entity": "envelope"}, "entity"),
    ],
)
@responses.activate
def test_bad_data_widget_parameters_are_400(admin_client, params, field):
    pay = stripe(admin_client.tenant)

    error = assert_error(widget(admin_client, pay, "data", params), 400, "VALIDATION_ERROR")

    assert field in error["details"], error
    assert not responses.calls


@responses.activate
def test_data_widget_entity_the_client_cannot_list_is_a_400(admin_client):
    repos = make_integration(admin_client.tenant, "github", status="active")  # no client class: catalog data only
    oauth_connection(repos, access="gho_token")

    response = widget(admin_client, repos, "data", {"entity": "repository"})

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert "not supported" in error["message"]
    assert not responses.calls


def test_data_widget_of_an_unconnected_integration_is_a_400(admin_client):
    pay = stripe(admin_client.tenant, connected=False)

    error = assert_error(widget(admin_client, pay, "data", {"entity": "customer"}), 400, "VALIDATION_ERROR")

    assert error["details"] == {"connection": ["The integration has no connection."]}


def test_data_widget_of_an_inactive_integration_is_a_400(admin_client):
    pay = stripe(admin_client.tenant, status="inactive")

    assert_error(widget(admin_client, pay, "data", {"entity": "customer"}), 400, "VALIDATION_ERROR")


@responses.activate
def test_data_widget_provider_failure_is_a_502_without_secrets(admin_client):
    pay = stripe(admin_client.tenant)
    responses.add(
        responses.GET,
        STRIPE_CUSTOMERS_URL,
        status=500,
        json={"error": {"type": "api_error", "message": "An unknown error occurred"}},
    )

    response = widget(admin_client, pay, "data", {"entity": "customer"})

    error = assert_error(response, 502, "CONNECTION_FAILED")
    assert error["details"] == {"kind": "server_error", "providerStatus": 500}
    assert STRIPE_KEY not in response.content.decode()
    assert len(responses.calls) == 3  # a GET: retried twice on 5xx


# --- roles, isolation, rate limits ------------------------------------------------------------------------------------
@responses.activate
@pytest.mark.parametrize("role", [Role.ADMIN, Role.INTEGRATION_MANAGER, Role.MEMBER])
def test_every_tenant_role_may_read_the_widgets(make_client, role):
    client = make_client(role)
    pay = stripe(client.tenant)
    responses.add(responses.GET, STRIPE_CUSTOMERS_URL, json=stripe_customer_list("cus_A"))

    answers = [
        widget(client, pay, "status"),
        widget(client, pay, "activity"),
        widget(client, pay, "data", {"entity": "customer"}),
    ]

    assert [a.status_code for a in answers] == [200, 200, 200]


def test_widgets_need_authentication(anon_client, admin_client):
    pay = stripe(admin_client.tenant)

    for name in ("status", "activity", "data"):
        assert_error(widget(anon_client, pay, name, {"entity": "customer"}), 401, "AUTHENTICATION_REQUIRED")


def test_another_tenants_widgets_are_404(admin_client, other_tenant_client):
    pay = stripe(admin_client.tenant)
    log_activity(integration=pay, type="sync", status="success", message="synced")

    assert_tenant_isolation(
        other_tenant_client,
        [
            f"/api/v1/integrations/{pay.pk}/widgets/status",
            f"/api/v1/integrations/{pay.pk}/widgets/activity",
            f"/api/v1/integrations/{pay.pk}/widgets/data?entity=customer",
        ],
        [pay.pk],
    )


def test_unknown_integration_is_a_404(admin_client):
    response = admin_client.get("/api/v1/integrations/7d3c1c1e-3f7e-4f35-9a55-0a0a0a0a0a0a/widgets/status")

    assert_error(response, 404, "INTEGRATION_NOT_FOUND")


def test_widgets_count_against_the_widgets_rate_limit(admin_client, settings):
    settings.RATE_LIMIT_ENABLED = True
    pay = stripe(admin_client.tenant)

    response = widget(admin_client, pay, "status")

    assert response.status_code == 200
    assert response["X-RateLimit-Limit"] == "100"
