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
from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from webhooks import flow, signing
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


# What every read of a masked header shows instead of its value. A subscription's custom header values are write-only,
# like secrets (a destination's `Authorization: Bearer …` is a credential); the API, the console and the portal all
# mask through mask_headers below, so there is one rule.
MASKED_HEADER_VALUE = "********"
# The headers we set on every delivery (webhooks.signing.build_headers): shown as sent, but for the signatures. A
# subscription cannot set these names (webhooks.services._validate_headers), so any other name is a custom header.
PLATFORM_HEADERS = frozenset(
    {"content-type", "user-agent", "x-webhook-signature", "x-webhook-event", "x-webhook-id", "x-webhook-attempt"}
    | {"x-webhook-timestamp", "webhook-id", "webhook-timestamp", "webhook-signature"}
)
# Names whose values are credentials or derived from one, whoever set them (a provider's inbound headers included).
_SENSITIVE_HEADER = re.compile(r"authorization|cookie|token|secret|key|passw|signature|credential|auth", re.IGNORECASE)


def mask_headers(headers: Mapping | None, *, secret_names: Iterable[str] | None = None) -> dict[str, str]:
    """`headers` for display with secret values replaced by MASKED_HEADER_VALUE.

    Credential-looking names (authorization, cookie, token, key, signature…) are always masked. With `secret_names`
    None (an outbound subscription's headers or a delivery attempt's), every header but the platform's own is a
    custom header and masked; otherwise (inbound requests, whose headers the provider chose) only the names given.
    """
    custom = None if secret_names is None else {str(name).lower() for name in secret_names}

    def secret(name: str) -> bool:
        lowered = name.lower()
        if _SENSITIVE_HEADER.search(lowered):
            return True
        return lowered not in PLATFORM_HEADERS if custom is None else lowered in custom

    return {
        str(name): MASKED_HEADER_VALUE if secret(str(name)) else str(value) for name, value in (headers or {}).items()
    }


def _stored_headers(headers: dict[str, str], custom: dict[str, str]) -> dict[str, str]:
    """Request headers as recorded on the attempt: every custom header's value masked, never stored."""
    return {name: MASKED_HEADER_VALUE if name in custom else value for name, value in headers.items()}


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

    Before sending, flow control (webhooks.flow) parks what may not be sent now, without spending an attempt: the
    messages of an endpoint whose circuit breaker is open or that asked for a pause (one of them may be the breaker's
    half-open probe), and those over their endpoint's concurrency cap or rate limit. The outcomes are recorded as the
    sends finish, in windows of RECORD_WINDOW seconds: a slow receiver holds back only its own delivery, and once
    only sends running longer than WEBHOOK_STRAGGLER_SECONDS are left, they are handed to the worker's recorder
    thread so that this task (and the next chunk) does not wait for them. A delivery whose subscription is not
    active is given back (it waits, pending); one whose send could not start while its lease still covered its
    timeout is given back and queued again.
    """
    from webhooks import flow_services, services
    from webhooks.models import WebhookStatus

    keys = [_as_uuid(i) for i in delivery_ids]
    claimed, token = services.delivery_claim_many(delivery_ids=[k for k in keys if k is not None])
    claimed_at = time.monotonic()
    results: dict[uuid.UUID, str | None] = {}
    paused = [d.pk for d in claimed if d.webhook.status != WebhookStatus.ACTIVE]
    if paused:
        services.delivery_release_many(delivery_ids=paused, token=token)
    active = [d for d in claimed if d.webhook.status == WebhookStatus.ACTIVE]
    active, parked = _gate(active, flow_services)
    if parked:
        flow_services.delivery_park_many(parked=parked, token=token)
    if not active:
        return [None] * len(keys)
    secrets = live_secrets_many([d.webhook for d, _slot in active])
    slots = {d.pk: slot for d, slot in active}
    active = [d for d, _slot in active]

    def send(delivery) -> Outcome | None:
        deadline = claimed_at + delivery.lease_seconds - delivery.webhook.timeout_ms / 1000 - 5
        return _send_claimed(delivery, secrets.get(delivery.webhook_id, []), deadline)

    if len(active) == 1:
        try:
            outcome = send(active[0])
        finally:
            flow.release_slot(active[0].webhook_id, slots.get(active[0].pk))
        results.update(_record(services, [(active[0], outcome)], token))
    else:
        executor = _send_executor()
        starts: dict[uuid.UUID, float] = {}
        futures = {executor.submit(_send_in_thread, send, d, starts): d for d in active}
        waiting = set(futures)
        straggler = float(settings.WEBHOOK_STRAGGLER_SECONDS)
        while waiting:
            done, waiting = wait(waiting, timeout=RECORD_WINDOW)
            if done:
                # the window's sends are over: their concurrency slots go back in one round trip
                flow.release_slots([(futures[f].webhook_id, slots.get(futures[f].pk)) for f in done])
                sent = [(futures[f], f.result()) for f in done]
                sent = [(d, outcome) for d, outcome in sent if outcome is not _CRASHED]
                try:
                    results.update(_record(services, sent, token))
                except Exception:  # the claims stay: the leases expire and the sweeper sends these again
                    logger.exception("webhooks.delivery.record_crashed", extra={"deliveries": len(sent)})
            now = time.monotonic()
            if waiting and all(now - starts.get(futures[f].pk, now) >= straggler for f in waiting):
                _recorder.add([(f, futures[f], slots.get(futures[f].pk)) for f in waiting], token)
                break
    return [results.get(k) if k is not None else None for k in keys]


def _gate(active: list, flow_services) -> tuple[list, list]:
    """Split claimed deliveries into ``(delivery, concurrency slot)`` to send now and ``(id, due, requeue)`` to park.

    An endpoint with an open breaker whose cooldown is over sends exactly one of them as the half-open probe (the
    worker that wins ``endpoint_probe_acquire``); its other messages, and all those of an endpoint still open or
    paused, wait for the endpoint's wake-up. The rest go through the concurrency cap and the rate limit (Redis).
    """
    from django.utils import timezone

    from webhooks.models import CircuitState

    now = timezone.now()
    ready, parked, candidates, probing = [], [], [], set()
    for d in active:
        webhook = d.webhook
        if webhook.circuit_state != CircuitState.CLOSED:
            due = webhook.paused_until is None or webhook.paused_until <= now
            if (
                due
                and webhook.pk not in probing
                and flow_services.endpoint_probe_acquire(
                    webhook_id=webhook.pk, lease_seconds=webhook.timeout_ms / 1000 + 10, now=now
                )
            ):
                probing.add(webhook.pk)
                ready.append((d, None))
            else:
                parked.append((d.pk, max(now, webhook.paused_until or now), False))
        elif webhook.paused_until is not None and webhook.paused_until > now:
            parked.append((d.pk, webhook.paused_until, False))
        else:
            candidates.append(d)
    for d, admission in zip(candidates, flow.admit(candidates), strict=True):
        if admission.wait is None:
            ready.append((d, admission.slot))
        else:
            parked.append((d.pk, now + timedelta(seconds=admission.wait), True))
    return ready, parked


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


def _send_in_thread(send, delivery, starts: dict | None = None):
    if starts is not None:
        starts[delivery.pk] = time.monotonic()
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


class _Recorder:
    """The worker's recorder thread: records the outcomes of sends their task stopped waiting for (stragglers).

    Each is recorded under its chunk's claim token, like the task would have; if the worker dies first, the lease
    expires and the sweeper sends the delivery again (same webhook-id), as for any send a dead worker left behind.
    """

    def __init__(self) -> None:
        self._items: dict[Any, tuple[Any, Any, str | None]] = {}
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, entries: list, token) -> None:
        """``entries``: (future, delivery, concurrency slot) of sends still running under claim ``token``."""
        with self._cv:
            for future, delivery, slot in entries:
                self._items[future] = (delivery, token, slot)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="webhook-recorder", daemon=True)
                self._thread.start()
            self._cv.notify()

    def _run(self) -> None:
        from django.db import close_old_connections

        from webhooks import services

        while True:
            with self._cv:
                while not self._items:
                    self._cv.wait()
                futures = list(self._items)
            done, _ = wait(futures, timeout=RECORD_WINDOW, return_when=FIRST_COMPLETED)
            if not done:
                continue
            with self._cv:
                entries = [(f, *self._items.pop(f)) for f in done]
            flow.release_slots([(delivery.webhook_id, slot) for _f, delivery, _token, slot in entries])
            by_token: dict[Any, list] = {}
            for future, delivery, token, _slot in entries:
                outcome = future.result()
                if outcome is not _CRASHED:
                    by_token.setdefault(token, []).append((delivery, outcome))
            for token, sent in by_token.items():
                try:
                    _record(services, sent, token)
                except Exception:  # the claims stay: the leases expire and the sweeper sends these again
                    logger.exception("webhooks.delivery.record_crashed", extra={"deliveries": len(sent)})
            close_old_connections()


_recorder = _Recorder()

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
