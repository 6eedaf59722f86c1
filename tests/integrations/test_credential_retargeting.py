# ruff: noqa: F811 (pytest fixtures imported from tests.integrations.connection_support)
"""Credentials stay bound to the API origin they were given for: a config change that moves the origin (scheme, host,
port) drops them unless new ones come with it, and restoring a version brings credentials back only when an admin
asks for it (`restoreCredentials: true`)."""

import pytest
import responses

from accounts.models import Role
from integrations.models import Connection, Integration
from tests.helpers import assert_error
from tests.integrations.connection_support import emitted, make_integration, oauth_connection  # noqa: F401
from tests.integrations.factories import catalog_provider

pytestmark = pytest.mark.django_db

URL = "/api/v1/integrations"
KEY = "custom-api-key-0123456789abcdef"
OTHER_KEY = "custom-api-key-fedcba9876543210"
LEGIT = "https://93.184.216.34/v1"
ATTACKER = "https://93.184.215.14/v1"  # any public host the manager controls


def _custom_api(admin_client, base_url=LEGIT) -> str:
    catalog_provider("custom_api")
    response = admin_client.post(
        URL,
        {
            "provider": "custom_api",
            "name": "Partner API",
            "config": {"baseUrl": base_url},
            "credentials": {"apiKey": KEY},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


@responses.activate
@pytest.mark.parametrize("new_base", [ATTACKER, "https://93.184.216.34:8443/v1"])
def test_moving_the_api_origin_drops_the_stored_key(admin_client, make_client, new_base):
    # Given an admin's custom API with its key
    integration_id = _custom_api(admin_client)
    manager = make_client(Role.INTEGRATION_MANAGER, tenant=admin_client.tenant)
    responses.add(responses.GET, new_base + "/", json={"ok": True})

    # When a manager points the base URL at another origin and tests the connection
    moved = manager.patch(f"{URL}/{integration_id}", {"config": {"baseUrl": new_base}}, format="json")
    manager.post(f"{URL}/{integration_id}/test")

    # Then the key is gone, and was never sent to the new origin
    assert moved.status_code == 200, moved.content
    assert moved.json()["credentialsSet"] is False and moved.json()["credentialHint"] is None
    assert all(KEY not in str(call.request.headers) + call.request.url for call in responses.calls)
    connection = Connection.objects.get(integration_id=integration_id)
    assert connection.status == "revoked" and connection.credentials == {}
    logs = manager.get(f"{URL}/{integration_id}/logs").json()["items"]
    assert any("origin" in entry["message"] for entry in logs)


def test_a_change_that_keeps_the_origin_keeps_the_key(admin_client):
    integration_id = _custom_api(admin_client)

    body = admin_client.patch(
        f"{URL}/{integration_id}",
        {"config": {"baseUrl": "https://93.184.216.34:443/v2", "apiKeyName": "X-Key", "apiKeyFormat": "{apiKey}"}},
        format="json",
    ).json()

    assert body["credentialsSet"] is True
    assert Connection.objects.get(integration_id=integration_id).credentials == {"apiKey": KEY}


def test_new_credentials_sent_with_the_move_are_kept(admin_client):
    integration_id = _custom_api(admin_client)

    body = admin_client.patch(
        f"{URL}/{integration_id}",
        {"config": {"baseUrl": ATTACKER}, "credentials": {"apiKey": OTHER_KEY}},
        format="json",
    ).json()

    assert body["credentialsSet"] is True
    assert Connection.objects.get(integration_id=integration_id).credentials == {"apiKey": OTHER_KEY}


def test_a_host_formed_from_a_config_value_counts_too(admin_client, emitted):
    integration = make_integration(admin_client.tenant, "zendesk", config={"subdomain": "acme"}, user_scoped=False)
    oauth_connection(integration, access="zd-access-token-1")

    body = admin_client.patch(f"{URL}/{integration.pk}", {"config": {"subdomain": "evilcorp"}}, format="json").json()

    assert body["credentialsSet"] is False
    assert Connection.objects.get(integration=integration).credentials == {}
    assert ("integration.disconnected", "origin_changed") in [(n, d.get("reason")) for n, d in emitted]


def test_user_connections_are_dropped_as_well(admin_client, make_client):
    member = make_client(Role.MEMBER, tenant=admin_client.tenant)
    integration = make_integration(admin_client.tenant, "zendesk", config={"subdomain": "acme"}, user_scoped=True)
    oauth_connection(integration, user=member.user, access="zd-user-token-1")

    admin_client.patch(f"{URL}/{integration.pk}", {"config": {"subdomain": "other"}}, format="json")

    assert Connection.objects.get(integration=integration, user=member.user).status == "revoked"


# --- version restore ------------------------------------------------------------------------------------------------
def _replaced_key(admin_client) -> str:
    """v1 holds KEY; the admin then replaced it with OTHER_KEY (v2)."""
    integration_id = _custom_api(admin_client)
    admin_client.patch(f"{URL}/{integration_id}", {"credentials": {"apiKey": OTHER_KEY}}, format="json")
    return integration_id


def test_restoring_a_version_does_not_bring_back_a_replaced_key(admin_client, make_client):
    integration_id = _replaced_key(admin_client)
    manager = make_client(Role.INTEGRATION_MANAGER, tenant=admin_client.tenant)

    response = manager.post(f"{URL}/{integration_id}/versions/1/restore")

    assert response.status_code == 200, response.content
    assert Connection.objects.get(integration_id=integration_id).credentials == {"apiKey": OTHER_KEY}


def test_only_an_admin_may_restore_credentials(admin_client, make_client):
    integration_id = _replaced_key(admin_client)
    manager = make_client(Role.INTEGRATION_MANAGER, tenant=admin_client.tenant)

    refused = manager.post(f"{URL}/{integration_id}/versions/1/restore", {"restoreCredentials": True}, format="json")
    restored = admin_client.post(
        f"{URL}/{integration_id}/versions/1/restore", {"restoreCredentials": True}, format="json"
    )

    assert_error(refused, 403, "PERMISSION_DENIED")
    assert restored.status_code == 200, restored.content
    assert Connection.objects.get(integration_id=integration_id).credentials == {"apiKey": KEY}
    assert Integration.objects.get(pk=integration_id).current_version == 3


def test_restoring_a_config_on_another_origin_drops_the_key(admin_client):
    integration_id = _custom_api(admin_client, base_url=ATTACKER)
    admin_client.patch(
        f"{URL}/{integration_id}", {"config": {"baseUrl": LEGIT}, "credentials": {"apiKey": OTHER_KEY}}, format="json"
    )

    body = admin_client.post(f"{URL}/{integration_id}/versions/1/restore").json()

    assert body["config"] == {"baseUrl": ATTACKER} and body["credentialsSet"] is False
    assert Connection.objects.get(integration_id=integration_id).credentials == {}


def test_restore_refuses_a_malformed_flag(admin_client):
    integration_id = _replaced_key(admin_client)

    response = admin_client.post(
        f"{URL}/{integration_id}/versions/1/restore", {"restoreCredentials": "maybe"}, format="json"
    )

    assert "restoreCredentials" in assert_error(response, 400, "VALIDATION_ERROR")["details"]
