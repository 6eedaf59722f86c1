"""The one seam through which the product announces what happened: lifecycle events become outbound webhooks."""

from typing import Any


def emit(tenant, event: str, data: dict[str, Any]) -> None:
    """Record `event` for `tenant` in the caller's transaction; delivery happens after commit (webhooks outbox)."""
    from webhooks.services import trigger

    trigger(tenant, event, data)


def connection_data(connection, **extra: Any) -> dict[str, Any]:
    """The ``data`` every ``integration.*`` event about a connection carries (connected, disconnected, expired,
    recovered), plus the event's own fields."""
    integration = connection.integration
    return {
        "integrationId": str(integration.pk),
        "integrationName": integration.name,
        "provider": integration.provider.key,
        "connectionId": str(connection.pk),
        "scope": str(connection.scope),
        "userId": str(connection.user_id) if connection.user_id else None,
        "status": connection.status,
        **extra,
    }
