"""What the console's dashboard shows, read in a fixed number of aggregated queries whatever the data size.

Every number is cross-tenant (the console is the super admin's view). Windows end now: "24 h" is the 24 hourly
buckets ending with the current hour, "7 d" the 168 ending with it, so a chart and the rate beside it count the same
rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from integrations.models import ActivityLog, Connection, Integration
from integrations.models.activity import ActivityStatus, ActivityType
from integrations.models.connection import ConnectionStatus
from integrations.models.integration import HealthStatus, IntegrationStatus
from webhooks.models import Delivery, DeliveryStatus
from webhooks.models.inbound import InboundEvent, InboundEventStatus

FAILING_ENDPOINTS = 10
RECENT_ROWS = 10
DAY_HOURS = 24
WEEK_HOURS = 7 * 24


@dataclass
class Series:
    """Hourly counts per status over a window: ``buckets`` is [(hour start, {status: count})], oldest first."""

    statuses: list[str]
    buckets: list[tuple[datetime, dict[str, int]]]

    def total(self, status: str | None = None) -> int:
        return sum(c.get(status, 0) if status else sum(c.values()) for _, c in self.buckets)

    def last(self, hours: int) -> Series:
        return Series(self.statuses, self.buckets[-hours:])

    def success_rate(self) -> float | None:
        """Succeeded / finished (succeeded + failed), in percent; None when nothing finished."""
        done = self.total(DeliveryStatus.SUCCESS) + self.total(DeliveryStatus.FAILED)
        return round(100.0 * self.total(DeliveryStatus.SUCCESS) / done, 1) if done else None


@dataclass
class FailingEndpoint:
    webhook_id: str
    name: str
    url: str
    tenant: str
    failures: int
    finished: int
    success_rate: float | None


@dataclass
class Dashboard:
    now: datetime
    deliveries: Series  # 7 days, hourly
    inbound: Series  # 24 hours, hourly
    failing_endpoints: list[FailingEndpoint]
    integrations: dict[str, dict[str, int]]  # status -> health -> count
    integration_total: int
    connections_to_fix: list[Connection]
    connections_to_fix_count: int
    refresh_failures: list[ActivityLog]
    refresh_failure_count: int
    statuses: dict[str, list[str]] = field(default_factory=dict)

    @property
    def deliveries_24h(self) -> Series:
        return self.deliveries.last(DAY_HOURS)


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _hourly(queryset, *, moment_field: str, statuses: list[str], hours: int, now: datetime) -> Series:
    """One GROUP BY (hour, status) query over the window, laid onto every hour (empty hours included)."""
    first = _hour(now) - timedelta(hours=hours - 1)
    rows = (
        queryset.filter(**{f"{moment_field}__gte": first})
        .annotate(hour=TruncHour(moment_field))
        .values("hour", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts: dict[datetime, dict[str, int]] = defaultdict(dict)
    for row in rows:
        counts[row["hour"]][row["status"]] = row["n"]
    buckets = []
    for i in range(hours):
        hour = first + timedelta(hours=i)
        buckets.append((hour, {s: counts.get(hour, {}).get(s, 0) for s in statuses}))
    return Series(statuses, buckets)


def failing_endpoints(*, since: datetime, limit: int = FAILING_ENDPOINTS) -> list[FailingEndpoint]:
    """The subscriptions with the most failed deliveries since ``since``, worst first (one query)."""
    rows = (
        Delivery.objects.filter(created_at__gte=since)
        .values("webhook_id", "webhook__name", "webhook__url", "webhook__tenant__name")
        .annotate(
            failures=Count("pk", filter=Q(status=DeliveryStatus.FAILED)),
            succeeded=Count("pk", filter=Q(status=DeliveryStatus.SUCCESS)),
        )
        .filter(failures__gt=0)
        .order_by("-failures", "webhook__name")[:limit]
    )
    found = []
    for row in rows:
        finished = row["failures"] + row["succeeded"]
        found.append(
            FailingEndpoint(
                webhook_id=str(row["webhook_id"]),
                name=row["webhook__name"],
                url=row["webhook__url"],
                tenant=row["webhook__tenant__name"],
                failures=row["failures"],
                finished=finished,
                success_rate=round(100.0 * row["succeeded"] / finished, 1) if finished else None,
            )
        )
    return found


def dashboard(*, now: datetime | None = None) -> Dashboard:
    """Everything the console's index shows, in eight queries."""
    now = now or timezone.now()
    week_ago = _hour(now) - timedelta(hours=WEEK_HOURS - 1)
    delivery_statuses = [DeliveryStatus.SUCCESS, DeliveryStatus.FAILED, DeliveryStatus.PENDING]
    inbound_statuses = [InboundEventStatus.PROCESSED, InboundEventStatus.FAILED, InboundEventStatus.PENDING]

    integrations: dict[str, dict[str, int]] = {
        s: dict.fromkeys(HealthStatus.values, 0) for s in IntegrationStatus.values
    }
    for row in Integration.objects.values("status", "health_status").annotate(n=Count("pk")).order_by():
        integrations.setdefault(row["status"], {})[row["health_status"]] = row["n"]

    to_fix = Connection.objects.filter(status__in=[ConnectionStatus.EXPIRED, ConnectionStatus.ERROR])
    refresh_failed = ActivityLog.objects.filter(
        type=ActivityType.REFRESH, status=ActivityStatus.ERROR, created_at__gte=week_ago
    )
    return Dashboard(
        now=now,
        deliveries=_hourly(
            Delivery.objects.all(), moment_field="created_at", statuses=delivery_statuses, hours=WEEK_HOURS, now=now
        ),
        inbound=_hourly(
            InboundEvent.objects.all(), moment_field="received_at", statuses=inbound_statuses, hours=DAY_HOURS, now=now
        ),
        failing_endpoints=failing_endpoints(since=week_ago),
        integrations=integrations,
        integration_total=sum(sum(h.values()) for h in integrations.values()),
        connections_to_fix=list(
            to_fix.select_related("integration", "tenant", "user")
            .defer("credentials")
            .order_by("-updated_at")[:RECENT_ROWS]
        ),
        connections_to_fix_count=to_fix.count(),
        refresh_failures=list(
            refresh_failed.select_related("integration", "tenant").order_by("-created_at")[:RECENT_ROWS]
        ),
        refresh_failure_count=refresh_failed.count(),
        statuses={"deliveries": delivery_statuses, "inbound": inbound_statuses},
    )
