"""Integration health (seeds 000, 001): check one integration through its provider client, judge, record, announce.

Verdicts:
- healthy   the provider's health request answered as expected, under HEALTH_SLOW_MS;
- degraded  slower than HEALTH_SLOW_MS, rate limited (429), a provider error (5xx), or a single timeout;
- unhealthy credentials refused (401/403 or another 4xx), unreachable after the HTTP helper's retries, a timeout
            on two checks in a row, an expired or revoked connection, no connection at all;
- unknown   the provider has no health request (nothing was checked).

One bad check does not condemn an integration: only HEALTH_UNHEALTHY_THRESHOLD unhealthy checks in a row move an
`active` integration to `error`; the next healthy (or degraded) check moves it back to `active`. Every change of
`healthStatus` emits `integration.health_changed`, recovery included.

The provider call runs outside any transaction; the verdict is written under a row lock on the integration, so a
scheduled and a manual check never interleave their counters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations import events
from integrations.activity import log_activity
from integrations.models import (
    ConnectionStatus,
    HealthCheck,
    HealthCheckStatus,
    HealthCheckTrigger,
    Integration,
    IntegrationStatus,
)
from providers.clients.base import CheckKind, CheckResult

logger = logging.getLogger(__name__)

HEALTH_CHANGED = "integration.health_changed"
KIND_SLOW = "slow"
KIND_TIMEOUT = "timeout"
KIND_CONNECTION_EXPIRED = "connection_expired"
KIND_ERROR = "error"
MAX_ERROR_LENGTH = 1000


@dataclass(frozen=True)
class Verdict:
    status: str
    kind: str
    error: str = ""
    status_code: int | None = None
    response_time_ms: int | None = None


def _is_timeout(result: CheckResult) -> bool:
    detail_kind = str((result.details or {}).get("kind", ""))
    return result.kind == CheckKind.UNREACHABLE and (detail_kind == "timeout" or "timed out" in result.message)


def classify(result: CheckResult, *, previous_kind: str = "", slow_ms: int | None = None) -> Verdict:
    """Turn a provider client's CheckResult into a health verdict (see the module docstring)."""
    slow_ms = settings.HEALTH_SLOW_MS if slow_ms is None else slow_ms
    common = {"status_code": result.status_code, "response_time_ms": result.response_time_ms}
    kind = CheckKind(result.kind)
    if kind == CheckKind.OK:
        if result.response_time_ms is not None and result.response_time_ms > slow_ms:
            message = f"Slow response: {result.response_time_ms} ms (threshold {slow_ms} ms)."
            return Verdict(HealthCheckStatus.DEGRADED, KIND_SLOW, message, **common)
        return Verdict(HealthCheckStatus.HEALTHY, str(kind), "", **common)
    if kind == CheckKind.SKIPPED:
        return Verdict(HealthCheckStatus.UNKNOWN, str(kind), "", **common)
    message = (result.message or str(kind))[:MAX_ERROR_LENGTH]
    if kind == CheckKind.RATE_LIMITED:
        return Verdict(HealthCheckStatus.DEGRADED, str(kind), message or "Rate limit exceeded", **common)
    if kind == CheckKind.SERVER_ERROR:
        return Verdict(HealthCheckStatus.DEGRADED, str(kind), message, **common)
    if _is_timeout(result):
        status = HealthCheckStatus.UNHEALTHY if previous_kind == KIND_TIMEOUT else HealthCheckStatus.DEGRADED
        return Verdict(status, KIND_TIMEOUT, message, **common)
    # AUTH_FAILED, CLIENT_ERROR, UNREACHABLE (after retries), NOT_CONFIGURED
    return Verdict(HealthCheckStatus.UNHEALTHY, str(kind), message, **common)


def _probe(integration: Integration, user=None) -> CheckResult | Verdict:
    """Ask the provider (no transaction held). An expired or revoked connection is judged without a call.

    A user-scoped integration is checked with `user`'s own connection when they have a live one, else with a
    system-level reachability check that uses nobody's credentials: one user's grant never serves another."""
    from integrations.connections import connection_get
    from providers.registry import client_class, get_client
    from providers.services import provider_oauth_client

    try:
        if integration.user_scoped:
            own = connection_get(integration=integration, user=user) if user is not None else None
            if own is None or own.status not in (ConnectionStatus.ACTIVE, ConnectionStatus.ERROR):
                client = client_class(integration.provider.key)(integration, connection=None)
                return client.reachability_check(oauth_client=provider_oauth_client(integration.provider))
            return get_client(integration, connection=own).health_check(log_activity=False)
        client = get_client(integration)
        connection = client.connection
        if connection is not None and connection.status in (ConnectionStatus.EXPIRED, ConnectionStatus.REVOKED):
            return Verdict(
                HealthCheckStatus.UNHEALTHY,
                KIND_CONNECTION_EXPIRED,
                f"The connection is {connection.status}; reconnect the integration.",
            )
        return client.health_check(log_activity=False)
    except Exception as exc:  # a broken client must not stop the other checks; the verdict says what happened
        logger.exception("integrations.health.check_crashed", extra={"integration_id": str(integration.pk)})
        return Verdict(HealthCheckStatus.UNHEALTHY, KIND_ERROR, f"The health check failed ({type(exc).__name__}).")


def health_check_run(
    *,
    integration: Integration,
    trigger: str = HealthCheckTrigger.MANUAL,
    actor=None,
    user=None,
    not_before: datetime | None = None,
) -> HealthCheck | None:
    """Check `integration` now and record the result. With `not_before` (a scheduled slot), a check already made
    since then makes this a no-op returning None: a redelivered task never checks twice in one period. `user` is
    who asked (a user-scoped integration is checked with their own connection only; see `_probe`)."""
    if not_before is not None and _checked_since(integration.pk, not_before, row=integration):
        return None  # (every caller with a slot has just read the row; the locked re-read below decides anyway)
    outcome = _probe(integration, user)
    with transaction.atomic():
        locked = Integration.objects.select_for_update().select_related("provider").filter(pk=integration.pk).first()
        if locked is None or (not_before is not None and _checked_since(locked.pk, not_before, row=locked)):
            return None
        if isinstance(outcome, Verdict):
            verdict = outcome
        else:  # the previous check's kind matters to a timeout only (two in a row): read it for those alone
            previous_kind = _previous_kind(locked) if _is_timeout(outcome) else ""
            verdict = classify(outcome, previous_kind=previous_kind)
        return _record(locked, verdict, trigger=trigger, actor=actor)


def _previous_kind(integration: Integration) -> str:
    return (
        HealthCheck.objects.filter(integration=integration)
        .order_by("-checked_at")
        .values_list("kind", flat=True)
        .first()
        or ""
    )


def _checked_since(integration_id, since: datetime, *, row: Integration | None = None) -> bool:
    checked = (
        row.last_health_check_at
        if row is not None
        else Integration.objects.filter(pk=integration_id).values_list("last_health_check_at", flat=True).first()
    )
    return checked is not None and checked >= since


def _record(integration: Integration, verdict: Verdict, *, trigger: str, actor) -> HealthCheck:
    now = timezone.now()
    check = HealthCheck.objects.create(
        tenant_id=integration.tenant_id,
        integration=integration,
        status=verdict.status,
        kind=verdict.kind,
        response_time_ms=verdict.response_time_ms,
        status_code=verdict.status_code,
        error=verdict.error,
        trigger=trigger,
        checked_at=now,
    )
    previous_health = integration.health_status
    previous_status = integration.status
    threshold = max(1, settings.HEALTH_UNHEALTHY_THRESHOLD)

    integration.health_status = verdict.status
    integration.last_health_check_at = now
    if verdict.status == HealthCheckStatus.UNHEALTHY:
        integration.consecutive_health_failures += 1
        if integration.consecutive_health_failures >= threshold and integration.status == IntegrationStatus.ACTIVE:
            integration.status = IntegrationStatus.ERROR
    elif verdict.status in (HealthCheckStatus.HEALTHY, HealthCheckStatus.DEGRADED):
        integration.consecutive_health_failures = 0
        if integration.status == IntegrationStatus.ERROR:
            integration.status = IntegrationStatus.ACTIVE
    if verdict.error:
        integration.last_error = verdict.error
        integration.last_error_at = now
    elif verdict.status == HealthCheckStatus.HEALTHY:
        integration.last_error = ""
    integration.save(
        update_fields=[
            "health_status",
            "last_health_check_at",
            "consecutive_health_failures",
            "status",
            "last_error",
            "last_error_at",
            "updated_at",
        ]
    )

    changed = previous_health != verdict.status
    if changed:
        events.emit(
            integration.tenant,
            HEALTH_CHANGED,
            {
                "integrationId": str(integration.pk),
                "name": integration.name,
                "provider": integration.provider.key,
                "previousStatus": previous_health,
                "status": verdict.status,
                "integrationStatus": integration.status,
                "previousIntegrationStatus": previous_status,
                "consecutiveFailures": integration.consecutive_health_failures,
                "error": verdict.error or None,
                "responseTime": verdict.response_time_ms,
                "checkedAt": now.isoformat().replace("+00:00", "Z"),
            },
        )
    # Scheduled checks write an activity entry on a change only (288 checks a day would drown the log).
    if changed or trigger == HealthCheckTrigger.MANUAL or previous_status != integration.status:
        log_activity(
            integration=integration,
            type="health_check",
            status="success" if verdict.status in (HealthCheckStatus.HEALTHY, HealthCheckStatus.UNKNOWN) else "error",
            message=_activity_message(verdict, previous_health, previous_status, integration.status),
            details={
                "status": verdict.status,
                "previousStatus": previous_health,
                "kind": verdict.kind,
                "statusCode": verdict.status_code,
                "responseTimeMs": verdict.response_time_ms,
                "trigger": trigger,
                "integrationStatus": integration.status,
            },
            actor=actor,
        )
    logger.info(
        "integrations.health.checked",
        extra={
            "integration_id": str(integration.pk),
            "health_status": verdict.status,
            "kind": verdict.kind,
            "response_time_ms": verdict.response_time_ms,
            "changed": changed,
        },
    )
    return check


def _activity_message(verdict: Verdict, previous: str, previous_status: str, status: str) -> str:
    text = f"Health {verdict.status}" if previous == verdict.status else f"Health {previous} -> {verdict.status}"
    if verdict.error:
        text += f": {verdict.error}"
    if previous_status != status:
        text += f" (integration {previous_status} -> {status})"
    return text
