"""Inbound webhooks: receive (verify on the raw body, dedupe, store, answer), process (a task runs the provider's
handler) and replay. Services for endpoints (create, update, rotate) live here too.

Receive does the least it can inside the request: one endpoint lookup, the signature check, one INSERT and a
broker publish after commit. Everything a provider's event means happens in `inbound_event_process`, in a worker.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from config.errors import Conflict, DomainError, NotFound, ValidationFailed
from webhooks.inbound_signatures import InboundRequest, SignatureError, provider_event_id, verify_signature
from webhooks.models.inbound import (
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
)


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    default_message = "The request body is too large."


class InvalidSignature(DomainError):
    status_code = 401
    code = "INVALID_SIGNATURE"
    default_message = "Missing or invalid webhook signature."


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


def _path_taken(path: str, *, exclude_pk=None) -> bool:
    qs = InboundEndpoint.objects.filter(path=path)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


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
) -> tuple[InboundEndpoint, str | None]:
    """Create an endpoint; returns it and the secret when this call generated it (shown once, like Stripe)."""
    if integration.tenant_id != tenant.id:
        raise ValidationFailed(details={"integrationId": ["Integration not found."]})
    if path and _path_taken(path):
        raise Conflict("This path is already in use.", details={"path": ["Already in use."]})
    generated = None if secret else generate_secret()
    endpoint = InboundEndpoint(
        tenant=tenant,
        integration=integration,
        name=name,
        description=description,
        path=path or generate_inbound_path(),
        secret=secret or generated,
        active=active,
        verify_signature=verify_signature,
        signature_header=signature_header,
        signature_scheme=signature_scheme or default_scheme_for(integration),
    )
    try:
        with transaction.atomic():
            endpoint.save(force_insert=True)
    except IntegrityError:  # a concurrent create took the path between the check and the insert
        raise Conflict("This path is already in use.", details={"path": ["Already in use."]})
    logger.info(
        "webhooks.inbound.endpoint_created",
        extra={"endpoint_id": str(endpoint.id), "tenant_id": str(tenant.id), "scheme": endpoint.signature_scheme},
    )
    return endpoint, generated


@transaction.atomic
def inbound_endpoint_update(*, endpoint: InboundEndpoint, data: Mapping[str, Any]) -> InboundEndpoint:
    """Apply validated fields. A new `secret` replaces the old one at once (no grace: use rotate-secret for that)."""
    if "integration" in data and data["integration"].tenant_id != endpoint.tenant_id:
        raise ValidationFailed(details={"integrationId": ["Integration not found."]})
    if data.get("path") and data["path"] != endpoint.path and _path_taken(data["path"], exclude_pk=endpoint.pk):
        raise Conflict("This path is already in use.", details={"path": ["Already in use."]})
    for field in (
        "integration",
        "name",
        "description",
        "path",
        "active",
        "verify_signature",
        "signature_header",
        "signature_scheme",
    ):
        if field in data:
            setattr(endpoint, field, data[field])
    if data.get("secret"):
        endpoint.secret = data["secret"]
        endpoint.previous_secret = ""
        endpoint.previous_secret_expires_at = None
    try:
        with transaction.atomic():
            endpoint.save()
    except IntegrityError:
        raise Conflict("This path is already in use.", details={"path": ["Already in use."]})
    return endpoint


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


def inbound_endpoint_for_path(path: str) -> InboundEndpoint:
    """The active endpoint at `path`; an unknown or inactive one is the same 404 (nothing to learn from it)."""
    # Only what receiving needs (the scheme is on the endpoint): no join, no wide provider row to decode.
    endpoint = (
        InboundEndpoint.objects.only(*RECEIVE_FIELDS).filter(path=path, active=True).first()
        if 0 < len(path) <= 100
        else None
    )
    if endpoint is None:
        raise NotFound("inbound_webhook")
    return endpoint


def _verify(endpoint: InboundEndpoint, signed: InboundRequest, *, source_ip: str | None) -> None:
    secrets = endpoint.live_secrets()
    header = endpoint.signature_header or None
    reason = "no secret configured"
    for index, secret in enumerate(secrets):
        try:
            verify_signature(endpoint.signature_scheme, signed, secret, signature_header=header)
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
    logger.warning(
        "webhooks.inbound.signature_rejected",
        extra={
            "endpoint_id": str(endpoint.id),
            "scheme": endpoint.signature_scheme,
            "reason": reason,
            "source_ip": source_ip,
        },
    )
    raise InvalidSignature(f"Webhook signature rejected: {reason}.")


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
    """Verify, dedupe, store and enqueue. A bad signature raises InvalidSignature before anything is written."""
    signed = InboundRequest(body=request.body, headers=request.headers, url=request.url)
    if endpoint.verify_signature:
        _verify(endpoint, signed, source_ip=request.source_ip)
    challenge = _slack_challenge(endpoint, request.body)
    if challenge is not None:
        return ReceiveResult(event_id=None, challenge=challenge)
    event_key = provider_event_id(endpoint.signature_scheme, signed)
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
    from django.db.models import F

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
