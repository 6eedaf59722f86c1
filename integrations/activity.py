"""The one way to write an integration's activity log entry: `log_activity(...)`, called by every part of the app."""

import logging
import re
from typing import Any

from config.api import current_request_id
from integrations.models import ActivityLog, ActivityStatus, ActivityType

logger = logging.getLogger(__name__)

REDACTED = "[redacted]"
# Keys whose values are secrets, whatever the caller meant: their values never reach the database.
_SECRET_KEY = re.compile(
    r"(passw(or)?d|secret|token|api[_-]?key|authorization|private[_-]?key|cookie|^credentials$)",
    re.IGNORECASE,
)
_MAX_MESSAGE = 1000


def redact(value: Any, _depth: int = 0) -> Any:
    """A copy of `value` with the values of secret-looking keys replaced by "[redacted]" (recursively)."""
    if _depth > 8:
        return REDACTED
    if isinstance(value, dict):
        return {
            str(key): (REDACTED if _SECRET_KEY.search(str(key)) else redact(item, _depth + 1))
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(item, _depth + 1) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def log_activity(
    *,
    integration=None,
    type: str,
    status: str,
    message: str,
    details: dict | None = None,
    actor=None,
    tenant_id=None,
) -> ActivityLog:
    """Record one entry for `integration` with the current request id. `details` is redacted of secret-looking keys.

    `integration` may be None for an entry about something of a tenant's that belongs to no integration (a webhook
    subscription, say); `tenant_id` then names the tenant.
    """
    if integration is None and tenant_id is None:
        raise ValueError("An activity entry needs an integration or a tenant.")
    if type not in ActivityType.values:
        raise ValueError(f"Unknown activity type {type!r}.")
    if status not in ActivityStatus.values:
        raise ValueError(f"Unknown activity status {status!r}.")
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    entry = ActivityLog.objects.create(
        tenant_id=integration.tenant_id if integration is not None else tenant_id,
        integration=integration,
        type=type,
        status=status,
        message=(message or "")[:_MAX_MESSAGE],
        details=redact(details or {}),
        actor=actor,
        request_id=current_request_id(),
    )
    logger.info(
        "integrations.activity",
        extra={
            "integration_id": str(integration.pk) if integration is not None else None,
            "activity_type": type,
            "activity_status": status,
        },
    )
    return entry
