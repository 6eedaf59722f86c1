"""The one seam through which the product announces what happened: lifecycle events become outbound webhooks."""

from typing import Any


def emit(tenant, event: str, data: dict[str, Any]) -> None:
    """Record `event` for `tenant` in the caller's transaction; delivery happens after commit (webhooks outbox)."""
    from webhooks.services import trigger

    trigger(tenant, event, data)
