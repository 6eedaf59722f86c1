"""`manage.py sync_providers`: loads the catalog files, keeps a super admin's edits, reports what changed."""

import io
import json
import shutil

import pytest
from django.core.management import CommandError, call_command

from providers.catalog_loader import CATALOG_DIR
from providers.models import Provider

CATALOG_KEYS = sorted(p.stem for p in CATALOG_DIR.glob("*.json"))


def sync(*args) -> list[dict]:
    out = io.StringIO()
    call_command("sync_providers", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.fixture
def catalog_copy(tmp_path):
    directory = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, directory)
    return directory


def edit_entry(directory, key, **changes):
    path = directory / f"{key}.json"
    entry = json.loads(path.read_text())
    entry.update(changes)
    path.write_text(json.dumps(entry))


def test_first_run_creates_every_catalog_entry_then_nothing_changes(db):
    first = sync()
    second = sync()

    assert sorted(line["provider"] for line in first if line.get("action") == "created") == CATALOG_KEYS
    assert first[-1] == {"summary": {"created": len(CATALOG_KEYS)}, "entries": len(CATALOG_KEYS), "dryRun": False}
    assert sorted(Provider.objects.values_list("key", flat=True)) == CATALOG_KEYS
    assert second == [{"summary": {"unchanged": len(CATALOG_KEYS)}, "entries": len(CATALOG_KEYS), "dryRun": False}]
    stripe = Provider.objects.get(key="stripe")
    assert stripe.api_base_url == "https://api.stripe.com" and stripe.health_check["path"] == "/v1/balance"


def test_updates_unlocked_fields_and_keeps_a_super_admins_status_and_audience(db, super_admin_client, catalog_copy):
    sync("--dir", str(catalog_copy))
    super_admin_client.patch("/api/v1/admin/providers/stripe/status", {"status": "disabled"}, format="json")
    super_admin_client.patch("/api/v1/admin/providers/slack/audience", {"audience": "system"}, format="json")
    edit_entry(catalog_copy, "stripe", status="beta", description="New description from the catalog.")
    edit_entry(catalog_copy, "slack", audience="tenant", color="#000000")

    lines = sync("--dir", str(catalog_copy))

    stripe, slack = Provider.objects.get(key="stripe"), Provider.objects.get(key="slack")
    assert stripe.status == "disabled" and stripe.description == "New description from the catalog."
    assert slack.audience == "system" and slack.color == "#000000"
    assert {"provider": "stripe", "action": "updated", "fields": ["description"], "kept": ["status"]} in lines
    assert {"provider": "slack", "action": "updated", "fields": ["color"], "kept": ["audience"]} in lines


def test_dry_run_reports_but_writes_nothing(db, catalog_copy):
    sync("--dir", str(catalog_copy))
    edit_entry(catalog_copy, "github", description="Changed.")

    lines = sync("--dir", str(catalog_copy), "--dry-run")

    assert {"provider": "github", "action": "updated", "fields": ["description"]} in lines
    assert lines[-1]["dryRun"] is True
    assert Provider.objects.get(key="github").description != "Changed."


def test_dry_run_on_an_empty_database_creates_nothing(db):
    lines = sync("--dry-run")

    assert lines[-1]["summary"] == {"created": len(CATALOG_KEYS)}
    assert not Provider.objects.exists()


def test_a_stored_oauth_client_id_survives_a_sync(db, catalog_copy):
    sync("--dir", str(catalog_copy))
    google = Provider.objects.get(key="google_calendar")
    google.oauth_config = {**google.oauth_config, "clientId": "kept.apps.googleusercontent.com"}
    google.save()
    edit_entry(catalog_copy, "google_calendar", description="Updated.")

    sync("--dir", str(catalog_copy))

    google.refresh_from_db()
    assert google.oauth_config["clientId"] == "kept.apps.googleusercontent.com"
    assert google.description == "Updated."


def test_providers_missing_from_the_catalog_are_listed_not_deleted(db, catalog_copy):
    sync("--dir", str(catalog_copy))
    (catalog_copy / "paypal.json").unlink()

    lines = sync("--dir", str(catalog_copy))

    assert {"provider": "paypal", "action": "not_in_catalog"} in lines
    assert Provider.objects.filter(key="paypal").exists()


def test_an_invalid_catalog_file_stops_the_sync_naming_file_and_field(db, catalog_copy):
    edit_entry(catalog_copy, "hubspot", color="orange")

    with pytest.raises(CommandError) as caught:
        sync("--dir", str(catalog_copy))

    assert "hubspot.json" in str(caught.value) and "color" in str(caught.value)
    assert not Provider.objects.exists()
