"""GET /metrics (Prometheus text) and GET /api/v1/admin/metrics (JSON): values match the rows; access is guarded."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from integrations.metrics import metrics_snapshot, queue_depths
from integrations.models import ActivityLog, HealthCheck
from tests.helpers import assert_error
from tests.integrations.factories import IntegrationFactory, catalog_provider
from tests.webhooks.inbound_support import endpoint
from webhooks.models import InboundEvent

pytestmark = pytest.mark.django_db

SEED_004_NAMES = {
    "integrations_by_status",
    "integrations_by_type",
    "total_webhooks",
    "active_webhooks",
    "total_webhook_events",
    "processed_webhook_events",
    "pending_webhook_events",
    "webhook_events_last_24h",
    "webhook_processing_time",
    "integration_connection_tests",
    "webhook_events_processed",
}


def _event(ep, status, processing_ms=None, received_at=None, n=[0]):  # noqa: B006 - a counter for unique ids
    n[0] += 1
    return InboundEvent.objects.create(
        tenant=ep.tenant,
        endpoint=ep,
        provider_event_id=f"evt_{n[0]}",
        body=b"{}",
        status=status,
        processing_ms=processing_ms,
        received_at=received_at or timezone.now(),
    )


@pytest.fixture
def data():
    """Two tenants' worth of rows, with known counts."""
    stripe = catalog_provider("stripe")
    twilio = catalog_provider("twilio")
    active = IntegrationFactory(provider=stripe, status="active")
    IntegrationFactory(provider=stripe, status="error")
    IntegrationFactory(provider=twilio, status="active")
    IntegrationFactory(provider=twilio, status="pending")
    ep1 = endpoint(active)
    ep2 = endpoint(active, active=False)
    _event(ep1, "processed", processing_ms=3)
    _event(ep1, "processed", processing_ms=40)
    _event(ep1, "processed", processing_ms=1200)
    _event(ep1, "failed", processing_ms=7)
    _event(ep2, "pending")
    _event(ep2, "pending", received_at=timezone.now() - timedelta(days=2))
    for status in ("success", "success", "error"):
        ActivityLog.objects.create(tenant=active.tenant, integration=active, type="test", status=status)
    ActivityLog.objects.create(tenant=active.tenant, integration=active, type="update", status="success")
    for status in ("healthy", "healthy", "degraded", "unhealthy"):
        HealthCheck.objects.create(tenant=active.tenant, integration=active, status=status)
    return active


def _families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def _value(family, **labels) -> float:
    for sample in family.samples:
        if all(sample.labels.get(k) == v for k, v in labels.items()) and sample.name == family.name:
            return sample.value
    raise AssertionError(f"no sample {labels} in {family.name}")


def test_prometheus_values_match_the_database(client, data):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    families = _families(response.content.decode())
    assert set(families) >= SEED_004_NAMES
    assert _value(families["integrations_by_status"], status="active") == 2
    assert _value(families["integrations_by_status"], status="error") == 1
    assert _value(families["integrations_by_status"], status="inactive") == 0
    assert _value(families["integrations_by_type"], type="payment_gateway") == 2
    assert _value(families["integrations_by_type"], type="sms") == 2
    assert _value(families["total_webhooks"]) == 2
    assert _value(families["active_webhooks"]) == 1
    assert _value(families["total_webhook_events"]) == 6
    assert _value(families["processed_webhook_events"]) == 3
    assert _value(families["pending_webhook_events"]) == 2
    assert _value(families["webhook_events_last_24h"]) == 5
    assert _value(families["webhook_events_processed"], status="processed") == 3
    assert _value(families["webhook_events_processed"], status="failed") == 1
    assert _value(families["integration_connection_tests"], status="success") == 2
    assert _value(families["integration_connection_tests"], status="error") == 1
    assert _value(families["health_checks"], status="healthy") == 2
    assert _value(families["health_checks"], status="unhealthy") == 1

    histogram = families["webhook_processing_time"]
    assert histogram.type == "histogram"
    buckets = {s.labels["le"]: s.value for s in histogram.samples if s.name.endswith("_bucket")}
    assert buckets["0.005"] == 1 and buckets["0.01"] == 2 and buckets["0.05"] == 3 and buckets["2.5"] == 4
    assert buckets["+Inf"] == 4
    count = next(s.value for s in histogram.samples if s.name.endswith("_count"))
    total = next(s.value for s in histogram.samples if s.name.endswith("_sum"))
    assert count == 4 and total == pytest.approx(1.25)


def test_queue_depth_is_reported_per_queue(client, data):
    families = _families(client.get("/metrics").content.decode())
    queues = {s.labels["queue"] for s in families["celery_queue_length"].samples}
    assert queues == {"webhooks", "inbound", "health", "default"}


def test_embedded_broker_queue_depth_counts_its_message_files(settings, tmp_path):
    settings.REDIS_URL = ""
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    for name in ("1_a.inbound.msg", "2_b.inbound.msg", "3_c.health.msg", "4_d.other.msg"):
        (tmp_path / name).write_bytes(b"{}")
    assert queue_depths() == {"webhooks": 0, "inbound": 2, "health": 1, "default": 0}


@pytest.mark.services
def test_redis_queue_depth_is_the_list_length(settings):
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    key = "inbound"
    before = client.llen(key)
    client.rpush(key, b"x", b"y")
    try:
        assert queue_depths(["inbound"])["inbound"] == before + 2
    finally:
        client.lrem(key, 1, b"x")
        client.lrem(key, 1, b"y")


def test_scrape_counts_rows_written_by_any_process(client, data):
    """Values come from the database, not process memory: a row written elsewhere shows in the next scrape."""
    before = _value(_families(client.get("/metrics").content.decode())["total_webhook_events"])
    ep = endpoint()
    _event(ep, "processed", processing_ms=1)
    after = _value(_families(client.get("/metrics").content.decode())["total_webhook_events"])
    assert after == before + 1


def test_scrape_uses_a_constant_number_of_queries(client, data, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        client.get("/metrics")
    for _ in range(5):
        IntegrationFactory(provider=catalog_provider("stripe"), status="active")
    with django_assert_max_num_queries(12):
        client.get("/metrics")


class TestAccess:
    def test_a_listed_network_is_allowed(self, client, settings):
        settings.METRICS_TOKEN = ""
        settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
        assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200

    def test_nothing_is_allowed_without_a_token_or_a_list(self, client, settings):
        settings.METRICS_TOKEN = ""
        settings.METRICS_ALLOWED_NETWORKS = []
        assert_error(client.get("/metrics", REMOTE_ADDR="127.0.0.1"), 403, "PERMISSION_DENIED")

    def test_the_allow_list_sees_through_trusted_proxies_only(self, client, settings):
        settings.METRICS_TOKEN = ""
        settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
        settings.TRUSTED_PROXIES = ["10.0.0.1/32"]
        # Through the proxy, an outside client is not "10.x" because the proxy is.
        outside = client.get("/metrics", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
        assert_error(outside, 403, "PERMISSION_DENIED")
        inside = client.get("/metrics", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="10.2.3.4")
        assert inside.status_code == 200

    def test_other_address_without_token_configured_is_403(self, client, settings):
        settings.METRICS_TOKEN = ""
        assert_error(client.get("/metrics", REMOTE_ADDR="203.0.113.9"), 403, "PERMISSION_DENIED")

    def test_other_address_needs_the_token(self, client, settings):
        settings.METRICS_TOKEN = "scrape-token-123"
        assert_error(client.get("/metrics", REMOTE_ADDR="203.0.113.9"), 401, "AUTHENTICATION_REQUIRED")
        ok = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-token-123")
        assert ok.status_code == 200

    def test_wrong_token_is_401_even_from_an_allowed_network(self, client, settings):
        settings.METRICS_TOKEN = "scrape-token-123"
        response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer wrong")
        assert_error(response, 401, "AUTHENTICATION_REQUIRED")

    def test_allowed_networks_setting(self, client, settings):
        settings.METRICS_TOKEN = ""
        settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
        assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
        assert_error(client.get("/metrics", REMOTE_ADDR="127.0.0.1"), 403, "PERMISSION_DENIED")

    def test_prometheus_accept_header_is_served(self, client):
        accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        assert client.get("/metrics", HTTP_ACCEPT=accept).status_code == 200
        assert client.get("/metrics", HTTP_ACCEPT="text/plain").status_code == 200


class TestAdminJson:
    def test_same_values_as_json(self, super_admin_client, data):
        body = super_admin_client.get("/api/v1/admin/metrics").json()
        snapshot = metrics_snapshot().as_json()
        body.pop("generatedAt"), snapshot.pop("generatedAt")
        assert body == snapshot
        assert body["integrationsByType"]["payment_gateway"] == 2  # label values are not camel-cased
        assert body["totalWebhooks"] == 2 and body["pendingWebhookEvents"] == 2
        assert body["webhookProcessingTime"]["count"] == 4 and body["webhookProcessingTime"]["buckets"]["+Inf"] == 4
        assert body["integrationConnectionTests"] == {"success": 2, "error": 1, "running": 0}

    def test_tenant_admin_is_403(self, admin_client):
        assert_error(admin_client.get("/api/v1/admin/metrics"), 403, "PERMISSION_DENIED")

    def test_anonymous_is_401(self, anon_client):
        assert_error(anon_client.get("/api/v1/admin/metrics"), 401, "AUTHENTICATION_REQUIRED")
