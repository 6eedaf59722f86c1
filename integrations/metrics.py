"""Metrics (seed 004), derived from the database at scrape time.

Nothing is counted in process memory: every value is read from the rows when `/metrics` is scraped, so the figures
of every web and worker process add up by construction (no prometheus multiprocess directory to manage), and a
restart loses nothing. One aggregate query per table; histograms are bucketed by conditional counts in SQL.

`metrics_snapshot()` returns plain values (the admin JSON); `DatabaseCollector` turns one snapshot into Prometheus
metric families with seed 004's names.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

logger = logging.getLogger(__name__)

QUEUES = ("webhooks", "inbound", "health", "default")
# Upper bounds of the duration histograms, in milliseconds (exported in seconds).
DURATION_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)
# kombu's Redis transport keeps a queue's prioritised messages in sibling lists "<queue>\x06\x16<priority>".
_REDIS_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


@dataclass
class Histogram:
    """Cumulative counts per upper bound (ms), the total count and the sum (ms)."""

    buckets: dict[int, int] = field(default_factory=dict)
    count: int = 0
    sum_ms: int = 0

    def as_json(self) -> dict:
        return {
            "count": self.count,
            "sumSeconds": self.sum_ms / 1000,
            "buckets": {**{_seconds_label(le): n for le, n in self.buckets.items()}, "+Inf": self.count},
        }

    def prometheus_buckets(self) -> list[tuple[str, int]]:
        return [*((_seconds_label(le), n) for le, n in self.buckets.items()), ("+Inf", self.count)]


def _seconds_label(ms: int) -> str:
    return repr(ms / 1000)


def _histogram_aggregates(field_name: str) -> dict:
    aggregates = {f"le_{le}": Count("pk", filter=Q(**{f"{field_name}__lte": le})) for le in DURATION_BUCKETS_MS}
    aggregates["h_count"] = Count("pk", filter=Q(**{f"{field_name}__isnull": False}))
    aggregates["h_sum"] = Sum(field_name)
    return aggregates


def _histogram_from(row: Mapping) -> Histogram:
    return Histogram(
        buckets={le: row[f"le_{le}"] for le in DURATION_BUCKETS_MS},
        count=row["h_count"] or 0,
        sum_ms=row["h_sum"] or 0,
    )


def _counts_by(queryset, field_name: str, choices: Iterable[str] = ()) -> dict[str, int]:
    counts = dict.fromkeys(choices, 0)
    for value, n in queryset.order_by().values_list(field_name).annotate(n=Count("pk")):
        counts[str(value) if value is not None else "unknown"] = n
    return counts


# --- the figures --------------------------------------------------------------------------------------------------
@dataclass
class MetricsSnapshot:
    integrations_by_status: dict[str, int]
    integrations_by_type: dict[str, int]
    integrations_by_health_status: dict[str, int]
    total_webhooks: int
    active_webhooks: int
    total_webhook_events: int
    processed_webhook_events: int
    pending_webhook_events: int
    failed_webhook_events: int
    webhook_events_last_24h: int
    webhook_processing_time: Histogram
    integration_connection_tests: dict[str, int]
    webhook_events_processed: dict[str, int]
    outbound_deliveries: dict[str, int]
    outbound_attempt_duration: Histogram
    queue_depth: dict[str, int | None]
    health_checks: dict[str, int]
    generated_at: object = None

    def as_json(self) -> dict:
        return {
            "generatedAt": self.generated_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if self.generated_at else None,
            "integrationsByStatus": self.integrations_by_status,
            "integrationsByType": self.integrations_by_type,
            "integrationsByHealthStatus": self.integrations_by_health_status,
            "totalWebhooks": self.total_webhooks,
            "activeWebhooks": self.active_webhooks,
            "totalWebhookEvents": self.total_webhook_events,
            "processedWebhookEvents": self.processed_webhook_events,
            "pendingWebhookEvents": self.pending_webhook_events,
            "failedWebhookEvents": self.failed_webhook_events,
            "webhookEventsLast24h": self.webhook_events_last_24h,
            "webhookProcessingTime": self.webhook_processing_time.as_json(),
            "integrationConnectionTests": self.integration_connection_tests,
            "webhookEventsProcessed": self.webhook_events_processed,
            "outboundDeliveries": self.outbound_deliveries,
            "outboundAttemptDuration": self.outbound_attempt_duration.as_json(),
            "queueDepth": self.queue_depth,
            "healthChecks": self.health_checks,
        }


def metrics_snapshot() -> MetricsSnapshot:
    """Every figure, read from the database (and the broker for queue depths) now."""
    from integrations.models import (
        ActivityLog,
        ActivityStatus,
        ActivityType,
        HealthCheck,
        HealthCheckStatus,
        HealthStatus,
        Integration,
        IntegrationStatus,
    )
    from providers.models import Category
    from webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus, InboundEndpoint, InboundEvent

    now = timezone.now()
    endpoints = InboundEndpoint.objects.aggregate(total=Count("pk"), active=Count("pk", filter=Q(active=True)))
    events = InboundEvent.objects.aggregate(
        total=Count("pk"),
        processed=Count("pk", filter=Q(status="processed")),
        pending=Count("pk", filter=Q(status="pending")),
        failed=Count("pk", filter=Q(status="failed")),
        last_24h=Count("pk", filter=Q(received_at__gte=now - timedelta(hours=24))),
        **_histogram_aggregates("processing_ms"),
    )
    attempts = DeliveryAttempt.objects.aggregate(**_histogram_aggregates("duration_ms"))
    return MetricsSnapshot(
        integrations_by_status=_counts_by(Integration.objects.all(), "status", IntegrationStatus.values),
        integrations_by_type=_counts_by(Integration.objects.all(), "provider__category", Category.values),
        integrations_by_health_status=_counts_by(Integration.objects.all(), "health_status", HealthStatus.values),
        total_webhooks=endpoints["total"],
        active_webhooks=endpoints["active"],
        total_webhook_events=events["total"],
        processed_webhook_events=events["processed"],
        pending_webhook_events=events["pending"],
        failed_webhook_events=events["failed"],
        webhook_events_last_24h=events["last_24h"],
        webhook_processing_time=_histogram_from(events),
        integration_connection_tests=_counts_by(
            ActivityLog.objects.filter(type=ActivityType.TEST), "status", ActivityStatus.values
        ),
        webhook_events_processed={"processed": events["processed"], "failed": events["failed"]},
        outbound_deliveries=_counts_by(Delivery.objects.all(), "status", DeliveryStatus.values),
        outbound_attempt_duration=_histogram_from(attempts),
        queue_depth=queue_depths(),
        health_checks=_counts_by(HealthCheck.objects.all(), "status", HealthCheckStatus.values),
        generated_at=now,
    )


# --- queue depth --------------------------------------------------------------------------------------------------
def queue_depths(queues: Iterable[str] = QUEUES) -> dict[str, int | None]:
    """Messages waiting per Celery queue: LLEN on Redis, files in the embedded broker's folder; None if unknown."""
    queues = list(queues)
    try:
        if settings.REDIS_URL:
            return _redis_depths(queues)
        folder = (getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}).get("data_folder_in")
        if folder:
            return _folder_depths(Path(folder), queues)
    except Exception as exc:  # the broker being down must not break the scrape
        logger.warning("metrics.queue_depth_failed", extra={"error": type(exc).__name__})
    return dict.fromkeys(queues)


def _redis_depths(queues: list[str]) -> dict[str, int | None]:
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        pipe = client.pipeline(transaction=False)
        for queue in queues:
            for suffix in _REDIS_PRIORITY_SUFFIXES:
                pipe.llen(queue + suffix)
        lengths = pipe.execute()
    finally:
        client.close()
    per = len(_REDIS_PRIORITY_SUFFIXES)
    return {queue: sum(lengths[i * per : (i + 1) * per]) for i, queue in enumerate(queues)}


def _folder_depths(folder: Path, queues: list[str]) -> dict[str, int | None]:
    counts = dict.fromkeys(queues, 0)
    if not folder.is_dir():
        return counts
    suffixes = {f".{queue}.msg": queue for queue in queues}
    for entry in folder.iterdir():
        _, _, tail = entry.name.partition(".")
        queue = suffixes.get("." + tail)
        if queue is not None:
            counts[queue] += 1
    return counts


# --- Prometheus ---------------------------------------------------------------------------------------------------
def _labelled(name: str, doc: str, label: str, values: Mapping[str, int | None]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], float("nan") if value is None else value)
    return family


class DatabaseCollector:
    """A prometheus-client collector whose values come from one `metrics_snapshot()` per scrape."""

    def __init__(self, snapshot: MetricsSnapshot | None = None):
        self._snapshot = snapshot

    def collect(self):
        s = self._snapshot or metrics_snapshot()
        yield _labelled(
            "integrations_by_status", "Number of integrations by status.", "status", s.integrations_by_status
        )
        yield _labelled(
            "integrations_by_type",
            "Number of integrations by type (provider category).",
            "type",
            s.integrations_by_type,
        )
        yield _labelled(
            "integrations_by_health_status",
            "Number of integrations by health status.",
            "health_status",
            s.integrations_by_health_status,
        )
        for name, doc, value in (
            ("total_webhooks", "Total number of inbound webhook endpoints.", s.total_webhooks),
            ("active_webhooks", "Number of active inbound webhook endpoints.", s.active_webhooks),
            ("total_webhook_events", "Total number of received webhook events.", s.total_webhook_events),
            ("processed_webhook_events", "Number of processed webhook events.", s.processed_webhook_events),
            ("pending_webhook_events", "Number of webhook events waiting to be processed.", s.pending_webhook_events),
            ("failed_webhook_events", "Number of webhook events whose processing failed.", s.failed_webhook_events),
            (
                "webhook_events_last_24h",
                "Number of webhook events received in the last 24 hours.",
                s.webhook_events_last_24h,
            ),
        ):
            yield GaugeMetricFamily(name, doc, value=value)
        yield HistogramMetricFamily(
            "webhook_processing_time",
            "Time taken to process webhook events, in seconds.",
            buckets=s.webhook_processing_time.prometheus_buckets(),
            sum_value=s.webhook_processing_time.sum_ms / 1000,
        )
        yield _labelled(
            "integration_connection_tests",
            "Number of integration connection tests, by outcome.",
            "status",
            s.integration_connection_tests,
        )
        yield _labelled(
            "webhook_events_processed",
            "Number of webhook events processed, by outcome.",
            "status",
            s.webhook_events_processed,
        )
        yield _labelled(
            "outbound_webhook_deliveries", "Outbound webhook deliveries by status.", "status", s.outbound_deliveries
        )
        yield HistogramMetricFamily(
            "outbound_webhook_attempt_duration_seconds",
            "Duration of outbound webhook delivery attempts, in seconds.",
            buckets=s.outbound_attempt_duration.prometheus_buckets(),
            sum_value=s.outbound_attempt_duration.sum_ms / 1000,
        )
        yield _labelled(
            "celery_queue_length", "Messages waiting in each Celery queue (NaN: unknown).", "queue", s.queue_depth
        )
        yield _labelled("health_checks", "Integration health checks recorded, by result.", "status", s.health_checks)


def prometheus_text(snapshot: MetricsSnapshot | None = None) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(snapshot))
    return generate_latest(registry)
