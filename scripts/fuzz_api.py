"""Fuzz every API operation against its OpenAPI schema with schemathesis (`make fuzz`).

Starts a production-mode gunicorn on a throw-away database (a fresh PostgreSQL database on DATABASE_URL's server when
it is set, as in CI, else SQLite in a temporary VAR_DIR), seeds one tenant with one object of every kind (an
integration with credentials, versions, activity and health checks, a user-scoped integration with a user's
connection, an outbound subscription with a delivery, an inbound endpoint with a received event) and runs
schemathesis with those objects' ids in every path, once per role (admin, integration manager, member, super admin,
anonymous), with rate limits raised for the run. Checks that must hold for any input: no 5xx, documented status
codes and content types, responses valid against the schema. Then, over all roles, no operation may have answered only
401/403/404: that would mean the fuzzer never reached its code.

Operations that delete run last, so the seeded objects live through the rest. Extra arguments go to every
schemathesis run (`make fuzz FUZZ_ARGS="--max-examples 5"` bounds the run, as CI does).
"""

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live import free_port, start_server, wait_until_up  # noqa: E402

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
PASSWORDS = {
    "admin": ("admin@demo.test", "demo-admin-pass"),
    "integration_manager": ("manager@demo.test", "demo-manager-pass"),
    "member": ("member@demo.test", "demo-member-pass"),
    "super_admin": ("root@demo.test", "demo-root-pass"),
}
RATE_LIMIT_GROUPS = (
    "AUTH",
    "DEFAULT",
    "PROVIDERS",
    "INTEGRATIONS",
    "CONNECTIONS",
    "SEARCH",
    "WIDGETS",
    "WEBHOOKS",
    "WEBHOOK_RECEIVER",
    "WEBHOOK_RECEIVER_PATH",
    "WEBHOOK_RECEIVER_ADDRESS",
)
# schemathesis's reports of the last run (ndjson, one file per role and pass), for a closer look at a failure.
REPORTS = ROOT / "var" / "fuzz"
# Answers that say the fuzzer never got past the door.
DOOR_STATUSES = {401, 403, 404}


# --- The throw-away database ----------------------------------------------------------------------------------------
def _admin_url(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def create_database(url: str) -> str:
    """A fresh database on the PostgreSQL server of `url`; returns its URL."""
    import psycopg

    name = f"fuzz_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_url(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return _admin_url(url, name)


def drop_database(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_admin_url(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- One object of every kind ---------------------------------------------------------------------------------------
def seed() -> dict:
    """Objects of every kind in the demo tenant (made by seed_demo); returns their ids for the path parameters."""
    import django

    django.setup()
    from django.utils import timezone

    from accounts.models import User
    from integrations import services as integrations
    from integrations.models import Connection, HealthCheck, Integration
    from tenants.models import Tenant
    from webhooks import inbound
    from webhooks import services as webhooks
    from webhooks.event_types import event_type_create
    from webhooks.inbound_signatures import sign_for_test
    from webhooks.models import Delivery, DeliveryAttempt, WebhookRecovery

    tenant = Tenant.objects.get(slug="demo")
    admin = User.objects.get(email=PASSWORDS["admin"][0])
    integration = Integration.objects.filter(tenant=tenant, provider__key="stripe").first()
    integrations.integration_set_credentials(
        integration=integration,
        credentials={"apiKey": "sk_test_fuzz_0123456789abcdefghij"},
        credential_type="api_key",
        actor=admin,
    )
    HealthCheck.objects.create(
        tenant=tenant, integration=integration, status="healthy", kind="request", response_time_ms=120
    )
    personal = integrations.integration_create(
        tenant=tenant, provider="gmail", name="Gmail (fuzz)", user_scoped=True, actor=admin
    )
    for role in ("admin", "integration_manager", "member"):  # each role's own connection to the user-scoped one
        Connection.objects.create(
            tenant=tenant,
            integration=personal,
            user=User.objects.get(email=PASSWORDS[role][0]),
            auth_type="oauth2",
            credentials={"access_token": f"ya29.fuzz-{role}-0123456789", "token_type": "Bearer"},
            credential_hint="…6789",
        )
    webhook, _ = webhooks.webhook_create(
        tenant=tenant, name="Fuzz", url="http://127.0.0.1:9/hooks", events=["*"], headers={"X-Env": "fuzz"}
    )
    record = webhooks.trigger(tenant, "application.created", {"applicationId": "app-1"})
    delivery = Delivery.objects.get(pk=record.delivery_ids[0])
    attempt = DeliveryAttempt.objects.create(
        delivery=delivery, attempt_number=1, url=webhook.url, outcome="failed", created_at=timezone.now()
    )
    Delivery.objects.filter(pk=delivery.pk).update(
        status="failed", attempt_count=1, last_attempt=attempt, completed_at=timezone.now()
    )
    # The auth proxy's own connected integration: the rest of the run deactivates and disconnects the one above, and
    # a proxy call to a disconnected integration stops at its 409 before the forwarding code. It is a custom API on a
    # closed loopback port (allowed for this run): the fuzzer's calls run the whole forwarding path and nothing ever
    # leaves this machine, whatever network CI has.
    proxied = integrations.integration_create(
        tenant=tenant,
        provider="custom_api",
        name="Custom API (proxy)",
        config={"baseUrl": "https://127.0.0.1:9/v1"},
        actor=admin,
    )
    integrations.integration_set_credentials(
        integration=proxied,
        credentials={"apiKey": "sk_test_fuzz_proxy_0123456789abcdef"},
        credential_type="api_key",
        actor=admin,
    )
    # A recovery job (what POST …/recover starts; no worker runs here, so it stays pending) and a custom event type
    # (the built-in ones are the platform's and refuse most edits).
    recovery = WebhookRecovery.objects.create(
        tenant=tenant, webhook=webhook, since=timezone.now() - timedelta(days=1), until=timezone.now(), total=1
    )
    event_type = event_type_create(
        name="fuzz.created",
        description="A custom event type of the fuzz run.",
        schema={"type": "object", "properties": {"id": {"type": "string"}}},
        example={"id": "fz_1"},
    )
    # Inbound endpoints hang off an integration of their own: deleting the Stripe one must not take them along
    # before their own DELETE is fuzzed.
    hooks = integrations.integration_create(tenant=tenant, provider="github", name="GitHub (fuzz)", actor=admin)
    endpoint, _ = inbound.inbound_endpoint_create(
        tenant=tenant,
        integration=hooks,
        name="Fuzz inbound",
        secret="whsec_ZnV6ei1pbmJvdW5kLXNlY3JldA==",
        signature_scheme="stripe",
    )
    # The fuzzer cannot sign: the receiver is fuzzed on an endpoint that does not verify (a tenant's choice).
    unsigned, _ = inbound.inbound_endpoint_create(
        tenant=tenant, integration=hooks, name="Fuzz unsigned", verify_signature=False
    )
    body = b'{"id": "evt_fuzz_1", "type": "invoice.paid", "data": {"object": {}}}'
    received = inbound.inbound_receive(
        endpoint=endpoint,
        request=inbound.ReceivedRequest(
            body=body,
            headers=sign_for_test("stripe", body, endpoint.secret),
            url="http://127.0.0.1/",
            source_ip="127.0.0.1",
        ),
    )
    return {
        "integration": str(integration.pk),
        "personal_integration": str(personal.pk),
        "provider": "stripe",
        "webhook": str(webhook.pk),
        "delivery": str(delivery.pk),
        "inbound_endpoint": str(endpoint.pk),
        "inbound_event": str(received.event_id),
        "inbound_path": unsigned.path,
        "version": 1,
        "recovery": str(recovery.pk),
        "proxied_integration": str(proxied.pk),
        "event_type": event_type.name,
    }


PROXY = r"^/api/v1/integrations/\{id\}/proxy/"


def schemathesis_config(ids: dict) -> str:
    """The seeded ids in the path parameters, per resource (`{id}` names a different object under each prefix)."""
    # The first block that names an option decides it: the proxy's block comes before the integration one.
    blocks = [
        # The auth proxy forwards to a closed loopback port: its documented 502 ("the provider could not be reached")
        # is the right answer here, not a server error of ours.
        f"[[operations]]\ninclude-path-regex = {json.dumps(PROXY)}\n"
        f'parameters = {{ "path.id" = {json.dumps(ids["proxied_integration"])} }}\n'
        'checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "502"]\n'
    ]
    rules = [
        (
            r"^/api/v1/integrations/inbound-webhooks/\{id\}",
            {"id": ids["inbound_endpoint"], "event_id": ids["inbound_event"]},
        ),
        (
            r"^/api/v1/integrations/webhooks/\{id\}",
            {"id": ids["webhook"], "delivery_id": ids["delivery"], "job_id": ids["recovery"]},
        ),
        (r"^/api/v1/integrations/\{id\}", {"id": ids["integration"], "number": ids["version"]}),
        (r"^/api/v1/me/integrations/\{id\}", {"id": ids["personal_integration"]}),
        (r"\{key\}", {"key": ids["provider"]}),
        (r"^/api/v1/webhooks/receive/\{path\}", {"path": ids["inbound_path"]}),
        (r"^/api/v1/admin/event-types/\{name\}", {"name": ids["event_type"]}),
    ]
    for regex, params in rules:
        values = ", ".join(f'"path.{name}" = {json.dumps(value)}' for name, value in params.items())
        blocks.append(f"[[operations]]\ninclude-path-regex = {json.dumps(regex)}\nparameters = {{ {values} }}\n")
    return "\n".join(blocks)


# --- Run and judge ---------------------------------------------------------------------------------------------------
ROLES = ("anonymous", *PASSWORDS)


def token(base: str, role: str) -> str | None:
    """A fresh access token for `role` (None for the anonymous caller: public operations, and every 401)."""
    if role == "anonymous":
        return None
    email, password = PASSWORDS[role]
    response = requests.post(f"{base}/api/v1/auth/token", json={"email": email, "password": password}, timeout=30)
    response.raise_for_status()
    return response.json()["access"]


def statuses_from_report(path: Path) -> dict[str, set[int]]:
    """Operation label ("GET /api/v1/…") -> the statuses it answered, from a schemathesis ndjson report.

    Only requests made with the operation's own method count (schemathesis also tries TRACE, OPTIONS…)."""
    found: dict[str, set[int]] = defaultdict(set)
    if not path.exists():
        return found
    for line in path.read_text().splitlines():
        if '"ScenarioFinished"' not in line:
            continue
        recorder = json.loads(line)["ScenarioFinished"].get("recorder") or {}
        label = recorder.get("label") or ""
        method = label.partition(" ")[0]
        for interaction in (recorder.get("interactions") or {}).values():
            response = interaction.get("response") or {}
            if interaction.get("request", {}).get("method") == method and response.get("status_code"):
                found[label].add(int(response["status_code"]))
    return found


# Passes, in order: everything but deletes; deletes of objects that own no others; deletes of the owners (an
# integration's delete cascades to whatever the fuzzer attached to it, a provider's to its integrations).
OWNERS = r"^/api/v1/(integrations/\{id\}|admin/providers/\{key\})$"
PASSES = {
    "": ["--exclude-method", "DELETE"],
    "-deletes": [
        *(
            "--exclude-method",
            "GET",
            "--exclude-method",
            "POST",
            "--exclude-method",
            "PUT",
            "--exclude-method",
            "PATCH",
        ),
        "--exclude-path-regex",
        OWNERS,
    ],
    "-owner-deletes": [
        *(
            "--exclude-method",
            "GET",
            "--exclude-method",
            "POST",
            "--exclude-method",
            "PUT",
            "--exclude-method",
            "PATCH",
        ),
        "--exclude-path-regex",
        f"^(?!{OWNERS[1:]})",
    ],
}


def run(base: str, config: Path, token: str | None, report: Path, extra: list[str], *, selection: list[str]) -> int:
    """One schemathesis run; `selection` only excludes (schemathesis ORs include filters, FUZZ_ARGS may bring its
    own)."""
    schemathesis = Path(sys.executable).parent / "schemathesis"
    return subprocess.call(
        [
            str(schemathesis),
            "--config-file",
            str(config),
            "run",
            f"{base}/api/schema/",
            *(["--header", f"Authorization: Bearer {token}"] if token else []),
            "--checks",
            CHECKS,
            "--request-timeout",
            "15",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(report),
            *selection,
            *extra,
        ],
        cwd=config.parent,
    )


def main() -> int:
    extra = sys.argv[1:]
    REPORTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as var_dir:
        work = Path(var_dir)
        database_url = os.environ.get("DATABASE_URL", "")
        fuzz_db = create_database(database_url) if database_url.startswith("postgres") else ""
        env = {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
            "DEBUG": "false",
            "SECRET_KEY": "fuzz-secret-key-" + "x" * 40,
            "JWT_SIGNING_KEY": "fuzz-jwt-signing-key-" + "y" * 40,
            "ENCRYPTION_KEYS": "eW3ms9fz6jeiUbyY4HU7gLwmc8CPhtoBXavM3hH24hc=",
            "VAR_DIR": var_dir,
            "LOG_LEVEL": "CRITICAL",
            "PUBLIC_BASE_URL": "http://127.0.0.1",
            # Rate limits stay on (their code is fuzzed too) but far above what the run sends.
            "RATE_LIMIT_ENABLED": "true",
            **{f"RATE_LIMIT_{group}": "1000000/minute" for group in RATE_LIMIT_GROUPS},
            "LOGIN_FAILURE_LIMIT": "1000000",
            "JWT_ACCESS_MINUTES": "600",  # a full run takes longer than the default 15 minutes
            "METRICS_ALLOWED_NETWORKS": "127.0.0.0/8",  # the anonymous pass scrapes /metrics from loopback
            # No network here: subscriptions may point at loopback (nothing is delivered: no worker runs).
            "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
        }
        if fuzz_db:
            env["DATABASE_URL"] = fuzz_db
        try:
            for command in (["migrate", "--noinput", "-v0"], ["seed_demo"]):
                subprocess.run(
                    [sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True
                )
            os.environ.update(env)
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
            ids = seed()
            from django.db import connections

            connections.close_all()
            config = work / "schemathesis.toml"
            config.write_text(schemathesis_config(ids))
            port = free_port()
            # No request-line limit: gunicorn's own 414 (an HTML page, 4094 bytes by default) is the server's, not
            # the API's, and a long generated query string should reach the code it fuzzes.
            cmd = [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--limit-request-line",
                "0",
            ]
            with start_server(cmd, env=env) as server:
                base = f"http://127.0.0.1:{port}"
                wait_until_up(f"{base}/healthz", server)
                failed = False
                seen: dict[str, set[int]] = defaultdict(set)
                for suffix, selection in PASSES.items():
                    for role in ROLES:
                        print(f"\n=== schemathesis as {role}{suffix} ===", flush=True)
                        report = REPORTS / f"{role}{suffix}.ndjson"
                        failed |= run(base, config, token(base, role), report, extra, selection=selection) != 0
                        for label, codes in statuses_from_report(report).items():
                            seen[label] |= codes
            return judge(seen, failed)
        finally:
            if fuzz_db:
                from django.db import connections

                connections.close_all()
                drop_database(fuzz_db)


def judge(seen: dict[str, set[int]], failed: bool) -> int:
    unreached = sorted(label for label, codes in seen.items() if codes and codes <= DOOR_STATUSES)
    print(f"\n{len(seen)} operations exercised.")
    if unreached:
        print(f"{len(unreached)} operations only ever answered 401/403/404 (their code was never reached):")
        for label in unreached:
            print(f"  {label}: {sorted(seen[label])}")
    if failed:
        print("schemathesis reported failures (see above).")
    return 1 if failed or unreached else 0


if __name__ == "__main__":
    sys.exit(main())
