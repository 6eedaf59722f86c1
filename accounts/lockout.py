"""Per-account failed-login limit, shared by the API's token endpoint and the Django admin login.

django-axes keeps the counters (its database handler: one table every web process shares, so the limit holds across
processes and machines). One email is limited whatever the address the attempts come from: after
LOGIN_FAILURE_LIMIT failures within LOGIN_FAILURE_WINDOW_SECONDS of each other, every attempt for that email is
refused, the right password included, until the window has passed since the last counted failure. Attempts during
the lockout do not extend it. The API answers 429 `RATE_LIMIT_EXCEEDED` with `Retry-After`; the admin login page
answers the same. See docs/security.md.
"""

from __future__ import annotations

import math

from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.http import JsonResponse
from django.utils import timezone

from config.api import error_body


def login_username(request, credentials: dict | None) -> str | None:
    """The account an attempt is for, normalised like the token endpoint does it (emails are stored lowercase):
    the API sends `email`, the admin login form `username`."""
    credentials = credentials or {}
    value = credentials.get("email") or credentials.get("username")
    if not value and request is not None and getattr(request, "method", "") == "POST":
        post = getattr(request, "POST", None)
        value = post.get("username") or post.get("email") if post is not None else None
    return str(value).strip().lower() if value else None


def login_client_ip(request) -> str:
    from config.api import client_ip

    return client_ip(request)


def login_retry_after(email: str) -> int:
    """Seconds until the lockout of `email` ends (at least 1)."""
    last = (
        AccessAttempt.objects.filter(username=email)
        .order_by("-attempt_time")
        .values_list("attempt_time", flat=True)
        .first()
    )
    if last is None:
        return 1
    ends = last + timezone.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    return max(1, math.ceil((ends - timezone.now()).total_seconds()))


def login_locked(*, request, email: str) -> bool:
    """True while `email` is locked out: checked before the password, so the right one is refused too."""
    if not settings.AXES_ENABLED:
        return False
    return not AxesProxyHandler.is_allowed(request, {"email": email})


def lockout_body(retry_after: int) -> dict:
    return error_body(
        "RATE_LIMIT_EXCEEDED",
        "Too many failed sign-in attempts for this account. Please try again later.",
        retryAfter=retry_after,
    )


def lockout_response(request, original_response=None, credentials=None):
    """axes' AXES_LOCKOUT_CALLABLE: what a locked-out admin login gets, in the project's error shape.

    The attempt that reaches the limit was counted as a failure (axes set `axes_failures_since_start`): it gets the
    ordinary failed-login page, like the API answers it 401; the attempts after it get the 429.
    """
    if original_response is not None and getattr(request, "axes_failures_since_start", None) is not None:
        return original_response
    retry_after = login_retry_after(login_username(request, credentials) or "")
    response = JsonResponse(lockout_body(retry_after), status=429)
    response["Retry-After"] = str(retry_after)
    return response
