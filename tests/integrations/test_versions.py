"""Seed 004 version control: a version per change of config, settings or credentials; list, detail, restore."""

import pytest
from django.db import connection

from accounts.models import Role
from integrations.models import Connection, IntegrationVersion
from integrations.services import integration_set_credentials
from tests.helpers import assert_error
from tests.integrations.factories import catalog_provider

URL = "/api/v1/integrations"
KEY_ONE = "sk_live_1111111111111111ONEE"
KEY_TWO = "sk_live_2222222222222222TWOO"


@pytest.fixture
def integration_id(admin_client, db):
    catalog_provider("stripe")
    response = admin_client.post(
        URL,
        {"provider": "stripe", "name": "Pay", "config": {"region": "eu"}, "credentials": {"apiKey": KEY_ONE}},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def versions(client, integration_id) -> list[dict]:
    response = client.get(f"{URL}/{integration_id}/versions")
    assert response.status_code == 200, response.content
    return response.json()["items"]


def test_a_new_integration_has_version_1_with_what_it_was_created_with(admin_client, integration_id):
    [first] = versions(admin_client, integration_id)

    assert first["number"] == 1
    assert first["changedFields"] == ["config", "settings", "credentials"]
    assert first["credentialsSet"] is True
    assert first["createdBy"] == {"id": str(admin_client.user.id), "email": admin_client.user.email}


def test_each_change_of_config_settings_or_credentials_makes_a_version_newest_first(admin_client, integration_id):
    base = f"{URL}/{integration_id}"
    admin_client.patch(base, {"config": {"region": "us"}}, format="json")
    admin_client.patch(base, {"name": "Renamed", "description": "not versioned"}, format="json")
    admin_client.patch(base, {"settings": {"sync": True}}, format="json")
    admin_client.patch(base, {"credentials": {"apiKey": KEY_TWO}}, format="json")
    admin_client.patch(base, {"config": {"region": "us"}}, format="json")  # no change: no version

    items = versions(admin_client, integration_id)

    assert [v["number"] for v in items] == [4, 3, 2, 1]
    assert [v["changedFields"] for v in items[:3]] == [["credentials"], ["settings"], ["config"]]


def test_version_detail_shows_the_snapshot_without_credentials(admin_client, integration_id):
    admin_client.patch(f"{URL}/{integration_id}", {"config": {"region": "us"}}, format="json")

    response = admin_client.get(f"{URL}/{integration_id}/versions/1")

    assert response.status_code == 200
    snapshot = response.json()["snapshot"]
    assert snapshot == {"config": {"region": "eu"}, "settings": {}, "credentialType": "api_key", "credentialsSet": True}
    assert KEY_ONE not in response.content.decode()


def test_versions_store_credentials_encrypted(admin_client, integration_id):
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials, snapshot FROM integrations_integrationversion")
        rows = cursor.fetchall()
    assert rows
    for credentials, snapshot in rows:
        assert KEY_ONE not in str(credentials) and KEY_ONE not in str(snapshot)
        assert str(credentials).startswith("gAAAA")


def test_restore_brings_back_config_and_credentials_as_a_new_version(admin_client, integration_id):
    base = f"{URL}/{integration_id}"
    admin_client.patch(base, {"config": {"region": "us"}, "credentials": {"apiKey": KEY_TWO}}, format="json")

    response = admin_client.post(f"{base}/versions/1/restore", {"restoreCredentials": True}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["config"] == {"region": "eu"} and body["version"] == 3
    assert body["credentialHint"] == "…ONEE"
    assert Connection.objects.get(integration_id=integration_id).credentials == {"apiKey": KEY_ONE}
    newest = versions(admin_client, integration_id)[0]
    assert newest["number"] == 3 and newest["changedFields"] == ["config", "credentials"]
    assert admin_client.get(f"{base}/versions/3").json()["snapshot"]["restoredFrom"] == 1


def test_restoring_a_version_without_credentials_keeps_the_current_ones(admin_client, db):
    catalog_provider("stripe")
    integration_id = admin_client.post(URL, {"provider": "stripe", "name": "Bare"}, format="json").json()["id"]
    admin_client.patch(f"{URL}/{integration_id}", {"credentials": {"apiKey": KEY_TWO}}, format="json")

    body = admin_client.post(f"{URL}/{integration_id}/versions/1/restore").json()

    assert body["credentialsSet"] is True and body["credentialHint"] == "…TWOO"


@pytest.mark.parametrize("path", ["versions/99", "versions/99/restore"])
def test_unknown_version_is_404_version_not_found(admin_client, integration_id, path):
    method = admin_client.post if path.endswith("restore") else admin_client.get
    assert_error(method(f"{URL}/{integration_id}/{path}"), 404, "VERSION_NOT_FOUND")
    assert IntegrationVersion.objects.filter(integration_id=integration_id).count() == 1


def test_member_reads_versions_but_cannot_restore(admin_client, make_client, integration_id):
    member = make_client(Role.MEMBER, tenant=admin_client.tenant)

    assert len(versions(member, integration_id)) == 1
    assert member.get(f"{URL}/{integration_id}/versions/1").status_code == 200
    assert_error(member.post(f"{URL}/{integration_id}/versions/1/restore"), 403, "PERMISSION_DENIED")


def test_set_credentials_service_updates_the_connection_and_makes_a_version(admin_client, integration_id):
    from integrations.models import Integration

    integration = Integration.objects.get(pk=integration_id)

    conn = integration_set_credentials(
        integration=integration, credentials={"apiKey": KEY_TWO}, credential_type="api_key", actor=admin_client.user
    )

    assert conn.credential_hint == "…TWOO" and conn.status == "active"
    assert Connection.objects.filter(integration=integration).count() == 1
    assert versions(admin_client, integration_id)[0]["changedFields"] == ["credentials"]
    assert integration.activity_logs.filter(type="credentials").exists()


def test_set_credentials_service_rejects_the_wrong_shape_without_echoing(admin_client, integration_id):
    from config.errors import ValidationFailed
    from integrations.models import Integration

    with pytest.raises(ValidationFailed) as caught:
        integration_set_credentials(
            integration=Integration.objects.get(pk=integration_id),
            credentials={"apiKey": "plainly-wrong-secret"},
            credential_type="api_key",
        )
    assert "plainly-wrong-secret" not in str(caught.value.details) + caught.value.message
    assert IntegrationVersion.objects.filter(integration_id=integration_id).count() == 1


def test_versions_list_query_count_is_constant(admin_client, integration_id, django_assert_max_num_queries):
    with django_assert_max_num_queries(4) as few:
        versions(admin_client, integration_id)
    baseline = len(few.captured_queries)
    for region in range(20):
        admin_client.patch(f"{URL}/{integration_id}", {"config": {"region": str(region)}}, format="json")
    with django_assert_max_num_queries(baseline):
        assert len(versions(admin_client, integration_id)) == 21
