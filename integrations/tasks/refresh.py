"""OAuth token upkeep: every 5 minutes, one refresh task per connection inside its refresh margin; hourly, old
OAuth states are deleted."""

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from config.errors import DomainError

logger = logging.getLogger(__name__)

SCAN_TASK = "integrations.connections.refresh_expiring"
REFRESH_TASK = "integrations.connections.refresh"
PURGE_STATES_TASK = "integrations.oauth_states.purge"

# The beat entries are registered in integrations/models/oauth_state.py (imported whenever Django starts).


@shared_task(name=SCAN_TASK, queue="default", ignore_result=True)
def refresh_expiring_connections() -> int:
    """Enqueue one refresh per connection due (each its own task: one slow provider does not hold up the rest)."""
    from integrations.connections import due_for_refresh

    ids = due_for_refresh()
    for connection_id in ids:
        refresh_connection_task.delay(connection_id)
    if ids:
        logger.info("integrations.connections.refresh_enqueued", extra={"count": len(ids)})
    return len(ids)


@shared_task(name=REFRESH_TASK, queue="default", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def refresh_connection_task(connection_id: str) -> None:
    """Refresh one connection if it is still due (idempotent: the service re-checks under the lock)."""
    from integrations.connections import refresh_connection
    from integrations.models import Connection, ConnectionStatus

    connection = Connection.objects.filter(pk=connection_id, status=ConnectionStatus.ACTIVE).first()
    if connection is None:
        return
    try:
        refresh_connection(connection=connection, reason="scheduled", only_if_expiring=True)
    except DomainError as exc:  # recorded by the service (activity entry, status); nothing to retry blindly
        logger.info("integrations.connections.refresh_failed", extra={"connection_id": connection_id, "code": exc.code})


@shared_task(name=PURGE_STATES_TASK, queue="default", ignore_result=True)
def purge_oauth_states(older_than_hours: int = 24) -> int:
    from integrations.models import OAuthState

    deleted, _ = OAuthState.objects.filter(expires_at__lt=timezone.now() - timedelta(hours=older_than_hours)).delete()
    return deleted
