"""Inbound webhooks: receive (verify on the raw body, dedupe, store, answer), process (a task runs the provider's
handler) and replay. Services for endpoints (create, update, rotate) live here too.

Receive does the least it can inside the request: one endpoint lookup, the signature check, one INSERT and a
broker publish after commit. Everything a provider's event means happens in `inbound_event_process`, in a worker.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from config.errors import DomainError, ValidationFailed
from config.input_limits import PayloadTooLarge  # noqa: F401  (the receiver's 413, re-exported)
from webhooks.inbound_signatures import InboundRequest, SignatureError, provider_event_id, verify_signature
from webhooks.models.inbound import (
    PATH_MAX_LENGTH,
    InboundEndpoint,
    InboundEvent,
    InboundEventStatus,
    SignatureScheme,
    generate_inbound_path,
)
from webhooks.signing import generate_secret

logger = logging.getLogger(__name__)

# Never stored with an event: credentials a sender (or a proxy) may have attached.
DROPPED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
MAX_ERROR_LENGTH = 2000
RECEIVE_FIELDS = (
    "id",
    "tenant_id",
    "integration_id",
    "path",
    "secret",
    "previous_secret",
    "previous_secret_expires_at",
    "active",
    "verify_signature",
    "signature_header",
    "signature_scheme",
    "require_timestamp",
)
# A custom path gets this many random characters appended ("stripe-prod" -> "stripe-prod-k3v9x2mq7b"), so choosing
# a path can never collide with (and so reveal) another tenant's endpoint.
CUSTOM_PATH_SUFFIX_LENGTH = 10
_SUFFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class WebhookRejected(DomainError):
    """The one answer for every request the receiver refuses: an unknown or inactive path, a missing or bad
    signature, a stale timestamp. It says nothing about which, so the receiver is no oracle for which paths exist;
    the reason goes to the server log and to the endpoint's `lastRejectedReason`, where its tenant can read it."""

    status_code = 401
    code = "WEBHOOK_REJECTED"
    default_message = "Webhook rejected: the endpoint's owner can see why in its rejection log."


# The name the rest of the code knew it by.
InvalidSignature = WebhookRejected


class TransientProcessingError(Exception):
    """Processing failed for a reason that may pass (a handler raises it for a provider API hiccup): retried."""


# Errors retried with backoff; anything else fails the event at once (replayable).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientProcessingError,
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
)


# --- Endpoints ----------------------------------------------------------------------------------------------------
def default_scheme_for(integration) -> str:
    """The integration's provider names its scheme in the catalog (`inboundSignatureScheme`); else hmac_sha256."""
    scheme = getattr(integration.provider, "inbound_signature_scheme", "") or ""
    return scheme if scheme in SignatureScheme.values else SignatureScheme.HMAC_SHA256


def _custom_path(chosen: str) -> str:
    """The stored form of a path the tenant chose: a random suffix makes it unique without looking at others'."""
    if len(chosen) + 1 + CUSTOM_PATH_SUFFIX_LENGTH > PATH_MAX_LENGTH:
        limit = PATH_MAX_LENGTH - 1 - CUSTOM_PATH_SUFFIX_LENGTH
        raise ValidationFailed(details={"path": [f"Ensure this field has no more than {limit} characters."]})
    suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(CUSTOM_PATH_SUFFIX_LENGTH))
    return f"{chosen}-{suffix}"


def _save_with_unique_path(endpoint: InboundEndpoint, *, chosen: str | None, force_insert: bool) -> None:
    """Save; on the (astronomically unlikely) clash of a random path, draw another instead of answering 409."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                endpoint.save(force_insert=force_insert)
            return
        except IntegrityError:
            if attempt == 2:
                raise
            endpoint.path = _custom_path(chosen) if chosen else generate_inbound_path()


@transaction.atomic
def inbound_endpoint_create(
    *,
    tenant,
    integration,
    name: str,
    description: str = "",
    path: str | None = None,
    secret: str | None = None,
    active: bool = True,
    verify_signature: bool = True,
    signature_header: str = "",
    signature_scheme: str | None = None,
    require_timestamp: bool = False,
) -> tuple[InboundEndpoint, str | None]:
    """Create an endpoint; returns it and the secret when this call generated it (shown once, like Stripe).

    A chosen `path` is stored with a random suffix (the answer's `path` and `url` show it): paths are global, and a
    409 for a path someone else holds would tell the caller that another tenant's endpoint lives there.
    """
    if integration.tenant_id != tenant.id:
        raise ValidationFailed(details={"integrationId": ["Integration not found."]})
    scheme = signature_scheme or default_scheme_for(integration)
    _check_require_timestamp(scheme, require_timestamp)
    generated = None if secret else generate_secret()
    endpoint = InboundEndpoint(
        tenant=tenant,
        integration=integration,
        name=name,
        description=description,
        path=_custom_path(path) if path else generate_inbound_path(),
        secret=secret or generated,
        active=active,
        verify_signature=verify_signature,
        signature_header=signature_header,
        signature_scheme=scheme,
        require_timestamp=require_timestamp,
    )
    _save_with_unique_path(endpoint, chosen=path, force_insert=True)
    logger.info(
        "webhooks.inbound.endpoint_created",
        extra={"endpoint_id": str(endpoint.id), "tenant_id": str(tenant.id), "scheme": endpoint.signature_scheme},
    )
    return endpoint, generated


@transaction.atomic
def inbound_endpoint_update(*, endpoint: InboundEndpoint, data: Mapping[str, Any]) -> InboundEndpoint:
    """Apply validated fields. A new `secret` replaces the old one at once (no grace: use rotate-secret for that).

    A `path` equal to the current one changes nothing (a GET-modify-PUT round trip); another one is stored with a
    random suffix, as at creation.
    """
    if "integration" in data and data["integration"].tenant_id != endpoint.tenant_id:
        raise ValidationFailed(details={"integrationId": ["Integration not found."]})
    for field in (
        "integration",
        "name",
        "description",
        "active",
        "verify_signature",
        "signature_header",
        "signature_scheme",
        "require_timestamp",
    ):
        if field in data:
            setattr(endpoint, field, data[field])
    _check_require_timestamp(endpoint.signature_scheme, endpoint.require_timestamp)
    chosen = data.get("path")
    if chosen and chosen != endpoint.path:
        endpoint.path = _custom_path(chosen)
    else:
        chosen = None
    if data.get("secret"):
        endpoint.secret = data["secret"]
        endpoint.previous_secret = ""
        endpoint.previous_secret_expires_at = None
    _save_with_unique_path(endpoint, chosen=chosen, force_insert=False)
    return endpoint


def _check_require_timestamp(scheme: str, require_timestamp: bool) -> None:
    if require_timestamp and scheme != SignatureScheme.HMAC_SHA256:
        message = "Only hmac_sha256 endpoints take requireTimestamp (the other schemes define their own)."
        raise ValidationFailed(details={"requireTimestamp": [message]})


@transaction.atomic
def inbound_endpoint_rotate_secret(*, endpoint: InboundEndpoint, grace_seconds: int | None = None) -> str:
    """A new generated secret; the old one keeps verifying for `grace_seconds` (INBOUND_SECRET_GRACE_SECONDS)."""
    grace = settings.INBOUND_SECRET_GRACE_SECONDS if grace_seconds is None else grace_seconds
    endpoint = InboundEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    new_secret = generate_secret()
    if grace > 0:
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = timezone.now() + timedelta(seconds=grace)
    else:
        endpoint.previous_secret = ""
        endpoint.previous_secret_expires_at = None
    endpoint.secret = new_secret
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    logger.info(
        "webhooks.inbound.secret_rotated", extra={"endpoint_id": str(endpoint.id), "grace_seconds": max(grace, 0)}
    )
    return new_secret


@transaction.atomic
def inbound_endpoint_delete(*, endpoint: InboundEndpoint) -> None:
    endpoint.delete()


# --- Receive -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReceivedRequest:
    """What the receiver read off the wire: the raw body, the headers, and the URL as the provider called it."""

    body: bytes
    headers: Mapping[str, str]
    url: str
    source_ip: str | None = None
    content_type: str = ""


@dataclass(frozen=True)
class ReceiveResult:
    event_id: Any
    duplicate: bool = False
    # Slack's url_verification handshake: answered with its challenge, nothing stored.
    challenge: str | None = None


def public_url(path: str, query_string: str) -> str:
    """The URL a provider called, from PUBLIC_BASE_URL (behind a proxy the request's own host can be wrong)."""
    base = urlsplit(settings.PUBLIC_BASE_URL)
    url = f"{base.scheme}://{base.netloc}{path}"
    return f"{url}?{query_string}" if query_string else url


def inbound_endpoint_for_path(path: str, *, source_ip: str | None = None) -> InboundEndpoint:
    """The active endpoint at `path`. An unknown path and an inactive endpoint are refused like a bad signature."""
    # Only what receiving needs (the scheme is on the endpoint): no join, no wide provider row to decode.
    endpoint = InboundEndpoint.objects.only(*RECEIVE_FIELDS).filter(path=path).first() if 0 < len(path) <= 100 else None
    if endpoint is None:
        logger.info("webhooks.inbound.rejected", extra={"reason": "unknown path", "source_ip": source_ip})
        raise WebhookRejected()
    if not endpoint.active:
        inbound_reject(endpoint=endpoint, reason="endpoint inactive", source_ip=source_ip)
    return endpoint


def inbound_reject(*, endpoint: InboundEndpoint, reason: str, source_ip: str | None = None) -> None:
    """Refuse a request to `endpoint`: the reason is logged and recorded for its tenant, the caller learns nothing.

    One UPDATE, counted in the database (F()), so concurrent rejections all count. Always raises WebhookRejected.
    """
    logger.warning(
        "webhooks.inbound.rejected",
        extra={
            "endpoint_id": str(endpoint.id),
            "tenant_id": str(endpoint.tenant_id),
            "scheme": endpoint.signature_scheme,
            "reason": reason,
            "source_ip": source_ip,
        },
    )
    InboundEndpoint.objects.filter(pk=endpoint.pk).update(
        rejected_count=F("rejected_count") + 1,
        last_rejected_at=timezone.now(),
        last_rejected_reason=reason[:200],
    )
    raise WebhookRejected()


def _verify(endpoint: InboundEndpoint, signed: InboundRequest, *, source_ip: str | None) -> None:
    secrets = endpoint.live_secrets()
    header = endpoint.signature_header or None
    reason = "no secret configured"
    for index, secret in enumerate(secrets):
        try:
            verify_signature(
                endpoint.signature_scheme,
                signed,
                secret,
                signature_header=header,
                require_timestamp=endpoint.require_timestamp,
            )
        except SignatureError as exc:
            reason = str(exc)
            continue
        except ValueError as exc:  # our configuration (a secret the scheme cannot use), not the sender's fault
            logger.error(
                "webhooks.inbound.misconfigured",
                extra={"endpoint_id": str(endpoint.id), "scheme": endpoint.signature_scheme, "reason": str(exc)},
            )
            reason = "endpoint misconfigured"
            continue
        if index > 0:
            logger.info("webhooks.inbound.previous_secret_used", extra={"endpoint_id": str(endpoint.id)})
        return
    inbound_reject(endpoint=endpoint, reason=f"signature rejected: {reason}", source_ip=source_ip)


def _slack_challenge(endpoint: InboundEndpoint, body: bytes) -> str | None:
    if endpoint.signature_scheme != SignatureScheme.SLACK or b"url_verification" not in body[:200]:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("type") == "url_verification" and isinstance(data.get("challenge"), str):
        return data["challenge"]
    return None


def _text(value: str, limit: int | None = None) -> str:
    """Storable text: no NUL (PostgreSQL refuses it in text and jsonb), no lone surrogates (not UTF-8)."""
    cleaned = value.replace("\x00", "")
    if not cleaned.isascii():
        cleaned = cleaned.encode("utf-8", "replace").decode("utf-8")
    return cleaned[:limit] if limit else cleaned


def _stored_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {_text(name): _text(value, 8192) for name, value in headers.items() if name.lower() not in DROPPED_HEADERS}


def inbound_receive(*, endpoint: InboundEndpoint, request: ReceivedRequest) -> ReceiveResult:
    """Verify, dedupe, store and enqueue. A bad signature raises WebhookRejected before any event is written.

    The deduplication key comes from the signed content only (see `provider_event_id`): a captured request sent
    again under new unsigned headers is the same event.
    """
    signed = InboundRequest(body=request.body, headers=request.headers, url=request.url)
    if endpoint.verify_signature:
        _verify(endpoint, signed, source_ip=request.source_ip)
    challenge = _slack_challenge(endpoint, request.body)
    if challenge is not None:
        return ReceiveResult(event_id=None, challenge=challenge)
    event_key = provider_event_id(endpoint.signature_scheme, signed, require_timestamp=endpoint.require_timestamp)
    event = InboundEvent(
        tenant_id=endpoint.tenant_id,
        endpoint=endpoint,
        provider_event_id=_text(event_key, 255) or None if event_key else None,
        body=request.body,
        body_size=len(request.body),
        headers=_stored_headers(request.headers),
        source_ip=request.source_ip,
        content_type=_text(request.content_type, 200),
    )
    try:
        if connection.get_autocommit():
            event.save(force_insert=True)  # one INSERT, committed by itself: no BEGIN/COMMIT round trips
        else:
            with transaction.atomic():  # inside a caller's transaction: a savepoint keeps it usable on a duplicate
                event.save(force_insert=True)
    except IntegrityError:
        if event.provider_event_id is None:
            raise
        first = (
            InboundEvent.objects.filter(endpoint=endpoint, provider_event_id=event.provider_event_id)
            .values_list("id", flat=True)
            .first()
        )
        if first is None:  # the first writer rolled back after we collided: nothing to point at, let it retry
            raise
        logger.info(
            "webhooks.inbound.duplicate",
            extra={"endpoint_id": str(endpoint.id), "event_id": str(first), "provider_event_id": event_key},
        )
        return ReceiveResult(event_id=first, duplicate=True)
    transaction.on_commit(lambda: _enqueue(event.id), robust=True)  # at once in autocommit mode
    logger.info(
        "webhooks.inbound.received",
        extra={"endpoint_id": str(endpoint.id), "event_id": str(event.id), "bytes": len(request.body)},
    )
    return ReceiveResult(event_id=event.id)


def _enqueue(event_id) -> None:
    """Publish the processing task. A broker outage loses no event: it stays `pending` and the sweeper re-sends it."""
    from webhooks.tasks.inbound import inbound_event_process_task

    try:
        inbound_event_process_task.delay(str(event_id))
    except Exception:
        logger.exception("webhooks.inbound.enqueue_failed", extra={"event_id": str(event_id)})


# --- Process -----------------------------------------------------------------------------------------------------
def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:MAX_ERROR_LENGTH]


def inbound_event_process(*, event_id, final_attempt: bool = True) -> InboundEvent | None:
    """Run the provider's handler on a stored event, once: the row is locked and a processed event is left alone.

    The handler's platform events are written in the same transaction as the `processed` status, so an event is
    never announced twice nor marked done without its announcement. A transient error leaves the event `pending`
    (and re-raises, for the task to retry) unless `final_attempt`; any other error marks it `failed` at once.
    """
    from webhooks import handlers

    started = time.monotonic()
    try:
        with transaction.atomic():
            event = (
                InboundEvent.objects.select_for_update(of=("self",))
                .select_related("endpoint__integration__provider", "tenant")
                .filter(pk=event_id)
                .first()
            )
            if event is None or event.status == InboundEventStatus.PROCESSED:
                return event
            result = handlers.dispatch(event)
            event.status = InboundEventStatus.PROCESSED
            event.event_type = (result.event_type or "")[:200]
            event.error = ""
            event.attempts += 1
            event.processed_at = timezone.now()
            event.processing_ms = int((time.monotonic() - started) * 1000)
            event.save(update_fields=["status", "event_type", "error", "attempts", "processed_at", "processing_ms"])
    except TRANSIENT_ERRORS as exc:
        _record_failure(event_id, exc, failed=final_attempt, started=started)
        logger.warning(
            "webhooks.inbound.process_retry" if not final_attempt else "webhooks.inbound.process_failed",
            extra={"event_id": str(event_id), "error": type(exc).__name__},
        )
        if not final_attempt:
            raise
        return InboundEvent.objects.filter(pk=event_id).first()
    except Exception as exc:
        logger.exception("webhooks.inbound.process_failed", extra={"event_id": str(event_id)})
        _record_failure(event_id, exc, failed=True, started=started)
        return InboundEvent.objects.filter(pk=event_id).first()
    logger.info(
        "webhooks.inbound.processed",
        extra={"event_id": str(event.id), "event_type": event.event_type, "processing_ms": event.processing_ms},
    )
    return event


def _record_failure(event_id, exc: BaseException, *, failed: bool, started: float) -> None:
    updates = {"error": _error_text(exc), "attempts": F("attempts") + 1}
    if failed:
        updates.update(
            status=InboundEventStatus.FAILED,
            processed_at=timezone.now(),
            processing_ms=int((time.monotonic() - started) * 1000),
        )
    InboundEvent.objects.filter(pk=event_id).exclude(status=InboundEventStatus.PROCESSED).update(**updates)


@transaction.atomic
def inbound_event_replay(*, event: InboundEvent, actor=None, activity: Mapping[str, Any] | None = None) -> InboundEvent:
    """Process a stored event again (after a fix, or to re-announce it): back to `pending`, enqueued after commit.

    One activity entry; `activity` adds the caller's details to it (the console marks its own)."""
    from integrations.activity import log_activity

    InboundEvent.objects.filter(pk=event.pk).update(
        status=InboundEventStatus.PENDING, error="", processed_at=None, processing_ms=None
    )
    event.refresh_from_db()
    endpoint = event.endpoint
    log_activity(
        integration=endpoint.integration if endpoint.integration_id else None,
        tenant_id=event.tenant_id,
        type="webhook",
        status="success",
        message=f"Inbound event replayed on {endpoint.name!r}.",
        details={"inboundEndpointId": str(endpoint.pk), "inboundEventId": str(event.pk), **(activity or {})},
        actor=actor,
    )
    transaction.on_commit(lambda: _enqueue(event.id), robust=True)
    logger.info("webhooks.inbound.replayed", extra={"event_id": str(event.id)})
    return event
