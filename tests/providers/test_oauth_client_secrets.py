"""The OAuth client of a provider comes from `*_CLIENT_ID` / `*_CLIENT_SECRET` environment variables only: a super
admin cannot name a server secret (SECRET_KEY, ENCRYPTION_KEYS, DATABASE_URL) and read it back through an
authorization URL or a token request. JWTs are signed with their own key (JWT_SIGNING_KEY)."""

from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from django.conf import settings as django_settings
from rest_framework_simplejwt.tokens import AccessToken

from providers.catalog_loader import CatalogError, oauth_env_name_problem, validate_entry
from providers.models import Provider
from providers.services import provider_oauth_client
from tests.helpers import assert_error
from tests.integrations.connection_support import RETURN_URL, make_integration
from tests.integrations.factories import catalog_entry, catalog_provider

pytestmark = pytest.mark.django_db

URL = "/api/v1/admin/providers"


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("clientIdEnv", "SECRET_KEY"),
        ("clientIdEnv", "DATABASE_URL"),
        ("clientSecretEnv", "ENCRYPTION_KEYS"),
        ("clientSecretEnv", "JWT_SIGNING_KEY"),
        ("clientIdEnv", "GOOGLE_CLIENT_SECRET"),  # a secret where the public id goes: ends up in a URL
        ("clientSecretEnv", "CLIENT_SECRET"),
    ],
)
def test_a_super_admin_cannot_point_the_oauth_client_at_a_server_secret(
    super_admin_client, admin_client, key, name, monkeypatch
):
    # Given a provider whose OAuth client comes from the environment
    monkeypatch.setenv("GOOGLE_CLIENT_ID", "google-id")
    monkeypatch.setenv("GOOGLE_CLIENT_SECRET", "google-secret-XYZ")
    catalog_provider("google_calendar")

    # When the super admin names a server setting as the client id or secret
    response = super_admin_client.patch(f"{URL}/google_calendar", {"oauthConfig": {key: name}}, format="json")

    # Then it is refused and nothing changed: the authorization URL carries no server secret
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert f"oauthConfig.{key}" in error["details"]
    assert Provider.objects.get(key="google_calendar").oauth_config[key] != name
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    started = admin_client.post(
        f"/api/v1/integrations/{integration.pk}/connect/oauth", {"returnUrl": RETURN_URL}, format="json"
    )
    url = started.json()["authorizationUrl"]
    assert django_settings.SECRET_KEY not in url
    assert parse_qs(urlsplit(url).query)["client_id"] == ["google-id"]


def test_creating_a_provider_that_names_a_server_secret_is_refused(super_admin_client):
    entry = {**catalog_entry("hubspot"), "provider": "hubspot_copy"}
    entry["oauthConfig"] = {**entry["oauthConfig"], "clientSecretEnv": "SECRET_KEY"}

    response = super_admin_client.post(URL, entry, format="json")

    assert "oauthConfig.clientSecretEnv" in assert_error(response, 400, "VALIDATION_ERROR")["details"]
    assert not Provider.objects.filter(key="hubspot_copy").exists()


def test_the_catalog_loader_refuses_the_same_names():
    entry = catalog_entry("slack")
    entry["oauthConfig"] = {**entry["oauthConfig"], "clientIdEnv": "SECRET_KEY"}

    with pytest.raises(CatalogError, match=r"oauthConfig\.clientIdEnv: must be the name of an environment variable"):
        validate_entry(entry, source="<test>")


def test_the_name_check_is_one_small_reusable_function():
    assert oauth_env_name_problem("clientIdEnv", "ACME_CLIENT_ID") is None
    assert oauth_env_name_problem("clientSecretEnv", "ACME_CLIENT_SECRET") is None
    assert oauth_env_name_problem("clientIdEnv", "ACME_CLIENT_SECRET") is not None
    assert oauth_env_name_problem("clientIdEnv", "acme_client_id") is not None
    assert oauth_env_name_problem("clientSecretEnv", None) is not None


def test_the_oauth_client_is_read_from_the_environment_never_from_django_settings(settings, monkeypatch):
    google = catalog_provider("google_calendar")
    monkeypatch.delenv("GOOGLE_CLIENT_ID", raising=False)
    monkeypatch.delenv("GOOGLE_CLIENT_SECRET", raising=False)
    settings.GOOGLE_CLIENT_ID = "from-settings-id"
    settings.GOOGLE_CLIENT_SECRET = "from-settings-secret"

    assert provider_oauth_client(google) is None

    monkeypatch.setenv("GOOGLE_CLIENT_ID", "env-id")
    monkeypatch.setenv("GOOGLE_CLIENT_SECRET", "env-secret")
    assert provider_oauth_client(google) == ("env-id", "env-secret")


def test_a_provider_row_naming_a_setting_reads_nothing_from_settings(settings, monkeypatch):
    """A row written before this check (or by hand) still cannot read a Django setting."""
    google = catalog_provider("google_calendar")
    google.oauth_config = {**google.oauth_config, "clientSecretEnv": "SECRET_KEY"}
    google.save()
    monkeypatch.setenv("GOOGLE_CLIENT_ID", "env-id")

    assert provider_oauth_client(google) is None


# --- JWT signing key ------------------------------------------------------------------------------------------------
def test_jwts_are_signed_with_their_own_key_not_the_secret_key(make_client, anon_client):
    client = make_client()
    forged = jwt.encode(
        {"token_type": "access", "user_id": str(client.user.pk), "exp": 9999999999, "jti": "x"},
        django_settings.SECRET_KEY,
        algorithm="HS256",
    )

    response = anon_client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {forged}")

    assert django_settings.SIMPLE_JWT["SIGNING_KEY"] != django_settings.SECRET_KEY
    assert response.status_code == 401
    assert AccessToken(client._credentials["HTTP_AUTHORIZATION"].split()[1])["user_id"] == str(client.user.pk)
