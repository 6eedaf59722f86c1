"""Service health, OpenAPI, Django admin, management commands and start-up settings."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import Membership, Role, User
from tenants.models import Tenant
from tests.factories import MembershipFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_healthz_answers_while_the_process_runs(anon_client):
    response = anon_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_every_dependency(anon_client):
    response = anon_client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "cache": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_openapi_schema_is_valid_and_documents_auth_and_errors(anon_client):
    from drf_spectacular.validation import validate_schema

    response = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    assert schema["openapi"].startswith("3.0")
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    me = schema["paths"]["/api/v1/auth/me"]["get"]
    assert "401" in me["responses"]
    error_ref = me["responses"]["401"]["content"]["application/json"]["schema"]["$ref"]
    error_schema = schema["components"]["schemas"][error_ref.rsplit("/", 1)[1]]
    assert "error" in error_schema["properties"]


@pytest.mark.django_db
def test_swagger_ui_is_served(anon_client):
    assert anon_client.get("/api/docs/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "permissions"),
    [
        (Role.ADMIN, ["integrations:create", "integrations:read", "integrations:update", "integrations:delete"]),
        (Role.INTEGRATION_MANAGER, ["integrations:create", "integrations:read", "integrations:update"]),
        (Role.MEMBER, ["integrations:read"]),
    ],
)
def test_each_role_gets_its_permissions(make_client, role, permissions):
    assert make_client(role).get("/api/v1/auth/me").json()["permissions"] == permissions


@pytest.mark.django_db
def test_django_admin_lists_tenants_users_and_memberships_for_super_admins(client):
    root = UserFactory(is_staff=True, is_superuser=True)
    MembershipFactory()
    client.force_login(root)
    for url in ("/admin/tenants/tenant/", "/admin/accounts/user/", "/admin/accounts/membership/"):
        response = client.get(url, {"q": "example"})
        assert response.status_code == 200, url


@pytest.mark.django_db
def test_management_commands_create_and_print_json(capsys):
    call_command("create_tenant", name="Acme", slug="acme")
    tenant = json.loads(capsys.readouterr().out)
    assert Tenant.objects.get(slug="acme").name == tenant["name"] == "Acme"

    call_command("create_user", email="A@acme.test", password="S3cret!pass", tenant="acme", role="admin")
    user = json.loads(capsys.readouterr().out)
    assert user["email"] == "a@acme.test"
    assert user["role"] == "admin"
    assert User.objects.get(email="a@acme.test").check_password("S3cret!pass")

    call_command("create_user", email="root@example.test", password="S3cret!pass", super_admin=True)
    assert json.loads(capsys.readouterr().out)["isSuperAdmin"] is True


@pytest.mark.django_db
def test_management_commands_refuse_duplicates_clearly():
    from django.core.management.base import CommandError

    call_command("create_tenant", name="Acme", slug="acme")
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_tenant", name="Acme", slug="acme")
    with pytest.raises(CommandError, match="No tenant"):
        call_command("create_user", email="x@acme.test", password="S3cret!pass", tenant="nope")


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_prints_logins(capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "demo-admin-pass" in out
    assert Membership.objects.filter(tenant__slug="demo").count() == 3
    assert User.objects.get(email="admin@demo.test").check_password("demo-admin-pass")


def _start_django(env_overrides: dict) -> subprocess.CompletedProcess:
    secrets = {"SECRET_KEY", "ENCRYPTION_KEYS", "ENCRYPTION_KEY", "JWT_SIGNING_KEY"}
    env = {k: v for k, v in os.environ.items() if k not in secrets}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        (
            {"ENCRYPTION_KEYS": "eW3ms9fz6jeiUbyY4HU7gLwmc8CPhtoBXavM3hH24hc=", "JWT_SIGNING_KEY": "j" * 50},
            "SECRET_KEY",
        ),
        ({"SECRET_KEY": "x" * 50, "JWT_SIGNING_KEY": "j" * 50}, "ENCRYPTION_KEYS"),
        (
            {"SECRET_KEY": "x" * 50, "ENCRYPTION_KEYS": "eW3ms9fz6jeiUbyY4HU7gLwmc8CPhtoBXavM3hH24hc="},
            "JWT_SIGNING_KEY",
        ),
    ],
)
def test_production_mode_refuses_to_start_without_secrets(given, missing):
    result = _start_django({"DEBUG": "false", **given})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{missing} is not set" in result.stderr


def test_production_mode_starts_with_secrets_and_seed_001_single_key():
    result = _start_django(
        {
            "DEBUG": "false",
            "SECRET_KEY": "x" * 50,
            "JWT_SIGNING_KEY": "j" * 50,
            "ENCRYPTION_KEY": "eW3ms9fz6jeiUbyY4HU7gLwmc8CPhtoBXavM3hH24hc=",
        }
    )
    assert result.returncode == 0, result.stderr


def test_development_mode_starts_without_secrets(tmp_path):
    result = _start_django({"DEBUG": "true", "VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "dev-encryption.key").exists()


@pytest.mark.django_db
def test_beat_schedule_is_present_after_migrate_and_names_real_tasks():
    from django_celery_beat.models import PeriodicTask

    from config.celery import app
    from config.periodic import periodic_tasks

    app.loader.import_default_modules()
    specs = periodic_tasks()
    stored = {t.name: t for t in PeriodicTask.objects.all()}
    for spec in specs:
        assert spec.name in stored, spec.name
        assert stored[spec.name].task == spec.task
        assert stored[spec.name].queue == spec.queue
        assert spec.task in app.tasks, f"{spec.task} is scheduled but no task has that name"


@pytest.mark.django_db
def test_setup_periodic_tasks_is_idempotent_and_keeps_an_admins_switch(capsys):
    from django_celery_beat.models import PeriodicTask

    PeriodicTask.objects.filter(name="webhooks: sweep overdue deliveries").update(enabled=False)
    call_command("setup_periodic_tasks")
    out = json.loads(capsys.readouterr().out)
    assert out["changed"] == []
    assert PeriodicTask.objects.get(name="webhooks: sweep overdue deliveries").enabled is False


def test_env_example_lists_every_variable_the_settings_read():
    import re

    settings_source = (ROOT / "config" / "settings.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', settings_source))
    read |= set(re.findall(r'_required_secret\("([A-Z_]+)"', settings_source))
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), flags=re.MULTILINE))
    assert read, "the pattern found no settings"
    assert read - listed == set()
