"""providers.http.provider_request: timeouts, retries with Retry-After, refresh-and-retry on 401, one activity
entry per call, redaction, the SSRF guard."""

# ruff: noqa: F811 (pytest fixtures imported from tests.integrations.connection_support)

import pytest
import requests
import responses

from integrations.models import ActivityLog, Connection
from providers.http import (
    ProviderUnreachable,
    RequestAuth,
    UnsafeBaseUrl,
    provider_request,
    redact,
    retry_after_seconds,
)
from tests.integrations.connection_support import (  # noqa: F401
    GOOGLE_TOKEN_URL,
    google_token,
    make_integration,
    no_backoff_sleep,
    oauth_clients,
    oauth_connection,
)
from tests.integrations.factories import IntegrationFactory

URL = "https://api.example.com/v1/items"


@responses.activate
def test_every_call_has_a_connect_and_read_timeout(settings):
    settings.PROVIDER_HTTP_TIMEOUT_SECONDS = 7
    responses.add(responses.GET, URL, json={})

    provider_request("GET", URL)

    assert responses.calls[0].request.req_kwargs["timeout"] == (5.0, 7)


@responses.activate
def test_503_then_200_is_retried_with_backoff(no_backoff_sleep):
    responses.add(responses.GET, URL, status=503)
    responses.add(responses.GET, URL, json={"ok": True})

    response = provider_request("GET", URL)

    assert response.status_code == 200 and len(responses.calls) == 2
    assert len(no_backoff_sleep) == 1 and 0.5 <= no_backoff_sleep[0] <= 0.7


@responses.activate
def test_503_honours_retry_after(no_backoff_sleep):
    responses.add(responses.GET, URL, status=503, headers={"Retry-After": "3"})
    responses.add(responses.GET, URL, json={})

    assert provider_request("GET", URL).status_code == 200
    assert no_backoff_sleep == [3.0]


@responses.activate
def test_a_429_is_returned_at_once_without_a_blocking_retry(no_backoff_sleep):
    responses.add(responses.GET, URL, status=429, headers={"Retry-After": "3"})
    responses.add(responses.GET, URL, json={})

    assert provider_request("GET", URL).status_code == 429
    assert len(responses.calls) == 1 and no_backoff_sleep == []


@responses.activate
def test_a_retry_after_beyond_the_cap_is_not_waited_for(no_backoff_sleep, settings):
    settings.PROVIDER_HTTP_MAX_RETRY_AFTER_SECONDS = 10
    responses.add(responses.GET, URL, status=429, headers={"Retry-After": "3600"})

    assert provider_request("GET", URL).status_code == 429
    assert len(responses.calls) == 1 and no_backoff_sleep == []


@responses.activate
def test_at_most_two_retries_then_the_last_answer(no_backoff_sleep):
    responses.add(responses.GET, URL, status=502)

    assert provider_request("GET", URL).status_code == 502
    assert len(responses.calls) == 3 and len(no_backoff_sleep) == 2 and no_backoff_sleep[1] > no_backoff_sleep[0]


@responses.activate
def test_a_post_is_not_retried_on_500_unless_idempotent(no_backoff_sleep):
    responses.add(responses.POST, URL, status=500)

    assert provider_request("POST", URL, json={}).status_code == 500
    assert len(responses.calls) == 1
    provider_request("POST", URL, json={}, idempotent=True)
    assert len(responses.calls) == 4


@responses.activate
def test_a_429_is_not_retried_for_post_either():
    responses.add(responses.POST, URL, status=429)
    responses.add(responses.POST, URL, status=201)

    assert provider_request("POST", URL, json={}).status_code == 429
    assert len(responses.calls) == 1


@responses.activate
def test_network_failures_raise_provider_unreachable_without_the_query_string():
    responses.add(responses.GET, URL, body=requests.exceptions.ConnectionError(f"failed for {URL}?key=SECRET123"))

    with pytest.raises(ProviderUnreachable) as caught:
        provider_request("GET", URL, params={"key": "SECRET123"})

    assert caught.value.status_code == 502 and "SECRET123" not in caught.value.message
    assert "api.example.com" in caught.value.message
    assert len(responses.calls) == 3


@responses.activate
def test_a_read_timeout_of_a_post_is_not_retried():
    responses.add(responses.POST, URL, body=requests.exceptions.ReadTimeout("slow"))

    with pytest.raises(ProviderUnreachable) as caught:
        provider_request("POST", URL)

    assert caught.value.kind == "timeout" and len(responses.calls) == 1


@pytest.mark.django_db
@responses.activate
def test_one_activity_entry_per_call_without_query_string_or_secrets():
    integration = IntegrationFactory()
    responses.add(responses.GET, URL, status=503)
    responses.add(responses.GET, URL, json={})

    provider_request(
        "GET",
        URL,
        integration=integration,
        params={"api_key": "sk_live_topsecret"},
        authenticate=lambda _c: RequestAuth(headers={"Authorization": "Bearer tok-123456"}, secrets=("tok-123456",)),
    )

    entry = ActivityLog.objects.get(integration=integration)
    assert entry.type == "api_call" and entry.status == "success"
    assert entry.details["method"] == "GET" and entry.details["host"] == "api.example.com"
    assert entry.details["path"] == "/v1/items" and entry.details["status"] == 200
    assert entry.details["attempts"] == 2 and isinstance(entry.details["durationMs"], int)
    assert "topsecret" not in str(entry.details) + entry.message and "tok-123456" not in entry.message


@pytest.mark.django_db
@responses.activate
def test_secret_path_segments_are_redacted_in_the_activity_log():
    integration = IntegrationFactory()
    responses.add(responses.GET, "https://api.example.com/keys/abcd-secret-key/check", status=404)

    provider_request(
        "GET",
        "https://api.example.com/keys/abcd-secret-key/check",
        integration=integration,
        secrets=["abcd-secret-key"],
    )

    entry = ActivityLog.objects.get(integration=integration)
    assert entry.status == "error" and entry.details["path"] == "/keys/[REDACTED]/check"


@pytest.mark.django_db
@responses.activate
def test_a_401_on_an_oauth_connection_refreshes_once_and_retries(oauth_clients):
    integration = make_integration(IntegrationFactory().tenant, "google_calendar", user_scoped=False)
    connection = oauth_connection(integration, access="ya29.old")
    responses.add(responses.GET, URL, status=401)
    responses.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token(access="ya29.fresh", refresh="1//r2"))
    responses.add(responses.GET, URL, json={"ok": True})

    def bearer(conn):
        return RequestAuth(headers={"Authorization": f"Bearer {conn.access_token}"})

    response = provider_request("GET", URL, integration=integration, connection=connection, authenticate=bearer)

    assert response.status_code == 200
    assert [c.request.headers.get("Authorization") for c in responses.calls if c.request.url == URL] == [
        "Bearer ya29.old",
        "Bearer ya29.fresh",
    ]
    assert connection.access_token == "ya29.fresh"
    assert Connection.objects.get(pk=connection.pk).credentials["refresh_token"] == "1//r2"


@pytest.mark.django_db
@responses.activate
def test_a_second_401_after_the_refresh_is_returned(oauth_clients):
    integration = make_integration(IntegrationFactory().tenant, "google_calendar", user_scoped=False)
    connection = oauth_connection(integration)
    responses.add(responses.GET, URL, status=401)
    responses.add(responses.POST, GOOGLE_TOKEN_URL, json=google_token(access="ya29.fresh"))

    response = provider_request("GET", URL, connection=connection, authenticate=lambda c: RequestAuth())

    assert response.status_code == 401
    assert len([c for c in responses.calls if c.request.url == GOOGLE_TOKEN_URL]) == 1


@pytest.mark.parametrize("url", ["https://10.1.2.3/x", "https://192.168.0.10/x", "http://[::1]/x"])
def test_the_ssrf_guard_refuses_private_addresses(url, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []

    with pytest.raises(UnsafeBaseUrl):
        provider_request("GET", url, ssrf_guard=True)


def test_redact_removes_secrets_query_strings_and_authorization_values():
    text = "GET https://x.test/a?token=abc123 failed: Authorization: Bearer eyJhbGciOi.x.y with key s3cr3t-v4lue"

    cleaned = redact(text, ["s3cr3t-v4lue"])

    assert "abc123" not in cleaned and "eyJhbGciOi" not in cleaned and "s3cr3t-v4lue" not in cleaned
    assert "https://x.test/a" in cleaned


def test_retry_after_reads_seconds_and_http_dates():
    response = requests.Response()
    response.headers["Retry-After"] = "12"
    assert retry_after_seconds(response) == 12.0
    response.headers["Retry-After"] = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert retry_after_seconds(response) == 0.0
    response.headers["Retry-After"] = "soon"
    assert retry_after_seconds(response) is None
