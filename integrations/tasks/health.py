"""Scheduled health checks: a beat task (every HEALTH_CHECK_INTERVAL_SECONDS, queue `health`) fans out one check
task per integration that is `active` or `error` (an `error` one must be checked to recover), each delayed by a
deterministic offset inside the period so that checks do not all fire at once."""

import logging
import uuid
from datetime import UTC, datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from integrations.models.health import HEALTH_FAN_OUT_TASK

logger = logging.getLogger(__name__)

CHECK_TASK = "integrations.health.check"
PRUNE_BATCH = 5000


def jitter_seconds(integration_id, interval: int) -> int:
    """Where in the period this integration is checked: the same offset every period (from its uuid)."""
    return uuid.UUID(str(integration_id)).int % max(1, interval)


@shared_task(name=HEALTH_FAN_OUT_TASK, queue="health", acks_late=True, reject_on_worker_lost=True)
def health_fan_out_task() -> int:
    """Enqueue this period's checks. Safe to run twice: each check skips itself if its period was already checked."""
    from integrations.models import Integration, IntegrationStatus

    interval = settings.HEALTH_CHECK_INTERVAL_SECONDS
    slot = int(timezone.now().timestamp()) // interval * interval
    ids = Integration.objects.filter(status__in=(IntegrationStatus.ACTIVE, IntegrationStatus.ERROR)).values_list(
        "id", flat=True
    )
    count = 0
    for integration_id in ids.iterator(chunk_size=2000):
        countdown = jitter_seconds(integration_id, interval)
        health_check_task.apply_async(
            args=[str(integration_id), slot],
            countdown=countdown,
            expires=timezone.now() + timedelta(seconds=countdown + interval),
        )
        count += 1
    pruned = prune_health_checks()
    logger.info("integrations.health.fanned_out", extra={"count": count, "slot": slot, "pruned": pruned})
    return count


@shared_task(
    name=CHECK_TASK,
    queue="health",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=120,
    time_limit=150,
)
def health_check_task(integration_id: str, slot: int | None = None) -> str | None:
    """One integration's scheduled check; a no-op if the integration is gone, paused, or already checked in `slot`."""
    from integrations.health import health_check_run
    from integrations.models import HealthCheckTrigger, Integration, IntegrationStatus

    integration = (
        Integration.objects.select_related("provider", "tenant")
        .filter(pk=integration_id, status__in=(IntegrationStatus.ACTIVE, IntegrationStatus.ERROR))
        .first()
    )
    if integration is None:
        return None
    not_before = datetime.fromtimestamp(slot, tz=UTC) if slot is not None else None
    check = health_check_run(integration=integration, trigger=HealthCheckTrigger.SCHEDULED, not_before=not_before)
    return check.status if check is not None else None


def prune_health_checks() -> int:
    """Drop check rows older than HEALTH_CHECK_RETENTION_DAYS, in batches."""
    from integrations.models import HealthCheck

    cutoff = timezone.now() - timedelta(days=settings.HEALTH_CHECK_RETENTION_DAYS)
    total = 0
    while True:
        batch = list(HealthCheck.objects.filter(checked_at__lt=cutoff).values_list("id", flat=True)[:PRUNE_BATCH])
        if not batch:
            return total
        total += HealthCheck.objects.filter(id__in=batch).delete()[0]
