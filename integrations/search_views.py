"""Search across integrations and the dashboard widgets of one integration (seed 003). Thin: validate the input,
call one service of integrations.search / integrations.widgets, return its body.

Any tenant role may use them (read permission); another tenant's integration is a 404 INTEGRATION_NOT_FOUND.
Rate-limit groups: `search` (30/min by default) and `widgets` (100/min).
"""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.response import Response

from accounts.models import Permission
from config.serializers import StrictSerializer
from integrations import search, widgets
from integrations.models import Integration
from tenants.scoping import TenantScopedViewSetMixin

_MAX_QUERY = 500
_MAX_CUSTOM_FILTERS_CHARS = 4096


def _list_param(params, *names: str) -> list[str]:
    """A list query parameter given repeated (`a=1&a=2`) and/or comma-separated (`a=1,2`), under any of `names`."""
    values: list[str] = []
    for name in names:
        for raw in params.getlist(name):
            values.extend(part.strip() for part in str(raw).split(",") if part.strip())
    return list(dict.fromkeys(values))


def _first(params, *names: str):
    for name in names:
        if name in params:
            return params.get(name)
    return None


def _valid(serializer_class, data) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- input ----------------------------------------------------------------------------------------------------------
class DateRangeSerializer(StrictSerializer):
    start = serializers.DateTimeField(required=False, allow_null=True)
    end = serializers.DateTimeField(required=False, allow_null=True)

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["start"] > attrs["end"]:
            raise serializers.ValidationError({"start": ["Must not be after end."]})
        return attrs


class SearchFiltersSerializer(StrictSerializer):
    date_range = DateRangeSerializer(required=False)
    entity_types = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=20, help_text="Same as `entities`."
    )
    custom_filters = serializers.DictField(
        required=False, help_text="Provider-specific filters, passed as they are (e.g. Google's timeMin)."
    )

    def validate_custom_filters(self, value):
        if len(json.dumps(value, default=str)) > _MAX_CUSTOM_FILTERS_CHARS:
            raise serializers.ValidationError(f"Must be at most {_MAX_CUSTOM_FILTERS_CHARS} characters as JSON.")
        return value


class SearchRequestSerializer(StrictSerializer):
    query = serializers.CharField(max_length=_MAX_QUERY, trim_whitespace=True)
    integrations = serializers.ListField(
        child=serializers.UUIDField(), required=False, max_length=50, help_text="Only these integrations."
    )
    entities = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=20, help_text="Only these entity types."
    )
    filters = SearchFiltersSerializer(required=False)
    limit = serializers.IntegerField(
        min_value=1, max_value=search.MAX_LIMIT, default=search.DEFAULT_LIMIT, help_text="Results per integration."
    )
    offset = serializers.IntegerField(min_value=0, default=0, help_text="Hits skipped in each integration.")
    user_id = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="Seed 003; must be the caller's own id if given."
    )


class SearchQuerySerializer(serializers.Serializer):
    query = serializers.CharField(max_length=_MAX_QUERY, trim_whitespace=True)
    entities = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=20)
    limit = serializers.IntegerField(min_value=1, max_value=search.MAX_LIMIT, default=search.DEFAULT_LIMIT)
    offset = serializers.IntegerField(min_value=0, default=0)
    user_id = serializers.CharField(max_length=64, required=False, allow_blank=True)


class ActivityQuerySerializer(serializers.Serializer):
    time_range = serializers.ChoiceField(choices=list(widgets.TIME_RANGES), default="24h")
    limit = serializers.IntegerField(
        min_value=1, max_value=widgets.ACTIVITY_MAX_LIMIT, default=widgets.ACTIVITY_DEFAULT_LIMIT
    )


class DataQuerySerializer(serializers.Serializer):
    entity = serializers.CharField(max_length=64)
    fields = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=50)
    filters = serializers.CharField(required=False, allow_blank=True, max_length=_MAX_CUSTOM_FILTERS_CHARS)
    limit = serializers.IntegerField(min_value=1, max_value=widgets.DATA_MAX_LIMIT, default=widgets.DATA_DEFAULT_LIMIT)
    user_id = serializers.CharField(max_length=64, required=False, allow_blank=True)

    def validate_filters(self, value: str) -> dict:
        if not value.strip():
            return {}
        try:
            parsed = json.loads(value)
        except ValueError:
            raise serializers.ValidationError('Must be a JSON object, e.g. {"status": "open"}.')
        if not isinstance(parsed, dict):
            raise serializers.ValidationError('Must be a JSON object, e.g. {"status": "open"}.')
        return parsed


# --- output (documentation of what the services return) -------------------------------------------------------------
class SearchResultItemSerializer(serializers.Serializer):
    id = serializers.CharField(allow_null=True)
    entity = serializers.CharField(allow_null=True)
    title = serializers.CharField()
    description = serializers.CharField()
    url = serializers.CharField(allow_null=True)
    updated_at = serializers.CharField(allow_null=True, help_text="As the provider gives it (ISO 8601).")
    integration_id = serializers.UUIDField()
    integration_name = serializers.CharField()
    provider = serializers.CharField()


_SEARCH_ERROR = inline_serializer(
    "SearchProviderError",
    {
        "integration_id": serializers.UUIDField(),
        "integration_name": serializers.CharField(),
        "provider": serializers.CharField(),
        "code": serializers.CharField(help_text="TIMEOUT, CONNECTION_FAILED, NOT_CONNECTED, VALIDATION_ERROR, …"),
        "message": serializers.CharField(),
        "kind": serializers.CharField(required=False),
        "provider_status": serializers.IntegerField(required=False, allow_null=True),
    },
    many=True,
)
SearchResponseSerializer = inline_serializer(
    "SearchResponse",
    {
        "results": SearchResultItemSerializer(many=True),
        "total": serializers.IntegerField(help_text="Results in this answer."),
        "took": serializers.IntegerField(help_text="Milliseconds."),
        "has_more": serializers.BooleanField(help_text="An integration has hits beyond offset + limit."),
        "by_integration": serializers.DictField(child=serializers.ListField(child=SearchResultItemSerializer())),
        "by_entity": serializers.DictField(child=serializers.ListField(child=SearchResultItemSerializer())),
        "errors": _SEARCH_ERROR,
    },
)
IntegrationSearchResponseSerializer = inline_serializer(
    "IntegrationSearchResponse",
    {
        "results": SearchResultItemSerializer(many=True),
        "total": serializers.IntegerField(),
        "took": serializers.IntegerField(help_text="Milliseconds."),
        "has_more": serializers.BooleanField(),
    },
)
StatusWidgetSerializer = inline_serializer(
    "StatusWidget",
    {
        "integration_id": serializers.UUIDField(),
        "name": serializers.CharField(),
        "provider": serializers.CharField(),
        "status": serializers.CharField(help_text="pending, active, error or inactive."),
        "health_status": serializers.CharField(),
        "connection_status": serializers.CharField(allow_null=True),
        "last_connected_at": serializers.DateTimeField(allow_null=True),
        "last_sync_at": serializers.DateTimeField(allow_null=True),
        "error": serializers.CharField(allow_null=True),
    },
)
ActivityWidgetSerializer = inline_serializer(
    "ActivityWidget",
    {
        "activities": serializers.ListField(
            child=inline_serializer(
                "ActivityWidgetItem",
                {
                    "id": serializers.UUIDField(),
                    "type": serializers.CharField(),
                    "status": serializers.CharField(help_text="success, error or running."),
                    "message": serializers.CharField(),
                    "timestamp": serializers.DateTimeField(),
                    "details": serializers.DictField(),
                },
            )
        ),
        "total": serializers.IntegerField(help_text="Entries in the time range."),
    },
)
DataWidgetSerializer = inline_serializer(
    "DataWidget",
    {
        "data": serializers.ListField(child=serializers.DictField(), help_text="Records as the provider shapes them."),
        "total": serializers.IntegerField(),
        "entity": serializers.CharField(),
        "fetched_at": serializers.DateTimeField(),
    },
)

_USER_ID = OpenApiParameter("userId", str, required=False, description="Seed 003; must be the caller's own id.")


# --- views ----------------------------------------------------------------------------------------------------------
class _IntegrationViewSet(TenantScopedViewSetMixin, viewsets.GenericViewSet):
    queryset = Integration.objects.select_related("provider")
    not_found_code = "INTEGRATION_NOT_FOUND"
    not_found_message = "Integration not found."
    filter_backends = []
    pagination_class = None


class SearchViewSet(_IntegrationViewSet):
    rate_limit_group = "search"
    # A search is a read, whatever its HTTP method: every tenant role may search.
    required_permissions = {"search_all": Permission.READ, "search": Permission.READ}
    serializer_class = SearchRequestSerializer

    @extend_schema(
        summary="Search across the tenant's integrations (seed 003)",
        description="Fans the query out to every active, search-enabled integration (or those named in "
        "`integrations`), each provider in parallel with its own timeout. A slow or failing provider does not "
        "fail the search: it is listed in `errors` beside the other integrations' results. User-scoped "
        "integrations are searched with the caller's own connection.",
        request=SearchRequestSerializer,
        responses=SearchResponseSerializer,
    )
    def search_all(self, request):
        data = _valid(SearchRequestSerializer, request.data)
        search.check_caller(user=request.user, user_id=data.get("user_id"))
        filters = data.get("filters") or {}
        entities = list(dict.fromkeys([*(data.get("entities") or []), *(filters.get("entity_types") or [])]))
        body = search.search_all(
            tenant=self.tenant,
            user=request.user,
            query=data["query"],
            integration_ids=data.get("integrations"),
            entities=entities or None,
            filters=search.provider_filters(
                date_range=filters.get("date_range"), custom_filters=filters.get("custom_filters")
            ),
            limit=data["limit"],
            offset=data["offset"],
        )
        return Response(body)

    @extend_schema(
        summary="Search one integration (seed 003)",
        parameters=[
            OpenApiParameter("query", str, required=True),
            OpenApiParameter("entities", str, required=False, description="Comma-separated or repeated."),
            OpenApiParameter("limit", int, required=False, description=f"1 to {search.MAX_LIMIT}, default 10."),
            OpenApiParameter("offset", int, required=False),
            _USER_ID,
        ],
        responses=IntegrationSearchResponseSerializer,
    )
    def search(self, request, pk=None):
        integration = self.get_object()
        params = request.query_params
        data = _valid(
            SearchQuerySerializer,
            {
                key: value
                for key, value in {
                    "query": params.get("query", params.get("q")),
                    "entities": _list_param(params, "entities", "entity") or None,
                    "limit": params.get("limit") or None,
                    "offset": params.get("offset") or None,
                    "user_id": _first(params, "userId", "user_id"),
                }.items()
                if value is not None
            },
        )
        search.check_caller(user=request.user, user_id=data.get("user_id"))
        body = search.search_integration(
            integration=integration,
            user=request.user,
            query=data["query"],
            entities=data.get("entities") or None,
            limit=data["limit"],
            offset=data["offset"],
        )
        return Response(body)


class WidgetViewSet(_IntegrationViewSet):
    rate_limit_group = "widgets"
    serializer_class = StatusWidgetSerializer

    @extend_schema(summary="Status widget (seed 003)", responses=StatusWidgetSerializer)
    def status(self, request, pk=None):
        return Response(widgets.widget_status(integration=self.get_object(), user=request.user))

    @extend_schema(
        summary="Activity widget (seed 003)",
        parameters=[
            OpenApiParameter("timeRange", str, enum=list(widgets.TIME_RANGES), required=False),
            OpenApiParameter("limit", int, required=False, description="1 to 100, default 10."),
        ],
        responses=ActivityWidgetSerializer,
    )
    def activity(self, request, pk=None):
        integration = self.get_object()
        params = request.query_params
        data = _valid(
            ActivityQuerySerializer,
            {
                key: value
                for key, value in {
                    "time_range": _first(params, "timeRange", "time_range"),
                    "limit": params.get("limit"),
                }.items()
                if value not in (None, "")
            },
        )
        return Response(
            widgets.widget_activity(integration=integration, time_range=data["time_range"], limit=data["limit"])
        )

    @extend_schema(
        summary="Data widget (seed 003)",
        parameters=[
            OpenApiParameter("entity", str, required=True, description="One of the provider's availableEntities."),
            OpenApiParameter("fields", str, required=False, description="Comma-separated or repeated."),
            OpenApiParameter("filters", OpenApiTypes.STR, required=False, description="A JSON object."),
            OpenApiParameter("limit", int, required=False, description="1 to 100, default 10."),
            _USER_ID,
        ],
        responses=DataWidgetSerializer,
    )
    def data(self, request, pk=None):
        integration = self.get_object()
        params = request.query_params
        data = _valid(
            DataQuerySerializer,
            {
                key: value
                for key, value in {
                    "entity": params.get("entity"),
                    "fields": _list_param(params, "fields") or None,
                    "filters": params.get("filters"),
                    "limit": params.get("limit") or None,
                    "user_id": _first(params, "userId", "user_id"),
                }.items()
                if value is not None
            },
        )
        search.check_caller(user=request.user, user_id=data.get("user_id"))
        body = widgets.widget_data(
            integration=integration,
            user=request.user,
            entity=data["entity"],
            fields=data.get("fields"),
            filters=data.get("filters"),
            limit=data["limit"],
        )
        return Response(body)
