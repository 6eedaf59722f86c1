"""Super-admin provider API (`/api/v1/admin/providers…`), the OAuth client lookup, and Django admin for providers."""

import pytest
from django.db import connection

from accounts.models import Role
from providers.models import Provider
from providers.services import provider_oauth_client
from tests.helpers import assert_error
from tests.integrations.factories import IntegrationFactory, catalog_entry, catalog_provider

URL = "/api/v1/admin/providers"


def minimal(**extra) -> dict:
    return {
        "provider": "acme_crm",
        "name": "Acme CRM",
        "displayName": "Acme CRM",
        "category": "crm",
        "authType": "api_key",
        "apiKeyPlacement": {"in": "header", "name": "Authorization", "format": "Bearer {apiKey}"},
        "credentialSchema": {"type": "object", "properties": {"apiKey": {"type": "string"}}, "required": ["apiKey"]},
        "capabilities": ["read_contacts"],
        **extra,
    }


@pytest.fixture
def catalog(db):
    return {
        "stripe": catalog_provider("stripe"),
        "slack": catalog_provider("slack"),
        "google_calendar": catalog_provider("google_calendar"),
        "glassdoor": catalog_provider("glassdoor"),
    }


# --- Access -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", [Role.ADMIN, Role.INTEGRATION_MANAGER, Role.MEMBER])
def test_tenant_roles_get_403_on_every_admin_endpoint(make_client, catalog, role):
    client = make_client(role)
    for method, path, body in [
        ("get", URL, None),
        ("post", URL, minimal()),
        ("get", f"{URL}/stripe", None),
        ("patch", f"{URL}/stripe", {"description": "x"}),
        ("delete", f"{URL}/stripe", None),
        ("patch", f"{URL}/stripe/status", {"status": "disabled"}),
        ("patch", f"{URL}/stripe/audience", {"audience": "system"}),
    ]:
        assert_error(getattr(client, method)(path, body, format="json"), 403, "PERMISSION_DENIED")
    assert Provider.objects.get(key="stripe").status == "active"


def test_anonymous_gets_401(anon_client, db):
    assert_error(anon_client.get(URL), 401, "AUTHENTICATION_REQUIRED")


# --- List -------------------------------------------------------------------------------------------------------------
def keys(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["provider"] for item in response.json()["items"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["glassdoor", "google_calendar", "slack", "stripe"]),
        ("?category=messaging", ["slack"]),
        ("?status=deprecated", ["glassdoor"]),
        ("?audience=system", []),
        ("?search=refund", ["stripe"]),  # capability create_refunds
        ("?search=CALENDAR", ["google_calendar"]),
        ("?limit=2&offset=2", ["slack", "stripe"]),
    ],
)
def test_list_filters_and_paginates(super_admin_client, catalog, query, expected):
    assert keys(super_admin_client.get(f"{URL}{query}")) == expected


@pytest.mark.parametrize("query", ["?category=toys", "?status=gone", "?audience=everyone", "?limit=500"])
def test_list_rejects_bad_filters(super_admin_client, catalog, query):
    assert_error(super_admin_client.get(f"{URL}{query}"), 400, "VALIDATION_ERROR")


def test_list_query_count_is_constant(super_admin_client, db, django_assert_max_num_queries):
    catalog_provider("stripe")
    with django_assert_max_num_queries(3) as few:
        assert len(keys(super_admin_client.get(URL))) == 1
    baseline = len(few.captured_queries)
    for key in ("slack", "github", "hubspot", "zendesk", "dropbox", "gmail"):
        catalog_provider(key)
    with django_assert_max_num_queries(baseline):
        assert len(keys(super_admin_client.get(URL))) == 7


# --- Create -----------------------------------------------------------------------------------------------------------
def test_create_validates_through_the_catalog_schema_and_fills_defaults(super_admin_client, db):
    response = super_admin_client.post(URL, minimal(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["provider"] == "acme_crm" and body["status"] == "active" and body["audience"] == "tenant"
    assert body["searchCapabilities"] == {"fullText": False, "fieldSpecific": False, "filtered": False}
    assert body["credentialSchema"]["required"] == ["apiKey"]
    assert body["apiBaseUrl"] is None and body["lockedFields"] == []
    assert Provider.objects.filter(key="acme_crm").exists()


def test_create_accepts_a_whole_catalog_file_entry(super_admin_client, db):
    entry = {**catalog_entry("zendesk"), "provider": "zendesk_eu"}

    response = super_admin_client.post(URL, entry, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["availableEntities"] == entry["availableEntities"]
    assert response.json()["healthCheck"] == entry["healthCheck"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (minimal(color="red"), "color"),
        (minimal(category="toys"), "category"),
        (minimal(provider="Bad Key"), "provider"),
        (minimal(authType="oauth2"), "oauthConfig"),
        (minimal(apiBaseUrl="http://insecure.example.com"), "apiBaseUrl"),
        (minimal(healthCheck={"method": "GET", "path": "/me"}), "healthCheck"),
        (minimal(unknownThing=1), "unknownThing"),
    ],
)
def test_create_rejects_an_invalid_entry_naming_the_field(super_admin_client, db, body, field):
    error = assert_error(super_admin_client.post(URL, body, format="json"), 400, "VALIDATION_ERROR")

    assert field in error["details"], error
    assert not Provider.objects.filter(key="acme_crm").exists()


def test_create_with_an_existing_key_is_409(super_admin_client, catalog):
    assert_error(super_admin_client.post(URL, minimal(provider="stripe"), format="json"), 409, "CONFLICT")


def test_oauth_client_secret_is_stored_encrypted_and_never_returned(super_admin_client, db):
    entry = {**catalog_entry("github"), "provider": "github_enterprise"}
    entry["oauthConfig"] = {**entry["oauthConfig"], "clientId": "Iv1.abc", "clientSecret": "topsecret-client-value"}

    response = super_admin_client.post(URL, entry, format="json")

    assert response.status_code == 201, response.content
    assert "topsecret-client-value" not in response.content.decode()
    oauth = response.json()["oauthConfig"]
    assert oauth["clientId"] == "Iv1.abc" and oauth["clientSecretSet"] is True and "clientSecret" not in oauth
    with connection.cursor() as cursor:
        cursor.execute("SELECT oauth_client_secret FROM providers_provider WHERE key = %s", ["github_enterprise"])
        assert "topsecret" not in cursor.fetchone()[0]
    provider = Provider.objects.get(key="github_enterprise")
    assert provider_oauth_client(provider) == ("Iv1.abc", "topsecret-client-value")


# --- Get, patch, delete -------------------------------------------------------------------------------------------
def test_get_a_provider_and_404_for_an_unknown_key(super_admin_client, catalog):
    body = super_admin_client.get(f"{URL}/google_calendar").json()

    assert body["oauthConfig"]["clientIdEnv"] == "GOOGLE_CLIENT_ID"
    assert body["oauthConfig"]["clientSecretSet"] is False
    assert_error(super_admin_client.get(f"{URL}/nope"), 404, "PROVIDER_NOT_FOUND")


def test_patch_changes_fields_and_locks_them(super_admin_client, catalog):
    response = super_admin_client.patch(
        f"{URL}/stripe", {"description": "Payments, edited.", "capabilities": ["read_payments"]}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["description"] == "Payments, edited." and body["capabilities"] == ["read_payments"]
    assert body["lockedFields"] == ["capabilities", "description"]


def test_patch_oauth_client_merges_and_does_not_lock(super_admin_client, catalog):
    response = super_admin_client.patch(
        f"{URL}/google_calendar", {"oauthConfig": {"clientId": "cid.apps", "clientSecret": "csecret"}}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["oauthConfig"]["tokenUrl"] == "https://oauth2.googleapis.com/token"
    assert body["oauthConfig"]["clientId"] == "cid.apps" and body["oauthConfig"]["clientSecretSet"] is True
    assert body["lockedFields"] == []
    assert provider_oauth_client(Provider.objects.get(key="google_calendar")) == ("cid.apps", "csecret")


def test_oauth_client_on_a_non_oauth_provider_is_400(super_admin_client, catalog):
    error = assert_error(
        super_admin_client.patch(f"{URL}/stripe", {"oauthConfig": {"clientId": "x"}}, format="json"), 400
    )
    assert "oauthConfig" in error["details"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"color": "blue"}, "color"), ({"provider": "renamed"}, "provider"), ({"status": "gone"}, "status")],
)
def test_patch_rejects_invalid_values(super_admin_client, catalog, body, field):
    error = assert_error(super_admin_client.patch(f"{URL}/stripe", body, format="json"), 400, "VALIDATION_ERROR")
    assert field in error["details"]
    assert Provider.objects.get(key="stripe").locked_fields == []


def test_status_endpoint_answers_the_seed_shape_and_locks_status(super_admin_client, catalog):
    response = super_admin_client.patch(f"{URL}/stripe/status", {"status": "disabled"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "status", "updatedAt"} and body["status"] == "disabled"
    assert Provider.objects.get(key="stripe").locked_fields == ["status"]
    assert_error(super_admin_client.patch(f"{URL}/stripe/status", {"status": "x"}, format="json"), 400)
    assert_error(super_admin_client.patch(f"{URL}/stripe/status", {}, format="json"), 400)


def test_audience_endpoint_answers_the_seed_shape_and_locks_audience(super_admin_client, catalog):
    response = super_admin_client.patch(f"{URL}/slack/audience", {"audience": "system"}, format="json")

    assert response.status_code == 200
    assert set(response.json()) == {"id", "audience", "updatedAt"} and response.json()["audience"] == "system"
    assert Provider.objects.get(key="slack").locked_fields == ["audience"]
    assert_error(super_admin_client.patch(f"{URL}/slack/audience", {"audience": "all"}, format="json"), 400)


def test_delete_an_unused_provider(super_admin_client, catalog):
    assert super_admin_client.delete(f"{URL}/glassdoor").status_code == 204
    assert not Provider.objects.filter(key="glassdoor").exists()
    assert_error(super_admin_client.delete(f"{URL}/glassdoor"), 404, "PROVIDER_NOT_FOUND")


def test_delete_is_409_while_integrations_use_the_provider(super_admin_client, catalog):
    IntegrationFactory(provider=catalog["stripe"])

    error = assert_error(super_admin_client.delete(f"{URL}/stripe"), 409, "CONFLICT")

    assert error["details"] == {"integrations": 1}
    assert Provider.objects.filter(key="stripe").exists()


# --- OAuth client from the environment ----------------------------------------------------------------------------
def test_oauth_client_comes_from_the_env_variables_the_entry_names(catalog, monkeypatch):
    google = catalog["google_calendar"]
    assert provider_oauth_client(google) is None

    monkeypatch.setenv("GOOGLE_CLIENT_ID", "env-id.apps.googleusercontent.com")
    assert provider_oauth_client(google) is None  # the secret is still missing
    monkeypatch.setenv("GOOGLE_CLIENT_SECRET", "from-env")

    assert provider_oauth_client(google) == ("env-id.apps.googleusercontent.com", "from-env")
    assert provider_oauth_client(catalog["stripe"]) is None  # not an OAuth provider


# --- Django admin ------------------------------------------------------------------------------------------------
@pytest.fixture
def staff_browser(client, super_admin_client):
    client.force_login(super_admin_client.user)
    return client


def test_admin_changelist_filters_and_searches(staff_browser, catalog):
    page = staff_browser.get("/admin/providers/provider/?status__exact=deprecated")
    searched = staff_browser.get("/admin/providers/provider/?q=slack")

    assert page.status_code == 200 and b"glassdoor" in page.content and b"stripe" not in page.content
    assert searched.status_code == 200 and b"slack" in searched.content


def test_admin_bulk_status_action_sets_and_locks_status(staff_browser, catalog):
    response = staff_browser.post(
        "/admin/providers/provider/",
        {"action": "set_status_disabled", "_selected_action": [catalog["stripe"].pk, catalog["slack"].pk]},
    )

    assert response.status_code == 302
    for key in ("stripe", "slack"):
        provider = Provider.objects.get(key=key)
        assert provider.status == "disabled" and provider.locked_fields == ["status"]


def test_admin_change_form_locks_edited_fields_and_sets_the_secret_write_only(staff_browser, catalog):
    from django.contrib.admin.helpers import AdminForm  # noqa: F401 - the admin module must import cleanly

    provider = catalog["google_calendar"]
    form_page = staff_browser.get(f"/admin/providers/provider/{provider.pk}/change/")
    assert form_page.status_code == 200
    form = form_page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        data[name] = field.prepare_value(value) if hasattr(field, "prepare_value") else value
        if data[name] is None:
            data[name] = ""
        if isinstance(data[name], bool) and not data[name]:
            data.pop(name)
    data.update({"audience": "system", "new_client_secret": "admin-typed-secret"})

    response = staff_browser.post(f"/admin/providers/provider/{provider.pk}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    provider.refresh_from_db()
    assert provider.audience == "system" and provider.locked_fields == ["audience"]
    assert provider.oauth_client_secret == "admin-typed-secret"
    assert b"admin-typed-secret" not in staff_browser.get(f"/admin/providers/provider/{provider.pk}/change/").content


def test_admin_change_form_refuses_an_entry_the_schema_rejects(staff_browser, catalog):
    provider = catalog["stripe"]
    form = staff_browser.get(f"/admin/providers/provider/{provider.pk}/change/").context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        value = field.prepare_value(value) if hasattr(field, "prepare_value") else value
        if value is None or (isinstance(value, bool) and not value):
            continue
        data[name] = value
    data["color"] = "not-a-colour"

    response = staff_browser.post(f"/admin/providers/provider/{provider.pk}/change/", data)

    assert response.status_code == 200
    assert "color" in response.context["adminform"].form.errors
    assert Provider.objects.get(pk=provider.pk).color == "#635BFF"


def test_admin_change_form_accepts_a_provider_whose_client_is_stored(staff_browser, super_admin_client):
    body = {
        "provider": "stored_client",
        "name": "Stored Client",
        "displayName": "Stored Client",
        "category": "custom",
        "authType": "oauth2",
        "oauthConfig": {"issuer": "https://login.stored.example", "clientId": "cid", "clientSecret": "csecret-XYZ"},
    }
    assert super_admin_client.post(URL, body, format="json").status_code == 201
    provider = Provider.objects.get(key="stored_client")
    form = staff_browser.get(f"/admin/providers/provider/{provider.pk}/change/").context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        value = field.prepare_value(value) if hasattr(field, "prepare_value") else value
        if value is None or (isinstance(value, bool) and not value):
            continue
        data[name] = value
    data["audience"] = "system"

    response = staff_browser.post(f"/admin/providers/provider/{provider.pk}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    provider.refresh_from_db()
    assert provider.audience == "system" and provider.oauth_client_secret == "csecret-XYZ"
