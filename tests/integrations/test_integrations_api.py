"""`/api/v1/integrations…`: CRUD, filters, sorting, by provider, activate/deactivate, roles, isolation, events."""

import threading
import uuid

import pytest
from django.db import connection, connections

from accounts.models import Role
from integrations.models import ActivityLog, Connection, Integration, IntegrationVersion
from integrations.services import integration_create
from tests.helpers import assert_error, assert_tenant_isolation
from tests.integrations.factories import IntegrationFactory, ProviderFactory, catalog_provider

URL = "/api/v1/integrations"
STRIPE_KEY = "sk_live_51AbCdEfGhIjKlMnOpQrStUvWxYz"


def detail(integration_id) -> str:
    return f"{URL}/{integration_id}"


@pytest.fixture
def stripe(db):
    return catalog_provider("stripe")


@pytest.fixture
def manager_client(admin_client, make_client):
    return make_client(Role.INTEGRATION_MANAGER, tenant=admin_client.tenant)


@pytest.fixture
def member_client(admin_client, make_client):
    return make_client(Role.MEMBER, tenant=admin_client.tenant)


def create(client, **body):
    body = {"provider": "stripe", "name": "Payments", **body}
    return client.post(URL, body, format="json")


# --- Create ---------------------------------------------------------------------------------------------------------
def test_create_returns_the_full_object_pending_at_version_1(admin_client, stripe):
    response = create(admin_client, description="Card payments", environment="sandbox", settings={"syncEnabled": True})

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["tenantId"] == str(admin_client.tenant.id)
    assert body["provider"] == "stripe"
    assert body["category"] == body["type"] == "payment_gateway"
    assert body["status"] == "pending"
    assert body["authType"] == "api_key"
    assert body["environment"] == "sandbox"
    assert body["settings"] == {"syncEnabled": True}
    assert body["healthStatus"] == "unknown"
    assert body["credentialsSet"] is False and body["credentialHint"] is None
    assert body["version"] == 1
    assert body["icon"] == "stripe"
    assert body["createdAt"].endswith("Z")
    assert Integration.objects.get(pk=body["id"]).created_by == admin_client.user


def test_create_with_seed_004_body_stores_credentials_on_the_tenant_connection(admin_client, stripe):
    response = admin_client.post(
        URL,
        {
            "provider": "stripe",
            "name": "Stripe Payment Gateway",
            "type": "PAYMENT_GATEWAY",
            "environment": "production",
            "configuration": {"base_url": "https://api.stripe.com", "webhook_url": "https://api.example.com/wh"},
            "credentials": {"api_key": STRIPE_KEY},
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["config"] == {"base_url": "https://api.stripe.com", "webhook_url": "https://api.example.com/wh"}
    assert body["credentialsSet"] is True
    assert body["credentialHint"] == "…WxYz"
    assert STRIPE_KEY not in response.content.decode()
    assert "credentials" not in body
    conn = Connection.objects.get(integration_id=body["id"], user__isnull=True)
    assert conn.credentials == {"apiKey": STRIPE_KEY}
    assert conn.auth_type == "api_key" and conn.status == "active" and conn.connected_at is not None
    assert conn.credential_hint == "…WxYz"


def test_create_accepts_seed_003_integration_id_for_the_provider(admin_client, stripe):
    response = admin_client.post(
        URL,
        {"integrationId": "stripe", "name": "Seed 3", "allowedShardTypes": ["invoice"], "searchEnabled": True},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["allowedShardTypes"] == ["invoice"]
    assert response.json()["searchEnabled"] is True


def test_short_credentials_are_fully_masked(admin_client, db):
    ProviderFactory(key="acme_short")
    response = create(admin_client, provider="acme_short", credentials={"apiKey": "short-key"})

    assert response.status_code == 201, response.content
    assert response.json()["credentialHint"] == "********"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"description": "d" * 2001}, "description"),
        ({"environment": "moon"}, "environment"),
        ({"config": ["not", "an", "object"]}, "config"),
        ({"settings": {"blob": "x" * (65 * 1024)}}, "settings"),
        ({"config": {"blob": "x" * (65 * 1024)}}, "config"),
        ({"unexpected": 1}, "unexpected"),
        ({"type": "crm"}, "type"),
        ({"authType": "oauth2"}, "authType"),
        ({"searchableEntities": ["spaceship"]}, "searchableEntities"),
        ({"credentials": "sk_live_plain_string"}, "credentials"),
        ({"credentials": {"api_key": "not-a-stripe-key-at-all"}}, "credentials.apiKey"),
        ({"credentials": {"apiKey": STRIPE_KEY}, "credentialType": "basic"}, "credentialType"),
    ],
)
def test_create_rejects_bad_input_with_a_field_error(admin_client, stripe, body, field):
    response = create(admin_client, **body)

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert field in error["details"], error
    assert not Integration.objects.exists()
    assert "not-a-stripe-key-at-all" not in response.content.decode()
    assert "sk_live_plain_string" not in response.content.decode()


def test_create_requires_provider_and_name(admin_client, db):
    error = assert_error(admin_client.post(URL, {}, format="json"), 400, "VALIDATION_ERROR")
    assert {"provider", "name"} <= set(error["details"])


def test_unknown_provider_is_a_validation_error(admin_client, db):
    error = assert_error(create(admin_client, provider="nope"), 400, "VALIDATION_ERROR")
    assert "nope" in error["details"]["provider"][0]


@pytest.mark.parametrize(
    ("overrides", "word"),
    [
        ({"status": "disabled"}, "disabled"),
        ({"status": "deprecated"}, "deprecated"),
        ({"audience": "system"}, "not available"),
    ],
)
def test_unavailable_provider_is_refused_for_new_integrations_naming_it(admin_client, db, overrides, word):
    catalog_provider("stripe", **overrides)

    error = assert_error(create(admin_client), 400, "VALIDATION_ERROR")

    assert "'stripe'" in error["message"] and word in error["message"]
    assert not Integration.objects.exists()


def test_config_is_validated_against_the_provider_config_schema(admin_client, db):
    catalog_provider("bamboohr")

    missing = assert_error(create(admin_client, provider="bamboohr", name="HR"), 400, "VALIDATION_ERROR")
    bad = assert_error(
        create(admin_client, provider="bamboohr", name="HR", config={"companyDomain": "no spaces allowed"}),
        400,
        "VALIDATION_ERROR",
    )
    ok = create(admin_client, provider="bamboohr", name="HR", config={"companyDomain": "acme"})

    assert missing["details"] == {"config.companyDomain": ["This field is required."]}
    assert bad["details"] == {"config.companyDomain": ["Does not match the expected format."]}
    assert ok.status_code == 201


def test_settings_keys_described_by_the_config_schema_are_validated(admin_client, db):
    catalog_provider("twilio")

    error = assert_error(
        create(admin_client, provider="twilio", name="SMS", settings={"fromNumber": "12"}), 400, "VALIDATION_ERROR"
    )

    assert "settings.fromNumber" in error["details"]


def test_duplicate_name_in_a_tenant_is_409_but_fine_in_another_tenant(admin_client, other_tenant_client, stripe):
    assert create(admin_client).status_code == 201

    assert_error(create(admin_client), 409, "CONFLICT")
    assert create(other_tenant_client).status_code == 201


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_creates_give_one_201_and_conflicts_not_500(db):
    from config.errors import Conflict
    from tests.factories import TenantFactory

    tenant = TenantFactory()
    catalog_provider("stripe")
    barrier = threading.Barrier(4)
    outcomes = []

    def worker():
        try:
            barrier.wait()
            integration_create(tenant=tenant, provider="stripe", name="Same name")
            outcomes.append("created")
        except Conflict:
            outcomes.append("conflict")
        except Exception as exc:  # the assertion below shows it
            outcomes.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "created"], outcomes
    assert Integration.objects.filter(tenant=tenant).count() == 1


# --- Roles ----------------------------------------------------------------------------------------------------------
def test_member_reads_but_cannot_write(member_client, admin_client, stripe):
    integration = IntegrationFactory(tenant=admin_client.tenant, provider=stripe)

    assert member_client.get(URL).status_code == 200
    assert member_client.get(detail(integration.id)).status_code == 200
    assert_error(create(member_client, name="Nope"), 403, "PERMISSION_DENIED")
    assert_error(member_client.patch(detail(integration.id), {"name": "x"}, format="json"), 403, "PERMISSION_DENIED")
    assert_error(member_client.post(f"{detail(integration.id)}/activate"), 403, "PERMISSION_DENIED")
    assert_error(member_client.delete(detail(integration.id)), 403, "PERMISSION_DENIED")


def test_integration_manager_creates_and_updates_but_cannot_delete(manager_client, stripe):
    created = create(manager_client)
    assert created.status_code == 201
    integration_id = created.json()["id"]

    assert manager_client.patch(detail(integration_id), {"description": "ok"}, format="json").status_code == 200
    assert_error(manager_client.delete(detail(integration_id)), 403, "PERMISSION_DENIED")
    assert Integration.objects.filter(pk=integration_id).exists()


def test_anonymous_gets_401_and_super_admin_without_tenant_403(anon_client, super_admin_client, db):
    assert_error(anon_client.get(URL), 401, "AUTHENTICATION_REQUIRED")
    assert_error(super_admin_client.get(URL), 403, "PERMISSION_DENIED")


# --- List, filters, sorting -----------------------------------------------------------------------------------------
@pytest.fixture
def listed(admin_client, db):
    stripe = catalog_provider("stripe")
    slack = catalog_provider("slack")
    tenant = admin_client.tenant
    return {
        "alpha": IntegrationFactory(tenant=tenant, provider=stripe, name="Alpha pay", status="active"),
        "beta": IntegrationFactory(
            tenant=tenant, provider=slack, name="Beta chat", environment="sandbox", description="team alerts"
        ),
        "gamma": IntegrationFactory(tenant=tenant, provider=stripe, name="Gamma pay", status="inactive"),
    }


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["name"] for item in response.json()["items"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("provider=stripe", {"Alpha pay", "Gamma pay"}),
        ("providerName=slack", {"Beta chat"}),
        ("status=active", {"Alpha pay"}),
        ("status=CONNECTED", {"Alpha pay"}),
        ("category=messaging", {"Beta chat"}),
        ("type=PAYMENT_GATEWAY", {"Alpha pay", "Gamma pay"}),
        ("environment=sandbox", {"Beta chat"}),
        ("search=ALERTS", {"Beta chat"}),
        ("search=pay&status=inactive", {"Gamma pay"}),
    ],
)
def test_list_filters(admin_client, listed, query, expected):
    assert set(names(admin_client.get(f"{URL}?{query}"))) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sortBy=name", ["Alpha pay", "Beta chat", "Gamma pay"]),
        ("sortBy=name&sortOrder=desc", ["Gamma pay", "Beta chat", "Alpha pay"]),
        ("sortBy=provider&sortOrder=asc", ["Beta chat", "Alpha pay", "Gamma pay"]),
        ("sortBy=status", ["Alpha pay", "Gamma pay", "Beta chat"]),
    ],
)
def test_list_sorting(admin_client, listed, query, expected):
    got = names(admin_client.get(f"{URL}?{query}"))
    if "provider" in query:  # ties within a provider are by id: compare the provider order only
        assert got[0] == expected[0] and set(got[1:]) == set(expected[1:])
    else:
        assert got == expected


def test_list_default_order_is_newest_first_and_paginates_with_page(admin_client, listed):
    body = admin_client.get(f"{URL}?limit=2&page=2").json()

    assert body["total"] == 3 and body["offset"] == 2 and body["hasMore"] is False
    assert [i["name"] for i in body["items"]] == ["Alpha pay"]


@pytest.mark.parametrize("query", ["sortBy=secret", "sortOrder=up", "status=broken", "category=toys", "environment=x"])
def test_list_rejects_unknown_filter_values(admin_client, listed, query):
    assert_error(admin_client.get(f"{URL}?{query}"), 400, "VALIDATION_ERROR")


def test_list_query_count_is_constant_in_the_number_of_rows(admin_client, django_assert_max_num_queries, db):
    stripe = catalog_provider("stripe")
    for i in range(3):
        integration = IntegrationFactory(tenant=admin_client.tenant, provider=stripe, name=f"few {i}")
        Connection.objects.create(
            tenant=admin_client.tenant, integration=integration, auth_type="api_key", credential_hint="sk_l…abcd"
        )
    with django_assert_max_num_queries(3) as few:
        assert len(names(admin_client.get(URL))) == 3
    baseline = len(few.captured_queries)
    for i in range(27):
        integration = IntegrationFactory(tenant=admin_client.tenant, provider=stripe, name=f"many {i}")
        Connection.objects.create(
            tenant=admin_client.tenant, integration=integration, auth_type="api_key", credential_hint="sk_l…abcd"
        )
    with django_assert_max_num_queries(baseline):
        body = admin_client.get(URL).json()
    assert len(body["items"]) == 30
    assert all(item["credentialsSet"] and item["credentialHint"] == "sk_l…abcd" for item in body["items"])


def test_by_provider_lists_that_providers_integrations(admin_client, listed):
    assert set(names(admin_client.get(f"{URL}/provider/stripe"))) == {"Alpha pay", "Gamma pay"}
    assert names(admin_client.get(f"{URL}/provider/slack?status=inactive")) == []
    assert_error(admin_client.get(f"{URL}/provider/unknown_thing"), 404, "PROVIDER_NOT_FOUND")


# --- Detail, update ---------------------------------------------------------------------------------------------------
def test_get_unknown_integration_is_404(admin_client, db):
    assert_error(admin_client.get(detail(uuid.uuid4())), 404, "INTEGRATION_NOT_FOUND")


def test_put_and_patch_update_fields_and_keep_the_others(admin_client, stripe):
    integration_id = create(admin_client, description="first").json()["id"]

    put = admin_client.put(detail(integration_id), {"name": "Renamed", "settings": {"a": 1}}, format="json")
    patch = admin_client.patch(detail(integration_id), {"environment": "staging"}, format="json")

    assert put.status_code == 200 and patch.status_code == 200, (put.content, patch.content)
    body = patch.json()
    assert body["name"] == "Renamed" and body["description"] == "first"
    assert body["settings"] == {"a": 1} and body["environment"] == "staging"
    assert body["version"] == 2  # settings changed once; name and environment are not versioned


def test_update_to_an_existing_name_is_409(admin_client, stripe):
    create(admin_client, name="Taken")
    integration_id = create(admin_client, name="Mine").json()["id"]

    assert_error(admin_client.patch(detail(integration_id), {"name": "Taken"}, format="json"), 409, "CONFLICT")
    assert Integration.objects.get(pk=integration_id).name == "Mine"


def test_provider_of_an_integration_cannot_change(admin_client, stripe):
    catalog_provider("slack")
    integration_id = create(admin_client).json()["id"]

    assert_error(admin_client.patch(detail(integration_id), {"provider": "slack"}, format="json"), 400)


def test_update_with_status_active_sets_enabled_fields(admin_client, stripe):
    integration_id = create(admin_client).json()["id"]

    body = admin_client.put(detail(integration_id), {"status": "ACTIVE"}, format="json").json()

    assert body["status"] == "active" and body["enabledAt"] and body["enabledBy"] == str(admin_client.user.id)
    assert_error(admin_client.patch(detail(integration_id), {"status": "error"}, format="json"), 400)


def test_update_with_credentials_replaces_them_and_never_echoes(admin_client, stripe):
    integration_id = create(admin_client, credentials={"apiKey": STRIPE_KEY}).json()["id"]
    new_key = "sk_test_9999999999999999NEWK"

    response = admin_client.patch(detail(integration_id), {"credentials": {"apiKey": new_key}}, format="json")

    assert response.status_code == 200
    assert new_key not in response.content.decode()
    assert response.json()["credentialHint"] == "…NEWK"
    assert Connection.objects.get(integration_id=integration_id).credentials == {"apiKey": new_key}


# --- Delete ---------------------------------------------------------------------------------------------------------
def test_delete_by_admin_removes_connections_and_versions(admin_client, stripe):
    integration_id = create(admin_client, credentials={"apiKey": STRIPE_KEY}).json()["id"]

    response = admin_client.delete(detail(integration_id))

    assert response.status_code == 204
    assert not Integration.objects.filter(pk=integration_id).exists()
    assert not Connection.objects.filter(integration_id=integration_id).exists()
    assert not IntegrationVersion.objects.filter(integration_id=integration_id).exists()
    audit = ActivityLog.objects.get(type="delete")
    assert audit.integration_id is None and audit.details["integrationId"] == integration_id
    assert_error(admin_client.get(detail(integration_id)), 404, "INTEGRATION_NOT_FOUND")


def test_delete_removes_the_integrations_webhooks(admin_client, stripe):
    from webhooks.models import Webhook

    integration_id = create(admin_client).json()["id"]
    field_names = {f.name for f in Webhook._meta.concrete_fields}
    values = {"tenant": admin_client.tenant, "integration_id": integration_id, "url": "https://example.com/hook"}
    if "name" in field_names:
        values["name"] = "hook"
    Webhook.objects.create(**values)

    assert admin_client.delete(detail(integration_id)).status_code == 204
    assert not Webhook.objects.filter(integration_id=integration_id).exists()


# --- Activate / deactivate ------------------------------------------------------------------------------------------
def test_activate_and_deactivate_shapes(admin_client, stripe):
    integration_id = create(admin_client).json()["id"]

    activated = admin_client.post(f"{detail(integration_id)}/activate")
    deactivated = admin_client.post(f"{detail(integration_id)}/deactivate")

    assert activated.status_code == 200
    body = activated.json()
    assert set(body) == {"id", "status", "enabledAt", "enabledBy"}
    assert body["status"] == "active" and body["enabledBy"] == str(admin_client.user.id)
    assert deactivated.json()["status"] == "inactive"
    assert set(deactivated.json()) == {"id", "status", "updatedAt"}
    assert Integration.objects.get(pk=integration_id).status == "inactive"


def test_activation_is_refused_while_the_provider_is_disabled(admin_client, stripe):
    integration_id = create(admin_client).json()["id"]
    stripe.status = "disabled"
    stripe.save()

    error = assert_error(admin_client.post(f"{detail(integration_id)}/activate"), 400, "VALIDATION_ERROR")

    assert "disabled" in error["message"]


def test_manager_may_activate(manager_client, stripe):
    integration_id = create(manager_client).json()["id"]
    assert manager_client.post(f"{detail(integration_id)}/activate").status_code == 200


# --- Isolation ------------------------------------------------------------------------------------------------------
def test_another_tenant_sees_none_of_it(admin_client, other_tenant_client, stripe):
    integration_id = create(admin_client, credentials={"apiKey": STRIPE_KEY}).json()["id"]
    admin_client.patch(detail(integration_id), {"settings": {"x": 1}}, format="json")
    base = detail(integration_id)

    assert_tenant_isolation(
        other_tenant_client,
        [
            URL,
            f"{URL}/provider/stripe",
            base,
            ("put", base, {"name": "stolen"}),
            ("patch", base, {"name": "stolen"}),
            ("delete", base),
            ("post", f"{base}/activate"),
            ("post", f"{base}/deactivate"),
            f"{base}/logs",
            f"{base}/versions",
            f"{base}/versions/1",
            ("post", f"{base}/versions/1/restore"),
        ],
        [integration_id],
    )
    assert Integration.objects.get(pk=integration_id).name == "Payments"


# --- Events ---------------------------------------------------------------------------------------------------------
def test_create_update_delete_record_lifecycle_events(admin_client, stripe):
    from webhooks.models import WebhookEvent

    integration_id = create(admin_client, credentials={"apiKey": STRIPE_KEY}).json()["id"]
    admin_client.patch(detail(integration_id), {"description": "changed"}, format="json")
    admin_client.delete(detail(integration_id))

    events = list(WebhookEvent.objects.filter(tenant=admin_client.tenant).order_by("created_at"))
    assert [e.event for e in events] == ["integration.created", "integration.updated", "integration.deleted"]
    created = events[0].payload
    assert created["id"] == created["integrationId"] == integration_id
    assert created["provider"] == "stripe" and created["credentialsSet"] is True
    assert events[1].payload["changedFields"] == ["description"]
    assert all(STRIPE_KEY not in str(e.payload) and STRIPE_KEY not in e.body for e in events)


def test_a_failed_create_records_no_event(admin_client, stripe):
    from webhooks.models import WebhookEvent

    create(admin_client)
    assert_error(create(admin_client), 409, "CONFLICT")

    assert WebhookEvent.objects.filter(tenant=admin_client.tenant, event="integration.created").count() == 1


def test_no_raw_sql_leaks_credentials(admin_client, stripe):
    create(admin_client, credentials={"apiKey": STRIPE_KEY})
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM integrations_connection")
        raw = cursor.fetchone()[0]
    assert STRIPE_KEY not in raw and raw.startswith("gAAAA")
