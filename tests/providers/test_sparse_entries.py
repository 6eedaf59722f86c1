"""The provider admin API takes seed-style bodies: optional fields left out get defaults derived from the rest,
`version` is any non-empty string, http:// only inside PROVIDER_ALLOWED_NETWORKS; catalog files may be sparse too."""

import json

import pytest

from providers.catalog_loader import load_catalog
from providers.models import Provider
from providers.services import provider_oauth_client
from tests.helpers import assert_error

URL = "/api/v1/admin/providers"


def seed_body(**extra) -> dict:
    """A create body as the product spec writes it: no description, searchableEntities, credentialSchema, ..."""
    body = {
        "name": "Acme Calendar",
        "displayName": "Acme Calendar",
        "category": "calendar",
        "provider": "acme_calendar",
        "status": "active",
        "audience": "tenant",
        "capabilities": ["read_events"],
        "supportedSyncDirections": ["pull"],
        "supportsRealtime": False,
        "supportsWebhooks": False,
        "supportsNotifications": False,
        "supportsSearch": False,
        "requiresUserScoping": True,
        "authType": "oauth2",
        "oauthConfig": {
            "authorizationUrl": "https://auth.acme.example/oauth/authorize",
            "tokenUrl": "https://auth.acme.example/oauth/token",
            "scopes": ["calendar.read"],
            "clientId": "acme-client",
            "clientSecret": "acme-secret-XYZ",
        },
        "availableEntities": [{"name": "event", "displayName": "Event", "operations": ["read"]}],
        "icon": "acme-calendar",
        "color": "#112233",
        "version": "1",
    }
    body.update(extra)
    return body


def test_a_seed_style_oauth_body_is_created_with_derived_defaults(super_admin_client, db):
    response = super_admin_client.post(URL, seed_body(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["version"] == "1" and body["description"] == "Acme Calendar"
    assert body["searchableEntities"] == [] and body["credentialSchema"] is None
    oauth = body["oauthConfig"]
    assert oauth["scopeSeparator"] == " " and oauth["extraAuthorizationParams"] == {} and oauth["pkce"] is True
    assert oauth["revocationUrl"] is None and "clientIdEnv" not in oauth and oauth["clientSecretSet"] is True
    assert "acme-secret-XYZ" not in response.content.decode()
    assert provider_oauth_client(Provider.objects.get(key="acme_calendar")) == ("acme-client", "acme-secret-XYZ")


def test_an_oauth_body_without_a_client_or_env_names_is_refused_naming_both(super_admin_client, db):
    body = seed_body()
    del body["oauthConfig"]["clientId"], body["oauthConfig"]["clientSecret"]

    error = assert_error(super_admin_client.post(URL, body, format="json"), 400, "VALIDATION_ERROR")

    assert {"oauthConfig.clientIdEnv", "oauthConfig.clientSecretEnv"} <= set(error["details"])
    body["oauthConfig"].update(clientIdEnv="ACME_CLIENT_ID", clientSecretEnv="ACME_CLIENT_SECRET")
    assert super_admin_client.post(URL, body, format="json").status_code == 201


def test_an_api_key_provider_gets_a_credential_schema_for_the_key(super_admin_client, db):
    body = {
        "provider": "acme_crm",
        "name": "Acme CRM",
        "displayName": "Acme CRM",
        "category": "crm",
        "authType": "api_key",
        "apiKeyPlacement": {"in": "header", "name": "X-Api-Key", "format": "{apiKey}"},
        "version": "2024-06",
    }

    response = super_admin_client.post(URL, body, format="json")

    assert response.status_code == 201, response.content
    schema = response.json()["credentialSchema"]
    assert schema["required"] == ["apiKey"] and schema["properties"]["apiKey"]["type"] == "string"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"version": ""}, "version"),
        ({"version": "x" * 65}, "version"),
        ({"version": 1}, "version"),
        ({"supportsRealtime": "yes"}, "supportsRealtime"),
        ({"capabilities": "read"}, "capabilities"),
        ({"unknownField": True}, "unknownField"),
        ({"rateLimit": {"requestsPerMinute": 0}}, "rateLimit.requestsPerMinute"),
    ],
)
def test_wrong_types_and_unknown_fields_are_400_with_field_details(super_admin_client, db, change, field):
    error = assert_error(super_admin_client.post(URL, seed_body(**change), format="json"), 400, "VALIDATION_ERROR")
    assert field in error["details"], error
    assert not Provider.objects.filter(key="acme_calendar").exists()


@pytest.mark.parametrize("key", ["keepAliveHours", "giveUpAfterHours"])
def test_lifecycle_hours_must_be_positive_numbers(super_admin_client, db, key):
    body = seed_body()
    body["oauthConfig"][key] = -1
    assert_error(super_admin_client.post(URL, body, format="json"), 400, "VALIDATION_ERROR")
    body["oauthConfig"][key] = 12
    assert super_admin_client.post(URL, body, format="json").json()["oauthConfig"][key] == 12


def test_http_urls_only_for_hosts_inside_provider_allowed_networks(super_admin_client, db, settings):
    body = seed_body()
    body["oauthConfig"]["tokenUrl"] = "http://10.1.2.3:8080/realms/test/protocol/openid-connect/token"

    error = assert_error(super_admin_client.post(URL, body, format="json"), 400, "VALIDATION_ERROR")
    assert "oauthConfig.tokenUrl" in error["details"]

    settings.PROVIDER_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert super_admin_client.post(URL, body, format="json").status_code == 201

    patch = {"apiBaseUrl": "http://192.168.1.10/api"}
    error = assert_error(super_admin_client.patch(f"{URL}/acme_calendar", patch, format="json"), 400)
    assert "apiBaseUrl" in error["details"]


def test_patch_with_a_stored_client_needs_no_env_names(super_admin_client, db):
    assert super_admin_client.post(URL, seed_body(), format="json").status_code == 201

    response = super_admin_client.patch(f"{URL}/acme_calendar", {"oauthConfig": {"scopes": ["a", "b"]}}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["oauthConfig"]["scopes"] == ["a", "b"]


def test_a_sparse_catalog_file_loads_with_the_same_defaults(tmp_path):
    (tmp_path / "acme_files.json").write_text(
        json.dumps(
            {
                "provider": "acme_files",
                "name": "Acme Files",
                "displayName": "Acme Files",
                "category": "storage",
                "authType": "oauth2",
                "oauthConfig": {
                    "issuer": "https://login.acme.example",
                    "clientIdEnv": "ACME_FILES_CLIENT_ID",
                    "clientSecretEnv": "ACME_FILES_CLIENT_SECRET",
                    "keepAliveHours": 24,
                },
                "apiBaseUrl": "https://api.acme.example/v2",
                "version": "3",
            }
        )
    )

    (entry,) = load_catalog(tmp_path)

    assert entry["oauthConfig"]["scopeSeparator"] == " " and entry["oauthConfig"]["keepAliveHours"] == 24
    assert entry["status"] == "active" and entry["audience"] == "tenant" and entry["description"] == "Acme Files"
