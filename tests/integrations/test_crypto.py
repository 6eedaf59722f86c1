"""Encrypted columns: nothing in plaintext at rest, readable with any listed key, a wrong key fails loudly."""

import json

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from integrations.crypto import DecryptionError
from integrations.models import Connection
from integrations.services import credential_hint, integration_set_credentials
from providers.models import Provider
from tests.integrations.factories import IntegrationFactory, catalog_provider

SECRET = "sk_live_51AbCdEfGhIjKlMnOpQrStUvWxYz"


def raw(table: str, column: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table}")
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def stored(db):
    integration = IntegrationFactory(provider=catalog_provider("stripe"))
    integration_set_credentials(integration=integration, credentials={"apiKey": SECRET}, credential_type="api_key")
    return integration


def test_credentials_are_not_in_plaintext_in_the_database(stored):
    for table in ("integrations_connection", "integrations_integrationversion"):
        [value] = raw(table, "credentials")
        assert SECRET not in value and "apiKey" not in value
        assert value.startswith("gAAAA")  # a Fernet token
    assert Connection.objects.get(integration=stored).credentials == {"apiKey": SECRET}


def test_provider_client_secret_is_encrypted_at_rest(db):
    provider = catalog_provider("google_calendar")
    provider.oauth_client_secret = "GOCSPX-very-secret-value"
    provider.save()

    [value] = raw("providers_provider", "oauth_client_secret")

    assert "GOCSPX" not in value
    assert Provider.objects.get(pk=provider.pk).oauth_client_secret == "GOCSPX-very-secret-value"


def test_a_wrong_key_raises_a_clear_decryption_error(stored, settings):
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(DecryptionError, match="could not be decrypted with any key in ENCRYPTION_KEYS"):
        Connection.objects.get(integration=stored)


@pytest.mark.parametrize(
    ("credentials", "hint"),
    [
        ({"apiKey": SECRET}, "…WxYz"),
        ({"username": "someone@example.com", "password": "correct-horse-battery"}, "…tery"),
        ({"accountSid": "AC0123456789abcdef", "authToken": "0123456789abcdefXYZ0"}, "…XYZ0"),
        ({"apiKey": "short"}, "********"),
        # at most 4 characters, and none of a secret under 20 characters (12 used to show 8 of 12)
        ({"apiKey": "abcdefgh1234"}, "********"),
        ({"apiKey": "0123456789abcdefXYZ"}, "********"),
    ],
)
def test_credential_hint_masks_the_main_secret(credentials, hint):
    assert credential_hint(credentials) == hint


@pytest.mark.django_db
def test_hints_stored_under_the_old_rule_are_recomputed_by_the_migration(stored):
    """Hints written before the fix showed the first and last 4 characters: the data migration cuts them down."""
    import importlib

    from django.apps import apps

    Connection.objects.filter(integration=stored).update(credential_hint="sk_l…WxYz")
    migration = importlib.import_module("integrations.migrations.0004_i9c_credential_hints")
    migration.recompute_hints(apps, None)
    assert Connection.objects.get(integration=stored).credential_hint == "…" + SECRET[-4:]


@pytest.mark.django_db
@pytest.mark.parametrize(("secret", "hint"), [(SECRET, "…WxYz"), ("sk_test_1234", "********")])
def test_the_list_and_detail_reads_show_the_same_short_hint(admin_client, secret, hint):
    """The integration list and detail (read without serializers, from the stored hint) follow the hint rule."""
    integration = IntegrationFactory(tenant=admin_client.tenant, provider=catalog_provider("stripe"))
    integration_set_credentials(integration=integration, credentials={"apiKey": secret}, credential_type="api_key")

    page = admin_client.get("/api/v1/integrations").json()
    listed = page["items"]
    detail = admin_client.get(f"/api/v1/integrations/{integration.pk}").json()

    assert [row["credentialHint"] for row in listed if row["id"] == str(integration.pk)] == [hint]
    assert detail["credentialHint"] == hint
    assert secret[-8:] not in json.dumps(listed) + json.dumps(detail)
