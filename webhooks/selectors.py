"""Reads of outbound webhooks: subscriptions, their live secrets, delivery logs and stats. Every read takes tenant=."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from config.errors import NotFound, ValidationFailed
from webhooks.event_types import pattern_is_valid
from webhooks.events import matches
from webhooks.models import Delivery, DeliveryStatus, Webhook, WebhookSecret, WebhookStatus

__all__ = [
    "delivery_get",
    "delivery_list",
    "delivery_replay_count",
    "webhook_activity",
    "webhook_get",
    "webhook_list",
    "webhook_live_secrets",
    "webhook_public_keys",
    "webhook_stats",
    "webhooks_attach_public_keys",
]


def webhook_list(*, tenant, filters: dict[str, Any] | None = None) -> QuerySet[Webhook]:
    """The tenant's subscriptions; filters ``status``, ``integrationId``, ``event`` (subscriptions that receive it)."""
    filters = filters or {}
    qs = Webhook.objects.filter(tenant=tenant)
    errors: dict[str, list[str]] = {}
    status = filters.get("status")
    if status:
        if status not in WebhookStatus.values:
            errors["status"] = [f"Must be one of: {', '.join(WebhookStatus.values)}."]
        else:
            qs = qs.filter(status=status)
    integration_id = filters.get("integration_id")
    if integration_id:
        try:
            qs = qs.filter(integration_id=uuid.UUID(str(integration_id)))
        except ValueError:
            errors["integrationId"] = ["Must be a valid UUID."]
    event = filters.get("event")
    if event:
        if not pattern_is_valid(event):
            errors["event"] = ["Unknown event."]
        else:
            # Patterns live in a JSON list: match in Python over the tenant's (few) subscriptions, then filter by id.
            candidates = Webhook.objects.filter(tenant=tenant).values_list("id", "events")
            ids = [pk for pk, patterns in candidates if event in patterns or matches(patterns or [], event)]
            qs = qs.filter(id__in=ids)
    if errors:
        raise ValidationFailed("Invalid filter.", details=errors)
    return qs


def webhook_get(*, tenant, webhook_id) -> Webhook:
    try:
        return Webhook.objects.get(tenant=tenant, pk=webhook_id)
    except (Webhook.DoesNotExist, ValueError, TypeError):
        raise NotFound("webhook")


def webhook_live_secrets(*, webhook_id, now=None) -> list[str]:
    """The subscription's secrets that still sign deliveries, newest first (two during a rotation's overlap)."""
    now = now or timezone.now()
    rows = WebhookSecret.objects.filter(webhook_id=webhook_id).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )
    return [row.secret for row in rows.order_by("-created_at", "-id")]


def _public_key_rows() -> QuerySet[WebhookSecret]:
    # only the public columns: the encrypted private key is neither read nor decrypted
    return (
        WebhookSecret.objects.exclude(public_key="")
        .only("id", "webhook_id", "public_key", "created_at", "expires_at")
        .order_by("-created_at", "-id")
    )


def webhooks_attach_public_keys(webhooks: list[Webhook]) -> list[Webhook]:
    """Load the public keys of a page of subscriptions in ONE query (none when no v1a subscription is on it)."""
    asymmetric = [w for w in webhooks if w.signature_scheme == "v1a"]
    if asymmetric:
        rows: dict[Any, list[WebhookSecret]] = {w.pk: [] for w in asymmetric}
        for row in _public_key_rows().filter(webhook_id__in=list(rows)):
            rows[row.webhook_id].append(row)
        for webhook in asymmetric:
            webhook.public_key_rows = rows[webhook.pk]
    return webhooks


def webhook_public_keys(*, webhook: Webhook, now=None) -> list[dict[str, Any]]:
    """A v1a subscription's live ed25519 public keys, newest first: ``[{key, created_at, expires_at}]`` (uses the
    rows ``webhooks_attach_public_keys`` loaded, else one query). Empty for a v1 subscription."""
    if webhook.signature_scheme != "v1a":
        return []
    now = now or timezone.now()
    rows = getattr(webhook, "public_key_rows", None)
    if rows is None:
        rows = list(_public_key_rows().filter(webhook_id=webhook.pk))
    return [
        {"key": row.public_key, "created_at": row.created_at, "expires_at": row.expires_at}
        for row in rows
        if row.expires_at is None or row.expires_at > now
    ]


def delivery_list(*, webhook: Webhook, filters: dict[str, Any] | None = None) -> QuerySet[Delivery]:
    """A subscription's deliveries, newest first, with their event and last attempt (no N+1)."""
    filters = filters or {}
    qs = Delivery.objects.filter(webhook=webhook).select_related("event", "last_attempt")
    errors: dict[str, list[str]] = {}
    status = filters.get("status")
    if status:
        if status not in DeliveryStatus.values:
            errors["status"] = [f"Must be one of: {', '.join(DeliveryStatus.values)}."]
        else:
            qs = qs.filter(status=status)
    event = filters.get("event")
    if event:
        qs = qs.filter(event_type=event)
    if errors:
        raise ValidationFailed("Invalid filter.", details=errors)
    return qs.order_by("-created_at", "-id")


def delivery_get(*, webhook: Webhook, delivery_id) -> Delivery:
    try:
        return Delivery.objects.select_related("event", "last_attempt").get(webhook=webhook, pk=delivery_id)
    except (Delivery.DoesNotExist, ValueError, TypeError):
        raise NotFound("delivery")


def delivery_replay_count(*, webhook: Webhook, since, until=None, status: str = DeliveryStatus.FAILED) -> int:
    """How many deliveries ``services.webhook_replay`` would re-send with these arguments (its dry run), capped
    like the replay itself at WEBHOOK_REPLAY_MAX."""
    until = until or timezone.now()
    if status not in (DeliveryStatus.FAILED, DeliveryStatus.SUCCESS):
        raise ValidationFailed("status: must be failed or success.", details={"status": ["Must be failed or success."]})
    if since >= until:
        raise ValidationFailed("since must be before until.", details={"since": ["Must be before until."]})
    count = Delivery.objects.filter(webhook=webhook, status=status, created_at__gte=since, created_at__lt=until).count()
    return min(count, settings.WEBHOOK_REPLAY_MAX)


def webhook_stats(*, webhook: Webhook) -> dict[str, Any]:
    """``{total, success, failed, pending, successRate}`` in one aggregate query.

    ``successRate`` is the percentage of finished deliveries (success + failed) that succeeded, two decimals;
    0 when none has finished.
    """
    row = Delivery.objects.filter(webhook=webhook).aggregate(
        total=Count("id"),
        success=Count("id", filter=Q(status=DeliveryStatus.SUCCESS)),
        failed=Count("id", filter=Q(status=DeliveryStatus.FAILED)),
        pending=Count("id", filter=Q(status=DeliveryStatus.PENDING)),
    )
    finished = row["success"] + row["failed"]
    row["success_rate"] = round(row["success"] * 100 / finished, 2) if finished else 0.0
    return row


def webhook_activity(*, webhook: Webhook, limit: int = 20):
    """The subscription's activity entries (changes, tests, retries, replays), newest first."""
    from integrations.models import ActivityLog

    return (
        ActivityLog.objects.filter(tenant_id=webhook.tenant_id, type="webhook", details__webhookId=str(webhook.pk))
        .select_related("actor")
        .order_by("-created_at", "-pk")[:limit]
    )
