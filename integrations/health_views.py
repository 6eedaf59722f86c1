"""Health of one integration (seed 000's shapes) and the metrics endpoints (seed 004)."""

import hmac
import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework import exceptions, serializers, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Permission
from accounts.permissions import IsSuperAdmin
from config.api import RateLimitFirstMixin, client_ip, sort_queryset
from config.schema import ErrorResponseSerializer
from integrations import metrics
from integrations.health import health_check_run
from integrations.models import HealthCheck, HealthCheckStatus, HealthCheckTrigger, HealthStatus, Integration
from tenants.scoping import TenantScopedViewSetMixin

HealthSerializer = inline_serializer(
    "IntegrationHealth",
    {
        "status": serializers.ChoiceField(choices=HealthStatus.choices),
        "last_check_at": serializers.DateTimeField(allow_null=True),
        "last_error": serializers.CharField(allow_null=True),
        "last_error_at": serializers.DateTimeField(allow_null=True),
        "consecutive_failures": serializers.IntegerField(),
        "integration_status": serializers.CharField(),
    },
)

HealthCheckResultSerializer = inline_serializer(
    "HealthCheckResult",
    {
        "integration_id": serializers.UUIDField(),
        "provider": serializers.CharField(),
        "status": serializers.ChoiceField(choices=HealthCheckStatus.values),
        "response_time": serializers.IntegerField(allow_null=True, help_text="Milliseconds."),
        "checked_at": serializers.DateTimeField(),
        "status_code": serializers.IntegerField(allow_null=True),
        "error": serializers.CharField(allow_null=True),
    },
)


class HealthCheckSerializer(serializers.ModelSerializer):
    integration_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = HealthCheck
        fields = [
            "id",
            "integration_id",
            "status",
            "kind",
            "response_time_ms",
            "status_code",
            "error",
            "trigger",
            "checked_at",
        ]
        read_only_fields = fields


class IntegrationHealthViewSet(TenantScopedViewSetMixin, viewsets.GenericViewSet):
    """`GET …/{id}/health`, `POST …/{id}/health/check` (synchronous), `GET …/{id}/health/checks` (history)."""

    queryset = Integration.objects.select_related("provider")
    not_found_code = "INTEGRATION_NOT_FOUND"
    not_found_message = "Integration not found."
    rate_limit_group = "integrations"
    filter_backends = []
    required_permissions = {"check": Permission.UPDATE}

    @extend_schema(summary="Health of an integration", responses=HealthSerializer)
    def health(self, request, pk=None):
        integration = self.get_object()
        return Response(
            {
                "status": integration.health_status,
                "last_check_at": integration.last_health_check_at,
                "last_error": integration.last_error or None,
                "last_error_at": integration.last_error_at,
                "consecutive_failures": integration.consecutive_health_failures,
                "integration_status": integration.status,
            }
        )

    @extend_schema(
        summary="Check an integration's health now",
        request=None,
        responses=HealthCheckResultSerializer,
        description="Runs the provider's health request synchronously, records the result and updates the "
        "integration (`healthStatus`, `lastHealthCheckAt`, `lastError`); a failing provider is a 200 with "
        "`status: unhealthy`, not an error. A user-scoped integration is checked with the caller's own connection, "
        "or, when the caller has none, with a reachability check that uses nobody's credentials.",
    )
    def check(self, request, pk=None):
        integration = self.get_object()
        check = health_check_run(
            integration=integration, trigger=HealthCheckTrigger.MANUAL, actor=request.user, user=request.user
        )
        return Response(
            {
                "integration_id": integration.pk,
                "provider": integration.provider.key,
                "status": check.status,
                "response_time": check.response_time_ms,
                "checked_at": check.checked_at,
                "status_code": check.status_code,
                "error": check.error or None,
            }
        )

    @extend_schema(
        summary="Recorded health checks of an integration",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=HealthCheckStatus.values),
            OpenApiParameter("sortBy", OpenApiTypes.STR, enum=["checkedAt"]),
            OpenApiParameter("sortOrder", OpenApiTypes.STR, enum=["asc", "desc"]),
        ],
        responses=HealthCheckSerializer(many=True),
    )
    def checks(self, request, pk=None):
        integration = self.get_object()
        qs = HealthCheck.objects.filter(integration=integration)
        status = request.query_params.get("status")
        if status:
            if status not in HealthCheckStatus.values:
                raise exceptions.ValidationError(
                    {"status": [f"Must be one of: {', '.join(HealthCheckStatus.values)}."]}
                )
            qs = qs.filter(status=status)
        qs = sort_queryset(qs, request.query_params, allowed={"checkedAt": "checked_at"}, default="-checked_at")
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(HealthCheckSerializer(page, many=True).data)


# --- metrics ------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


def check_metrics_access(request) -> None:
    """A Bearer METRICS_TOKEN, or a client address in METRICS_ALLOWED_NETWORKS. A wrong token is refused even from
    an allowed network (401); no token from elsewhere is 401 when a token is configured, 403 when none is."""
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, value = header.partition(" ")
        if token and scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode()):
            return
        raise exceptions.AuthenticationFailed("Invalid metrics token.")
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        address = None
    if address is not None:
        if address.version == 6 and address.ipv4_mapped:
            address = address.ipv4_mapped
        if any(address in network for network in _networks(tuple(settings.METRICS_ALLOWED_NETWORKS))):
            return
    if token:
        raise exceptions.NotAuthenticated("A Bearer token is required for metrics.")
    raise exceptions.PermissionDenied("Metrics are not available from this address.")


class MetricsView(RateLimitFirstMixin, APIView):
    """`GET /metrics`: Prometheus text format, values read from the database at scrape time."""

    authentication_classes = []
    permission_classes = [AllowAny]
    rate_limit_group = "default"

    def perform_content_negotiation(self, request, force=False):
        # Prometheus asks for text; errors are still rendered as api.md's JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        summary="Metrics in Prometheus text format",
        responses={
            (200, "text/plain"): OpenApiTypes.STR,
            401: OpenApiResponse(ErrorResponseSerializer, description="Token required or invalid."),
            403: OpenApiResponse(ErrorResponseSerializer, description="Address not allowed."),
        },
        auth=[],
    )
    def get(self, request):
        check_metrics_access(request)
        return HttpResponse(metrics.prometheus_text(), content_type=CONTENT_TYPE_LATEST)


class AdminMetricsView(RateLimitFirstMixin, APIView):
    """`GET /api/v1/admin/metrics`: the same figures as JSON, for the super admin console."""

    permission_classes = [IsSuperAdmin]
    rate_limit_group = "default"

    @extend_schema(summary="Metrics as JSON (super admin)", responses=OpenApiTypes.OBJECT)
    def get(self, request):
        # A JsonResponse: the label values inside (statuses, categories, queue names) are data, not keys to camelise.
        return JsonResponse(metrics.metrics_snapshot().as_json())
