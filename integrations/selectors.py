"""Reads of integrations, their versions and activity logs; every selector takes the tenant (or a tenant's row)."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time

from django.db import connection
from django.db.models import F, FilteredRelation, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from config.api import sort_spec
from config.errors import NotFound, ValidationFailed
from integrations.models import (
    ActivityLog,
    ActivityStatus,
    ActivityType,
    Connection,
    Environment,
    Integration,
    IntegrationStatus,
    IntegrationVersion,
)
from providers.models import Category, Provider

INTEGRATION_SORTS = {
    "name": "name",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "status": "status",
    "provider": "provider__key",
}
# Seeds' other words for the same values (seed 003: connected/disabled; seed 004: upper case and *_PROVIDER kinds).
STATUS_ALIASES = {"connected": IntegrationStatus.ACTIVE, "disabled": IntegrationStatus.INACTIVE}
CATEGORY_ALIASES = {
    "sms_provider": Category.SMS,
    "email_provider": Category.EMAIL,
    "payment": Category.PAYMENT_GATEWAY,
    "payment_provider": Category.PAYMENT_GATEWAY,
}
ACTIVITY_STATUS_ALIASES = {"failed": ActivityStatus.ERROR, "failure": ActivityStatus.ERROR}
_MAX_SEARCH = 200


def _invalid(name: str, message: str):
    return ValidationFailed(f"{name}: {message}", details={name: [message]})


def normalize_choice(name: str, raw: str | None, choices: list[str], aliases: Mapping[str, str] | None = None):
    """A case-insensitive enum value (with the seeds' aliases), None when absent, 400 when unknown."""
    value = (raw or "").strip().lower()
    if not value:
        return None
    value = str((aliases or {}).get(value, value))
    if value not in choices:
        raise _invalid(name, f"Must be one of: {', '.join(choices)}.")
    return value


def normalize_category(raw: str | None, name: str = "category") -> str | None:
    return normalize_choice(name, raw, Category.values, CATEGORY_ALIASES)


# --- Integrations -------------------------------------------------------------------------------------------------
def _tenant_connection():
    return Connection.objects.filter(integration=OuterRef("pk"), user__isnull=True)


# Provider columns a list row never shows: not read (the client secret would be decrypted once per row otherwise).
# Accessing one later still works (Django loads it on demand, one query).
_PROVIDER_DEFERRED = [
    f"provider__{name}"
    for name in (
        "description",
        "oauth_config",
        "oauth_client_secret",
        "api_key_placement",
        "credential_schema",
        "config_schema",
        "health_check",
        "available_entities",
        "entity_mappings",
        "capabilities",
        "search_capabilities",
        "notes",
        "locked_fields",
    )
]


def integration_queryset(*, tenant) -> QuerySet[Integration]:
    """The tenant's integrations with their provider and the tenant-level connection's status and hint (one query)."""
    return (
        Integration.objects.filter(tenant=tenant)
        .select_related("provider")
        .defer(*_PROVIDER_DEFERRED)
        .annotate(
            _conn_status=Subquery(_tenant_connection().values("status")[:1]),
            _conn_hint=Subquery(_tenant_connection().values("credential_hint")[:1]),
        )
    )


def integration_row_queryset(*, tenant) -> QuerySet[Integration]:
    """The tenant's integrations for `values()` reads (the fast detail): the tenant-level connection's
    status and hint through one LEFT JOIN (at most one such connection per integration), nothing deferred or
    selected that `values()` would replace anyway. Building and compiling it costs half of `integration_queryset`."""
    return Integration.objects.filter(tenant=tenant).annotate(
        _tconn=FilteredRelation("connections", condition=Q(connections__user__isnull=True))
    )  # joined only where read (`_tconn__status`), so a count() does not join


TENANT_CONNECTION_COLUMNS = {"_conn_status": F("_tconn__status"), "_conn_hint": F("_tconn__credential_hint")}


@dataclass(frozen=True)
class IntegrationFilters:
    """The list's query parameters, validated (400 on an unknown value) and normalised."""

    provider: str = ""
    status: str | None = None
    category: str | None = None
    environment: str | None = None
    search: str = ""
    order: str = "-created_at"  # an order_by term over INTEGRATION_SORTS' fields

    @classmethod
    def parse(cls, filters: Mapping) -> "IntegrationFilters":
        category_param = "category" if filters.get("category") else "type"
        return cls(
            provider=(
                filters.get("provider") or filters.get("providerName") or filters.get("provider_name") or ""
            ).strip(),
            status=normalize_choice("status", filters.get("status"), IntegrationStatus.values, STATUS_ALIASES),
            category=normalize_category(filters.get(category_param), category_param),
            environment=normalize_choice("environment", filters.get("environment"), Environment.values),
            search=(filters.get("search") or "").strip()[:_MAX_SEARCH],
            order=sort_spec(filters, allowed=INTEGRATION_SORTS, default="-created_at"),
        )


def integration_list(*, tenant, filters: Mapping) -> QuerySet[Integration]:
    """Filters `provider` (key; alias `providerName`), `status`, `category` (alias `type`), `environment`, `search`
    (name and description); `sortBy` name|createdAt|updatedAt|status|provider, `sortOrder` asc|desc. The API's
    lists (`/integrations`, `/integrations/provider/{key}`) read the same page through `integration_page`."""
    queryset = integration_queryset(tenant=tenant)
    wanted = IntegrationFilters.parse(filters)
    if wanted.provider:
        queryset = queryset.filter(provider__key=wanted.provider)
    if wanted.status:
        queryset = queryset.filter(status=wanted.status)
    if wanted.category:
        queryset = queryset.filter(provider__category=wanted.category)
    if wanted.environment:
        queryset = queryset.filter(environment=wanted.environment)
    if wanted.search:
        queryset = queryset.filter(Q(name__icontains=wanted.search) | Q(description__icontains=wanted.search))
    return queryset.order_by(wanted.order, "pk")


# --- The list page in SQL ------------------------------------------------------------------------------------------
# Building and compiling the ORM queries of a page (count + rows) costs more CPU than everything else in the request;
# the page is therefore one fixed SQL statement with the same filters, order and columns as `integration_list` +
# `integration_representations` (tests/integrations/test_fast_representation.py holds the two paths equal).
_TIMESTAMP_COLUMNS = frozenset(
    {"enabled_at", "last_sync_at", "last_health_check_at", "last_error_at", "last_connection_test", "created_at"}
    | {"updated_at"}
)
_TIMESTAMP_SQL = """to_char({column} AT TIME ZONE %s, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def _page_sql():
    i, p, c = Integration._meta.db_table, Provider._meta.db_table, Connection._meta.db_table
    # Timestamps leave PostgreSQL already written in DRF's DATETIME_FORMAT (parsing them into datetimes and
    # formatting them again was a fifth of the page's remaining CPU); the time zone is a parameter.
    columns = ", ".join(
        _TIMESTAMP_SQL.format(column=f"{table}.{column}") if column in _TIMESTAMP_COLUMNS else f"{table}.{column}"
        for table, column in (
            ("i", "id"),
            ("i", "tenant_id"),
            ("i", "name"),
            ("i", "description"),
            ("p", "key"),
            ("p", "category"),
            ("i", "status"),
            ("i", "auth_type"),
            ("i", "environment"),
            ("i", "icon"),
            ("p", "icon"),
            ("i", "search_enabled"),
            ("i", "user_scoped"),
            ("i", "enabled_at"),
            ("i", "enabled_by_id"),
            ("i", "last_sync_at"),
            ("i", "last_health_check_at"),
            ("i", "health_status"),
            ("i", "last_error"),
            ("i", "last_error_at"),
            ("i", "last_connection_test"),
            ("i", "current_version"),
            ("i", "created_at"),
            ("i", "updated_at"),
            ("c", "status"),
            ("c", "credential_hint"),
            ("i", "config::text"),
            ("i", "settings::text"),
            ("i", "allowed_shard_types::text"),
            ("i", "searchable_entities::text"),
        )
    )
    # Only table and column names (from the models) are interpolated here; every value goes in as a parameter.
    rows_from = (
        f"{i} i JOIN {p} p ON p.id = i.provider_id LEFT JOIN {c} c ON c.integration_id = i.id AND c.user_id IS NULL"
    )
    count = f"SELECT count(*) FROM {i} i"  # noqa: S608
    return columns, rows_from, count, f"{count} JOIN {p} p ON p.id = i.provider_id"


_PAGE_COLUMNS, _PAGE_FROM, _PAGE_COUNT_SQL, _PAGE_COUNT_BY_PROVIDER_SQL = _page_sql()
_SQL_ORDER = {
    "name": "i.name",
    "created_at": "i.created_at",
    "updated_at": "i.updated_at",
    "status": "i.status",
    "provider__key": "p.key",
}


def integration_page(*, tenant, filters: Mapping, limit: int, offset: int) -> tuple[int, list[tuple]]:
    """(total, rows) of one page of `integration_list`: each row a tuple in `_page_sql`'s column order (read by
    `integrations.serializers.integration_page_representations`). One statement (two past the last page), no ORM
    compilation."""
    wanted = filters if isinstance(filters, IntegrationFilters) else IntegrationFilters.parse(filters)
    where, params = ["i.tenant_id = %s"], [tenant.pk]
    if wanted.provider:
        where.append("p.key = %s")
        params.append(wanted.provider)
    if wanted.status:
        where.append("i.status = %s")
        params.append(wanted.status)
    if wanted.category:
        where.append("p.category = %s")
        params.append(wanted.category)
    if wanted.environment:
        where.append("i.environment = %s")
        params.append(wanted.environment)
    if wanted.search:
        pattern = f"%{connection.ops.prep_for_like_query(wanted.search)}%"
        where.append("(UPPER(i.name::text) LIKE UPPER(%s) OR UPPER(i.description::text) LIKE UPPER(%s))")
        params += [pattern, pattern]
    field = wanted.order.removeprefix("-")
    order = f"{_SQL_ORDER[field]} {'DESC' if wanted.order.startswith('-') else 'ASC'}, i.id ASC"
    condition = " AND ".join(where)
    count_sql = (
        f"{_PAGE_COUNT_BY_PROVIDER_SQL if wanted.provider or wanted.category else _PAGE_COUNT_SQL} WHERE {condition}"
    )
    zone = [timezone.get_current_timezone_name()] * len(_TIMESTAMP_COLUMNS)
    with connection.cursor() as cursor:
        # One round trip: the total rides on every row as an uncorrelated scalar subquery (computed once).
        cursor.execute(
            f"SELECT {_PAGE_COLUMNS}, ({count_sql}) FROM {_PAGE_FROM} WHERE {condition} "  # noqa: S608
            f"ORDER BY {order} LIMIT %s OFFSET %s",
            [*zone, *params, *params, limit, offset],
        )
        rows = cursor.fetchall()
        if rows:
            return rows[0][-1], [row[:-1] for row in rows]
        if offset == 0:
            return 0, []
        cursor.execute(count_sql, params)  # past the end: the total alone
        return cursor.fetchone()[0], []


def provider_must_exist(*, provider_key: str) -> None:
    """404 PROVIDER_NOT_FOUND for a key the catalog does not know."""
    if not Provider.objects.filter(key=provider_key).exists():
        raise NotFound("provider", f"Provider {provider_key!r} not found.")


def integration_get(*, tenant, integration_id) -> Integration:
    integration = integration_queryset(tenant=tenant).filter(pk=integration_id).first()
    if integration is None:
        raise NotFound("integration")
    return integration


# --- Versions -----------------------------------------------------------------------------------------------------
def version_list(*, integration: Integration) -> QuerySet[IntegrationVersion]:
    """Newest first; the encrypted credentials column is not read (lists show `credentialsSet` only)."""
    return (
        IntegrationVersion.objects.filter(integration=integration)
        .select_related("created_by")
        .defer("credentials")
        .order_by("-number")
    )


def version_get(*, integration: Integration, number: int) -> IntegrationVersion:
    version = version_list(integration=integration).filter(number=number).first()
    if version is None:
        raise NotFound("version", f"Version {number} of this integration not found.")
    return version


# --- Activity -----------------------------------------------------------------------------------------------------
def parse_instant(name: str, raw: str | None, *, end_of_day: bool = False) -> datetime | None:
    """An ISO 8601 datetime (or date) query parameter; naive values are UTC; anything else is a 400."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = parse_datetime(raw.replace(" ", "+"))  # a "+" in a query string arrives as a space
        if value is None:
            day = parse_date(raw)
            if day is not None:
                value = datetime.combine(day, time.max if end_of_day else time.min)
    except ValueError:
        value = None
    if value is None:
        raise _invalid(name, "Must be an ISO 8601 date or datetime, e.g. 2025-01-31T12:00:00Z.")
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


def activity_list(*, integration: Integration, filters: Mapping) -> QuerySet[ActivityLog]:
    """Newest first; filters `status`, `type` (comma-separated allowed), `from`/`to` (ISO 8601, inclusive)."""
    queryset = ActivityLog.objects.filter(integration=integration).select_related("actor")
    status = normalize_choice("status", filters.get("status"), ActivityStatus.values, ACTIVITY_STATUS_ALIASES)
    if status:
        queryset = queryset.filter(status=status)
    raw_types = [t for t in (filters.get("type") or "").split(",") if t.strip()]
    if raw_types:
        types = [normalize_choice("type", t, ActivityType.values) for t in raw_types]
        queryset = queryset.filter(type__in=types)
    since = parse_instant("from", filters.get("from") or filters.get("startDate"))
    until = parse_instant("to", filters.get("to") or filters.get("endDate"), end_of_day=True)
    if since and until and since > until:
        raise _invalid("from", "Must not be after 'to'.")
    if since:
        queryset = queryset.filter(created_at__gte=since)
    if until:
        queryset = queryset.filter(created_at__lte=until)
    return queryset.order_by("-created_at", "-pk")
