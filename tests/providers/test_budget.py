"""Shared provider rate budgets (providers.budget): learnt from X-RateLimit-* and Retry-After (clamped, absurd values
ignored), configurable per provider, shared by every caller of one (provider, connection) through Redis."""

import email.utils
import time

import pytest
import responses
from requests.structures import CaseInsensitiveDict

from integrations.models import Connection
from providers import budget
from providers.budget import ProviderRateLimited, wait_from_headers
from providers.registry import get_client
from tests.integrations.connection_support import make_integration, no_backoff_sleep  # noqa: F401

NOW = 1_780_000_000.0
BALANCE_URL = "https://api.stripe.com/v1/balance"


def headers(**values) -> CaseInsensitiveDict:
    return CaseInsensitiveDict({k.replace("_", "-"): v for k, v in values.items()})


@pytest.mark.parametrize(
    ("status", "given", "expected"),
    [
        (429, {"Retry_After": "30"}, 30.0),
        (429, {"Retry_After": email.utils.formatdate(NOW + 45, usegmt=True)}, 45.0),
        (200, {"X_RateLimit_Remaining": "0", "X_RateLimit_Reset": str(int(NOW + 20))}, 20.0),  # epoch seconds
        (200, {"X_RateLimit_Remaining": "0", "X_RateLimit_Reset": "12"}, 12.0),  # seconds from now
        (429, {"X_RateLimit_Reset": str(int(NOW + 5))}, 5.0),
        (200, {"X_RateLimit_Remaining": "7", "X_RateLimit_Reset": "12"}, None),  # budget left
        (429, {"Retry_After": "-5"}, None),  # negative: ignored
        (429, {"Retry_After": email.utils.formatdate(NOW - 60, usegmt=True)}, None),  # in the past
        (429, {"Retry_After": "9999999999"}, None),  # absurd: ignored, not a block for centuries
        (429, {"Retry_After": "soon"}, None),
        (200, {"X_RateLimit_Remaining": "0", "X_RateLimit_Reset": "nan"}, None),
        (429, {}, None),
    ],
)
def test_waits_learnt_from_headers(status, given, expected):
    wait = wait_from_headers(headers(**given), status=status, now=NOW)
    assert wait == (pytest.approx(expected, abs=1) if expected is not None else None)


def _stripe(tenant, **rate_limit):
    integration = make_integration(tenant, "stripe")
    if rate_limit:
        integration.provider.rate_limit = rate_limit
        integration.provider.save()
    connection = Connection.objects.create(
        tenant=integration.tenant,
        integration=integration,
        auth_type="api_key",
        status="active",
        credentials={"apiKey": "sk_test_budget_123456"},
    )
    return integration, connection


@responses.activate
def test_a_long_wait_is_clamped_and_blocks_every_caller_of_the_connection(admin_client, settings):
    settings.PROVIDER_RATE_LIMIT_MAX_WAIT_SECONDS = 60
    integration, connection = _stripe(admin_client.tenant)
    responses.get(BALANCE_URL, status=429, headers={"Retry-After": "3600"}, json={"error": {"message": "slow down"}})

    first = get_client(integration, connection=connection).request("GET", "/v1/balance")
    assert first.status_code == 429
    wait = budget.blocked_for(provider=integration.provider, connection_id=connection.pk)
    assert 55 <= wait <= 60  # clamped to the maximum, not an hour

    with pytest.raises(ProviderRateLimited) as excinfo:  # a second client object (another worker): same budget
        get_client(integration, connection=connection).request("GET", "/v1/balance")
    assert 55 <= excinfo.value.retry_after <= 60 and len(responses.calls) == 1

    # Another connection of the same provider is not affected.
    other_integration, other = _stripe(admin_client.tenant)
    responses.replace(responses.GET, BALANCE_URL, json={"object": "balance"})
    assert get_client(other_integration, connection=other).request("GET", "/v1/balance").status_code == 200


@responses.activate
def test_the_providers_max_wait_overrides_the_setting(admin_client):
    integration, connection = _stripe(admin_client.tenant, maxWaitSeconds=5)
    responses.get(BALANCE_URL, status=429, headers={"Retry-After": "30"})

    get_client(integration, connection=connection).request("GET", "/v1/balance")

    assert 0 < budget.blocked_for(provider=integration.provider, connection_id=connection.pk) <= 5


@responses.activate
def test_requests_per_minute_caps_calls_without_sending_them(admin_client):
    integration, connection = _stripe(admin_client.tenant, requestsPerMinute=2)
    responses.get(BALANCE_URL, json={"object": "balance"})
    client = get_client(integration, connection=connection)

    if time.time() % 60 > 58:  # do not straddle a minute boundary
        time.sleep(2)
    client.request("GET", "/v1/balance")
    client.request("GET", "/v1/balance")
    with pytest.raises(ProviderRateLimited) as excinfo:
        client.request("GET", "/v1/balance")

    assert len(responses.calls) == 2 and 1 <= excinfo.value.retry_after <= 60


@responses.activate
def test_a_spent_budget_answers_our_api_with_429_and_retry_after(admin_client):
    integration, connection = _stripe(admin_client.tenant)
    budget.learn(
        provider=integration.provider, connection_id=connection.pk, status=429, headers=headers(Retry_After="20")
    )

    response = admin_client.post(f"/api/v1/integrations/{integration.pk}/test")

    assert response.status_code == 200  # a test reports; it does not fail
    body = response.json()
    assert body["success"] is False and body["error"] == "rate_limited" and body["details"]["called"] is False
    assert len(responses.calls) == 0
