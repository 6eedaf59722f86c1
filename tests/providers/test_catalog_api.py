"""Tenant catalog `/api/v1/catalog…`: audience tenant, status active or beta; filters; no OAuth client exposed."""

import pytest

from accounts.models import Role
from tests.helpers import assert_error
from tests.integrations.factories import catalog_provider

URL = "/api/v1/catalog"


@pytest.fixture
def catalog(db):
    return {
        "stripe": catalog_provider("stripe"),
        "slack": catalog_provider("slack"),
        "google_calendar": catalog_provider("google_calendar", oauth_client_secret="stored-client-secret"),
        "indeed": catalog_provider("indeed"),  # beta
        "glassdoor": catalog_provider("glassdoor"),  # deprecated
        "twilio": catalog_provider("twilio", status="disabled"),
        "sendgrid": catalog_provider("sendgrid", audience="system"),
    }


def keys(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["provider"] for item in response.json()["items"]]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.INTEGRATION_MANAGER, Role.MEMBER])
def test_every_tenant_role_sees_only_tenant_providers_that_are_active_or_beta(make_client, catalog, role):
    assert sorted(keys(make_client(role).get(URL))) == ["google_calendar", "indeed", "slack", "stripe"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?category=calendar", ["google_calendar"]),
        ("?category=PAYMENT_GATEWAY", ["stripe"]),
        ("?search=watch_changes", ["google_calendar"]),  # a capability
        ("?search=invoices", ["stripe"]),  # the description
        ("?search=slack", ["slack"]),  # the name
        ("?search=twilio", []),  # disabled: hidden even when searched
        ("?limit=1&offset=1", ["indeed"]),
    ],
)
def test_catalog_filters(admin_client, catalog, query, expected):
    assert keys(admin_client.get(f"{URL}{query}")) == expected


def test_unknown_category_is_400(admin_client, catalog):
    assert_error(admin_client.get(f"{URL}?category=toys"), 400, "VALIDATION_ERROR")


def test_detail_of_a_visible_provider_and_404_for_hidden_or_unknown(admin_client, catalog):
    body = admin_client.get(f"{URL}/stripe").json()

    assert body["provider"] == "stripe" and body["category"] == "payment_gateway"
    assert body["credentialSchema"]["required"] == ["apiKey"]
    assert "lockedFields" not in body and "notes" not in body
    for key in ("twilio", "sendgrid", "glassdoor", "does_not_exist"):
        assert_error(admin_client.get(f"{URL}/{key}"), 404, "PROVIDER_NOT_FOUND")


def test_catalog_never_exposes_the_oauth_client(admin_client, catalog, monkeypatch):
    monkeypatch.setenv("GOOGLE_CLIENT_ID", "env-client-id.apps.googleusercontent.com")

    response = admin_client.get(f"{URL}/google_calendar")

    text = response.content.decode()
    assert "env-client-id" not in text and "stored-client-secret" not in text
    oauth = response.json()["oauthConfig"]
    assert set(oauth) == {
        "authorizationUrl",
        "tokenUrl",
        "revocationUrl",
        "scopes",
        "scopeSeparator",
        "pkce",
        "clientConfigured",
    }
    assert oauth["clientConfigured"] is True


def test_anonymous_401_and_super_admin_without_tenant_403(anon_client, super_admin_client, catalog):
    assert_error(anon_client.get(URL), 401, "AUTHENTICATION_REQUIRED")
    assert_error(super_admin_client.get(URL), 403, "PERMISSION_DENIED")
    assert_error(super_admin_client.get(f"{URL}/stripe"), 403, "PERMISSION_DENIED")


def test_catalog_query_count_is_constant(admin_client, db, django_assert_max_num_queries):
    catalog_provider("stripe")
    with django_assert_max_num_queries(3) as few:
        assert keys(admin_client.get(URL)) == ["stripe"]
    baseline = len(few.captured_queries)
    for key in ("slack", "github", "hubspot", "zendesk", "dropbox", "gmail", "salesforce"):
        catalog_provider(key)
    with django_assert_max_num_queries(baseline):
        assert len(keys(admin_client.get(URL))) == 8
