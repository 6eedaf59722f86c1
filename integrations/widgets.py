"""Dashboard widgets of one integration (seed 003): its status, its recent activity, a few records of one entity.

    widget_status(integration=integration, user=request.user)
    widget_activity(integration=integration, time_range="24h", limit=10)
    widget_data(integration=integration, user=request.user, entity="customer", fields=None, filters=None, limit=10)

The connection shown or used is the caller's own for a user-scoped integration, else the tenant-level one.
Statuses use this API's words (integration `pending|active|error|inactive`, activity `success|error|running`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from config.errors import ValidationFailed
from integrations.connections import connection_for_caller
from integrations.models import ActivityLog, ActivityType, ConnectionStatus, Integration, IntegrationStatus
from providers.registry import client_class, get_client

__all__ = [
    "ACTIVITY_DEFAULT_LIMIT",
    "ACTIVITY_MAX_LIMIT",
    "DATA_DEFAULT_LIMIT",
    "DATA_MAX_LIMIT",
    "TIME_RANGES",
    "entity_names",
    "widget_activity",
    "widget_data",
    "widget_status",
]

TIME_RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_TIME_RANGE = "24h"
ACTIVITY_DEFAULT_LIMIT = 10
ACTIVITY_MAX_LIMIT = 100
DATA_DEFAULT_LIMIT = 10
DATA_MAX_LIMIT = 100
# One entry per outbound HTTP call: the `/logs` endpoint shows them; a dashboard widget shows what happened to the
# integration (connects, tests, syncs, health checks, changes), which they would drown.
WIDGET_HIDDEN_TYPES = (ActivityType.API_CALL,)


def widget_status(*, integration: Integration, user) -> dict[str, Any]:
    """`{integrationId, name, provider, status, healthStatus, connectionStatus, lastConnectedAt, lastSyncAt, error}`."""
    connection = connection_for_caller(integration=integration, user=user)
    error = integration.last_error or (connection.validation_error if connection is not None else "")
    return {
        "integrationId": str(integration.pk),
        "name": integration.name,
        "provider": integration.provider.key,
        "status": integration.status,
        "healthStatus": integration.health_status,
        "connectionStatus": connection.status if connection is not None else None,
        "lastConnectedAt": connection.connected_at if connection is not None else None,
        "lastSyncAt": integration.last_sync_at,
        "error": error or None,
    }


def widget_activity(
    *, integration: Integration, time_range: str = DEFAULT_TIME_RANGE, limit: int = ACTIVITY_DEFAULT_LIMIT
) -> dict[str, Any]:
    """`{activities: [{id, type, status, message, timestamp, details}], total}`, newest first, within `time_range`.

    Two queries whatever the number of entries: one count, one slice (index integration, -created_at).
    """
    since = timezone.now() - TIME_RANGES[time_range]
    queryset = (
        ActivityLog.objects.filter(integration=integration, created_at__gte=since)
        .exclude(type__in=WIDGET_HIDDEN_TYPES)
        .only("id", "type", "status", "message", "details", "created_at")
    )
    total = queryset.count()
    entries = list(queryset.order_by("-created_at", "-pk")[:limit]) if total else []
    return {
        "activities": [
            {
                "id": str(entry.pk),
                "type": entry.type,
                "status": entry.status,
                "message": entry.message,
                "timestamp": entry.created_at,
                "details": entry.details or {},
            }
            for entry in entries
        ],
        "total": total,
    }


def entity_names(integration: Integration) -> list[str]:
    """The provider's availableEntities names (entries are `{name, displayName, operations}` or plain names)."""
    names = []
    for item in integration.provider.available_entities or []:
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str) and name:
            names.append(name)
    return names


def widget_data(
    *,
    integration: Integration,
    user,
    entity: str,
    fields: list[str] | None = None,
    filters: dict | None = None,
    limit: int = DATA_DEFAULT_LIMIT,
) -> dict[str, Any]:
    """`{data, total, entity, fetchedAt}`: up to `limit` records of `entity` fetched from the provider now.

    `entity` must be one of the provider's availableEntities (400 otherwise, also when its client cannot list it);
    `fields` and `filters` are handed to the provider client, which applies what its API supports (HubSpot
    properties, Graph `$select`); records come back as the provider shapes them. A provider failure is a 502.
    """
    names = entity_names(integration)
    if entity not in names:
        message = f"Must be one of: {', '.join(names) or '-'}."
        raise ValidationFailed(f"entity: {message}", details={"entity": [message]})
    if integration.status == IntegrationStatus.INACTIVE:
        raise ValidationFailed("The integration is inactive.", details={"status": ["The integration is inactive."]})
    connection = connection_for_caller(integration=integration, user=user)
    if integration.provider.auth_type != "none":
        if connection is None or connection.status != ConnectionStatus.ACTIVE:
            state = "no connection" if connection is None else f"a connection that is {connection.status}"
            whose = "You have" if integration.user_scoped else "The integration has"
            message = f"{whose} {state}."
            raise ValidationFailed(message, details={"connection": [message]})
        client = get_client(integration, connection=connection)
    else:
        client = client_class(integration.provider.key)(integration, connection=None)
    records = client.fetch_entities(entity, limit=limit, filters=filters or None, fields=fields or None)
    data = [r for r in (records or []) if isinstance(r, dict)][:limit]
    return {"data": data, "total": len(data), "entity": entity, "fetchedAt": timezone.now()}
