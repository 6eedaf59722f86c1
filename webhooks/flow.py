"""Flow control of outbound delivery: a failing endpoint never holds up the others, and a receiver is not flooded.

Four mechanisms, each per endpoint (subscription), none of which spends a message's retry attempts:

* **Circuit breaker** (state on the subscription row, ``circuitState``): ``closed`` sends. After
  WEBHOOK_BREAKER_FAILURES failed attempts in a row, or a failure rate of WEBHOOK_BREAKER_FAILURE_RATE over at least
  WEBHOOK_BREAKER_MIN_ATTEMPTS attempts in a WEBHOOK_BREAKER_WINDOW_SECONDS window, it turns ``open``: its messages
  are parked (pending, unclaimed, not queued) and one wake-up task is queued for WEBHOOK_BREAKER_COOLDOWN_SECONDS
  later. Then ONE worker wins the ``half_open`` probe (a conditional UPDATE) and sends one message; a success closes
  the breaker and re-queues every parked message, a failure opens it for another cooldown. Only failures that say
  the endpoint is unwell count (timeouts, connection errors, 5xx, 429 without Retry-After); a 4xx answer does not.
* **Retry-After**: a 429 or 503 carrying ``Retry-After`` pauses the whole endpoint (``pausedUntil``) for that long
  (at least 1 s, at most WEBHOOK_RETRY_MAX_DELAY_SECONDS); the message is attempted again after the pause with its
  retry budget untouched, and the endpoint's other messages wait too.
* **Concurrency cap**: at most WEBHOOK_ENDPOINT_MAX_CONCURRENCY sends in flight per endpoint across all workers
  (a Redis sorted set of leases, so a killed worker's slot frees itself after the send's timeout).
* **Rate limit**: a subscription's optional ``rateLimit`` (messages per second), counted across all workers in a
  Redis counter per endpoint and second. A message over the limit is deferred to its place in the queue of the
  following seconds; in any one-second span at most twice the rate is sent (two adjacent counting windows).

The cap and the rate limit live in Redis and fail open: without Redis (or while it restarts) messages are sent
unthrottled, never lost. The breaker and the pauses live in PostgreSQL with the deliveries. See docs in README
("Outbound webhooks").
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings

from webhooks.models import CircuitState

__all__ = ["Admission", "CircuitChange", "admit", "circuit_after", "release_slot", "release_slots"]

logger = logging.getLogger(__name__)

_KEY = "wh:flow:"
# One call decides a whole chunk. Per delivery (4 ARGV each: endpoint id, cap, rate, slot lease ms) it answers
# 0 (send; a concurrency slot was taken when cap > 0), -1 (cap reached) or the milliseconds to wait (rate limit).
_ADMIT = """
local now = tonumber(ARGV[1])
local slot = ARGV[2]
local out = {}
local n = 0
for i = 3, #ARGV, 4 do
  local id, cap, rate, lease = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  n = n + 1
  local ck = KEYS[1] .. 'conc:' .. id
  local verdict = 0
  if cap > 0 then
    redis.call('ZREMRANGEBYSCORE', ck, '-inf', now)
    if redis.call('ZCARD', ck) >= cap then verdict = -1 end
  end
  if verdict == 0 and rate > 0 then
    local second = math.floor(now / 1000)
    local rk = KEYS[1] .. 'rate:' .. id .. ':' .. second
    local count = redis.call('INCR', rk)
    if count == 1 then redis.call('PEXPIRE', rk, 3000) end
    if count > rate then
      local behind = count - rate - 1
      local wait = (1000 - now % 1000) + math.floor(behind / rate) * 1000 + math.floor((behind % rate) * 1000 / rate)
      verdict = wait
    end
  end
  if verdict == 0 and cap > 0 then
    redis.call('ZADD', ck, now + lease, slot .. ':' .. n)
    redis.call('PEXPIRE', ck, lease)
  end
  out[n] = verdict
end
return out
"""


@lru_cache(maxsize=2)
def _client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


@lru_cache(maxsize=2)
def _script(url: str):
    return _client(url).register_script(_ADMIT)


@dataclass(slots=True)
class Admission:
    """Per delivery: ``wait`` is None to send now (``slot`` is its concurrency lease, if any), else seconds to defer."""

    wait: float | None
    slot: str | None = None


def admit(deliveries, *, cap: int | None = None) -> list[Admission]:
    """Ask Redis, in one round trip, which of ``deliveries`` (claimed, of active closed endpoints) may be sent now.

    A delivery over its endpoint's ``rateLimit`` waits for its place in the next seconds; one over the concurrency
    cap waits 0.5-1.5 s. Without Redis every delivery is admitted (fail open: throttling is never a reason to lose
    or hold a message).
    """
    cap = int(settings.WEBHOOK_ENDPOINT_MAX_CONCURRENCY) if cap is None else cap
    if not settings.REDIS_URL or not deliveries or (cap <= 0 and not any(d.webhook.rate_limit for d in deliveries)):
        return [Admission(None) for _ in deliveries]
    token = uuid.uuid4().hex
    now_ms = int(time.time() * 1000)
    args: list = [now_ms, token]
    for d in deliveries:
        lease_ms = int(d.webhook.timeout_ms + 5000)
        args += [str(d.webhook_id), max(0, cap), int(d.webhook.rate_limit or 0), lease_ms]
    try:
        verdicts = _script(settings.REDIS_URL)(keys=[_KEY], args=args)
    except Exception as exc:  # Redis down or restarting: send unthrottled rather than hold or lose anything
        logger.warning("webhooks.flow.redis_unavailable", extra={"error": type(exc).__name__})
        return [Admission(None) for _ in deliveries]
    admissions = []
    for n, verdict in enumerate(verdicts, start=1):
        verdict = int(verdict)
        if verdict == 0:
            admissions.append(Admission(None, f"{token}:{n}" if cap > 0 else None))
        elif verdict < 0:
            admissions.append(Admission(random.uniform(0.5, 1.5)))
        else:
            admissions.append(Admission(verdict / 1000))
    return admissions


def release_slot(webhook_id, slot: str | None) -> None:
    """Give back a concurrency slot once its send is over (see ``release_slots``)."""
    release_slots([(webhook_id, slot)])


def release_slots(slots) -> None:
    """Give back the concurrency slots of sends that are over, ``(endpoint id, slot)`` pairs, in one round trip (a
    worker releases a window's worth at a time; a lost release expires with the slot's lease)."""
    slots = [(webhook_id, slot) for webhook_id, slot in slots if slot]
    if not slots or not settings.REDIS_URL:
        return
    try:
        pipe = _client(settings.REDIS_URL).pipeline(transaction=False)
        for webhook_id, slot in slots:
            pipe.zrem(f"{_KEY}conc:{webhook_id}", slot)
        pipe.execute()
    except Exception as exc:
        logger.warning("webhooks.flow.redis_unavailable", extra={"error": type(exc).__name__})


# --------------------------------------------------------------------------- the breaker's arithmetic


@dataclass(slots=True)
class CircuitChange:
    """A subscription's breaker and health after one recorded batch of its attempts."""

    state: str
    circuit_failures: int
    opened_at: datetime | None
    paused_until: datetime | None
    window_started_at: datetime | None
    window_attempts: int
    window_failures: int
    opened: bool = False  # closed/half_open -> open in this batch
    closed: bool = False  # open/half_open -> closed in this batch (re-queue the parked messages)
    paused: bool = False  # paused_until moved later in this batch (queue a wake-up)


def circuit_after(
    row, *, successes: int, breaker_failures: int, pause_seconds: float | None, now: datetime
) -> CircuitChange:
    """The breaker after a batch: a success closes it; enough failures (in a row, or by rate over the window) or a
    failed half-open probe open it for a cooldown; a Retry-After pauses the endpoint. ``row`` carries the
    subscription's current circuit fields."""
    window = timedelta(seconds=float(settings.WEBHOOK_BREAKER_WINDOW_SECONDS))
    started, attempts, failures = row.window_started_at, row.window_attempts, row.window_failures
    if started is None or now - started > window:
        started, attempts, failures = now, 0, 0
    attempts += successes + breaker_failures
    failures += breaker_failures
    change = CircuitChange(
        state=row.circuit_state,
        circuit_failures=row.circuit_failures,
        opened_at=row.circuit_opened_at,
        paused_until=row.paused_until,
        window_started_at=started,
        window_attempts=attempts,
        window_failures=failures,
    )
    if successes:
        change.circuit_failures = 0
        if row.circuit_state != CircuitState.CLOSED:
            change.state, change.closed, change.opened_at = CircuitState.CLOSED, True, None
            change.paused_until = None
    elif breaker_failures:
        change.circuit_failures += breaker_failures
        by_count = change.circuit_failures >= int(settings.WEBHOOK_BREAKER_FAILURES)
        by_rate = attempts >= int(settings.WEBHOOK_BREAKER_MIN_ATTEMPTS) and failures >= attempts * float(
            settings.WEBHOOK_BREAKER_FAILURE_RATE
        )
        trips = row.circuit_state == CircuitState.CLOSED and (by_count or by_rate)
        if row.circuit_state == CircuitState.HALF_OPEN or trips:
            change.state, change.opened = CircuitState.OPEN, True
            change.opened_at = now if row.circuit_state == CircuitState.CLOSED else (row.circuit_opened_at or now)
            change.paused_until = now + timedelta(seconds=float(settings.WEBHOOK_BREAKER_COOLDOWN_SECONDS))
            change.window_started_at, change.window_attempts, change.window_failures = now, 0, 0
            change.paused = True
    if pause_seconds is not None:
        until = now + timedelta(seconds=pause_seconds)
        if change.paused_until is None or until > change.paused_until:
            change.paused_until, change.paused = until, True
    return change
