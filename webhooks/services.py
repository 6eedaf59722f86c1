"""Writes of outbound webhooks: trigger (the transactional outbox), subscriptions, secrets, delivery bookkeeping.

The promises:

* ``trigger`` writes the event and one delivery per matching subscription in the CALLER's transaction and
  enqueues the delivery tasks only after that transaction commits: a rolled-back transaction sends nothing,
  a committed one reaches every matching subscription (the sweeper re-enqueues what a lost message missed).
* A delivery is sent only by the worker holding its lease (``delivery_claim``), and its result is recorded
  only while that worker still holds the claim and the delivery is still pending
  (``delivery_record_attempt``): a redelivered task message never sends or records a second success.
* Every attempt of one event carries the same ``webhook-id``: the event id (equal for all subscriptions, as in
  Svix). Retries, manual retries and replays re-send the SAME delivery row (new attempts), so receivers
  deduplicate on ``webhook-id``.
* Flow control (webhooks.flow) may hold a message back -- its endpoint's breaker is open, the receiver asked for a
  pause with Retry-After, or its concurrency cap or rate limit is reached -- without spending its retry attempts;
  failures are announced to the tenant's other subscriptions as ``webhook.*`` operational events.
* A subscription that is ``disabled`` (persistent failures, or a 410) still gets its new events recorded as
  ``pending`` deliveries that are not sent; setting it ``active`` again sends them. An ``inactive``
  (user-paused) subscription gets no new deliveries.
* ``trigger`` refuses an unknown event type and data that breaks the type's JSON Schema (webhooks.event_types)
  before writing anything; a subscription whose ``filter`` the data does not satisfy gets no delivery
  (webhooks.filters).

Recovery jobs (``webhook_recover``) live in webhooks.recovery.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from config.api import camel_key
from config.errors import Conflict, NotFound, ValidationFailed
from webhooks import delivery as sender
from webhooks import flow, signing
from webhooks.destinations import UnsafeDestination, check_url
from webhooks.event_types import event_data_validate, known_event_names, pattern_is_valid
from webhooks.events import (
    WEBHOOK_DELIVERY_EXHAUSTED,
    WEBHOOK_DELIVERY_FAILING,
    WEBHOOK_DISABLED,
    WEBHOOK_ENDPOINT_DISABLED,
    WEBHOOK_ENDPOINT_RECOVERED,
    WEBHOOK_TEST,
    matches,
)
from webhooks.filters import filter_matches, filter_validate
from webhooks.models import (
    CircuitState,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    OutboundSignatureScheme,
    PayloadFormat,
    Webhook,
    WebhookEvent,
    WebhookSecret,
    WebhookStatus,
)

__all__ = [
    "ClaimedDelivery",
    "ClaimedWebhook",
    "delivery_claim",
    "delivery_claim_many",
    "delivery_record_attempt",
    "delivery_record_many",
    "delivery_release",
    "delivery_release_many",
    "delivery_retry",
    "delivery_sweep",
    "enqueue_deliveries",
    "trigger",
    "webhook_create",
    "webhook_delete",
    "webhook_disable",
    "webhook_replay",
    "webhook_rotate_secret",
    "webhook_test",
    "webhook_update",
]

logger = logging.getLogger(__name__)

MAX_CUSTOM_HEADERS = 20
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$")
_RESERVED_HEADERS = {"host", "content-length", "content-type", "transfer-encoding", "connection", "user-agent"}
_RESERVED_PREFIXES = ("x-webhook-", "webhook-")
# Claim a delivery whose next attempt is due within this much (clock skew between hosts, ETA rounding).
_EARLY_CLAIM = timedelta(seconds=1)


# --------------------------------------------------------------------------- trigger (the outbox)


def trigger(tenant, event: str, data: Mapping[str, Any] | None = None, *, idempotency_key: str | None = None):
    """Record ``event`` for ``tenant`` and a delivery per matching subscription; send after the caller commits.

    ``tenant`` is a Tenant (or its id). ``data`` must be a JSON object (datetimes, UUIDs, decimals become
    strings) valid against the event type's schema. Unknown events, non-object data and data that breaks the
    schema raise ValidationFailed (details per field) and write nothing. A subscription with a ``filter`` receives
    the event only when the data satisfies it. With ``idempotency_key``, a repeated
    call (same tenant and key) returns the first event and records nothing new. A subscription receives the
    event when one of its patterns matches and, when it is tied to an integration, when ``data`` carries no
    ``integrationId`` or that integration's id. Returns the WebhookEvent, with ``delivery_ids`` (list) set.
    """
    return _trigger(tenant, event, data, idempotency_key=idempotency_key)


def _trigger(tenant, event, data, *, idempotency_key=None, exclude_webhook_id=None) -> WebhookEvent:
    tenant_id = getattr(tenant, "pk", tenant)
    if not isinstance(event, str) or not event or "*" in event:
        raise ValidationFailed(f"Unknown event {event!r}.", details={"event": ["Unknown event."]})
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ValidationFailed("The event data must be a JSON object.", details={"data": ["Must be an object."]})
    if idempotency_key is not None:
        idempotency_key = str(idempotency_key).strip()[:200]
    try:
        data_json = sender.serialise_data(dict(data))
    except (TypeError, ValueError) as exc:
        raise ValidationFailed("The event data is not JSON-serialisable.", details={"data": [str(exc)[:200]]})
    payload = json.loads(data_json)
    event_data_validate(event=event, data=payload)

    with transaction.atomic():
        if idempotency_key:
            existing = WebhookEvent.objects.filter(tenant_id=tenant_id, idempotency_key=idempotency_key).first()
            if existing is not None:
                existing.delivery_ids = list(existing.deliveries.values_list("id", flat=True))
                existing.created = False
                return existing
        now = timezone.now()
        event_id = uuid.uuid4()
        body = sender.build_body(
            event_id=str(event_id), event=event, timestamp=now, tenant_id=str(tenant_id), data_json=data_json
        )
        record = WebhookEvent(
            id=event_id,
            tenant_id=tenant_id,
            event=event,
            payload=payload,
            body=body,
            idempotency_key=idempotency_key or "",
            created_at=now,
        )
        try:  # only a key can collide: without one, no savepoint (two round trips fewer)
            with transaction.atomic() if idempotency_key else contextlib.nullcontext():
                record.save(force_insert=True)
        except IntegrityError:
            if not idempotency_key:
                raise
            # A concurrent trigger with the same key won the race: return its event.
            existing = WebhookEvent.objects.get(tenant_id=tenant_id, idempotency_key=idempotency_key)
            existing.delivery_ids = list(existing.deliveries.values_list("id", flat=True))
            existing.created = False
            return existing

        integration_id = str(data.get("integrationId") or data.get("integration_id") or "") or None
        subscriptions = Webhook.objects.filter(
            tenant_id=tenant_id, status__in=(WebhookStatus.ACTIVE, WebhookStatus.DISABLED)
        ).values_list("id", "events", "status", "integration_id", "filter", "paused_until")
        deliveries, to_send = [], []
        for webhook_id, patterns, status, sub_integration, conditions, paused_until in subscriptions:
            if webhook_id == exclude_webhook_id or not matches(patterns or [], event):
                continue
            if sub_integration is not None and integration_id is not None and str(sub_integration) != integration_id:
                continue
            if conditions and not filter_matches(conditions, payload):
                continue
            delivery_id = uuid.uuid4()
            deliveries.append((delivery_id, webhook_id))
            # an endpoint paused (breaker open, Retry-After) gets its message when its wake-up task resumes it
            if status == WebhookStatus.ACTIVE and (paused_until is None or paused_until <= now):
                to_send.append(delivery_id)
        if deliveries:
            _insert_deliveries(deliveries, tenant_id=tenant_id, event_id=event_id, event=event, now=now)
        if to_send:
            transaction.on_commit(lambda: enqueue_deliveries(to_send))
    record.delivery_ids = [delivery_id for delivery_id, _ in deliveries]
    record.created = True
    logger.info(
        "webhooks.event.triggered",
        extra={"event": event, "event_id": str(event_id), "tenant_id": str(tenant_id), "deliveries": len(deliveries)},
    )
    return record


def _insert_deliveries(deliveries: list[tuple[uuid.UUID, Any]], *, tenant_id, event_id, event: str, now) -> None:
    """Insert an event's pending deliveries ((id, webhook id) pairs): on PostgreSQL one INSERT … SELECT over two
    arrays (a fan-out of 100 costs what one row does), elsewhere ``bulk_create``."""
    if connection.vendor != "postgresql":
        Delivery.objects.bulk_create(
            Delivery(
                id=delivery_id,
                tenant_id=tenant_id,
                webhook_id=webhook_id,
                event_id=event_id,
                event_type=event,
                status=DeliveryStatus.PENDING,
                next_attempt_at=now,
                created_at=now,
            )
            for delivery_id, webhook_id in deliveries
        )
        return
    table = connection.ops.quote_name(Delivery._meta.db_table)
    sql = (
        f"INSERT INTO {table} (id, webhook_id, tenant_id, event_id, event_type, status, attempt_count, "  # noqa: S608
        "round_attempts, next_attempt_at, last_error, duration_ms, created_at) "
        "SELECT u.id, u.webhook_id, %s, %s, %s, %s, 0, 0, %s, '', 0, %s "
        "FROM unnest(%s::uuid[], %s::uuid[]) AS u(id, webhook_id)"
    )
    params = [
        tenant_id,
        event_id,
        event,
        str(DeliveryStatus.PENDING),
        now,
        now,
        [delivery_id for delivery_id, _ in deliveries],
        [webhook_id for _, webhook_id in deliveries],
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def enqueue_deliveries(delivery_ids: Iterable, *, countdown: float | None = None) -> int:
    """Queue the deliveries: one ``webhooks.deliver`` task per id, or, for a fan-out without delay, one
    ``webhooks.deliver_many`` task per WEBHOOK_FANOUT_CHUNK ids (sent concurrently by the worker).

    A broker failure is logged, not raised: the rows are committed and the sweeper re-enqueues them.
    Returns how many deliveries were queued.
    """
    from webhooks.tasks.outbound import deliver, deliver_many

    ids = [str(i) for i in delivery_ids]
    chunk = max(1, int(settings.WEBHOOK_FANOUT_CHUNK))
    sent = 0
    try:
        if countdown is None and chunk > 1 and len(ids) > 1:
            for start in range(0, len(ids), chunk):
                part = ids[start : start + chunk]
                deliver_many.apply_async((part,))
                sent += len(part)
        else:
            for delivery_id in ids:
                deliver.apply_async((delivery_id,), countdown=countdown)
                sent += 1
    except Exception as exc:  # the broker is down: the sweeper will pick the rest up
        logger.warning(
            "webhooks.delivery.enqueue_failed",
            extra={"queued": sent, "lost": len(ids) - sent, "error": type(exc).__name__},
        )
    return sent


def _relax_commit() -> None:
    """Worker bookkeeping commits without waiting for the WAL flush (WEBHOOK_ASYNC_COMMIT, PostgreSQL only).

    A database crash may then forget the last fraction of a second of claims and results: a delivery whose
    success was forgotten is sent again with the same webhook-id (at-least-once, as a worker crash between
    the response and the commit would do). Only these transactions are affected (SET LOCAL).
    """
    if settings.WEBHOOK_ASYNC_COMMIT and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


# --------------------------------------------------------------------------- validation


def _validate_url(url: str) -> str:
    url = (url or "").strip()
    try:
        check_url(url)
    except UnsafeDestination as exc:
        raise ValidationFailed(f"url: {exc}", details={"url": [str(exc)]})
    return url


def _validate_events(events) -> list[str]:
    if not isinstance(events, list | tuple) or not events:
        raise ValidationFailed("events: give at least one event.", details={"events": ["Give at least one event."]})
    names = known_event_names()
    bad = [str(p) for p in events if not pattern_is_valid(p, names=names)]
    if bad:
        message = f"Unknown event or pattern: {', '.join(bad[:5])}. See GET /api/v1/integrations/webhooks/events."
        raise ValidationFailed(f"events: {message}", details={"events": [message]})
    return list(dict.fromkeys(events))  # dedupe, keep order


def _validate_headers(headers, *, current: Mapping[str, str] | None = None) -> dict[str, str]:
    """Check custom headers. Reads show values masked: a value equal to the mask, for a header the subscription
    already has, keeps the stored value (a GET-modify-PUT round trip does not overwrite it with the mask)."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise ValidationFailed("headers: must be an object.", details={"headers": ["Must be an object."]})
    if len(headers) > MAX_CUSTOM_HEADERS:
        message = f"At most {MAX_CUSTOM_HEADERS} custom headers."
        raise ValidationFailed(f"headers: {message}", details={"headers": [message]})
    clean, seen = {}, set()
    for name, value in headers.items():
        lowered = str(name).lower()
        problem = None
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            problem = f"{name!r} is not a valid header name."
        elif lowered in _RESERVED_HEADERS or lowered.startswith(_RESERVED_PREFIXES):
            problem = f"{name} is set by the platform and cannot be overridden."
        elif lowered in seen:
            problem = f"{name} is given twice."
        elif not isinstance(value, str) or len(value) > 1000 or any(c in value for c in "\r\n\x00"):
            problem = f"The value of {name} must be a string of at most 1000 characters on one line."
        if problem:
            raise ValidationFailed(f"headers: {problem}", details={"headers": [problem]})
        seen.add(lowered)
        if value == sender.MASKED_HEADER_VALUE and current and name in current:
            value = current[name]
        clean[name] = value
    return clean


def _validate_secret(secret: str | None) -> str:
    if secret is None or secret == "":
        return signing.generate_secret()
    if not isinstance(secret, str) or not 8 <= len(secret) <= 200 or secret.strip() != secret:
        message = "Must be 8 to 200 characters without surrounding spaces."
        raise ValidationFailed(f"secret: {message}", details={"secret": [message]})
    if secret.startswith((signing.PRIVATE_KEY_PREFIX, signing.PUBLIC_KEY_PREFIX)):
        message = "whsk_/whpk_ keys are generated by the platform: use signatureScheme v1a."
        raise ValidationFailed(f"secret: {message}", details={"secret": [message]})
    try:
        key = signing.secret_bytes(secret)
    except ValueError:
        message = "A whsec_ secret must be valid base64 after the prefix."
        raise ValidationFailed(f"secret: {message}", details={"secret": [message]})
    if len(key) < 8:
        message = "The secret is too short."
        raise ValidationFailed(f"secret: {message}", details={"secret": [message]})
    return secret


def _validate_choice(name: str, value, choices) -> str:
    if value not in choices.values:
        message = f"Must be one of: {', '.join(choices.values)}."
        raise ValidationFailed(f"{name}: {message}", details={name: [message]})
    return value


def _new_signing_key(webhook: Webhook, secret: str | None) -> str | None:
    """Store the subscription's new current key: a v1 secret (returned) or a v1a key pair (the public key is
    stored beside the encrypted private key; nothing secret is returned)."""
    if webhook.signature_scheme == OutboundSignatureScheme.V1A:
        if secret:
            message = "A v1a subscription signs with a generated ed25519 key pair: give no secret."
            raise ValidationFailed(f"secret: {message}", details={"secret": [message]})
        private, public = signing.generate_keypair()
        WebhookSecret.objects.create(webhook=webhook, secret=private, public_key=public)
        return None
    secret = _validate_secret(secret)
    WebhookSecret.objects.create(webhook=webhook, secret=secret)
    return secret


def _validate_range(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        message = f"Must be an integer between {low} and {high}."
        raise ValidationFailed(f"{name}: {message}", details={name: [message]})
    return value


def _validate_rate_limit(value) -> int | None:
    """Messages per second to this endpoint across all workers, 1 to 10,000; None for no limit."""
    if value is None:
        return None
    return _validate_range("rateLimit", value, 1, 10000)


def _integration_for(tenant, integration_id):
    if integration_id in (None, ""):
        return None
    from integrations.models import Integration

    try:
        return Integration.objects.get(tenant=tenant, pk=integration_id)
    except (Integration.DoesNotExist, ValueError, TypeError):
        message = "No integration with this id in your tenant."
        raise ValidationFailed(f"integrationId: {message}", details={"integrationId": [message]})


# --------------------------------------------------------------------------- subscriptions


def _activity(
    webhook: Webhook,
    message: str,
    *,
    actor=None,
    details: Mapping[str, Any] | None = None,
    ok=True,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Every change to a subscription is an activity entry, like changes to integrations: on the subscription's
    integration when it has one, else at tenant level (`details.webhookId` names the subscription either way).

    `extra` is the caller's addition to the entry's details (the console marks its actions `source: console` with
    the action's name), so one change is one entry whoever made it."""
    from integrations.activity import log_activity

    log_activity(
        integration=webhook.integration if webhook.integration_id else None,
        tenant_id=webhook.tenant_id,
        type="webhook",
        status="success" if ok else "error",
        message=message,
        details={"webhookId": str(webhook.pk), "name": webhook.name, **(details or {}), **(extra or {})},
        actor=actor,
    )


@transaction.atomic
def webhook_create(
    *,
    tenant,
    name: str,
    url: str,
    events: list[str],
    secret: str | None = None,
    headers: Mapping[str, str] | None = None,
    retry_attempts: int = 3,
    timeout_ms: int = 10000,
    integration_id=None,
    status: str = WebhookStatus.ACTIVE,
    signature_scheme: str = OutboundSignatureScheme.V1,
    filter: Mapping[str, Any] | None = None,
    payload_format: str = PayloadFormat.STANDARD,
    rate_limit: int | None = None,
    actor=None,
) -> tuple[Webhook, str | None]:
    """Create a subscription; returns it and its signing secret (generated ``whsec_…`` when not given), or None
    for a ``v1a`` subscription (its ed25519 key pair is generated; the public key is readable, the private never)."""
    if status not in (WebhookStatus.ACTIVE, WebhookStatus.INACTIVE):
        raise ValidationFailed(
            "status: must be active or inactive.", details={"status": ["Must be active or inactive."]}
        )
    webhook = Webhook(
        tenant=tenant,
        integration=_integration_for(tenant, integration_id),
        name=(name or "").strip(),
        url=_validate_url(url),
        events=_validate_events(events),
        headers=_validate_headers(headers),
        retry_attempts=_validate_range("retryAttempts", retry_attempts, 0, settings.WEBHOOK_MAX_RETRY_ATTEMPTS),
        timeout_ms=_validate_range("timeoutMs", timeout_ms, 1000, 30000),
        signature_scheme=_validate_choice("signatureScheme", signature_scheme, OutboundSignatureScheme),
        filter=filter_validate(filter),
        payload_format=_validate_choice("payloadFormat", payload_format, PayloadFormat),
        status=status,
        rate_limit=_validate_rate_limit(rate_limit),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    if not webhook.name:
        raise ValidationFailed("name: required.", details={"name": ["This field is required."]})
    if webhook.signature_scheme == OutboundSignatureScheme.V1:
        secret = _validate_secret(secret)  # before the first write: a bad secret leaves nothing behind
    webhook.save()
    secret = _new_signing_key(webhook, secret)
    _activity(webhook, f"Webhook {webhook.name!r} created.", actor=actor, details={"events": webhook.events})
    logger.info("webhooks.subscription.created", extra={"webhook_id": str(webhook.pk), "tenant_id": str(tenant.pk)})
    return webhook, secret


@transaction.atomic
def webhook_update(
    *, webhook: Webhook, data: Mapping[str, Any], actor=None, activity: Mapping[str, Any] | None = None
) -> Webhook:
    """Change the given fields. Setting ``status`` to ``active`` again sends the deliveries that waited."""
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    resume = False
    if "name" in data:
        webhook.name = (data["name"] or "").strip()
        if not webhook.name:
            raise ValidationFailed("name: required.", details={"name": ["This field may not be blank."]})
    if "url" in data:
        url = _validate_url(data["url"])
        if url != webhook.url:
            _reset_circuit(webhook)  # a new destination starts with a closed breaker
        webhook.url = url
    if "rate_limit" in data:
        webhook.rate_limit = _validate_rate_limit(data["rate_limit"])
    if "events" in data:
        webhook.events = _validate_events(data["events"])
    if "headers" in data:
        webhook.headers = _validate_headers(data["headers"], current=webhook.headers)
    if "retry_attempts" in data:
        webhook.retry_attempts = _validate_range(
            "retryAttempts", data["retry_attempts"], 0, settings.WEBHOOK_MAX_RETRY_ATTEMPTS
        )
    if "timeout_ms" in data:
        webhook.timeout_ms = _validate_range("timeoutMs", data["timeout_ms"], 1000, 30000)
    if "integration_id" in data:
        webhook.integration = _integration_for(webhook.tenant, data["integration_id"])
    if "filter" in data:
        webhook.filter = filter_validate(data["filter"])
    if "payload_format" in data:
        webhook.payload_format = _validate_choice("payloadFormat", data["payload_format"], PayloadFormat)
    if "status" in data:
        status = data["status"]
        if status not in (WebhookStatus.ACTIVE, WebhookStatus.INACTIVE):
            raise ValidationFailed(
                "status: must be active or inactive.", details={"status": ["Must be active or inactive."]}
            )
        if status == WebhookStatus.ACTIVE and webhook.status != WebhookStatus.ACTIVE:
            resume = True
            webhook.consecutive_failures = 0
            webhook.failing_since = None
            webhook.disabled_at = None
            webhook.disabled_reason = ""
            _reset_circuit(webhook)
        webhook.status = status
    webhook.save()
    if resume:
        _resume_pending(webhook)
    changed = sorted(camel_key(name) for name in data)
    _activity(
        webhook,
        f"Webhook updated: {', '.join(changed)}.",
        actor=actor,
        details={"changedFields": changed},
        extra=activity,
    )
    return webhook


def _reset_circuit(webhook: Webhook) -> None:
    webhook.circuit_state = CircuitState.CLOSED
    webhook.circuit_failures = 0
    webhook.circuit_opened_at = None
    webhook.paused_until = None
    webhook.window_started_at, webhook.window_attempts, webhook.window_failures = None, 0, 0


def _resume_pending(webhook) -> None:
    """Make the waiting deliveries of a re-activated (or recovered, or no longer paused) subscription due now and
    queue them (the sweeper does the rest). ``webhook`` is a subscription or its id."""
    now = timezone.now()
    free = Q(locked_until__isnull=True) | Q(locked_until__lte=now)
    pending = Delivery.objects.filter(webhook_id=getattr(webhook, "pk", webhook), status=DeliveryStatus.PENDING).filter(
        free
    )
    ids = list(pending.order_by("created_at").values_list("id", flat=True)[: settings.WEBHOOK_SWEEP_BATCH])
    pending.update(next_attempt_at=now)
    if ids:
        transaction.on_commit(lambda: enqueue_deliveries(ids))


@transaction.atomic
def webhook_delete(*, webhook: Webhook, actor=None, activity: Mapping[str, Any] | None = None) -> None:
    """Delete the subscription with its secrets and delivery history."""
    webhook_id = str(webhook.pk)
    _activity(webhook, f"Webhook {webhook.name!r} deleted.", actor=actor, details={"url": webhook.url}, extra=activity)
    webhook.delete()
    logger.info("webhooks.subscription.deleted", extra={"webhook_id": webhook_id})


@transaction.atomic
def webhook_rotate_secret(
    *, webhook: Webhook, secret: str | None = None, actor=None, activity: Mapping[str, Any] | None = None
) -> str | None:
    """Make a new current secret (or, for ``v1a``, a new ed25519 key pair); the previous one keeps signing for
    WEBHOOK_SECRET_OVERLAP_HOURS. Returns the new secret (None for ``v1a``: read its public key)."""
    now = timezone.now()
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)  # serialise concurrent rotations
    if webhook.signature_scheme == OutboundSignatureScheme.V1:
        secret = _validate_secret(secret)
    elif secret:
        message = "A v1a subscription signs with a generated ed25519 key pair: give no secret."
        raise ValidationFailed(f"secret: {message}", details={"secret": [message]})
    WebhookSecret.objects.filter(webhook=webhook, expires_at__lte=now).delete()
    overlap = timedelta(hours=float(settings.WEBHOOK_SECRET_OVERLAP_HOURS))
    WebhookSecret.objects.filter(webhook=webhook, expires_at__isnull=True).update(expires_at=now + overlap)
    new_secret = _new_signing_key(webhook, secret)
    Webhook.objects.filter(pk=webhook.pk).update(updated_at=now)
    _activity(
        webhook,
        "Signing secret rotated.",
        actor=actor,
        details={"previousValidHours": overlap.total_seconds() / 3600},
        extra=activity,
    )
    logger.info("webhooks.secret.rotated", extra={"webhook_id": str(webhook.pk)})
    return new_secret


@transaction.atomic
def webhook_disable(*, webhook: Webhook, reason: str) -> bool:
    """Disable an active subscription and emit ``webhook.endpoint.disabled`` to the tenant's other subscriptions
    and, under its older name ``webhook.disabled`` (an alias kept for existing subscribers), to those asking for
    that."""
    now = timezone.now()
    changed = Webhook.objects.filter(pk=webhook.pk, status=WebhookStatus.ACTIVE).update(
        status=WebhookStatus.DISABLED, disabled_at=now, disabled_reason=reason[:500], updated_at=now
    )
    if changed:
        logger.warning("webhooks.subscription.disabled", extra={"webhook_id": str(webhook.pk), "reason": reason})
        about = _about(webhook)
        _emit_operational(webhook.tenant_id, WEBHOOK_ENDPOINT_DISABLED, {**about, "reason": reason}, about=webhook.pk)
        alias = {"webhookId": about["subscriptionId"], **about, "reason": reason}
        _emit_operational(webhook.tenant_id, WEBHOOK_DISABLED, alias, about=webhook.pk)
    return bool(changed)


def _about(webhook) -> dict[str, str]:
    return {"subscriptionId": str(webhook.pk), "name": webhook.name, "url": webhook.url}


def _emit_operational(tenant_id, event: str, data: dict, *, about, known: dict | None = None) -> None:
    """Trigger an operational event about subscription ``about`` for the tenant's OTHER subscriptions asking for it.

    Nothing is written when no other subscription asks for it (these events follow failures, which can be many).
    Never in a loop: deliveries of ``webhook.*`` events never cause delivery events themselves (see _record_many),
    and an event is never sent to the subscription it is about.
    """
    subscriptions = (known or {}).get(tenant_id)
    if subscriptions is None:
        subscriptions = list(
            Webhook.objects.filter(
                tenant_id=tenant_id, status__in=(WebhookStatus.ACTIVE, WebhookStatus.DISABLED)
            ).values_list("pk", "events")
        )
        if known is not None:  # one read per tenant for a batch of announcements
            known[tenant_id] = subscriptions
    if any(pk != about and matches(patterns or [], event) for pk, patterns in subscriptions):
        _trigger(tenant_id, event, data, exclude_webhook_id=about)


def webhook_test(*, webhook: Webhook, actor=None) -> dict[str, Any]:
    """Send a ``webhook.test`` event to this subscription now (whatever its status and patterns).

    Recorded as a delivery with one attempt (no retries; it does not count towards auto-disable).
    Returns ``{success, message, responseStatus}``.
    """
    now = timezone.now()
    event_id = uuid.uuid4()
    data_json = sender.serialise_data({"webhookId": str(webhook.pk), "message": "This is a test webhook."})
    body = sender.build_body(
        event_id=str(event_id), event=WEBHOOK_TEST, timestamp=now, tenant_id=str(webhook.tenant_id), data_json=data_json
    )
    with transaction.atomic():
        event = WebhookEvent.objects.create(
            id=event_id,
            tenant_id=webhook.tenant_id,
            event=WEBHOOK_TEST,
            payload=json.loads(data_json),
            body=body,
            created_at=now,
        )
        token = uuid.uuid4()
        # Born claimed: no worker or sweeper touches it while this request sends it.
        delivery = Delivery.objects.create(
            tenant_id=webhook.tenant_id,
            webhook=webhook,
            event=event,
            event_type=WEBHOOK_TEST,
            next_attempt_at=now,
            locked_until=now + timedelta(seconds=webhook.timeout_ms / 1000 + 60),
            claim_token=token,
            created_at=now,
        )
    from webhooks.selectors import webhook_live_secrets

    secrets = webhook_live_secrets(webhook_id=webhook.pk)
    body, content_type = sender.format_body(event.body, webhook.payload_format)
    outcome = sender.send_once(
        url=webhook.url,
        body=body,
        msg_id=str(event.pk),
        event=WEBHOOK_TEST,
        attempt=1,
        secrets=secrets,
        custom_headers=webhook.headers,
        timeout_ms=webhook.timeout_ms,
        content_type=content_type,
    )
    delivery.webhook = webhook
    delivery_record_attempt(delivery=delivery, token=token, outcome=outcome, allow_retry=False, affect_health=False)
    success = outcome.kind == sender.SUCCESS
    _activity(
        webhook,
        "Test event delivered." if success else f"Test event failed: {outcome.message}",
        actor=actor,
        details={"deliveryId": str(delivery.pk), "responseStatus": outcome.response_status},
        ok=success,
    )
    return {
        "success": success,
        "message": "Webhook test successful" if success else outcome.message,
        "response_status": outcome.response_status,
        "delivery_id": str(delivery.pk),
    }


# --------------------------------------------------------------------------- retry, replay


@transaction.atomic
def delivery_retry(*, webhook: Webhook, delivery_id, actor=None, activity: Mapping[str, Any] | None = None) -> Delivery:
    """Send one delivery again now (a new attempt on the same row: same ``webhook-id``), with a fresh retry budget."""
    try:
        delivery = Delivery.objects.select_for_update().get(webhook=webhook, pk=delivery_id)
    except (Delivery.DoesNotExist, ValueError, TypeError):
        raise NotFound("delivery")
    now = timezone.now()
    if delivery.status == DeliveryStatus.PENDING and delivery.locked_until and delivery.locked_until > now:
        raise Conflict("This delivery is being sent right now.")
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING,
        round_attempts=0,
        next_attempt_at=now,
        completed_at=None,
        locked_until=None,
        claim_token=None,
    )
    if webhook.status == WebhookStatus.ACTIVE:
        transaction.on_commit(lambda: enqueue_deliveries([delivery.pk]))
    delivery.refresh_from_db()
    _activity(webhook, "Delivery sent again.", actor=actor, details={"deliveryId": str(delivery.pk)}, extra=activity)
    return delivery


@transaction.atomic
def webhook_replay(
    *,
    webhook: Webhook,
    since: datetime,
    until: datetime | None = None,
    status: str = DeliveryStatus.FAILED,
    actor=None,
    activity: Mapping[str, Any] | None = None,
) -> list:
    """Re-send the subscription's ``status`` (failed, or success) deliveries created in [since, until).

    Each is reset to pending on its own row (new attempts, same ``webhook-id``) with a fresh retry budget;
    at most WEBHOOK_REPLAY_MAX per call, oldest first. Returns the ids queued.
    """
    until = until or timezone.now()
    if status not in (DeliveryStatus.FAILED, DeliveryStatus.SUCCESS):
        raise ValidationFailed("status: must be failed or success.", details={"status": ["Must be failed or success."]})
    if since >= until:
        raise ValidationFailed("since must be before until.", details={"since": ["Must be before until."]})
    ids = list(
        Delivery.objects.filter(webhook=webhook, status=status, created_at__gte=since, created_at__lt=until)
        .order_by("created_at")
        .values_list("id", flat=True)[: settings.WEBHOOK_REPLAY_MAX]
    )
    if not ids:
        return []
    now = timezone.now()
    Delivery.objects.filter(pk__in=ids, status=status).update(
        status=DeliveryStatus.PENDING,
        round_attempts=0,
        next_attempt_at=now,
        completed_at=None,
        locked_until=None,
        claim_token=None,
    )
    if webhook.status == WebhookStatus.ACTIVE:
        transaction.on_commit(lambda: enqueue_deliveries(ids))
    _activity(
        webhook,
        f"{len(ids)} {status} deliveries replayed.",
        actor=actor,
        details={"replayed": len(ids), "since": since.isoformat(), "until": until.isoformat(), "status": status},
        extra=activity,
    )
    logger.info("webhooks.delivery.replayed", extra={"webhook_id": str(webhook.pk), "count": len(ids)})
    return ids


# --------------------------------------------------------------------------- worker bookkeeping


def delivery_claim(*, delivery_id, now: datetime | None = None) -> tuple[ClaimedDelivery, uuid.UUID] | None:
    """Take the lease on one pending, due, unclaimed delivery; returns it (with webhook and event) and the token.

    A chunk of one: see ``delivery_claim_many``. None when the delivery is finished, leased, not yet due or unknown.
    """
    claimed, token = delivery_claim_many(delivery_ids=[delivery_id], now=now)
    return (claimed[0], token) if claimed else None


@dataclass(slots=True)
class ClaimedWebhook:
    """What the sender needs of a subscription (read with its claimed deliveries, not a model instance)."""

    pk: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    url: str
    headers: dict
    timeout_ms: int
    retry_attempts: int
    status: str
    updated_at: datetime | None
    rate_limit: int | None
    circuit_state: str
    paused_until: datetime | None
    payload_format: str = PayloadFormat.STANDARD


@dataclass(slots=True)
class ClaimedDelivery:
    """A delivery this worker holds the lease on: what sending and recording it needs."""

    pk: uuid.UUID
    webhook: ClaimedWebhook
    event_id: uuid.UUID
    event_type: str
    body: str  # the event's stored JSON
    attempt_count: int
    round_attempts: int
    lease_seconds: float

    @property
    def webhook_id(self) -> uuid.UUID:
        return self.webhook.pk


_CLAIM_COLUMNS = (
    "id",
    "event_id",
    "event_type",
    "event__body",
    "attempt_count",
    "round_attempts",
    "webhook_id",
    "webhook__tenant_id",
    "webhook__name",
    "webhook__url",
    "webhook__headers",
    "webhook__timeout_ms",
    "webhook__retry_attempts",
    "webhook__status",
    "webhook__updated_at",
    "webhook__rate_limit",
    "webhook__circuit_state",
    "webhook__paused_until",
    "webhook__payload_format",
)


def delivery_claim_many(
    *, delivery_ids: Iterable, now: datetime | None = None
) -> tuple[list[ClaimedDelivery], uuid.UUID]:
    """Take the lease on those of ``delivery_ids`` that are pending, due and unclaimed, with ONE conditional UPDATE.

    Of any number of concurrent or redelivered messages naming a delivery, one wins; a delivery already finished,
    held by a live lease, or not yet due is left alone. Returns the claimed deliveries with their event body and
    subscription (one SELECT) and the claim token they now carry. The lease (``lease_seconds`` on each) lasts
    WEBHOOK_LEASE_SECONDS, and at least the slowest subscription's timeout + 5 s + half a lease: a send may start
    up to ``lease_seconds - timeout - 5 s`` after the claim and still be recorded under it.
    """
    ids = []
    for raw in delivery_ids:
        try:
            ids.append(uuid.UUID(str(raw)))
        except ValueError:
            continue
    token = uuid.uuid4()
    if not ids:
        return [], token
    now = now or timezone.now()
    base = float(settings.WEBHOOK_LEASE_SECONDS)
    with transaction.atomic():
        _relax_commit()
        claimed = (
            Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.PENDING)
            .filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now))
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + _EARLY_CLAIM))
            .update(locked_until=now + timedelta(seconds=base), claim_token=token)
        )
        if not claimed:
            return [], token
        rows = list(Delivery.objects.filter(pk__in=ids, claim_token=token).values_list(*_CLAIM_COLUMNS))
        slowest = max(row[11] for row in rows) / 1000
        lease = max(base, slowest + 5 + base / 2)
        if lease > base:  # a long timeout: hold the lease for all of it
            Delivery.objects.filter(pk__in=[row[0] for row in rows], claim_token=token).update(
                locked_until=now + timedelta(seconds=lease)
            )
    webhooks: dict[uuid.UUID, ClaimedWebhook] = {}
    deliveries = []
    for pk, event_id, event_type, body, attempt_count, round_attempts, webhook_id, *webhook_fields in rows:
        webhook = webhooks.get(webhook_id)
        if webhook is None:
            webhook = webhooks[webhook_id] = ClaimedWebhook(webhook_id, *webhook_fields)
        deliveries.append(
            ClaimedDelivery(pk, webhook, event_id, event_type, body, attempt_count, round_attempts, lease)
        )
    return deliveries, token


def delivery_release(*, delivery: Delivery, token) -> None:
    """Give a claimed delivery back untouched (its subscription is not active: it waits, pending)."""
    delivery_release_many(delivery_ids=[delivery.pk], token=token)


def delivery_release_many(*, delivery_ids: Iterable, token) -> int:
    """Give claimed deliveries back untouched (their subscription is not active, or their send could not start
    in time): they stay pending for the next message or the sweeper."""
    return Delivery.objects.filter(pk__in=list(delivery_ids), claim_token=token).update(
        locked_until=None, claim_token=None
    )


def delivery_record_attempt(
    *, delivery: Delivery, token, outcome: sender.Outcome, allow_retry: bool = True, affect_health: bool = True
) -> str | None:
    """Record one attempt of a claimed delivery (a batch of one, see ``delivery_record_many``)."""
    results = delivery_record_many(
        results=[(delivery, outcome)], token=token, allow_retry=allow_retry, affect_health=affect_health
    )
    return results[delivery.pk]


@dataclass
class _Decision:
    delivery: Delivery
    outcome: sender.Outcome
    kind: str  # what the delivery becomes: success | retry | failed
    delay: float | None
    attempt_id: uuid.UUID
    spent: bool = True  # False: a Retry-After pause, which does not use up the message's retry attempts
    pause: float | None = None  # seconds the whole endpoint is paused for (Retry-After on a 429 or 503)

    @property
    def breaker_failure(self) -> bool:
        """A failure that says the endpoint is unwell: counted by the circuit breaker."""
        return self.outcome.kind == sender.RETRY and self.pause is None


def delivery_record_many(
    *,
    results: list[tuple[Delivery, sender.Outcome]],
    token,
    allow_retry: bool = True,
    affect_health: bool = True,
) -> dict[uuid.UUID, str | None]:
    """Record one attempt for each claimed delivery and decide what comes next, in ONE transaction.

    Per delivery: success, retry later (1 s, 2 s, 4 s … ±20 %, at least Retry-After) or failed. Only deliveries
    still pending and still carrying ``token`` are recorded (one guarded UPDATE): one whose claim was lost (lease
    expired, another worker took over) is left to that worker and maps to None. Then one INSERT of the attempts,
    one UPDATE of the subscriptions' counters (aggregated per subscription), the auto-disable check for the
    subscriptions that failed, and the retries queued after commit. Returns {delivery id: recorded outcome or None}.
    A deadlock with a concurrent writer is retried.
    """
    for attempt in range(3):
        try:
            return _record_many(results, token=token, allow_retry=allow_retry, affect_health=affect_health)
        except OperationalError as exc:
            if attempt == 2 or not _is_retryable(exc) or connection.in_atomic_block:
                raise
            logger.warning("webhooks.delivery.record_retried", extra={"error": type(exc.__cause__).__name__})
    raise AssertionError("unreachable")


def _is_retryable(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) in ("40P01", "40001")  # deadlock, serialization failure


@transaction.atomic
def _record_many(results, *, token, allow_retry: bool, affect_health: bool) -> dict[uuid.UUID, str | None]:
    # the commit is relaxed (see _relax_commit) by the deliveries' UPDATE itself: one round trip fewer per batch
    now = timezone.now()
    decisions = []
    for delivery, outcome in results:
        kind, delay, spent, pause = outcome.kind, None, True, None
        if kind == sender.RETRY and outcome.response_status in (429, 503) and outcome.retry_after is not None:
            # the receiver asked for a pause: the whole endpoint waits, the message keeps its retry budget
            pause = min(max(1.0, outcome.retry_after), float(settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS))
            spent = False
            if allow_retry:
                delay = pause
            else:
                kind = sender.FAILED
        elif kind == sender.RETRY:
            round_number = delivery.round_attempts + 1
            if allow_retry and round_number <= delivery.webhook.retry_attempts:
                delay = sender.retry_delay(round_number, outcome.retry_after)
            else:
                kind = sender.FAILED
        decisions.append(_Decision(delivery, outcome, kind, delay, uuid.uuid4(), spent, pause))
    recorded = _update_deliveries(decisions, token=token, now=now)
    outcomes: dict[uuid.UUID, str | None] = {d.delivery.pk: None for d in decisions}
    kept = []
    for decision in decisions:
        if decision.delivery.pk in recorded:
            kept.append(decision)
            outcomes[decision.delivery.pk] = decision.kind
        else:
            logger.warning("webhooks.delivery.claim_lost", extra={"delivery_id": str(decision.delivery.pk)})
    if not kept:
        return outcomes
    _insert_attempts(kept, now=now)
    _update_counters(kept, now=now, affect_health=affect_health)
    if affect_health:
        _emit_delivery_events(kept)
        failing = {}
        for d in kept:
            if d.kind != sender.SUCCESS:
                webhook = d.delivery.webhook
                failing.setdefault(webhook.pk, [webhook, False])[1] |= d.outcome.gone
        if failing:
            _maybe_disable(failing, now)
    retries = []
    for d in kept:
        _log_recorded(d)
        if d.delay is not None:
            retries.append((d.delivery.pk, d.delay))
    if retries:
        transaction.on_commit(lambda: _enqueue_retries(retries))
    return outcomes


def _enqueue_retries(retries: list[tuple[uuid.UUID, float]]) -> None:
    for delivery_id, delay in retries:
        enqueue_deliveries([delivery_id], countdown=delay)


def _log_recorded(d: _Decision) -> None:
    level = logging.INFO if d.kind == sender.SUCCESS else logging.WARNING
    if not logger.isEnabledFor(level):
        return
    logger.log(
        level,
        f"webhooks.delivery.{'retry_scheduled' if d.delay is not None else d.kind}",
        extra={
            "delivery_id": str(d.delivery.pk),
            "webhook_id": str(d.delivery.webhook_id),
            "attempt": d.delivery.attempt_count + 1,
            "response_status": d.outcome.response_status,
            "duration_ms": d.outcome.duration_ms,
            "error": d.outcome.error[:200],
            "retry_in": d.delay,
        },
    )


def _rows_cte(columns: str, casts: tuple[str, ...], rows: list[tuple]) -> tuple[str, list]:
    """``WITH v (columns) AS (…)`` over ``rows``, and its parameters.

    On PostgreSQL the rows travel as one typed array per column (``unnest``): the statement's text is the same for
    any number of rows (parsed and cached once) and a chunk is a handful of parameters. Elsewhere a VALUES list.
    """
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{cast}[]" for cast in casts)
        sql = f"WITH v ({columns}) AS (SELECT * FROM unnest({arrays}))"  # noqa: S608 - placeholders only
        return sql, [list(column) for column in zip(*rows, strict=True)]
    row = "(" + ", ".join("%s" for _ in casts) + ")"
    return f"WITH v ({columns}) AS (VALUES {', '.join([row] * len(rows))})", [value for r in rows for value in r]


def _prep(model, field_name: str, value):
    return model._meta.get_field(field_name).get_db_prep_value(value, connection)


def _update_deliveries(decisions: list[_Decision], *, token, now: datetime) -> set[uuid.UUID]:
    """ONE guarded UPDATE … FROM v RETURNING of the claimed deliveries; returns the ids it updated."""
    rows = []
    for d in decisions:
        done = d.delay is None
        status = (
            DeliveryStatus.SUCCESS
            if d.kind == sender.SUCCESS
            else (DeliveryStatus.FAILED if done else DeliveryStatus.PENDING)
        )
        next_at = now + timedelta(seconds=d.delay) if d.delay is not None else None
        rows.append(
            (
                _prep(Delivery, "id", d.delivery.pk),
                str(status),
                _prep(Delivery, "next_attempt_at", next_at),
                _prep(Delivery, "completed_at", now if done else None),
                d.outcome.response_status,
                d.outcome.error[:2000] if d.kind != sender.SUCCESS else "",
                d.outcome.duration_ms,
                _prep(Delivery, "claim_token", d.attempt_id),  # a UUID, prepared like one
                1 if d.spent else 0,
            )
        )
    table = connection.ops.quote_name(Delivery._meta.db_table)
    cte, params = _rows_cte(
        "id, status, next_at, completed_at, response_status, error, duration, attempt_id, spent",
        ("uuid", "varchar", "timestamptz", "timestamptz", "integer", "text", "integer", "uuid", "integer"),
        rows,
    )
    relax_from = ""
    if settings.WEBHOOK_ASYNC_COMMIT and connection.vendor == "postgresql":
        # SET LOCAL synchronous_commit TO OFF (see _relax_commit) as part of this statement: set_config(…, true)
        cte += ", relax AS (SELECT set_config('synchronous_commit', 'off', true))"
        relax_from = ", relax"
    # only the quoted table name and placeholders are interpolated; every value is a parameter
    sql = (
        f"{cte} UPDATE {table} AS d SET status = v.status, next_attempt_at = v.next_at, "  # noqa: S608
        "completed_at = v.completed_at, "
        "last_response_status = v.response_status, last_error = v.error, duration_ms = d.duration_ms + v.duration, "
        "attempt_count = d.attempt_count + 1, round_attempts = d.round_attempts + v.spent, "
        "last_attempt_id = v.attempt_id, "
        "locked_until = NULL, claim_token = NULL "
        f"FROM v{relax_from} WHERE d.id = v.id AND d.claim_token = %s AND d.status = %s "
        # SQLite's RETURNING sees only the updated table, by its bare column names; PostgreSQL's sees v too
        + ("RETURNING d.id" if connection.vendor == "postgresql" else "RETURNING id")
    )
    params += [_prep(Delivery, "claim_token", token), str(DeliveryStatus.PENDING)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {uuid.UUID(str(row[0])) for row in cursor.fetchall()}


def _insert_attempts(kept: list[_Decision], *, now: datetime) -> None:
    """ONE INSERT of the attempts (the ORM's bulk_create costs more CPU per row than the send itself)."""
    stamp = _prep(DeliveryAttempt, "created_at", now)
    rows = [
        (
            _prep(DeliveryAttempt, "id", d.attempt_id),
            _prep(DeliveryAttempt, "id", d.delivery.pk),
            d.delivery.attempt_count + 1,
            d.delivery.webhook.url,
            json.dumps(d.outcome.request_headers),
            d.outcome.response_status,
            json.dumps(d.outcome.response_headers),
            d.outcome.response_body,
            bool(d.outcome.response_truncated),
            d.outcome.error[:2000],
            d.kind,
            d.outcome.duration_ms,
            stamp,
        )
        for d in kept
    ]
    columns = (
        "id, delivery_id, attempt_number, url, request_headers, response_status, response_headers, response_body, "
        "response_truncated, error, outcome, duration_ms, created_at"
    )
    casts = ("uuid", "uuid", "integer", "varchar", "jsonb", "integer", "jsonb", "text", "boolean", "text", "varchar")
    cte, params = _rows_cte(columns, (*casts, "integer", "timestamptz"), rows)
    table = connection.ops.quote_name(DeliveryAttempt._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"{cte} INSERT INTO {table} ({columns}) SELECT {columns} FROM v", params)  # noqa: S608


_COUNTER_FIELDS = (
    "id",
    "tenant_id",
    "name",
    "url",
    "consecutive_failures",
    "failing_since",
    "circuit_state",
    "circuit_failures",
    "circuit_opened_at",
    "paused_until",
    "window_started_at",
    "window_attempts",
    "window_failures",
)


@dataclass(slots=True)
class _CounterRow:
    """A locked subscription's health and breaker fields (lighter than a model instance, one per subscription)."""

    pk: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    url: str
    consecutive_failures: int
    failing_since: datetime | None
    circuit_state: str
    circuit_failures: int
    circuit_opened_at: datetime | None
    paused_until: datetime | None
    window_started_at: datetime | None
    window_attempts: int
    window_failures: int


def _update_counters(kept: list[_Decision], *, now: datetime, affect_health: bool) -> None:
    """The subscriptions' counters, health and circuit breaker, aggregated per subscription, in ONE UPDATE.

    The rows are locked in id order first (concurrent chunks sharing subscriptions queue instead of deadlocking;
    FOR NO KEY UPDATE does not block the foreign-key checks of triggers inserting deliveries for them), their new
    state computed here (webhooks.flow.circuit_after), then written. This comes last in the transaction, so the
    locks are held briefly. Within a chunk a success wins: the failure run ends and the breaker closes. Then the
    consequences, after commit: a closed breaker re-queues the endpoint's parked messages, a pause (breaker open,
    Retry-After) queues one wake-up for its end, and a recovery is announced (webhook.endpoint.recovered).
    """
    totals: dict[uuid.UUID, list] = {}
    for d in kept:
        entry = totals.setdefault(d.delivery.webhook_id, [0, 0, 0, None])
        entry[0 if d.kind == sender.SUCCESS else 1] += 1
        entry[2] += 1 if d.breaker_failure else 0
        if d.pause is not None:
            entry[3] = max(entry[3] or 0.0, d.pause)
    webhook_ids = sorted(totals)
    locked = Webhook.objects.filter(pk__in=webhook_ids).order_by("pk")
    if connection.features.has_select_for_update:
        locked = locked.select_for_update(no_key=True)
    rows = [_CounterRow(*values) for values in locked.values_list(*_COUNTER_FIELDS)]
    stamp = _prep(Webhook, "last_success_at", now)
    values, after = [], []
    for row in rows:
        successes, failures, breaker_failures, pause = totals[row.pk]
        consecutive, failing_since = row.consecutive_failures, row.failing_since
        change = None
        if affect_health:
            consecutive = 0 if successes else consecutive + failures
            failing_since = None if successes else (failing_since or now)
            change = flow.circuit_after(
                row, successes=successes, breaker_failures=breaker_failures, pause_seconds=pause, now=now
            )
            after.append((row, change, successes))
        state = change or row
        values.append(
            (
                _prep(Webhook, "id", row.pk),
                successes,
                failures,
                stamp if successes else None,
                stamp if failures else None,
                consecutive,
                _prep(Webhook, "failing_since", failing_since),
                str(change.state if change else row.circuit_state),
                state.circuit_failures,
                _prep(Webhook, "circuit_opened_at", change.opened_at if change else row.circuit_opened_at),
                _prep(Webhook, "paused_until", state.paused_until),
                _prep(Webhook, "window_started_at", state.window_started_at),
                state.window_attempts,
                state.window_failures,
            )
        )
    if not values:
        return
    cte, params = _rows_cte(
        "id, successes, failures, last_success, last_failure, consecutive, failing_since, circuit_state, "
        "circuit_failures, opened_at, paused_until, window_started_at, window_attempts, window_failures",
        (
            "uuid",
            "integer",
            "integer",
            "timestamptz",
            "timestamptz",
            "integer",
            "timestamptz",
            "varchar",
            "integer",
            "timestamptz",
            "timestamptz",
            "timestamptz",
            "integer",
            "integer",
        ),
        values,
    )
    table = connection.ops.quote_name(Webhook._meta.db_table)
    sql = (  # only the quoted table name and placeholders are interpolated; every value is a parameter
        f"{cte} UPDATE {table} AS w SET success_count = w.success_count + v.successes, "  # noqa: S608
        "failure_count = w.failure_count + v.failures, "
        "last_success_at = COALESCE(v.last_success, w.last_success_at), "
        "last_failure_at = COALESCE(v.last_failure, w.last_failure_at), "
        "consecutive_failures = v.consecutive, failing_since = v.failing_since, circuit_state = v.circuit_state, "
        "circuit_failures = v.circuit_failures, circuit_opened_at = v.opened_at, paused_until = v.paused_until, "
        "window_started_at = v.window_started_at, window_attempts = v.window_attempts, "
        "window_failures = v.window_failures "
        "FROM v WHERE w.id = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    for row, change, successes in after:
        _after_circuit_change(row, change, successes=successes, now=now)


def _after_circuit_change(row: _CounterRow, change: flow.CircuitChange, *, successes: int, now: datetime) -> None:
    if change.opened:
        logger.warning(
            "webhooks.circuit.opened",
            extra={"webhook_id": str(row.pk), "failures": change.circuit_failures, "until": str(change.paused_until)},
        )
    if change.closed:
        logger.info("webhooks.circuit.closed", extra={"webhook_id": str(row.pk)})
        _resume_pending(row.pk)
    if change.paused and change.paused_until is not None:
        webhook_id, countdown = str(row.pk), max(0.0, (change.paused_until - now).total_seconds())
        transaction.on_commit(lambda: enqueue_wake(webhook_id, countdown=countdown))
    failing_after = int(settings.WEBHOOK_FAILING_AFTER_ATTEMPTS)
    if successes and (row.circuit_state != CircuitState.CLOSED or row.consecutive_failures >= failing_after):
        data = {
            **_about(row),
            "failedAttempts": row.consecutive_failures,
            "failingSince": sender.format_timestamp(row.failing_since) if row.failing_since else None,
        }
        _emit_operational(row.tenant_id, WEBHOOK_ENDPOINT_RECOVERED, data, about=row.pk)


def _emit_delivery_events(kept: list[_Decision]) -> None:
    """webhook.delivery.failing when a message has failed WEBHOOK_FAILING_AFTER_ATTEMPTS attempts in a row, and
    webhook.delivery.exhausted when it failed for good. Never for a ``webhook.*`` message: an operational event that
    cannot be delivered announces nothing (two dead endpoints would otherwise feed each other forever)."""
    failing_after = int(settings.WEBHOOK_FAILING_AFTER_ATTEMPTS)
    known: dict = {}
    for d in kept:
        if d.kind == sender.SUCCESS or d.delivery.event_type.startswith("webhook."):
            continue
        tenant_id, about = d.delivery.webhook.tenant_id, d.delivery.webhook_id
        if d.spent and d.delivery.round_attempts + 1 == failing_after:
            _emit_operational(tenant_id, WEBHOOK_DELIVERY_FAILING, _delivery_data(d), about=about, known=known)
        if d.kind == sender.FAILED:
            _emit_operational(tenant_id, WEBHOOK_DELIVERY_EXHAUSTED, _delivery_data(d), about=about, known=known)


def _delivery_data(d: _Decision) -> dict[str, Any]:
    return {
        **_about(d.delivery.webhook),
        "deliveryId": str(d.delivery.pk),
        "eventId": str(d.delivery.event_id),
        "event": d.delivery.event_type,
        "attempts": d.delivery.attempt_count + 1,
        "responseStatus": d.outcome.response_status,
        "error": d.outcome.error[:500],
    }


def enqueue_wake(webhook_id: str, *, countdown: float) -> None:
    """Queue the endpoint's wake-up for when its pause ends (a lost one: the sweeper wakes it)."""
    from webhooks.tasks.outbound import wake_endpoint

    try:
        wake_endpoint.apply_async((webhook_id,), countdown=countdown)
    except Exception as exc:
        logger.warning("webhooks.wake.enqueue_failed", extra={"webhook_id": webhook_id, "error": type(exc).__name__})


def _maybe_disable(failing: dict[uuid.UUID, list], now: datetime) -> None:
    """Disable the failing subscriptions that answered 410, or whose every attempt failed for the whole span."""
    for webhook, gone in failing.values():
        if gone:
            webhook_disable(webhook=webhook, reason="The receiver answered 410 Gone.")
    span = timedelta(hours=float(settings.WEBHOOK_DISABLE_AFTER_HOURS))
    minimum = int(settings.WEBHOOK_DISABLE_MIN_FAILURES)
    due = Webhook.objects.filter(
        pk__in=[pk for pk, (_, gone) in failing.items() if not gone],
        status=WebhookStatus.ACTIVE,
        consecutive_failures__gte=minimum,
        failing_since__lte=now - span,
    ).values_list("pk", flat=True)
    hours = float(settings.WEBHOOK_DISABLE_AFTER_HOURS)
    for pk in list(due):
        webhook_disable(
            webhook=failing[pk][0],
            reason=f"Every delivery attempt failed for {hours:g} hours (at least {minimum} failures).",
        )


def delivery_sweep(*, now: datetime | None = None, limit: int | None = None) -> int:
    """Re-enqueue pending deliveries of active subscriptions that are overdue and held by no worker.

    Catches lost broker messages, a crash between commit and enqueue, and workers killed mid-send (their
    lease expires). The swept rows get ``next_attempt_at = now`` so the next sweep leaves them alone for
    another grace period. Returns how many were queued.
    """
    now = now or timezone.now()
    limit = limit or int(settings.WEBHOOK_SWEEP_BATCH)
    cutoff = now - timedelta(seconds=float(settings.WEBHOOK_SWEEP_GRACE_SECONDS))
    free = Q(locked_until__isnull=True) | Q(locked_until__lte=now)
    # a paused endpoint's messages wait for its wake-up task; one whose wake-up was lost is woken here
    stale = Webhook.objects.filter(
        status=WebhookStatus.ACTIVE,
        circuit_state__in=(CircuitState.OPEN, CircuitState.HALF_OPEN),
        paused_until__lte=cutoff,
    ).values_list("id", flat=True)[:limit]
    for webhook_id in stale:
        enqueue_wake(str(webhook_id), countdown=0)
    overdue = (
        Delivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=cutoff, webhook__status=WebhookStatus.ACTIVE
        )
        .filter(free)
        .filter(Q(webhook__paused_until__isnull=True) | Q(webhook__paused_until__lte=cutoff))
        .filter(webhook__circuit_state=CircuitState.CLOSED)
    )
    ids = list(overdue.order_by("next_attempt_at").values_list("id", flat=True)[:limit])
    if not ids:
        return 0
    Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.PENDING).filter(free).update(next_attempt_at=now)
    queued = enqueue_deliveries(ids)
    logger.info("webhooks.delivery.swept", extra={"count": len(ids), "queued": queued})
    return queued
