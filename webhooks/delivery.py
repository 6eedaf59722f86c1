"""The sender: one signed POST of one delivery, its outcome, and the retry decision.

``process_many(delivery_ids)`` is what the Celery tasks run (``process_delivery`` is a chunk of one): claim the
chunk with one UPDATE (a lease, see ``services.delivery_claim_many``), send each delivery once through the send
pool, record the outcomes in batches (``services.delivery_record_many``). The body is the event's stored bytes
(serialised once by ``trigger``), signed per attempt by ``webhooks.signing.build_headers`` with every live
secret of the subscription, and POSTed through one module-level ``safe_session`` (SSRF guard, no redirects,
keep-alive pool shared by the worker's threads).

Outcomes: a 2xx is a success; a timeout, a connection error, a 429 or a 5xx is retried (1 s, 2 s, 4 s, … ±20 %,
at least ``Retry-After``, capped); a 410 fails and disables the subscription; any other status (3xx, 4xx)
fails at once; a destination refused by the SSRF guard fails at once.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from webhooks import signing
from webhooks.destinations import UnsafeDestination, find_unsafe_destination, read_limited, safe_session

__all__ = [
    "FAILED",
    "RETRY",
    "SUCCESS",
    "Outcome",
    "build_body",
    "classify_status",
    "format_body",
    "live_secrets",
    "live_secrets_many",
    "parse_retry_after",
    "process_delivery",
    "process_many",
    "retry_delay",
    "send_once",
    "serialise_data",
    "shutdown_send_pool",
]

logger = logging.getLogger(__name__)

SUCCESS = "success"
RETRY = "retry"
FAILED = "failed"

_SENSITIVE_HEADER = re.compile(r"authorization|cookie|token|secret|key|password|signature-key", re.IGNORECASE)
_OUR_SIGNATURE_HEADERS = {"x-webhook-signature", "webhook-signature"}

_session_lock = threading.Lock()
_session: requests.Session | None = None


def session() -> requests.Session:
    """The worker's one outbound session (built on first use, after settings are loaded; then reused)."""
    global _session
    if _session is None:
        with _session_lock:
            if _session is None:
                _session = safe_session()
    return _session


def reset_session() -> None:
    """Forget the session (tests that change WEBHOOK_ALLOWED_NETWORKS)."""
    global _session
    with _session_lock:
        _session = None


# --------------------------------------------------------------------------- body


def serialise_data(data: Any) -> str:
    """Compact JSON of the event's data (datetimes, UUIDs and decimals as strings); TypeError if it cannot be."""
    return json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_body(*, event_id: str, event: str, timestamp: datetime, tenant_id: str, data_json: str) -> str:
    """``{id, event, timestamp, tenantId, data}`` as compact JSON, with ``data_json`` spliced in as given."""
    head = json.dumps(
        {"id": event_id, "event": event, "timestamp": format_timestamp(timestamp), "tenantId": tenant_id},
        separators=(",", ":"),
    )
    return f'{head[:-1]},"data":{data_json}}}'


CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"


def format_body(body: str, payload_format: str) -> tuple[bytes, str]:
    """The bytes a subscription receives and their Content-Type, from the event's stored body.

    ``standard``: the stored body as is. ``cloudevents``: a CloudEvents 1.0 structured-mode JSON event made from it
    (``id`` = the message id = ``webhook-id``, ``type`` = the event, ``source`` = ``/tenants/{tenantId}``, ``time``,
    ``data``). It is derived deterministically from the stored body, so every attempt sends the same bytes.
    """
    if payload_format != "cloudevents":
        return body.encode("utf-8"), "application/json"
    stored = json.loads(body)
    event = {
        "specversion": "1.0",
        "id": stored["id"],
        "type": stored["event"],
        "source": f"/tenants/{stored['tenantId']}",
        "time": stored["timestamp"],
        "datacontenttype": "application/json",
        "data": stored.get("data", {}),
    }
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8"), CLOUDEVENTS_CONTENT_TYPE


# --------------------------------------------------------------------------- decisions


def classify_status(status_code: int) -> str:
    """2xx success; 429 and 5xx retry; everything else (1xx, 3xx, other 4xx including 410) fails at once."""
    if 200 <= status_code < 300:
        return SUCCESS
    if status_code == 429 or 500 <= status_code < 600:
        return RETRY
    return FAILED


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); None when absent or garbage."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, moment.timestamp() - current)


def retry_delay(retry_number: int, retry_after: float | None = None, *, rng: random.Random | None = None) -> float:
    """Seconds before retry ``retry_number`` (1-based): base x 2^(n-1) ±20 %, at least Retry-After, capped."""
    base = float(settings.WEBHOOK_RETRY_BASE_SECONDS)
    cap = float(settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS)
    jitter = (rng or random).uniform(0.8, 1.2)
    delay = base * (2 ** max(0, retry_number - 1)) * jitter
    if retry_after is not None:
        delay = max(delay, retry_after)
    return max(0.0, min(delay, cap))


# --------------------------------------------------------------------------- one HTTP call


@dataclass
class Outcome:
    kind: str  # SUCCESS | RETRY | FAILED
    request_headers: dict[str, str] = field(default_factory=dict)
    response_status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    response_truncated: bool = False
    error: str = ""
    duration_ms: int = 0
    retry_after: float | None = None
    gone: bool = False  # 410: the receiver asks us to stop

    @property
    def message(self) -> str:
        if self.kind == SUCCESS:
            return f"Delivered: HTTP {self.response_status}"
        return self.error or f"HTTP {self.response_status}"


def _stored_headers(headers: dict[str, str], custom: dict[str, str]) -> dict[str, str]:
    """Request headers as recorded on the attempt: custom headers that look like credentials are masked."""
    stored = {}
    for name, value in headers.items():
        if name in custom and name.lower() not in _OUR_SIGNATURE_HEADERS and _SENSITIVE_HEADER.search(name):
            stored[name] = "[redacted]"
        else:
            stored[name] = value
    return stored


def send_once(
    *,
    url: str,
    body: bytes,
    msg_id: str,
    event: str,
    attempt: int,
    secrets: list[str],
    custom_headers: dict[str, str] | None = None,
    timeout_ms: int = 10000,
    content_type: str = "application/json",
) -> Outcome:
    """POST ``body`` once, signed with ``secrets`` (newest first); never raises for a network or HTTP failure."""
    custom = dict(custom_headers or {})
    headers = {
        **custom,
        **signing.build_headers(
            msg_id=msg_id,
            event=event,
            attempt=attempt,
            timestamp=int(time.time()),
            body=body,
            secrets=secrets,
            content_type=content_type,
        ),
    }
    outcome = Outcome(kind=FAILED, request_headers=_stored_headers(headers, custom))
    timeout = max(0.001, timeout_ms / 1000)
    limit = int(settings.WEBHOOK_RESPONSE_BODY_LIMIT)
    started = time.monotonic()
    try:
        response = session().post(url, data=body, headers=headers, timeout=timeout, stream=True)
        outcome.response_status = response.status_code
        outcome.response_headers = {k: v[:500] for k, v in list(response.headers.items())[:50]}
        outcome.kind = classify_status(response.status_code)
        outcome.gone = response.status_code == 410
        if outcome.kind == RETRY:
            outcome.retry_after = parse_retry_after(response.headers.get("Retry-After"))
        try:
            raw, outcome.response_truncated = read_limited(response, limit)
            outcome.response_body = raw.decode("utf-8", errors="replace")
        except requests.RequestException as exc:  # the status line came, the body broke off: keep the status
            outcome.error = f"Response body could not be read: {type(exc).__name__}"
        if outcome.kind != SUCCESS and not outcome.error:
            outcome.error = _status_error(response)
    except UnsafeDestination as exc:
        outcome.kind, outcome.error = FAILED, f"Destination refused: {exc}"
    except requests.Timeout:
        outcome.kind, outcome.error = RETRY, f"Timed out after {timeout_ms} ms"
    except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema):
        outcome.kind, outcome.error = FAILED, "Invalid destination URL"
    except requests.exceptions.InvalidHeader as exc:
        outcome.kind, outcome.error = FAILED, f"Invalid header: {exc}"
    except requests.RequestException as exc:
        unsafe = find_unsafe_destination(exc)
        if unsafe is not None:
            outcome.kind, outcome.error = FAILED, f"Destination refused: {unsafe}"
        else:
            outcome.kind, outcome.error = RETRY, f"Connection error: {_short(exc)}"
    except (OSError, ValueError) as exc:  # anything else the stack raises for a hostile peer: retry, never crash
        outcome.kind, outcome.error = RETRY, f"Connection error: {type(exc).__name__}"
    outcome.duration_ms = max(0, int((time.monotonic() - started) * 1000))
    return outcome


def _status_error(response: requests.Response) -> str:
    reason = (response.reason or "").strip()
    text = f"HTTP {response.status_code}" + (f" {reason}" if reason else "")
    if 300 <= response.status_code < 400:
        text += " (redirects are not followed)"
    return text[:500]


def _short(exc: BaseException) -> str:
    """The root cause's class and message, one line, bounded."""
    root = exc
    while root.__cause__ is not None or (root.args and isinstance(root.args[0], BaseException)):
        root = root.__cause__ if root.__cause__ is not None else root.args[0]
    text = f"{type(root).__name__}: {root}" if str(root) else type(root).__name__
    return " ".join(text.split())[:500]


# --------------------------------------------------------------------------- the task body


def process_delivery(delivery_id: str) -> str | None:
    """Claim, send and record one delivery (a chunk of one); returns the recorded outcome, or None when there was
    nothing to do.

    Safe to run for any message, any number of times: only the worker holding the claim sends, and only a
    pending delivery can be claimed, so a redelivered message after a success does nothing.
    """
    return process_many([delivery_id])[0]


def process_many(delivery_ids: list[str]) -> list[str | None]:
    """Claim a chunk of deliveries (one UPDATE), send them concurrently (the worker's send pool), record the
    outcomes in batches (one transaction each); returns each id's recorded outcome or None, in order.

    The outcomes are recorded as the sends finish, in windows of RECORD_WINDOW seconds: a slow receiver holds back
    only its own delivery. A delivery whose subscription is not active is given back (it waits, pending); one whose
    send could not start while its lease still covered its timeout is given back and queued again.
    """
    from webhooks import services
    from webhooks.models import WebhookStatus

    keys = [_as_uuid(i) for i in delivery_ids]
    claimed, token = services.delivery_claim_many(delivery_ids=[k for k in keys if k is not None])
    claimed_at = time.monotonic()
    results: dict[uuid.UUID, str | None] = {}
    paused = [d.pk for d in claimed if d.webhook.status != WebhookStatus.ACTIVE]
    if paused:
        services.delivery_release_many(delivery_ids=paused, token=token)
    active = [d for d in claimed if d.webhook.status == WebhookStatus.ACTIVE]
    if not active:
        return [None] * len(keys)
    secrets = live_secrets_many([d.webhook for d in active])

    def send(delivery) -> Outcome | None:
        deadline = claimed_at + delivery.lease_seconds - delivery.webhook.timeout_ms / 1000 - 5
        return _send_claimed(delivery, secrets.get(delivery.webhook_id, []), deadline)

    if len(active) == 1:
        results.update(_record(services, [(active[0], send(active[0]))], token))
    else:
        executor = _send_executor()
        futures = {executor.submit(_send_in_thread, send, d): d for d in active}
        waiting = set(futures)
        while waiting:
            done, waiting = wait(waiting, timeout=RECORD_WINDOW)
            if not done:
                continue
            sent = [(futures[f], f.result()) for f in done]
            sent = [(d, outcome) for d, outcome in sent if outcome is not _CRASHED]
            try:
                results.update(_record(services, sent, token))
            except Exception:  # the claims stay: the leases expire and the sweeper sends these again
                logger.exception("webhooks.delivery.record_crashed", extra={"deliveries": len(sent)})
    return [results.get(k) if k is not None else None for k in keys]


RECORD_WINDOW = 0.5
_CRASHED = object()


def _as_uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _send_claimed(delivery, secrets: list[str], deadline: float) -> Outcome | None:
    """Send one claimed delivery, or None when its lease no longer covers a full send (too long in the queue)."""
    if time.monotonic() > deadline:
        return None
    if not secrets:
        return Outcome(kind=FAILED, error="The subscription has no live signing secret.")
    webhook = delivery.webhook
    body, content_type = format_body(delivery.body, webhook.payload_format)
    return send_once(
        url=webhook.url,
        body=body,
        msg_id=str(delivery.event_id),
        event=delivery.event_type,
        attempt=delivery.attempt_count + 1,
        secrets=secrets,
        custom_headers=webhook.headers,
        timeout_ms=webhook.timeout_ms,
        content_type=content_type,
    )


def _send_in_thread(send, delivery):
    try:
        return send(delivery)
    except Exception:  # a bug, not a network failure (send_once catches those): leave it to the lease and sweeper
        logger.exception("webhooks.delivery.crashed", extra={"delivery_id": str(delivery.pk)})
        return _CRASHED


def _record(services, sent: list, token) -> dict:
    """Record the sent ones in one transaction; give back and re-queue the ones that were not sent in time."""
    late = [d.pk for d, outcome in sent if outcome is None]
    done = [(d, outcome) for d, outcome in sent if outcome is not None]
    results = services.delivery_record_many(results=done, token=token) if done else {}
    if late:
        logger.warning("webhooks.delivery.lease_too_short", extra={"deliveries": len(late)})
        services.delivery_release_many(delivery_ids=late, token=token)
        services.enqueue_deliveries(late)
    return results


# --------------------------------------------------------------------------- concurrency and caches

_executor_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _send_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(
                    max_workers=max(1, int(settings.WEBHOOK_SEND_THREADS)), thread_name_prefix="webhook-send"
                )
    return _executor


def shutdown_send_pool() -> None:
    """Stop the send pool's threads (tests; worker shutdown). They hold no database connection."""
    global _executor
    with _executor_lock:
        executor, _executor = _executor, None
    if executor is not None:
        executor.shutdown(wait=True)


_SECRETS_TTL = 60.0
_secrets_cache: dict[tuple[str, str], tuple[float, list[tuple[str, Any]]]] = {}


def live_secrets(webhook) -> list[str]:
    """The subscription's live secrets, newest first (see ``live_secrets_many``)."""
    return live_secrets_many([webhook]).get(webhook.pk, [])


def live_secrets_many(webhooks) -> dict[Any, list[str]]:
    """{webhook id: its live secrets, newest first}, decrypted once per process, the missing ones in ONE query.

    Cached by (id, updated_at): creating, updating and rotating all move ``updated_at``, so a cached entry
    is never stale in content; expiry of a rotated-out secret is re-checked on every use.
    """
    from django.utils import timezone

    from webhooks.models import WebhookSecret

    now = time.monotonic()
    entries: dict[Any, list[tuple[str, Any]]] = {}
    missing: dict[Any, tuple[str, str]] = {}
    for webhook in webhooks:
        key = (str(webhook.pk), webhook.updated_at.isoformat() if webhook.updated_at else "")
        cached = _secrets_cache.get(key)
        if cached is None or cached[0] < now:
            missing[webhook.pk] = key
        else:
            entries[webhook.pk] = cached[1]
    if missing:
        loaded: dict[Any, list[tuple[str, Any]]] = {pk: [] for pk in missing}
        rows = WebhookSecret.objects.filter(webhook_id__in=list(missing)).order_by("webhook_id", "-created_at", "-id")
        for row in rows:
            loaded[row.webhook_id].append((row.secret, row.expires_at))
        if len(_secrets_cache) > 10000:
            _secrets_cache.clear()
        for pk, key in missing.items():
            _secrets_cache[key] = (now + _SECRETS_TTL, loaded[pk])
        entries.update(loaded)
    current = timezone.now()
    return {
        pk: [secret for secret, expires_at in pairs if expires_at is None or expires_at > current]
        for pk, pairs in entries.items()
    }
