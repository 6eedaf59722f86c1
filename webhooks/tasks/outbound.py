"""Outbound delivery tasks, on the ``webhooks`` queue.

``webhooks.deliver(delivery_id)`` claims the delivery's lease, sends it once and records the attempt; its retry
is a new message with a countdown. ``webhooks.deliver_many(delivery_ids)`` carries a trigger's fan-out in chunks
(fewer broker messages): the chunk is claimed with one UPDATE, sent concurrently, and recorded in batches (one
transaction each). Both are the same code path (a single delivery is a chunk of one) and idempotent (a message for
a finished, leased or not-yet-due delivery does nothing) and acknowledged late, so a worker killed mid-send loses
nothing: the message comes back, or the sweeper ``webhooks.sweep_deliveries`` (every 30 s) re-enqueues the
delivery once its lease has expired. ``webhooks.wake_endpoint(webhook_id)`` runs when an endpoint's pause (circuit
breaker open, Retry-After) ends: it queues the probe or the parked messages (see webhooks.flow).
"""

from celery import shared_task

__all__ = ["deliver", "deliver_many", "recover", "sweep_deliveries", "wake_endpoint"]

DELIVER_TASK = "webhooks.deliver"
DELIVER_MANY_TASK = "webhooks.deliver_many"
SWEEP_TASK = "webhooks.sweep_deliveries"
WAKE_TASK = "webhooks.wake_endpoint"


@shared_task(name=DELIVER_TASK, queue="webhooks", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver(delivery_id: str) -> str | None:
    from webhooks.delivery import process_delivery

    return process_delivery(delivery_id)


@shared_task(name=DELIVER_MANY_TASK, queue="webhooks", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_many(delivery_ids: list[str]) -> list[str | None]:
    """A trigger's fan-out, in chunks: claimed together, sent concurrently, recorded in batches."""
    from webhooks.delivery import process_many

    return process_many(delivery_ids)


@shared_task(name=SWEEP_TASK, queue="webhooks", ignore_result=True, expires=60)
def sweep_deliveries() -> int:
    from webhooks.services import delivery_sweep

    return delivery_sweep()


@shared_task(name=WAKE_TASK, queue="webhooks", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def wake_endpoint(webhook_id: str) -> int:
    """An endpoint's pause is over: queue its probe (breaker open) or its parked messages."""
    from webhooks.flow_services import endpoint_wake

    return endpoint_wake(webhook_id=webhook_id)


RECOVER_TASK = "webhooks.recover"


@shared_task(name=RECOVER_TASK, queue="webhooks", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def recover(job_id: str) -> str | None:
    """A recovery job (``POST …/webhooks/{id}/recover``): re-send its window's failed deliveries in batches."""
    from webhooks.recovery import webhook_recover_run

    return webhook_recover_run(job_id=job_id)
