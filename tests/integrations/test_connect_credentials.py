"""connect/api-key, connect/basic, connect/custom and PATCH credentials: schema-checked, tested against the
provider first, nothing stored when the provider says no."""

# ruff: noqa: F811 (pytest fixtures imported from tests.integrations.connection_support)

import base64

import pytest
import requests
import responses

from integrations.models import ActivityLog, Connection
from tests.helpers import assert_error
from tests.integrations.connection_support import (  # noqa: F401
    emitted,
    event_names,
    make_integration,
    no_backoff_sleep,
)

pytestmark = pytest.mark.django_db

STRIPE_KEY = "sk_test_51HxAbCdEfGhIjKlMnOpQrStUv"
TWILIO_SID = "AC" + "0123456789abcdef" * 2
BALANCE = {"object": "balance", "livemode": False, "available": [{"amount": 0, "currency": "usd"}], "pending": []}


def _connect(client, integration, kind, body):
    return client.post(f"/api/v1/integrations/{integration.pk}/connect/{kind}", body, format="json")


@responses.activate
def test_api_key_is_tested_then_stored_encrypted_with_a_masked_hint(admin_client, emitted):
    integration = make_integration(admin_client.tenant, "stripe")
    responses.add(responses.GET, "https://api.stripe.com/v1/balance", json=BALANCE)

    response = _connect(admin_client, integration, "api-key", {"apiKey": STRIPE_KEY, "displayName": "Main account"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"connectionId", "status", "connectedAt"}
    assert body["status"] == "active" and body["connectedAt"].endswith("Z")
    assert STRIPE_KEY not in response.content.decode()
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {STRIPE_KEY}"
    connection = Connection.objects.get(pk=body["connectionId"])
    assert connection.credentials == {"apiKey": STRIPE_KEY}
    assert connection.credential_hint == "…StUv"
    assert connection.display_name == "Main account"
    assert connection.last_validated_at is not None
    assert connection.last_test_result["details"] == {"livemode": False, "currencies": ["usd"]}
    integration.refresh_from_db()
    assert integration.status == "active"
    assert event_names(emitted) == ["integration.connected"]
    assert ActivityLog.objects.filter(integration=integration, type="connect", status="success").exists()


@pytest.mark.parametrize("bad_key", ["pk_test_publishable", "not-a-key", "sk_live"])
@responses.activate
def test_an_api_key_of_the_wrong_shape_is_refused_before_any_call(admin_client, bad_key):
    integration = make_integration(admin_client.tenant, "stripe")

    response = _connect(admin_client, integration, "api-key", {"apiKey": bad_key})

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert "credentials.apiKey" in error["details"]
    assert bad_key not in response.content.decode()
    assert len(responses.calls) == 0
    assert not Connection.objects.exists()


@responses.activate
def test_bad_credentials_give_invalid_credentials_and_store_nothing(admin_client, emitted):
    integration = make_integration(admin_client.tenant, "stripe")
    responses.add(
        responses.GET,
        "https://api.stripe.com/v1/balance",
        status=401,
        json={
            "error": {"message": f"Invalid API Key provided: {STRIPE_KEY[:12]}****", "type": "invalid_request_error"}
        },
    )

    response = _connect(admin_client, integration, "api-key", {"apiKey": STRIPE_KEY})

    error = assert_error(response, 400, "INVALID_CREDENTIALS")
    assert "401" in error["message"] and STRIPE_KEY not in response.content.decode()
    assert not Connection.objects.exists()
    assert emitted == []
    integration.refresh_from_db()
    assert integration.status == "pending"
    assert ActivityLog.objects.filter(integration=integration, type="test", status="error").exists()


@pytest.mark.parametrize(
    "answer",
    [{"status": 503, "body": "unavailable"}, {"body": requests.exceptions.ConnectTimeout("connect timed out")}],
    ids=["503", "timeout"],
)
@responses.activate
def test_an_unreachable_provider_gives_connection_failed_and_stores_nothing(admin_client, answer):
    integration = make_integration(admin_client.tenant, "stripe")
    responses.add(responses.GET, "https://api.stripe.com/v1/balance", **answer)

    response = _connect(admin_client, integration, "api-key", {"apiKey": STRIPE_KEY})

    assert_error(response, 502, "CONNECTION_FAILED")
    assert len(responses.calls) == 3  # retried twice with backoff
    assert not Connection.objects.exists()


@responses.activate
def test_basic_credentials_map_onto_twilio_account_sid_and_auth_token(admin_client):
    integration = make_integration(admin_client.tenant, "twilio")
    url = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}.json"
    responses.add(responses.GET, url, json={"sid": TWILIO_SID, "friendly_name": "Acme", "status": "active"})

    response = _connect(admin_client, integration, "basic", {"username": TWILIO_SID, "password": "twilio-auth-token"})

    assert response.status_code == 200, response.content
    expected = base64.b64encode(f"{TWILIO_SID}:twilio-auth-token".encode()).decode()
    assert responses.calls[0].request.headers["Authorization"] == f"Basic {expected}"
    connection = Connection.objects.get(integration=integration)
    assert connection.credentials == {"accountSid": TWILIO_SID, "authToken": "twilio-auth-token"}
    assert connection.auth_type == "basic"


@responses.activate
def test_custom_credentials_are_checked_against_the_schema_and_used_the_provider_way(admin_client):
    integration = make_integration(admin_client.tenant, "bamboohr", config={"companyDomain": "acme"})
    responses.add(responses.GET, "https://api.bamboohr.com/api/gateway.php/acme/v1/meta/users", json={"1": {}})

    missing = _connect(admin_client, integration, "custom", {"credentials": {"token": "x"}})
    response = _connect(admin_client, integration, "custom", {"credentials": {"apiKey": "bamboo-key-123"}})

    assert "credentials.apiKey" in assert_error(missing, 400, "VALIDATION_ERROR")["details"]
    assert response.status_code == 200, response.content
    request = responses.calls[0].request
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"bamboo-key-123:x").decode()
    assert request.headers["Accept"] == "application/json"


def test_a_missing_config_value_for_the_test_request_is_a_validation_error(admin_client):
    integration = make_integration(admin_client.tenant, "bamboohr", config={})

    response = _connect(admin_client, integration, "api-key", {"apiKey": "bamboo-key-123"})

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert "companyDomain" in error["message"]
    assert not Connection.objects.exists()


@pytest.mark.parametrize("base_url", ["https://10.0.0.5/api", "https://127.0.0.1:8443/api", "https://169.254.169.254"])
def test_custom_api_refuses_private_base_urls(admin_client, base_url, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []  # the test settings allow loopback for our own webhook receivers
    integration = make_integration(admin_client.tenant, "custom_api", config={"baseUrl": base_url})

    response = _connect(admin_client, integration, "api-key", {"apiKey": "custom-key-1234"})

    assert "not allowed" in assert_error(response, 400, "VALIDATION_ERROR")["message"]
    assert not Connection.objects.exists()


@responses.activate
def test_custom_api_on_a_public_address_with_the_key_in_the_query(admin_client):
    integration = make_integration(
        admin_client.tenant,
        "custom_api",
        config={
            "baseUrl": "https://93.184.216.34/v1",
            "apiKeyIn": "query",
            "apiKeyName": "key",
            "apiKeyFormat": "{apiKey}",
        },
    )
    responses.add(responses.GET, "https://93.184.216.34/v1/", json={"ok": True})

    response = _connect(admin_client, integration, "api-key", {"apiKey": "custom-key-1234"})

    assert response.status_code == 200, response.content
    assert responses.calls[0].request.url == "https://93.184.216.34/v1/?key=custom-key-1234"
    logged = ActivityLog.objects.get(integration=integration, type="api_call")
    assert "custom-key-1234" not in str(logged.details) + logged.message


def test_api_key_on_an_oauth_provider_is_refused(admin_client):
    integration = make_integration(admin_client.tenant, "hubspot")

    response = _connect(admin_client, integration, "api-key", {"apiKey": "whatever-1234"})

    assert "connect/oauth" in assert_error(response, 400, "VALIDATION_ERROR")["message"]


def test_a_user_scoped_integration_refuses_tenant_level_credentials(admin_client):
    integration = make_integration(admin_client.tenant, "stripe", user_scoped=True)

    response = _connect(admin_client, integration, "api-key", {"apiKey": STRIPE_KEY})

    assert "user-scoped" in assert_error(response, 400, "VALIDATION_ERROR")["message"]


def test_unknown_fields_and_empty_bodies_are_validation_errors(admin_client):
    integration = make_integration(admin_client.tenant, "stripe")

    assert_error(_connect(admin_client, integration, "api-key", {}), 400, "VALIDATION_ERROR")
    assert_error(
        _connect(admin_client, integration, "api-key", {"apiKey": STRIPE_KEY, "x": 1}), 400, "VALIDATION_ERROR"
    )
    assert_error(_connect(admin_client, integration, "custom", {"credentials": {}}), 400, "VALIDATION_ERROR")
    assert_error(_connect(admin_client, integration, "basic", {"username": "u"}), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("integration_manager", 200), ("member", 403)])
@responses.activate
def test_connect_needs_update_permission(make_client, role, status):
    client = make_client(role)
    integration = make_integration(client.tenant, "stripe")
    responses.add(responses.GET, "https://api.stripe.com/v1/balance", json=BALANCE)

    assert _connect(client, integration, "api-key", {"apiKey": STRIPE_KEY}).status_code == status


@responses.activate
def test_patch_credentials_replaces_them_after_a_test(admin_client):
    integration = make_integration(admin_client.tenant, "stripe")
    responses.add(responses.GET, "https://api.stripe.com/v1/balance", json=BALANCE)
    first = _connect(admin_client, integration, "api-key", {"apiKey": STRIPE_KEY}).json()["connectionId"]
    new_key = "rk_live_ZyXwVuTsRqPoNmLk"

    response = admin_client.patch(
        f"/api/v1/integrations/{integration.pk}/credentials",
        {"credentialType": "api_key", "credentials": {"apiKey": new_key}},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True and body["updatedAt"].endswith("Z")
    assert body["credentialSecretName"].endswith(f"/connections/{first}/api_key")
    assert new_key not in response.content.decode()
    assert Connection.objects.get(pk=first).credentials == {"apiKey": new_key}
    assert responses.calls[1].request.headers["Authorization"] == f"Bearer {new_key}"


@responses.activate
def test_patch_credentials_with_rejected_credentials_keeps_the_old_ones(admin_client):
    integration = make_integration(admin_client.tenant, "stripe")
    responses.add(responses.GET, "https://api.stripe.com/v1/balance", json=BALANCE)
    responses.add(responses.GET, "https://api.stripe.com/v1/balance", status=401, json={"error": {"message": "bad"}})
    _connect(admin_client, integration, "api-key", {"apiKey": STRIPE_KEY})

    response = admin_client.patch(
        f"/api/v1/integrations/{integration.pk}/credentials",
        {"credentialType": "api_key", "credentials": {"apiKey": "sk_test_rejected123456"}},
        format="json",
    )

    assert_error(response, 400, "INVALID_CREDENTIALS")
    assert Connection.objects.get(integration=integration).credentials == {"apiKey": STRIPE_KEY}


def test_patch_credentials_with_a_type_the_provider_does_not_take(admin_client):
    integration = make_integration(admin_client.tenant, "stripe")

    oauth = admin_client.patch(
        f"/api/v1/integrations/{integration.pk}/credentials",
        {"credentialType": "oauth", "credentials": {"accessToken": "x"}},
        format="json",
    )
    unknown = admin_client.patch(
        f"/api/v1/integrations/{integration.pk}/credentials",
        {"credentialType": "kerberos", "credentials": {"a": "b"}},
        format="json",
    )

    assert_error(oauth, 400, "VALIDATION_ERROR")
    assert_error(unknown, 400, "VALIDATION_ERROR")
