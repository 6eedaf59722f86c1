"""No secret in any log line.

Drives, with every logger at DEBUG (what an operator turns on to troubleshoot): a sign-in, the OAuth flow (start,
public callback, completion, a token refresh; the provider's token endpoint answered by `responses` in this
process), an API-key connect, an outbound webhook with a custom `Authorization` header delivered by a real
`celery worker` process to a real HTTP receiver (one failed attempt, then success), and a signed inbound event
(plus a forged one) processed by that worker. Then every line logged in this process and every line the worker
wrote is searched for each secret used: zero hits.
"""

import io
import json
import logging

import pytest
import responses
from django.db import transaction
from rest_framework.test import APIClient

from accounts.models import Role
from integrations.models import Connection
from tests.e2e.conftest import Reply
from tests.e2e.test_webhook_delivery import FAST, wait_until
from tests.factories import PASSWORD, MembershipFactory
from tests.integrations.connection_support import (
    GOOGLE_TOKEN_URL,
    OAUTH_CLIENT_SETTINGS,
    RETURN_URL,
    google_token,
    make_integration,
    query_of,
)
from webhooks import services as webhook_services
from webhooks.inbound_signatures import sign_for_test
from webhooks.models import Delivery, InboundEvent

pytestmark = pytest.mark.e2e

STRIPE_KEY = "sk_test_51LogLeakProbeKey0123456789abcdef"
OAUTH_CODE = "4/0AX-log-probe-authorization-code"
ACCESS = "ya29.log-probe-access-token-0123456789"
REFRESH = "1//log-probe-refresh-token-0123456789"
ACCESS_2 = "ya29.log-probe-refreshed-access-98765"
DESTINATION_AUTH = "Bearer dest-log-probe-token-0123456789"


@pytest.fixture
def captured_logs():
    """Every record logged in this process, formatted by the project's JSON formatter, at DEBUG for the root logger
    (per-logger levels the settings fix, such as requests_oauthlib's, stay as configured)."""
    from config.logging import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    # factory_boy logs the test's own set_password() calls: test tooling, not a line the service writes.
    handler.addFilter(lambda record: not record.name.startswith("factory"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


@responses.activate
def test_no_secret_appears_in_any_log_line(celery_workers, receiver, captured_logs, monkeypatch):
    responses.add_passthru("http://127.0.0.1")  # our own receiver, should anything in-process call it
    for name, value in OAUTH_CLIENT_SETTINGS.items():  # OAuth clients are read from the environment only
        monkeypatch.setenv(name, value)
    worker = celery_workers.start(env={**FAST, "LOG_LEVEL": "DEBUG"}, queues="webhooks,default,inbound")
    membership = MembershipFactory(role=Role.ADMIN)
    tenant = membership.tenant

    # Sign in: the password and both JWTs are secrets.
    anon = APIClient()
    tokens = anon.post("/api/v1/auth/token", {"email": membership.user.email, "password": PASSWORD}, format="json")
    assert tokens.status_code == 200
    jwt = tokens.json()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt['access']}")

    # OAuth: start, the public callback (stores nothing), completion by the starter, then a refresh.
    google = make_integration(tenant, "google_calendar", user_scoped=False)
    started = api.post(f"/api/v1/integrations/{google.pk}/connect/oauth", {"returnUrl": RETURN_URL}, format="json")
    state = started.json()["state"]
    responses.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token(access=ACCESS, refresh=REFRESH))
    back = anon.get("/api/v1/oauth/callback", {"code": OAUTH_CODE, "state": state})
    assert back.status_code == 302
    handed = query_of(back["Location"])
    completed = api.post(
        f"/api/v1/integrations/{google.pk}/oauth/callback",
        {"code": handed["code"], "state": handed["state"]},
        format="json",
    )
    assert completed.status_code == 200, completed.content
    responses.replace(responses.POST, GOOGLE_TOKEN_URL, json=google_token(access=ACCESS_2, refresh=None))
    assert api.post(f"/api/v1/integrations/{google.pk}/oauth/refresh").status_code == 200
    assert Connection.objects.get(integration=google).credentials["access_token"] == ACCESS_2

    # API key: tested against the provider, then stored.
    stripe = make_integration(tenant, "stripe")
    responses.add(
        responses.GET,
        "https://api.stripe.com/v1/balance",
        json={"object": "balance", "livemode": False, "available": [], "pending": []},
    )
    connected = api.post(f"/api/v1/integrations/{stripe.pk}/connect/api-key", {"apiKey": STRIPE_KEY}, format="json")
    assert connected.status_code == 200, connected.content

    # Outbound webhook with a custom Authorization header, delivered by the worker: 500 once, then 200.
    receiver.script("/dest", Reply(500, b"try again"), Reply(200))
    created = api.post(
        "/api/v1/integrations/webhooks",
        {
            "name": "Log probe",
            "url": receiver.url("/dest"),
            "events": ["*"],
            "headers": {"Authorization": DESTINATION_AUTH},
            "retryAttempts": 3,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    webhook_secret = created.json()["secret"]
    with transaction.atomic():
        webhook_services.trigger(tenant, "application.created", {"applicationId": "a-1"})
    sent = receiver.wait_for(2, path="/dest", timeout=60)
    assert sent[-1].header("Authorization") == DESTINATION_AUTH
    wait_until(lambda: Delivery.objects.filter(status="success").exists(), timeout=30, on_timeout=celery_workers.logs)

    # Inbound: a signed Stripe event (processed by the worker) and a forged one.
    endpoint = api.post(
        "/api/v1/integrations/inbound-webhooks",
        {"integrationId": str(stripe.pk), "name": "Stripe events"},
        format="json",
    ).json()
    inbound_secret = endpoint["secret"]
    body = json.dumps({"id": "evt_log_probe", "object": "event", "type": "invoice.paid", "data": {"object": {}}})
    receive = f"/api/v1/webhooks/receive/{endpoint['path']}"
    signed = sign_for_test("stripe", body.encode(), inbound_secret)
    assert anon.generic("POST", receive, body, content_type="application/json", headers=signed).status_code < 300
    forged = sign_for_test("stripe", body.encode(), "whsec_" + "A" * 32)
    assert anon.generic("POST", receive, body, content_type="application/json", headers=forged).status_code >= 400
    wait_until(
        lambda: InboundEvent.objects.filter(status="processed").exists(), timeout=30, on_timeout=celery_workers.logs
    )

    # Every line written, here and by the worker.
    in_process = captured_logs.getvalue()
    worker.log.flush()
    worker_log = (celery_workers.log_dir / "worker0.log").read_text(errors="replace")
    assert "integrations.connection.connected" in in_process  # the capture saw the flow
    assert worker_log.strip()  # the worker wrote its lines (DEBUG)
    secrets = {
        "password": PASSWORD,
        "jwt access": jwt["access"],
        "jwt refresh": jwt["refresh"],
        "oauth client secret": OAUTH_CLIENT_SETTINGS["GOOGLE_CLIENT_SECRET"],
        "oauth code": OAUTH_CODE,
        "oauth state": state,
        "oauth access token": ACCESS,
        "oauth refresh token": REFRESH,
        "refreshed access token": ACCESS_2,
        "api key": STRIPE_KEY,
        "webhook signing secret": webhook_secret,
        "destination Authorization": DESTINATION_AUTH.split()[-1],
        "inbound secret": inbound_secret,
    }
    leaks = {
        name: where
        for name, value in secrets.items()
        for where, text in (("in-process", in_process), ("worker", worker_log))
        if value in text
    }
    assert not leaks, {
        name: [line[:400] for line in (in_process + worker_log).splitlines() if secrets[name] in line][:3]
        for name in leaks
    }
