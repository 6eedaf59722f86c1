"""Inbound webhook tasks: process one received event (queue `inbound`), and re-send events a lost message stranded."""

import logging
import random
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)

SWEEP_TASK = "webhooks.inbound.sweep"  # scheduled in webhooks/models/inbound.py
# An event still pending this long after it arrived lost its message (broker outage, purge): send it again.
SWEEP_AFTER = timedelta(minutes=15)
SWEEP_BATCH = 500


def retry_countdown(retries: int) -> int:
    """5 s, 10 s, 20 s ... capped at 10 minutes, with up to 20 % jitter."""
    base = min(5 * 2**retries, 600)
    return base + random.randint(0, base // 5)


@shared_task(
    bind=True,
    name="webhooks.inbound.process",
    queue="inbound",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=settings.INBOUND_PROCESS_MAX_RETRIES,
    soft_time_limit=60,
    time_limit=90,
)
def inbound_event_process_task(self, event_id: str) -> None:
    """Idempotent: a processed event is left alone (the row is locked while its handler runs)."""
    from webhooks.inbound import TRANSIENT_ERRORS, inbound_event_process

    final = self.request.retries >= self.max_retries
    try:
        inbound_event_process(event_id=event_id, final_attempt=final)
    except TRANSIENT_ERRORS as exc:
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries))


@shared_task(name=SWEEP_TASK, queue="inbound", acks_late=True, reject_on_worker_lost=True)
def inbound_events_sweep_task() -> int:
    from webhooks.models import InboundEvent, InboundEventStatus

    cutoff = timezone.now() - SWEEP_AFTER
    ids = list(
        InboundEvent.objects.filter(status=InboundEventStatus.PENDING, received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("id", flat=True)[:SWEEP_BATCH]
    )
    for event_id in ids:
        inbound_event_process_task.delay(str(event_id))
    if ids:
        logger.warning("webhooks.inbound.swept", extra={"count": len(ids)})
    return len(ids)
