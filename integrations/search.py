"""Search (seed 003): one query fanned out to the tenant's searchable integrations, each provider in its own thread.

    body = search_all(tenant=tenant, user=request.user, query="acme", integration_ids=None, entities=None,
                      filters={}, limit=10, offset=0)
    body = search_integration(integration=integration, user=request.user, query="acme", entities=None,
                              limit=10, offset=0)

Rules:
- an integration is searchable when its `search_enabled` is on, its provider `supports_search` and is not disabled;
  the fan-out takes the tenant's searchable integrations whose status is `active` (or the ones the caller names);
- a user-scoped integration is searched with the CALLER's own connection, a tenant-level one with the tenant's;
  without an active connection it is not called (reported as NOT_CONNECTED);
- every provider call runs in a thread with `SEARCH_PROVIDER_TIMEOUT_SECONDS` to answer. A slow or failing provider
  does not fail the fan-out: it appears in `errors` (`{integrationId, integrationName, provider, code, message}`)
  beside the other integrations' results. The per-integration search raises its one failure instead (502/400);
- `limit` is per integration, `offset` skips that many hits of each integration (providers page by themselves, so
  each is asked for `offset + limit + 1` hits and the window is sliced here); results are sorted by `updatedAt`,
  newest first, hits without one last. `total` counts the results in this answer; `hasMore` says whether one
  integration has hits beyond `offset + limit`.

The worker threads make provider calls only (the clients are built here, in the request's thread); what they write
(the `api_call` activity entries of providers.http, a token refresh after a 401) goes through their own database
connection, closed when the call ends. A call that times out keeps running in the background until the provider HTTP
timeout ends it; its answer is dropped.
"""

from __future__ import annotations

import contextvars
import logging
import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime

from config.errors import ConnectionFailed, DomainError, NotFound, PermissionDenied, ValidationFailed
from integrations.connections import connection_for_caller
from integrations.models import ConnectionStatus, Integration, IntegrationStatus
from providers.clients.base import ProviderClient, ProviderError
from providers.models import ProviderStatus
from providers.registry import client_class, get_client

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_WINDOW",
    "ProviderTimeout",
    "SearchTarget",
    "check_caller",
    "provider_filters",
    "search_all",
    "search_integration",
    "searchable_integrations",
]

DEFAULT_LIMIT = 10
MAX_LIMIT = 50
# offset + limit: how deep into one provider's hits a page may reach (the clients ask providers for at most 100).
MAX_WINDOW = 100
# Threads of one search; more targets than this wait for a free thread (and get a longer overall deadline).
MAX_THREADS = 32

NOT_CONNECTED = "NOT_CONNECTED"
TIMEOUT = "TIMEOUT"
INTERNAL_ERROR = "INTERNAL_ERROR"


class ProviderTimeout(ConnectionFailed):
    """A provider did not answer within SEARCH_PROVIDER_TIMEOUT_SECONDS (502 CONNECTION_FAILED, details.kind timeout;
    `code` TIMEOUT in a fan-out's `errors`)."""


# --- who may search what --------------------------------------------------------------------------------------------
def check_caller(*, user, user_id: str | None) -> None:
    """Seed 003's `userId`: accepted only when it names the caller. Nobody searches with another user's connection."""
    if user_id in (None, ""):
        return
    if str(user_id).strip().lower().replace("-", "") != str(user.pk).lower().replace("-", ""):
        raise PermissionDenied(
            "userId must be your own user id: user-scoped integrations are searched with your own connection only.",
            details={"userId": ["Must be your own user id."]},
        )


def searchable_integrations(*, tenant) -> QuerySet[Integration]:
    """The tenant's integrations that search may call (any status; the fan-out narrows to active ones)."""
    return (
        Integration.objects.filter(tenant=tenant, search_enabled=True, provider__supports_search=True)
        .exclude(provider__status=ProviderStatus.DISABLED)
        .select_related("provider")
    )


def _searchable_reason(integration: Integration) -> str | None:
    """Why `integration` cannot be searched, None when it can."""
    if not integration.provider.supports_search:
        return f"{integration.provider.display_name} does not support search."
    if not integration.search_enabled:
        return "Search is not enabled on this integration (searchEnabled is false)."
    if integration.provider.status == ProviderStatus.DISABLED:
        return f"The provider {integration.provider.key} is disabled."
    if integration.status == IntegrationStatus.INACTIVE:
        return "The integration is inactive."
    return None


def _allowed_entities(integration: Integration) -> list[str]:
    """What this integration may search: the tenant's choice (searchableEntities), else all the provider offers."""
    return list(integration.searchable_entities or integration.provider.searchable_entities or [])


def _entities_for(integration: Integration, wanted: list[str] | None) -> list[str] | None:
    """The entities to ask `integration` for: None = all it allows; [] = none of the wanted ones."""
    allowed = _allowed_entities(integration)
    if wanted:
        return [e for e in wanted if e in allowed] if allowed else list(wanted)
    return list(integration.searchable_entities) if integration.searchable_entities else None


# --- targets and outcomes -------------------------------------------------------------------------------------------
@dataclass
class SearchTarget:
    integration: Integration
    client: ProviderClient | None
    entities: list[str] | None
    error: DomainError | None = None  # known before calling (not connected)


@dataclass
class _Outcome:
    target: SearchTarget
    hits: list[dict[str, Any]] = field(default_factory=list)
    error: Exception | None = None


def _target(integration: Integration, *, user, entities: list[str] | None) -> SearchTarget:
    connection = connection_for_caller(integration=integration, user=user)
    if integration.provider.auth_type != "none" and (
        connection is None or connection.status != ConnectionStatus.ACTIVE
    ):
        whose = "You have" if integration.user_scoped else "The integration has"
        state = "no connection" if connection is None else f"a connection that is {connection.status}"
        hint = " Connect your own account first." if integration.user_scoped else ""
        error = DomainError(f"{whose} {state}.{hint}", code=NOT_CONNECTED)
        return SearchTarget(integration, None, entities, error=error)
    if connection is None:  # a provider without authentication
        client = client_class(integration.provider.key)(integration, connection=None)
    else:
        client = get_client(integration, connection=connection)
    return SearchTarget(integration, client, entities)


def _run_in_thread(context: contextvars.Context, fn: Callable[[], Any]) -> Any:
    try:
        return context.run(fn)  # the request id of the caller reaches the activity entries and log lines
    finally:
        connections.close_all()  # this thread's own database connection(s), if a write opened one


def _call(target: SearchTarget, query: str, fetch: int, filters: dict | None) -> Callable[[], list[dict]]:
    def call() -> list[dict[str, Any]]:
        return target.client.search(query, entities=target.entities, limit=fetch, filters=filters or None)

    return call


def _fan_out(targets: list[SearchTarget], *, query: str, fetch: int, filters: dict | None) -> list[_Outcome]:
    """Call every target's provider concurrently; each gets SEARCH_PROVIDER_TIMEOUT_SECONDS (per wave of threads)."""
    outcomes = [_Outcome(t, error=t.error) for t in targets]
    runnable = [o for o in outcomes if o.error is None]
    if not runnable:
        return outcomes
    timeout = float(settings.SEARCH_PROVIDER_TIMEOUT_SECONDS)
    threads = min(len(runnable), MAX_THREADS)
    deadline = timeout * math.ceil(len(runnable) / threads)
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="search")
    try:
        futures = {
            executor.submit(_run_in_thread, contextvars.copy_context(), _call(o.target, query, fetch, filters)): o
            for o in runnable
        }
        done, _pending = wait(futures, timeout=deadline)
        for future, outcome in futures.items():
            if future in done:
                try:
                    outcome.hits = list(future.result() or [])
                except Exception as exc:  # reported beside the other results, never raised from the fan-out
                    outcome.error = exc
            else:
                future.cancel()
                outcome.error = ProviderTimeout(
                    f"{outcome.target.integration.provider.display_name} did not answer within {timeout:g} s.",
                    details={"kind": "timeout"},
                )
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    return outcomes


def _error_entry(outcome: _Outcome) -> dict[str, Any]:
    integration = outcome.target.integration
    exc = outcome.error
    entry: dict[str, Any] = {
        "integrationId": str(integration.pk),
        "integrationName": integration.name,
        "provider": integration.provider.key,
    }
    if isinstance(exc, ProviderTimeout):
        entry.update(code=TIMEOUT, message=exc.message)
    elif isinstance(exc, DomainError):
        entry.update(code=exc.code, message=exc.message)
        if isinstance(exc, ProviderError):
            entry.update(kind=str(exc.kind), providerStatus=exc.provider_status)
        elif exc.details.get("kind"):
            entry["kind"] = exc.details["kind"]
    else:
        entry.update(code=INTERNAL_ERROR, message="The search of this integration failed unexpectedly.")
    return entry


def _log_failure(outcome: _Outcome) -> None:
    exc = outcome.error
    fields = {
        "integration_id": str(outcome.target.integration.pk),
        "provider": outcome.target.integration.provider.key,
        "error": type(exc).__name__,
        "code": TIMEOUT if isinstance(exc, ProviderTimeout) else getattr(exc, "code", INTERNAL_ERROR),
    }
    if isinstance(exc, DomainError):
        logger.info("integrations.search.provider_failed", extra=fields)
    else:
        logger.error("integrations.search.provider_crashed", extra=fields, exc_info=exc)


# --- results --------------------------------------------------------------------------------------------------------
def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _sort_newest_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """By updatedAt descending; hits without a readable updatedAt keep their order, after the dated ones."""
    dated = [(when, i, item) for i, item in enumerate(items) if (when := _instant(item.get("updatedAt")))]
    undated = [item for item in items if not _instant(item.get("updatedAt"))]
    dated.sort(key=lambda t: (-t[0].timestamp(), t[1]))
    return [item for _, _, item in dated] + undated


def _result(hit: dict[str, Any], integration: Integration) -> dict[str, Any]:
    return {
        "id": None if hit.get("id") is None else str(hit.get("id")),
        "entity": hit.get("entity"),
        "title": hit.get("title") or "",
        "description": hit.get("description") or "",
        "url": hit.get("url"),
        "updatedAt": hit.get("updatedAt"),
        "integrationId": str(integration.pk),
        "integrationName": integration.name,
        "provider": integration.provider.key,
    }


def _page_of(outcome: _Outcome, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], bool]:
    target = outcome.target
    hits = outcome.hits
    if target.entities:  # a client may answer with entities it was not asked for: keep only the asked ones
        hits = [h for h in hits if h.get("entity") in target.entities]
    window = [_result(h, target.integration) for h in hits]
    return window[offset : offset + limit], len(window) > offset + limit


def _group(items: Iterable[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        groups.setdefault(str(item.get(key)), []).append(item)
    return groups


def _fetch_size(limit: int, offset: int) -> int:
    return min(offset + limit + 1, MAX_WINDOW)


def _check_window(limit: int, offset: int) -> None:
    if offset + limit > MAX_WINDOW:
        raise ValidationFailed(
            f"offset + limit must be at most {MAX_WINDOW}.",
            details={"offset": [f"offset + limit must be at most {MAX_WINDOW}."]},
        )


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# --- the two searches ---------------------------------------------------------------------------------------------
def search_all(
    *,
    tenant,
    user,
    query: str,
    integration_ids: list | None = None,
    entities: list[str] | None = None,
    filters: dict | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> dict[str, Any]:
    """`POST /api/v1/integrations/search`: `{results, total, took, hasMore, byIntegration, byEntity, errors}`.

    `integration_ids` restricts the fan-out; an id the tenant does not have is a 404 INTEGRATION_NOT_FOUND, one that
    cannot be searched (search off, inactive, provider without search) a 400. `filters` go to each provider as they
    are (`timeMin`/`timeMax` from the caller's dateRange, plus customFilters).
    """
    started = time.monotonic()
    _check_window(limit, offset)
    candidates = _candidates(tenant=tenant, integration_ids=integration_ids)
    targets = []
    for integration in candidates:
        wanted = _entities_for(integration, entities)
        if wanted == []:  # none of the requested entity types lives here
            continue
        targets.append(_target(integration, user=user, entities=wanted))

    outcomes = _fan_out(targets, query=query, fetch=_fetch_size(limit, offset), filters=filters)
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    has_more = False
    for outcome in outcomes:
        if outcome.error is not None:
            if outcome.target.error is None:
                _log_failure(outcome)
            errors.append(_error_entry(outcome))
            continue
        page, more = _page_of(outcome, limit=limit, offset=offset)
        results.extend(page)
        has_more = has_more or more
    results = _sort_newest_first(results)
    took = _elapsed_ms(started)
    logger.info(
        "integrations.search.completed",
        extra={
            "tenant_id": str(tenant.pk),
            "integrations": len(targets),
            "results": len(results),
            "errors": len(errors),
            "took_ms": took,
        },
    )
    return {
        "results": results,
        "total": len(results),
        "took": took,
        "hasMore": has_more,
        "byIntegration": _group(results, "integrationId"),
        "byEntity": _group(results, "entity"),
        "errors": errors,
    }


def _candidates(*, tenant, integration_ids: list | None) -> list[Integration]:
    if not integration_ids:
        return list(
            searchable_integrations(tenant=tenant).filter(status=IntegrationStatus.ACTIVE).order_by("name", "pk")
        )
    wanted = list(dict.fromkeys(str(i) for i in integration_ids))
    found = {
        str(i.pk): i
        for i in Integration.objects.filter(tenant=tenant, pk__in=wanted).select_related("provider").order_by("name")
    }
    missing = [i for i in wanted if i not in found]
    if missing:
        raise NotFound("integration", f"Integration {missing[0]} not found.", details={"integrations": missing})
    refused = {pk: reason for pk, i in found.items() if (reason := _searchable_reason(i))}
    if refused:
        raise ValidationFailed(
            "Some of the integrations cannot be searched.",
            details={"integrations": [f"{pk}: {reason}" for pk, reason in refused.items()]},
        )
    return [found[i] for i in wanted]


def search_integration(
    *,
    integration: Integration,
    user,
    query: str,
    entities: list[str] | None = None,
    filters: dict | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> dict[str, Any]:
    """`GET /api/v1/integrations/{id}/search`: `{results, total, took, hasMore}`; its provider's failure is the
    answer (502 CONNECTION_FAILED, with `details.kind` "timeout" when it did not answer in time)."""
    started = time.monotonic()
    _check_window(limit, offset)
    reason = _searchable_reason(integration)
    if reason:
        raise ValidationFailed(reason, details={"searchEnabled": [reason]})
    wanted = _entities_for(integration, entities)
    if wanted == []:
        allowed = ", ".join(_allowed_entities(integration)) or "-"
        raise ValidationFailed(
            f"entities: none of them is searchable here (use: {allowed}).",
            details={"entities": [f"Must be among: {allowed}."]},
        )
    target = _target(integration, user=user, entities=wanted)
    if target.error is not None:
        raise ValidationFailed(target.error.message, details={"connection": [target.error.message]})
    (outcome,) = _fan_out([target], query=query, fetch=_fetch_size(limit, offset), filters=filters)
    if outcome.error is not None:
        _log_failure(outcome)
        if isinstance(outcome.error, DomainError):
            raise outcome.error
        raise ConnectionFailed("The search of this integration failed unexpectedly.")
    page, more = _page_of(outcome, limit=limit, offset=offset)
    page = _sort_newest_first(page)
    return {"results": page, "total": len(page), "took": _elapsed_ms(started), "hasMore": more}


def provider_filters(*, date_range: dict | None, custom_filters: dict | None) -> dict[str, Any]:
    """The filters a provider client understands: customFilters as given, dateRange as `timeMin`/`timeMax` (ISO)."""
    filters = dict(custom_filters or {})
    for source, name in (("start", "timeMin"), ("end", "timeMax")):
        value = (date_range or {}).get(source)
        if value is not None:
            filters[name] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return filters
