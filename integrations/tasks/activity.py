"""Activity-log housekeeping: a daily task deletes entries older than ACTIVITY_LOG_RETENTION_DAYS.

The beat entry is registered in integrations/models/activity.py (imported whenever Django starts, so
`setup_periodic_tasks` and the post-migrate sync always see it).
"""

from celery import shared_task

__all__ = ["PRUNE_TASK", "prune_activity_logs"]

PRUNE_TASK = "integrations.activity.prune"


@shared_task(name=PRUNE_TASK, queue="default", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def prune_activity_logs() -> int:
    """Idempotent: deletes in batches whatever is past the retention when it runs."""
    from integrations.services import activity_prune

    return activity_prune()
