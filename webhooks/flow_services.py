"""Writes of flow control (see webhooks.flow): parking messages that may not be sent now, the breaker's half-open
probe, and the wake-up of an endpoint whose pause is over.

A parked message stays ``pending`` with its retry budget untouched: only its lease is given back and its
``next_attempt_at`` moved. Messages parked by the concurrency cap or the rate limit are queued again for their
time; those of a paused endpoint (breaker open, Retry-After) are not queued one by one: the endpoint's single
wake-up task (``webhooks.wake_endpoint``, queued when the pause began; the sweeper re-queues a lost one) resumes
them, or, for an open breaker, sends one of them as the probe.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from webhooks import services
from webhooks.models import CircuitState, Delivery, DeliveryStatus, Webhook, WebhookStatus

__all__ = ["delivery_park_many", "endpoint_probe_acquire", "endpoint_wake"]

logger = logging.getLogger(__name__)


def delivery_park_many(*, parked: Iterable[tuple[uuid.UUID, datetime, bool]], token) -> int:
    """Give back claimed deliveries unsent, each due again at its time; ``(id, due, requeue)`` triples. Those with
    ``requeue`` are queued for their time (the cap or the rate limit held them); the others wait for their
    endpoint's wake-up. Attempts are neither recorded nor spent. Returns how many were parked."""
    parked = list(parked)
    if not parked:
        return 0
    prep = services._prep
    rows = [(prep(Delivery, "id", pk), prep(Delivery, "next_attempt_at", due)) for pk, due, _ in parked]
    cte, params = services._rows_cte("id, due", ("uuid", "timestamptz"), rows)
    table = connection.ops.quote_name(Delivery._meta.db_table)
    sql = (  # only the quoted table name and placeholders are interpolated; every value is a parameter
        f"{cte} UPDATE {table} AS d SET next_attempt_at = v.due, locked_until = NULL, claim_token = NULL "  # noqa: S608
        "FROM v WHERE d.id = v.id AND d.claim_token = %s AND d.status = %s"
    )
    params += [services._prep(Delivery, "claim_token", token), str(DeliveryStatus.PENDING)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        count = cursor.rowcount
    now = timezone.now()
    for pk, due, requeue in parked:
        if requeue:
            services.enqueue_deliveries([pk], countdown=max(0.0, (due - now).total_seconds()))
    return count


def endpoint_probe_acquire(*, webhook_id, lease_seconds: float, now: datetime | None = None) -> bool:
    """Take the half-open probe of an endpoint whose breaker cooled down (open, or a probe whose sender vanished):
    one conditional UPDATE, so exactly one worker sends the probe. The probe holds the endpoint for
    ``lease_seconds``; its outcome closes the breaker or opens it again."""
    now = now or timezone.now()
    won = (
        Webhook.objects.filter(
            pk=webhook_id,
            status=WebhookStatus.ACTIVE,
            circuit_state__in=(CircuitState.OPEN, CircuitState.HALF_OPEN),
        )
        .filter(Q(paused_until__isnull=True) | Q(paused_until__lte=now))
        .update(circuit_state=CircuitState.HALF_OPEN, paused_until=now + timedelta(seconds=lease_seconds))
    )
    if won:
        logger.info("webhooks.circuit.half_open", extra={"webhook_id": str(webhook_id)})
    return bool(won)


def endpoint_wake(*, webhook_id) -> int:
    """An endpoint's pause is over: for an open breaker queue ONE parked message (it becomes the half-open probe),
    otherwise queue all of them. Does nothing while a later pause holds (its own wake-up is queued) or when the
    subscription is not active. Returns how many messages were queued."""
    try:
        webhook = Webhook.objects.only("id", "status", "circuit_state", "paused_until").get(pk=webhook_id)
    except (Webhook.DoesNotExist, ValueError):
        return 0
    now = timezone.now()
    if webhook.status != WebhookStatus.ACTIVE or (webhook.paused_until and webhook.paused_until > now):
        return 0
    free = Q(locked_until__isnull=True) | Q(locked_until__lte=now)
    pending = Delivery.objects.filter(webhook_id=webhook.pk, status=DeliveryStatus.PENDING).filter(free)
    if webhook.circuit_state == CircuitState.CLOSED:
        with transaction.atomic():
            if webhook.paused_until is not None:
                Webhook.objects.filter(pk=webhook.pk, paused_until=webhook.paused_until).update(paused_until=None)
            services._resume_pending(webhook.pk)
        return pending.count()
    probe = pending.order_by("created_at").values_list("id", flat=True).first()
    if probe is None:  # nothing waits: the next message triggered for it will be the probe (not the sweeper's care)
        Webhook.objects.filter(pk=webhook.pk, paused_until=webhook.paused_until).update(paused_until=None)
        return 0
    Delivery.objects.filter(pk=probe).update(next_attempt_at=now)
    services.enqueue_deliveries([probe])
    return 1
