"""Shared provider rate budgets: one per (provider, connection), kept in the cache (Redis in production).

Every call to a provider on behalf of a connection (the auth proxy, search, widgets, health checks, token refresh)
draws from the same budget, whichever web process or worker makes it:

- learnt from the provider's answers: a `Retry-After` (429 or 503), or `X-RateLimit-Remaining: 0` with
  `X-RateLimit-Reset` (epoch seconds or seconds from now), blocks the connection until then. The wait is clamped to
  the provider's `rateLimit.maxWaitSeconds` or `PROVIDER_RATE_LIMIT_MAX_WAIT_SECONDS` (60 s); a negative, unreadable
  or absurd value (more than a day) is ignored, so a broken header can neither block a connection for a week nor
  unblock one early;
- configured per provider: `rateLimit.requestsPerMinute` in the catalog entry caps calls per connection per minute.

While a budget is spent no request is sent: `ProviderRateLimited` (429 RATE_LIMIT_EXCEEDED with `Retry-After`) is
raised instead, so a stalled provider never ties up a web worker or a Celery worker waiting.
"""

from __future__ import annotations

import email.utils
import logging
import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache

from config.errors import DomainError

logger = logging.getLogger(__name__)

ABSURD_WAIT_SECONDS = 86400
_EPOCH_THRESHOLD = 1_000_000_000  # an X-RateLimit-Reset above this is a Unix time, below it a number of seconds


class ProviderRateLimited(DomainError):
    """The connection's budget at the provider is spent: answered 429 without calling the provider."""

    status_code = 429
    code = "RATE_LIMIT_EXCEEDED"

    def __init__(self, message: str, *, retry_after: int):
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, details={"retryAfter": self.retry_after, "source": "provider"})


def _key(provider_key: str, connection_id: Any, suffix: str) -> str:
    return f"provider-budget:{provider_key}:{connection_id or 'none'}:{suffix}"


def _config(provider) -> dict[str, Any]:
    value = getattr(provider, "rate_limit", None)
    return value if isinstance(value, dict) else {}


def max_wait_seconds(provider) -> int:
    configured = _config(provider).get("maxWaitSeconds")
    return int(configured or settings.PROVIDER_RATE_LIMIT_MAX_WAIT_SECONDS)


def blocked_for(*, provider, connection_id) -> float:
    """Seconds the (provider, connection) budget stays spent; 0 when calls may go."""
    until = cache.get(_key(provider.key, connection_id, "until"))
    if not until:
        return 0.0
    return max(0.0, float(until) - time.time())


def acquire(*, provider, connection_id) -> None:
    """Take one call from the budget, or raise `ProviderRateLimited` (nothing is sent)."""
    wait = blocked_for(provider=provider, connection_id=connection_id)
    if wait > 0:
        raise ProviderRateLimited(
            f"{provider.display_name} is rate limiting this connection; try again in {math.ceil(wait)} s.",
            retry_after=math.ceil(wait),
        )
    per_minute = _config(provider).get("requestsPerMinute")
    if not per_minute:
        return
    window = int(time.time() // 60)
    key = _key(provider.key, connection_id, f"minute:{window}")
    cache.add(key, 0, timeout=120)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=120)
        used = 1
    if used > int(per_minute):
        retry_after = max(1, math.ceil((window + 1) * 60 - time.time()))
        raise ProviderRateLimited(
            f"This connection used its {per_minute} calls per minute to {provider.display_name}; "
            f"try again in {retry_after} s.",
            retry_after=retry_after,
        )


def _number(value: str | None) -> float | None:
    try:
        number = float((value or "").strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def retry_after_from_header(value: str | None, *, now: float | None = None) -> float | None:
    """A `Retry-After` value in seconds from now (may be negative for a past date); None when unreadable."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return when.timestamp() - (now or time.time())


def wait_from_headers(headers, *, status: int, now: float | None = None) -> float | None:
    """The wait a provider's answer asks for (seconds), or None when it asks none or the value is unusable."""
    now = now or time.time()
    wait = None
    if status in (429, 503):
        wait = retry_after_from_header(headers.get("Retry-After"), now=now)
    remaining = _number(headers.get("X-RateLimit-Remaining"))
    if wait is None and (status == 429 or (remaining is not None and remaining <= 0)):
        reset = _number(headers.get("X-RateLimit-Reset"))
        if reset is not None:
            wait = reset - now if reset > _EPOCH_THRESHOLD else reset
    if wait is None or wait <= 0 or wait > ABSURD_WAIT_SECONDS:
        return None
    return wait


def learn(*, provider, connection_id, status: int, headers) -> float | None:
    """Record what an answer says of the budget; returns the wait applied (clamped), or None."""
    wait = wait_from_headers(headers, status=status)
    if wait is None:
        return None
    wait = min(wait, float(max_wait_seconds(provider)))
    until = time.time() + wait
    key = _key(provider.key, connection_id, "until")
    current = cache.get(key)
    if not current or float(current) < until:
        cache.set(key, until, timeout=max(1, math.ceil(wait)))
    logger.info(
        "providers.budget.blocked",
        extra={"provider": provider.key, "connection_id": str(connection_id or ""), "wait_seconds": round(wait, 1)},
    )
    return wait
