"""Scheduled health checks: a beat task (every HEALTH_CHECK_INTERVAL_SECONDS, queue `health`) fans out one check
task per integration that is `active` or `error` (an `error` one must be checked to recover), each delayed by a
deterministic offset inside the period so that checks do not all fire at once.

A full round now (`manage.py run_health_checks`) is not spread: every such integration is checked at once, in batch
tasks of HEALTH_ROUND_BATCH_SIZE integrations of one provider, each batch checked by HEALTH_ROUND_HOST_CONCURRENCY
threads. So no provider host sees more than HEALTH_ROUND_HOST_CONCURRENCY checks in flight per worker process
consuming `health` (4 with the default worker), and the per-message overhead of a task is paid once per batch."""

import logging
import queue
import threading
import uuid
from collections import defaultdict
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


BATCH_TASK = "integrations.health.check_batch"


def health_round_enqueue(*, batch_size: int | None = None) -> tuple[datetime, list[str]]:
    """Enqueue a full round now: every `active` or `error` integration, grouped by provider into batch tasks.

    Returns the round's start (every check recorded since then counts for it) and the ids it covers. A check
    already made since the start (a redelivered batch, a manual check) is not repeated."""
    from integrations.models import Integration, IntegrationStatus

    batch_size = max(1, batch_size or settings.HEALTH_ROUND_BATCH_SIZE)
    started = timezone.now()
    by_provider: dict[str, list[str]] = defaultdict(list)
    rows = (
        Integration.objects.filter(status__in=(IntegrationStatus.ACTIVE, IntegrationStatus.ERROR))
        .order_by("provider_id", "id")
        .values_list("id", "provider_id")
    )
    for integration_id, provider_id in rows.iterator(chunk_size=5000):
        by_provider[str(provider_id)].append(str(integration_id))
    ids: list[str] = []
    for provider_ids in by_provider.values():
        ids.extend(provider_ids)
        for start in range(0, len(provider_ids), batch_size):
            health_check_batch_task.apply_async(args=[provider_ids[start : start + batch_size], started.timestamp()])
    logger.info("integrations.health.round_enqueued", extra={"count": len(ids), "providers": len(by_provider)})
    return started, ids


def health_round_pending(*, ids: list[str], started: datetime) -> list[str]:
    """Which of a round's `ids` still wait for their check: still `active` or `error` and not checked since
    `started` (an integration paused or deleted meanwhile is no longer waited for)."""
    from django.db.models import Q

    from integrations.models import Integration, IntegrationStatus

    pending: list[str] = []
    for start in range(0, len(ids), 5000):
        pending.extend(
            str(pk)
            for pk in Integration.objects.filter(
                Q(last_health_check_at__isnull=True) | Q(last_health_check_at__lt=started),
                pk__in=ids[start : start + 5000],
                status__in=(IntegrationStatus.ACTIVE, IntegrationStatus.ERROR),
            ).values_list("id", flat=True)
        )
    return pending


@shared_task(
    name=BATCH_TASK,
    queue="health",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=600,
    time_limit=660,
)
def health_check_batch_task(integration_ids: list[str], not_before: float) -> int:
    """Check one provider's integrations of a round, HEALTH_ROUND_HOST_CONCURRENCY at a time; returns how many were
    checked. Idempotent: an integration checked since `not_before` (a redelivery) is skipped."""
    from django.db import connections

    since = datetime.fromtimestamp(not_before, tz=UTC)
    todo: queue.Queue = queue.Queue()
    batch = _load_batch(integration_ids, since)
    for integration in batch:
        todo.put(integration)
    checked = []

    def drain() -> None:
        while True:
            try:
                integration = todo.get_nowait()
            except queue.Empty:
                return
            try:
                if _check_one(integration, since) is not None:
                    checked.append(integration)
            except Exception:  # one failed record must not stop the batch; the round reports it as pending
                logger.exception(
                    "integrations.health.round_check_failed",
                    extra={"integration_id": str(getattr(integration, "pk", ""))},
                )

    def drain_in_thread() -> None:
        try:
            drain()
        finally:
            connections.close_all()  # the thread's own database connection

    width = max(1, min(settings.HEALTH_ROUND_HOST_CONCURRENCY, len(batch)))
    if width == 1:  # no thread: the task's own connection (and transaction, in tests)
        drain()
        return len(checked)
    threads = [threading.Thread(target=drain_in_thread, name=f"health-check-{n}", daemon=True) for n in range(width)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(checked)


def _load_batch(integration_ids: list[str], since: datetime) -> list:
    """The batch's integrations still `active` or `error` and not checked since `since`, in one query."""
    from django.db.models import Q

    from integrations.models import Integration, IntegrationStatus

    return list(
        Integration.objects.select_related("provider", "tenant").filter(
            Q(last_health_check_at__isnull=True) | Q(last_health_check_at__lt=since),
            pk__in=integration_ids,
            status__in=(IntegrationStatus.ACTIVE, IntegrationStatus.ERROR),
        )
    )


def _check_one(integration, since: datetime):
    from integrations.health import health_check_run
    from integrations.models import HealthCheckTrigger

    return health_check_run(integration=integration, trigger=HealthCheckTrigger.SCHEDULED, not_before=since)


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
