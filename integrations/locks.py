"""Named locks shared by every process: Redis (redis-py `Lock`) when REDIS_URL is set, else the shared Django cache.

Used for single-flight work such as refreshing one connection's OAuth tokens: the lock is held across the provider's
token call, which a database row lock should not be (it would keep a transaction open for a slow HTTP call).

    with named_lock(f"connection-refresh:{connection.pk}", timeout=60, wait=45):
        ...

The embedded mode's cache (file or database cache) has an atomic `add`, which is all a mutex needs; a holder that
dies leaves the key behind only until `timeout`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

KEY_PREFIX = "lock:"


class LockTimeout(Exception):
    """The lock was still held by someone else after waiting `wait` seconds."""


@lru_cache(maxsize=4)
def _redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)


@contextmanager
def named_lock(name: str, *, timeout: float = 60.0, wait: float = 30.0, poll: float = 0.05) -> Iterator[None]:
    """Hold the lock `name` for the block. `timeout`: auto-release after that many seconds (a crashed holder);
    `wait`: how long to wait for it before raising LockTimeout."""
    if settings.REDIS_URL:
        with _redis_lock(name, timeout=timeout, wait=wait, poll=poll):
            yield
    else:
        with _cache_lock(name, timeout=timeout, wait=wait, poll=poll):
            yield


@contextmanager
def _redis_lock(name: str, *, timeout: float, wait: float, poll: float) -> Iterator[None]:
    from redis.exceptions import LockError

    lock = _redis_client(settings.REDIS_URL).lock(
        KEY_PREFIX + name, timeout=timeout, sleep=poll, blocking_timeout=wait, thread_local=False
    )
    if not lock.acquire(blocking=True):
        raise LockTimeout(name)
    try:
        yield
    finally:
        try:
            lock.release()
        except LockError:  # expired while held: someone else may own it now, leave theirs alone
            logger.warning("locks.expired_before_release", extra={"lock": name})


@contextmanager
def _cache_lock(name: str, *, timeout: float, wait: float, poll: float) -> Iterator[None]:
    key = KEY_PREFIX + name
    token = uuid.uuid4().hex
    deadline = time.monotonic() + wait
    while not cache.add(key, token, timeout=max(1, int(timeout))):
        if time.monotonic() >= deadline:
            raise LockTimeout(name)
        time.sleep(poll)
    try:
        yield
    finally:
        if cache.get(key) == token:
            cache.delete(key)
        else:
            logger.warning("locks.expired_before_release", extra={"lock": name})
