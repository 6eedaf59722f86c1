"""The auth proxy `/api/v1/integrations/{id}/proxy/{path}`: credentials injected, headers stripped both ways,
paths that leave the base URL refused, private addresses unreachable, body limits, the shared rate budget, refresh,
scoping."""

# ruff: noqa: F811 (pytest fixtures imported from tests.integrations.connection_support)

import json
import socket

import pytest
import responses
from django.utils import timezone

from accounts.models import Role
from integrations.models import ActivityLog, Connection
from tests.e2e.conftest import Reply
from tests.helpers import assert_error, assert_tenant_isolation
from tests.integrations.connection_support import (  # noqa: F401
    GOOGLE_TOKEN_URL,
    form_of,
    google_token,
    make_integration,
    no_backoff_sleep,
    oauth_clients,
    oauth_connection,
)

STRIPE_KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
CUSTOMERS = {
    "object": "list",
    "url": "/v1/customers",
    "has_more": False,
    "data": [{"id": "cus_NffrFeUfNV2Hib", "object": "customer", "email": "jenny.rosen@example.com"}],
}
STRIPE_429 = {"error": {"message": "Too many requests hit the API too quickly.", "type": "rate_limit_error"}}


@pytest.fixture(autouse=True)
def public_dns(monkeypatch):
    """No DNS here: provider host names resolve to a public documentation address (the guard still checks it)."""
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host in ("localhost", "127.0.0.1") or host.startswith("127."):
            return real(host, port, *args, **kwargs)
        if host == "internal.example.com":  # a name pointing at a private address
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port or 443))]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port or 443))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def stripe(client, **fields):
    integration = make_integration(client.tenant, "stripe", **fields)
    Connection.objects.create(
        tenant=integration.tenant,
        integration=integration,
        auth_type="api_key",
        status="active",
        credentials={"apiKey": STRIPE_KEY},
        connected_at=timezone.now(),
    )
    return integration


def proxy_url(integration, path: str) -> str:
    return f"/api/v1/integrations/{integration.pk}/proxy/{path}"


@responses.activate
def test_get_injects_the_api_key_and_strips_credentials_both_ways(admin_client):
    integration = stripe(admin_client)
    responses.get(
        "https://api.stripe.com/v1/customers",
        json=CUSTOMERS,
        headers={"Set-Cookie": "sid=abc", "Request-Id": "req_123", "Stripe-Version": "2024-06-20"},
    )

    response = admin_client.get(
        proxy_url(integration, "v1/customers") + "?limit=3&email=jenny.rosen%40example.com",
        HTTP_COOKIE="session=ours",
        HTTP_STRIPE_VERSION="2024-06-20",
        HTTP_CONNECTION="X-Hop",
        HTTP_X_HOP="only-for-the-next-hop",
        HTTP_UPGRADE="h2c",
    )

    assert response.status_code == 200, response.content
    assert json.loads(response.content) == CUSTOMERS
    assert response["Request-Id"] == "req_123" and "Set-Cookie" not in response
    sent = responses.calls[0].request
    assert sent.url == "https://api.stripe.com/v1/customers?limit=3&email=jenny.rosen%40example.com"
    assert sent.headers["Authorization"] == f"Bearer {STRIPE_KEY}"  # ours, not the caller's JWT
    assert sent.headers["Stripe-Version"] == "2024-06-20"
    assert "Cookie" not in sent.headers and "X-Hop" not in sent.headers and "Upgrade" not in sent.headers
    assert "Content-Type" not in sent.headers  # no body, no content type
    entries = list(ActivityLog.objects.filter(integration=integration, type="api_call"))
    assert len(entries) == 1
    assert entries[0].details["path"] == "/v1/customers" and entries[0].details["status"] == 200
    assert entries[0].details["method"] == "GET" and "limit" not in json.dumps(entries[0].details)
    assert STRIPE_KEY not in json.dumps(entries[0].details) + entries[0].message


@responses.activate
def test_post_passes_form_and_json_bodies_through(admin_client):
    integration = stripe(admin_client)
    responses.post("https://api.stripe.com/v1/customers", json={"id": "cus_new", "object": "customer"})
    responses.post("https://api.stripe.com/v1/widgets", json={"ok": True}, status=201)

    form = admin_client.post(
        proxy_url(integration, "v1/customers"),
        "email=a%40example.com&name=Ann",
        content_type="application/x-www-form-urlencoded",
    )
    body = admin_client.post(proxy_url(integration, "v1/widgets"), {"a": [1, 2]}, format="json")

    assert form.status_code == 200 and body.status_code == 201
    assert form_of(responses.calls[0].request) == {"email": "a@example.com", "name": "Ann"}
    assert responses.calls[0].request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert json.loads(responses.calls[1].request.body) == {"a": [1, 2]}
    assert ActivityLog.objects.filter(integration=integration, type="api_call").count() == 2


@responses.activate
def test_members_may_read_but_not_write(make_client):
    member = make_client(Role.MEMBER)
    integration = stripe(member)
    responses.get("https://api.stripe.com/v1/balance", json={"object": "balance"})

    assert member.get(proxy_url(integration, "v1/balance")).status_code == 200
    for method in ("post", "put", "patch", "delete"):
        assert_error(getattr(member, method)(proxy_url(integration, "v1/balance")), 403, "PERMISSION_DENIED")
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("../v2/secret", ""),
        ("v1/../../admin", ""),
        ("v1/./customers", ""),
        ("%2e%2e/admin", ""),  # the server decodes it to ..
        ("v1%2F..%2Fadmin", "v1%2F..%2Fadmin"),
        ("v1/%252e%252e/admin", ""),  # double encoded
        ("http://evil.example/x", ""),
        ("https:/evil.example/x", ""),
        ("/evil.example/x", ""),  # //host after the prefix
        ("v1\\..\\admin", ""),
    ],
)
@responses.activate
def test_a_path_leaving_the_base_url_is_400_and_nothing_is_sent(admin_client, path, raw):
    integration = stripe(admin_client)
    extra = {"RAW_URI": proxy_url(integration, raw)} if raw else {}

    response = admin_client.get(proxy_url(integration, path), **extra)

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert "path" in error["details"]
    assert len(responses.calls) == 0


def test_a_proxy_call_cannot_reach_a_private_address(admin_client, receiver, settings):
    """custom_api's base URL is tenant input: with no private network allowed, loopback is refused by address (an IP
    literal, a name that resolves to it, a name that resolves to 10/8) and the server never sees a request."""
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    settings.PROVIDER_ALLOWED_NETWORKS = []
    for base in (receiver.url("/api"), f"http://localhost:{receiver.port}/api", "https://internal.example.com/api"):
        integration = make_integration(admin_client.tenant, "custom_api", config={"baseUrl": base})
        Connection.objects.create(
            tenant=integration.tenant,
            integration=integration,
            auth_type="api_key",
            status="active",
            credentials={"apiKey": "key-123456789"},
        )

        response = admin_client.get(proxy_url(integration, "items"))

        error = assert_error(response, 400, "VALIDATION_ERROR")
        assert "not allowed" in error["message"]
    assert receiver.received() == []


def test_a_proxy_call_reaches_an_allowed_server_with_the_key_and_without_our_headers(admin_client, receiver, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    receiver.script("/api/items?page=2", Reply(status=201, body=b'{"id": 7}', headers={"Set-Cookie": "x=1"}))
    integration = make_integration(admin_client.tenant, "custom_api", config={"baseUrl": receiver.url("/api")})
    Connection.objects.create(
        tenant=integration.tenant,
        integration=integration,
        auth_type="api_key",
        status="active",
        credentials={"apiKey": "key-123456789"},
    )

    response = admin_client.put(proxy_url(integration, "items") + "?page=2", {"name": "x"}, format="json")

    assert response.status_code == 201 and json.loads(response.content) == {"id": 7}
    assert "Set-Cookie" not in response
    (got,) = receiver.received()
    assert got.path == "/api/items?page=2" and json.loads(got.body) == {"name": "x"}
    assert got.header("Authorization") == "Bearer key-123456789"
    assert got.header("Cookie") is None


@responses.activate
def test_bodies_above_the_limit_are_413_both_ways(admin_client, settings):
    settings.PROXY_MAX_BODY_BYTES = 64
    integration = stripe(admin_client)
    responses.get("https://api.stripe.com/v1/events", body=b"x" * 65)

    request_too_big = admin_client.post(proxy_url(integration, "v1/charges"), {"d": "y" * 100}, format="json")
    answer_too_big = admin_client.get(proxy_url(integration, "v1/events"))

    assert_error(request_too_big, 413, "PAYLOAD_TOO_LARGE")
    assert_error(answer_too_big, 413, "PAYLOAD_TOO_LARGE")
    assert [c.request.url for c in responses.calls] == ["https://api.stripe.com/v1/events"]


@responses.activate
def test_a_provider_429_comes_back_at_once_then_the_budget_answers_without_a_call(admin_client, no_backoff_sleep):
    integration = stripe(admin_client)
    responses.get("https://api.stripe.com/v1/customers", json=STRIPE_429, status=429, headers={"Retry-After": "30"})

    first = admin_client.get(proxy_url(integration, "v1/customers"))
    second = admin_client.get(proxy_url(integration, "v1/customers"))

    assert first.status_code == 429 and json.loads(first.content) == STRIPE_429 and first["Retry-After"] == "30"
    error = assert_error(second, 429, "RATE_LIMIT_EXCEEDED")
    assert 1 <= int(second["Retry-After"]) <= 30 and error["retryAfter"] == int(second["Retry-After"])
    assert len(responses.calls) == 1 and no_backoff_sleep == []

    # Every other caller of the same connection shares the budget: the health check is degraded without a call.
    from integrations.health import health_check_run

    check = health_check_run(integration=integration)
    assert check.status == "degraded" and check.kind == "rate_limited"
    assert len(responses.calls) == 1


@responses.activate
def test_an_expiring_oauth_token_is_refreshed_before_the_call(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    connection = oauth_connection(integration, access="ya29.old", expires_in=30)
    responses.post(GOOGLE_TOKEN_URL, json=google_token(access="ya29.fresh", refresh="1//rotated"))
    responses.get("https://www.googleapis.com/calendar/v3/users/me/calendarList", json={"items": []})

    response = admin_client.get(proxy_url(integration, "calendar/v3/users/me/calendarList"))

    assert response.status_code == 200
    assert responses.calls[1].request.headers["Authorization"] == "Bearer ya29.fresh"
    connection.refresh_from_db()
    assert connection.refresh_token == "1//rotated"


@responses.activate
def test_a_401_refreshes_once_and_retries(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    oauth_connection(integration, access="ya29.revoked-at-google")
    url = "https://www.googleapis.com/calendar/v3/calendars/primary/events"
    responses.get(url, status=401, json={"error": {"code": 401, "message": "Invalid Credentials"}})
    responses.get(url, json={"items": [{"id": "evt1"}]})
    responses.post(GOOGLE_TOKEN_URL, json=google_token(access="ya29.new"))

    response = admin_client.get(proxy_url(integration, "calendar/v3/calendars/primary/events"))

    assert response.status_code == 200 and json.loads(response.content)["items"][0]["id"] == "evt1"
    assert responses.calls[2].request.headers["Authorization"] == "Bearer ya29.new"
    assert ActivityLog.objects.filter(integration=integration, type="api_call").count() == 1


@responses.activate
def test_user_scoped_integrations_use_the_callers_own_connection(make_client, oauth_clients):
    alice = make_client(Role.MEMBER)
    bob = make_client(Role.MEMBER, tenant=alice.tenant)
    integration = make_integration(alice.tenant, "google_calendar", user_scoped=True)
    oauth_connection(integration, user=alice.user, access="ya29.alice")
    responses.get("https://www.googleapis.com/calendar/v3/users/me/calendarList", json={"items": []})

    mine = alice.get(proxy_url(integration, "calendar/v3/users/me/calendarList"))
    bobs = bob.get(proxy_url(integration, "calendar/v3/users/me/calendarList"))

    assert mine.status_code == 200
    assert responses.calls[0].request.headers["Authorization"] == "Bearer ya29.alice"
    assert assert_error(bobs, 409, "CONFLICT")["details"]["needsReconnect"] is True
    assert len(responses.calls) == 1


@responses.activate
def test_an_expired_connection_is_409_with_the_reconnect_reason(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "google_calendar", user_scoped=False)
    connection = oauth_connection(integration, expires_in=-60)
    Connection.objects.filter(pk=connection.pk).update(status="expired", status_reason="refresh_token_revoked")

    error = assert_error(admin_client.get(proxy_url(integration, "calendar/v3/x")), 409, "CONFLICT")

    assert error["details"] == {"needsReconnect": True, "reconnectReason": "refresh_token_revoked"}
    assert len(responses.calls) == 0


def test_another_tenant_gets_404(admin_client, other_tenant_client):
    integration = stripe(admin_client)
    assert_tenant_isolation(
        other_tenant_client,
        [proxy_url(integration, "v1/customers"), ("post", proxy_url(integration, "v1/customers"), {"a": 1})],
        [integration.pk],
    )


def test_the_proxy_is_in_the_openapi_schema(admin_client):
    schema = admin_client.get("/api/schema/?format=json").json()
    operations = schema["paths"]["/api/v1/integrations/{id}/proxy/{path}"]
    assert {"get", "post", "put", "patch", "delete"} <= set(operations)


def test_a_redirect_of_the_provider_is_passed_back_not_followed(admin_client, receiver, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    receiver.script("/api/moved", Reply(status=302, body=b"", headers={"Location": receiver.url("/internal/secret")}))
    integration = make_integration(admin_client.tenant, "custom_api", config={"baseUrl": receiver.url("/api")})
    Connection.objects.create(
        tenant=integration.tenant,
        integration=integration,
        auth_type="api_key",
        status="active",
        credentials={"apiKey": "key-123456789"},
    )

    response = admin_client.get(proxy_url(integration, "moved"))

    assert response.status_code == 302 and response["Location"].endswith("/internal/secret")
    assert [r.path for r in receiver.received()] == ["/api/moved"]


@responses.activate
def test_a_body_above_djangos_upload_limit_but_under_ours_passes_through(admin_client):
    integration = stripe(admin_client)
    responses.post("https://api.stripe.com/v1/files", json={"id": "file_1", "object": "file"})
    payload = b"%PDF-1.7 " + b"x" * (3 * 1024 * 1024)

    response = admin_client.post(proxy_url(integration, "v1/files"), payload, content_type="application/pdf")

    assert response.status_code == 200, response.content[:300]
    assert responses.calls[0].request.body == payload
    assert responses.calls[0].request.headers["Content-Type"] == "application/pdf"


@responses.activate
def test_head_and_delete_are_forwarded(admin_client):
    integration = stripe(admin_client)
    responses.head("https://api.stripe.com/v1/customers/cus_1", headers={"Stripe-Should-Retry": "false"})
    responses.delete("https://api.stripe.com/v1/customers/cus_1", json={"id": "cus_1", "deleted": True})

    head = admin_client.head(proxy_url(integration, "v1/customers/cus_1"))
    deleted = admin_client.delete(proxy_url(integration, "v1/customers/cus_1"))

    assert head.status_code == 200 and head.content == b"" and head["Stripe-Should-Retry"] == "false"
    assert deleted.status_code == 200 and json.loads(deleted.content) == {"id": "cus_1", "deleted": True}
    assert [c.request.method for c in responses.calls] == ["HEAD", "DELETE"]
    assert all(c.request.headers["Authorization"] == f"Bearer {STRIPE_KEY}" for c in responses.calls)
