"""Upkeep of the refresh-token records (rotation, logout and password changes write one row per token)."""

from celery import shared_task

FLUSH_TOKENS_TASK = "accounts.tokens.flush_expired"


@shared_task(name=FLUSH_TOKENS_TASK, queue="default", ignore_result=True)
def flush_expired_tokens() -> int:
    """Delete refresh-token records (and their blacklist rows) past their expiry: an expired token is refused on
    its `exp` alone, so its row only takes space. Idempotent."""
    from accounts.services import refresh_tokens_flush_expired

    return refresh_tokens_flush_expired()
