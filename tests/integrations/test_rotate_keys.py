"""`manage.py rotate_encryption_keys`: rows written under an old key are re-encrypted under the newest one."""

import io
import json

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from integrations.crypto import DecryptionError
from integrations.models import Connection, IntegrationVersion
from integrations.services import integration_set_credentials
from providers.models import Provider
from tests.integrations.factories import IntegrationFactory, catalog_provider

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def raw_tokens() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, credentials FROM integrations_connection")
        tokens = {f"conn:{pk}": value for pk, value in cursor.fetchall()}
        cursor.execute("SELECT key, oauth_client_secret FROM providers_provider WHERE oauth_client_secret <> ''")
        tokens.update({f"provider:{key}": value for key, value in cursor.fetchall()})
    return tokens


def rotate(**options) -> list[dict]:
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out, **options)
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.fixture
def written_with_old_key(db, settings):
    settings.ENCRYPTION_KEYS = [OLD]
    stripe = catalog_provider("stripe")
    for n in range(3):
        integration = IntegrationFactory(provider=stripe, name=f"pay {n}")
        integration_set_credentials(
            integration=integration, credentials={"apiKey": f"sk_test_{n}abcdefghijklmnop"}, credential_type="api_key"
        )
    google = catalog_provider("google_calendar")
    google.oauth_client_secret = "GOCSPX-secret"
    google.save()
    return settings


def test_old_rows_stay_readable_with_a_new_key_in_front_then_rotate_to_it(written_with_old_key):
    settings = written_with_old_key
    before = raw_tokens()
    settings.ENCRYPTION_KEYS = [NEW, OLD]
    assert sorted(c.credentials["apiKey"] for c in Connection.objects.all())[0] == "sk_test_0abcdefghijklmnop"

    lines = rotate(batch_size=2)

    progress = [line for line in lines if "batch" in line]
    assert {
        "model": "integrations.Connection",
        "batch": 1,
        "rows": 2,
        "rotated": 2,
        "skipped": 0,
        "failed": 0,
    } in progress
    assert {
        "model": "integrations.Connection",
        "batch": 2,
        "rows": 1,
        "rotated": 1,
        "skipped": 0,
        "failed": 0,
    } in progress
    assert lines[-1] == {
        "done": True,
        "rotated": 8,
        "skipped": 0,
        "failed": 0,
    }  # 3 connections, 3 versions, 2 providers
    after = raw_tokens()
    assert all(after[k] != before[k] for k in before)
    settings.ENCRYPTION_KEYS = [NEW]  # the old key is gone: everything still opens
    assert len([c.credentials for c in Connection.objects.all()]) == 3
    assert all(v.credentials["apiKey"].startswith("sk_test_") for v in IntegrationVersion.objects.all())
    assert Provider.objects.get(key="google_calendar").oauth_client_secret == "GOCSPX-secret"


def test_a_second_run_writes_nothing(written_with_old_key):
    written_with_old_key.ENCRYPTION_KEYS = [NEW, OLD]
    rotate()
    before = raw_tokens()

    lines = rotate()

    assert lines[-1]["rotated"] == 0 and lines[-1]["skipped"] == 8
    assert raw_tokens() == before


def test_rows_no_key_opens_fail_the_command_loudly(written_with_old_key):
    written_with_old_key.ENCRYPTION_KEYS = [NEW]

    with pytest.raises(CommandError, match="could not be decrypted with any key in ENCRYPTION_KEYS"):
        rotate()
    with pytest.raises(DecryptionError):
        list(Connection.objects.all())


def test_batch_size_must_be_positive(db):
    with pytest.raises(CommandError, match="batch-size"):
        rotate(batch_size=0)
