"""Recovery: "re-send everything this subscription failed to deliver between since and until".

A delivery that is ``failed`` ended in one of two ways, told apart by its last attempt:

* **exhausted** -- its last attempt was a retryable failure (a timeout, a connection error, a 429 or a 5xx) and the
  retry budget ran out: the endpoint was down;
* **failed** -- the receiver refused it for good (another 4xx, a 3xx, a 410) or the destination was refused.

Both are re-sent. A dry run (``webhook_recover_preview``) counts them and shows a sample, sending nothing. A real run
(``webhook_recover_start``) records a ``WebhookRecovery`` job and hands it to the ``webhooks.recover`` task, which
resets the deliveries to pending in batches, oldest first (each keeps its row, so its ``webhook-id``: receivers
deduplicate), with a fresh retry budget, and queues them; the job's ``done`` counts the deliveries queued.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from config.errors import NotFound, ValidationFailed
from webhooks.models import Delivery, DeliveryStatus, RecoveryStatus, Webhook, WebhookRecovery, WebhookStatus

__all__ = [
    "RECOVERY_BATCH",
    "recovery_get",
    "webhook_recover_preview",
    "webhook_recover_run",
    "webhook_recover_start",
]

logger = logging.getLogger(__name__)

RECOVERY_BATCH = 500
SAMPLE_SIZE = 10
_CLOCK_SKEW = timedelta(seconds=60)  # an ``until`` this little in the future is "now" on a skewed client clock
_REFUSED_PREFIXES = ("Destination refused", "Invalid destination URL", "Invalid header")


def _exhausted_q() -> Q:
    """Failed deliveries whose last attempt would have been retried: they ran out of attempts."""
    retryable_status = Q(last_response_status=429) | Q(last_response_status__gte=500)
    network = Q(last_response_status__isnull=True)
    for prefix in _REFUSED_PREFIXES:
        network &= ~Q(last_error__startswith=prefix)
    return retryable_status | network


def _window(*, since: datetime, until: datetime | None) -> tuple[datetime, datetime]:
    now = timezone.now()
    until = until or now
    errors: dict[str, list[str]] = {}
    if since > now:
        errors["since"] = ["Must not be in the future."]
    if until > now + _CLOCK_SKEW:
        errors["until"] = ["Must not be in the future."]
    if since >= until:
        errors.setdefault("since", []).append("Must be before until.")
    max_days = int(settings.WEBHOOK_RECOVER_MAX_DAYS)
    if until - since > timedelta(days=max_days):
        errors.setdefault("since", []).append(f"The window may span at most {max_days} days.")
    if errors:
        raise ValidationFailed("Invalid recovery window.", details=errors)
    return since, min(until, now)


def _candidates(webhook: Webhook, since: datetime, until: datetime) -> QuerySet[Delivery]:
    # served by the (webhook, status, -created_at) index
    return Delivery.objects.filter(
        webhook=webhook, status=DeliveryStatus.FAILED, created_at__gte=since, created_at__lt=until
    )


def webhook_recover_preview(*, webhook: Webhook, since: datetime, until: datetime | None = None) -> dict[str, Any]:
    """The dry run: ``{counts: {failed, exhausted}, sample: [{delivery_id, event_id, event, status}]}``; sends
    nothing. ``status`` in the sample is ``failed`` or ``exhausted``."""
    since, until = _window(since=since, until=until)
    qs = _candidates(webhook, since, until)
    exhausted_ids = qs.filter(_exhausted_q())
    total = qs.count()
    exhausted = exhausted_ids.count()
    sample = list(
        qs.order_by("created_at", "id").values("id", "event_id", "event_type", "last_response_status", "last_error")[
            :SAMPLE_SIZE
        ]
    )
    exhausted_in_sample = set(exhausted_ids.filter(pk__in=[row["id"] for row in sample]).values_list("id", flat=True))
    return {
        "counts": {"failed": total - exhausted, "exhausted": exhausted},
        "sample": [
            {
                "delivery_id": row["id"],
                "event_id": row["event_id"],
                "event": row["event_type"],
                "status": "exhausted" if row["id"] in exhausted_in_sample else "failed",
            }
            for row in sample
        ],
    }


@transaction.atomic
def webhook_recover_start(
    *, webhook: Webhook, since: datetime, until: datetime | None = None, actor=None
) -> WebhookRecovery:
    """Record a recovery job for [since, until) and queue it (after commit); returns the job (``pending``)."""
    since, until = _window(since=since, until=until)
    job = WebhookRecovery.objects.create(
        tenant_id=webhook.tenant_id,
        webhook=webhook,
        since=since,
        until=until,
        total=_candidates(webhook, since, until).count(),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    from webhooks.tasks.outbound import recover

    transaction.on_commit(lambda: recover.delay(str(job.pk)))
    logger.info("webhooks.recovery.started", extra={"webhook_id": str(webhook.pk), "job_id": str(job.pk)})
    return job


def recovery_get(*, webhook: Webhook, job_id) -> WebhookRecovery:
    try:
        return WebhookRecovery.objects.get(webhook=webhook, pk=job_id)
    except (WebhookRecovery.DoesNotExist, ValueError, TypeError):
        raise NotFound("recovery", "Recovery job not found.")


def webhook_recover_run(*, job_id) -> str | None:
    """The task body: re-send the job's deliveries in batches, oldest first; returns the job's final status.

    Safe to run twice: a job that is no longer pending is left alone (a redelivered message does nothing), and a
    delivery already reset is no longer ``failed``.
    """
    from webhooks.services import enqueue_deliveries

    claimed = WebhookRecovery.objects.filter(pk=job_id, status=RecoveryStatus.PENDING).update(
        status=RecoveryStatus.RUNNING
    )
    if not claimed:
        return None
    job = WebhookRecovery.objects.select_related("webhook").get(pk=job_id)
    webhook = job.webhook
    done = 0
    cursor: tuple[datetime, Any] | None = None  # keyset: a re-sent delivery that fails again is not picked twice
    try:
        while True:
            with transaction.atomic():
                qs = _candidates(webhook, job.since, job.until)
                if cursor is not None:
                    qs = qs.filter(Q(created_at__gt=cursor[0]) | Q(created_at=cursor[0], id__gt=cursor[1]))
                rows = list(
                    qs.order_by("created_at", "id")
                    .select_for_update(skip_locked=True)
                    .values_list("id", "created_at")[:RECOVERY_BATCH]
                )
                if not rows:
                    break
                cursor = rows[-1][1], rows[-1][0]
                ids = [pk for pk, _ in rows]
                Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.FAILED).update(
                    status=DeliveryStatus.PENDING,
                    round_attempts=0,
                    next_attempt_at=timezone.now(),
                    completed_at=None,
                    locked_until=None,
                    claim_token=None,
                )
                done += len(ids)
                WebhookRecovery.objects.filter(pk=job.pk).update(done=done, total=max(job.total, done))
                if webhook.status == WebhookStatus.ACTIVE:  # a paused or disabled one sends them when re-activated
                    transaction.on_commit(lambda ids=ids: enqueue_deliveries(ids))
    except Exception as exc:
        logger.exception("webhooks.recovery.crashed", extra={"job_id": str(job.pk)})
        WebhookRecovery.objects.filter(pk=job.pk).update(
            status=RecoveryStatus.FAILED, error=type(exc).__name__, finished_at=timezone.now()
        )
        return RecoveryStatus.FAILED
    WebhookRecovery.objects.filter(pk=job.pk).update(
        status=RecoveryStatus.COMPLETED, done=done, total=max(job.total, done), finished_at=timezone.now()
    )
    logger.info("webhooks.recovery.completed", extra={"job_id": str(job.pk), "queued": done})
    return RecoveryStatus.COMPLETED
