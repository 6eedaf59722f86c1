"""GET …/connection, POST …/test and …/connection/test, GET …/status (seed 004), the admin provider test, and
tenant isolation of every connection URL."""

# ruff: noqa: F811 (pytest fixtures imported from tests.integrations.connection_support)

import pytest
import requests
import responses

from integrations.models import ActivityLog, Connection
from tests.helpers import assert_error, assert_tenant_isolation
from tests.integrations.connection_support import (  # noqa: F401
    RETURN_URL,
    emitted,
    event_names,
    make_integration,
    no_backoff_sleep,
    oauth_clients,
    oauth_connection,
)

pytestmark = pytest.mark.django_db

STRIPE_KEY = "sk_test_51HxAbCdEfGhIjKlMnOpQrStUv"
BALANCE_URL = "https://api.stripe.com/v1/balance"


def _stripe_connection(integration, **fields):
    return Connection.objects.create(
        tenant=integration.tenant,
        integration=integration,
        auth_type="api_key",
        credentials={"apiKey": STRIPE_KEY},
        credential_hint="sk_t…StUv",
        **fields,
    )


def test_get_connection_shows_status_and_no_secret(admin_client):
    integration = make_integration(admin_client.tenant, "stripe")
    connection = _stripe_connection(integration, validation_error="")

    response = admin_client.get(f"/api/v1/integrations/{integration.pk}/connection")

    assert response.status_code == 200
    body = response.json()
    assert body["connectionId"] == str(connection.pk)
    assert body["status"] == "active" and body["credentialsSet"] is True and body["credentialHint"] == "sk_t…StUv"
    assert {"lastValidatedAt", "validationError", "expiresAt"} <= set(body)
    assert STRIPE_KEY not in response.content.decode()


def test_get_connection_without_one_is_404(make_client):
    member = make_client("member")
    integration = make_integration(member.tenant, "stripe")

    assert_error(member.get(f"/api/v1/integrations/{integration.pk}/connection"), 404, "CONNECTION_NOT_FOUND")


@pytest.mark.parametrize("path", ["test", "connection/test"])
@responses.activate
def test_a_successful_test_records_the_time_and_answers_seed004(admin_client, path):
    integration = make_integration(admin_client.tenant, "stripe")
    connection = _stripe_connection(integration)
    responses.add(responses.GET, BALANCE_URL, json={"livemode": True, "available": [{"currency": "eur"}]})

    response = admin_client.post(f"/api/v1/integrations/{integration.pk}/{path}")

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["error"] is None
    assert body["testedAt"].endswith("Z") and isinstance(body["responseTime"], int)
    assert body["details"]["statusCode"] == 200 and body["details"]["currencies"] == ["eur"]
    integration.refresh_from_db()
    connection.refresh_from_db()
    assert integration.last_connection_test is not None
    assert connection.last_validated_at == integration.last_connection_test
    assert ActivityLog.objects.filter(integration=integration, type="test", status="success").exists()


@responses.activate
def test_a_failed_test_is_200_with_success_false_and_marks_the_connection(admin_client, emitted):
    integration = make_integration(admin_client.tenant, "stripe")
    connection = _stripe_connection(integration)
    responses.add(responses.GET, BALANCE_URL, status=401, json={"error": {"message": "Invalid API Key provided"}})
    responses.add(responses.GET, BALANCE_URL, json={"available": []})

    failed = admin_client.post(f"/api/v1/integrations/{integration.pk}/test")
    connection.refresh_from_db()
    status_after_failure = connection.status
    recovered = admin_client.post(f"/api/v1/integrations/{integration.pk}/test")

    assert failed.status_code == 200
    body = failed.json()
    assert body["success"] is False and body["error"] == "auth_failed"
    assert body["message"] == "Failed to connect: 401 - Invalid API Key provided"
    assert status_after_failure == "error"
    assert recovered.json()["success"] is True
    connection.refresh_from_db()
    assert connection.status == "active" and connection.validation_error == ""
    assert event_names(emitted) == ["integration.connected", "integration.connection_recovered"]  # the recovery


@responses.activate
def test_a_test_of_an_unreachable_provider(admin_client):
    integration = make_integration(admin_client.tenant, "stripe")
    _stripe_connection(integration)
    responses.add(responses.GET, BALANCE_URL, body=requests.exceptions.ConnectionError("no route"))

    body = admin_client.post(f"/api/v1/integrations/{integration.pk}/test").json()

    assert body["success"] is False and body["error"] == "unreachable"


def test_a_test_without_a_connection_says_not_connected(admin_client):
    integration = make_integration(admin_client.tenant, "stripe")

    body = admin_client.post(f"/api/v1/integrations/{integration.pk}/test").json()

    assert body == {**body, "success": False, "error": "not_configured", "message": "The integration is not connected."}


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("integration_manager", 200), ("member", 403)])
def test_test_needs_update_permission_and_status_read(make_client, role, status):
    client = make_client(role)
    integration = make_integration(client.tenant, "stripe")

    assert client.post(f"/api/v1/integrations/{integration.pk}/test").status_code == status
    assert client.get(f"/api/v1/integrations/{integration.pk}/status").status_code == 200


@responses.activate
def test_status_has_the_seed004_shape(admin_client):
    integration = make_integration(admin_client.tenant, "stripe", environment="sandbox")
    _stripe_connection(integration)
    responses.add(responses.GET, BALANCE_URL, json={"livemode": False, "available": [{"currency": "usd"}]})
    admin_client.post(f"/api/v1/integrations/{integration.pk}/test")

    body = admin_client.get(f"/api/v1/integrations/{integration.pk}/status").json()

    assert body["serviceType"] == "payment_gateway" and body["provider"] == "stripe"
    assert body["isConnected"] is True and body["lastChecked"].endswith("Z")
    assert body["details"]["currencies"] == ["usd"]
    assert body["integrationId"] == str(integration.pk) and body["integrationName"] == integration.name
    assert body["integrationType"] == "payment_gateway"
    assert body["integrationStatus"] == integration.status
    assert body["integrationEnvironment"] == "sandbox"
    assert body["lastConnectionTest"].endswith("Z")


def test_status_of_an_unconnected_integration(make_client):
    member = make_client("member")
    integration = make_integration(member.tenant, "stripe")

    body = member.get(f"/api/v1/integrations/{integration.pk}/status").json()

    assert body["isConnected"] is False and body["lastChecked"] is None and body["lastConnectionTest"] is None


@responses.activate
def test_admin_provider_test_checks_the_oauth_client_and_reachability(super_admin_client, oauth_clients, monkeypatch):
    from tests.integrations.factories import catalog_provider

    catalog_provider("google_calendar")
    catalog_provider("hubspot")
    monkeypatch.delenv("HUBSPOT_CLIENT_ID")
    responses.add(responses.GET, "https://www.googleapis.com", status=404)

    ok = super_admin_client.post("/api/v1/admin/providers/google_calendar/test")
    missing = super_admin_client.post("/api/v1/admin/providers/hubspot/test")

    assert ok.status_code == 200
    body = ok.json()
    assert set(body) == {"success", "message", "error", "testedAt", "responseTime"}
    assert body["success"] is True and body["error"] is None
    assert missing.json()["success"] is False and "HUBSPOT_CLIENT_ID" in missing.json()["message"]
    assert len(responses.calls) == 1


@responses.activate
def test_admin_provider_test_reports_an_unreachable_api(super_admin_client):
    from tests.integrations.factories import catalog_provider

    catalog_provider("stripe")
    responses.add(responses.GET, "https://api.stripe.com", body=requests.exceptions.ConnectionError("down"))

    body = super_admin_client.post("/api/v1/admin/providers/stripe/test").json()

    assert body["success"] is False and body["error"] == "unreachable"


def test_admin_provider_test_is_for_super_admins_only(admin_client, super_admin_client):
    assert_error(admin_client.post("/api/v1/admin/providers/stripe/test"), 403, "PERMISSION_DENIED")
    assert_error(super_admin_client.post("/api/v1/admin/providers/nope/test"), 404, "PROVIDER_NOT_FOUND")


def test_every_connection_url_is_tenant_isolated(admin_client, other_tenant_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    connection = oauth_connection(integration)
    base = f"/api/v1/integrations/{integration.pk}"

    assert_tenant_isolation(
        other_tenant_client,
        [
            f"{base}/connection",
            f"{base}/status",
            f"{base}/oauth/authorize",
            ("post", f"{base}/connect/oauth", {"returnUrl": RETURN_URL}),
            ("post", f"{base}/oauth/callback", {"code": "c", "state": "s"}),
            ("post", f"{base}/oauth/refresh"),
            ("post", f"{base}/connect/api-key", {"apiKey": "k-1234567"}),
            ("post", f"{base}/connect/basic", {"username": "u", "password": "p"}),
            ("post", f"{base}/connect/custom", {"credentials": {"a": "b"}}),
            ("patch", f"{base}/credentials", {"credentialType": "api_key", "credentials": {"apiKey": "k"}}),
            ("post", f"{base}/connection/test"),
            ("post", f"{base}/test"),
            ("post", f"{base}/disconnect"),
        ],
        [integration.pk, connection.pk],
    )
    connection.refresh_from_db()
    assert connection.status == "active" and connection.credentials["access_token"] == "ya29.stored"


def test_unknown_integration_ids_are_404(admin_client):
    response = admin_client.get("/api/v1/integrations/00000000-0000-0000-0000-000000000000/connection")

    assert_error(response, 404, "INTEGRATION_NOT_FOUND")


def test_the_schema_says_which_connection_dates_may_be_null():
    """Found by `make fuzz`: a disconnected, never validated connection answered nulls its schema did not allow."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    properties = schema["components"]["schemas"]["Connection"]["properties"]
    for name in ("connectedAt", "lastValidatedAt", "expiresAt", "lastRefreshedAt", "disconnectedAt"):
        assert properties[name].get("nullable") is True, name
