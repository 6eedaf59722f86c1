"""`/api/v1/integrations…`: CRUD, by provider, activate/deactivate, versions and activity logs (thin: validate →
one service or selector → serialize)."""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status as http_status
from rest_framework import viewsets
from rest_framework.response import Response

from accounts.models import Permission, Role
from config.api import CamelCased, page_body, parse_page_params
from config.errors import PermissionDenied
from integrations import selectors, services
from integrations.models import Integration
from integrations.serializers import (
    ActivateResponseSerializer,
    ActivityLogSerializer,
    DeactivateResponseSerializer,
    IntegrationCreateSerializer,
    IntegrationSerializer,
    IntegrationUpdateSerializer,
    RestoreVersionSerializer,
    VersionDetailSerializer,
    VersionSerializer,
    activity_representations,
    integration_page_representations,
    integration_representations,
)
from tenants.scoping import TenantScopedViewSetMixin

_LIST_PARAMS = [
    OpenApiParameter(name, str, required=False)
    for name in ("provider", "status", "category", "type", "environment", "search", "sortBy", "sortOrder")
]
ORIGIN_CHANGE_NOTE = (
    "A `config` change that moves the API origin (scheme, host or port, e.g. custom_api's `baseUrl` or Zendesk's "
    "`subdomain`) drops the stored credentials, the tenant's and every user's (`credentialsSet` false, "
    "`integration.disconnected` with `reason: origin_changed`), unless new `credentials` come in the same request."
)
_LOG_PARAMS = [OpenApiParameter(name, str, required=False) for name in ("status", "type", "from", "to")]


@extend_schema_view(
    list=extend_schema(summary="List the tenant's integrations", parameters=_LIST_PARAMS),
    create=extend_schema(
        summary="Create an integration", request=IntegrationCreateSerializer, responses={201: IntegrationSerializer}
    ),
    retrieve=extend_schema(summary="Get an integration"),
    update=extend_schema(
        summary="Update an integration (fields optional)",
        request=IntegrationUpdateSerializer,
        description=ORIGIN_CHANGE_NOTE,
    ),
    partial_update=extend_schema(
        summary="Update an integration", request=IntegrationUpdateSerializer, description=ORIGIN_CHANGE_NOTE
    ),
    destroy=extend_schema(summary="Delete an integration and what hangs off it (admin only)"),
)
class IntegrationViewSet(TenantScopedViewSetMixin, viewsets.GenericViewSet):
    queryset = Integration.objects.all()
    serializer_class = IntegrationSerializer
    rate_limit_group = "integrations"
    not_found_code = "INTEGRATION_NOT_FOUND"
    not_found_message = "Integration not found."
    required_permissions = {
        "activate": Permission.UPDATE,
        "deactivate": Permission.UPDATE,
        "restore_version": Permission.UPDATE,
    }

    def get_queryset(self):
        return selectors.integration_queryset(tenant=self.tenant)

    def _detail(self, integration: Integration) -> dict:
        return self._fast_detail(integration.pk)

    def _fast_detail(self, pk) -> CamelCased:
        """One integration through the fast representation (one query); a 404 when it is not the tenant's."""
        rows = integration_representations(selectors.integration_row_queryset(tenant=self.tenant).filter(pk=pk))
        if not rows:
            raise Http404
        return CamelCased(rows[0])

    def _page(self, queryset, serializer_class):
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)

    def _fast_page(self, filters) -> Response:
        """A page in two SQL statements (count, rows), written without serializers (see selectors.integration_page)."""
        limit, offset = parse_page_params(self.request.query_params)
        total, rows = selectors.integration_page(tenant=self.tenant, filters=filters, limit=limit, offset=offset)
        items = integration_page_representations(rows)
        return Response(CamelCased(page_body(items, total=total, limit=limit, offset=offset)))

    def list(self, request):
        return self._fast_page(request.query_params)

    @extend_schema(
        summary="The tenant's integrations of one provider",
        parameters=_LIST_PARAMS,
        responses=IntegrationSerializer(many=True),
    )
    def by_provider(self, request, key=None):
        selectors.provider_must_exist(provider_key=key)
        params = {
            k: v for k, v in request.query_params.items() if k not in ("provider", "providerName", "provider_name")
        }
        return self._fast_page({**params, "provider": key})

    def create(self, request):
        serializer = IntegrationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        integration = services.integration_create(tenant=self.tenant, actor=request.user, **serializer.validated_data)
        return Response(self._detail(integration), status=http_status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        return Response(self._fast_detail(pk))

    def update(self, request, pk=None):
        integration = self.get_object()
        serializer = IntegrationUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        integration = services.integration_update(
            integration=integration, actor=request.user, changes=serializer.validated_data
        )
        return Response(self._detail(integration))

    partial_update = update

    def destroy(self, request, pk=None):
        services.integration_delete(integration=self.get_object(), actor=request.user)
        return Response(status=http_status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Activate an integration", request=None, responses=ActivateResponseSerializer)
    def activate(self, request, pk=None):
        integration = services.integration_activate(integration=self.get_object(), actor=request.user)
        return Response(
            {
                "id": str(integration.pk),
                "status": integration.status,
                "enabled_at": integration.enabled_at,
                "enabled_by": str(integration.enabled_by_id) if integration.enabled_by_id else None,
            }
        )

    @extend_schema(summary="Deactivate an integration", request=None, responses=DeactivateResponseSerializer)
    def deactivate(self, request, pk=None):
        integration = services.integration_deactivate(integration=self.get_object(), actor=request.user)
        return Response({"id": str(integration.pk), "status": integration.status, "updated_at": integration.updated_at})

    @extend_schema(summary="Activity log", parameters=_LOG_PARAMS, responses=ActivityLogSerializer(many=True))
    def logs(self, request, pk=None):
        queryset = selectors.activity_list(integration=self.get_object(), filters=request.query_params)
        limit, offset = parse_page_params(request.query_params)
        total = queryset.count()
        items = activity_representations(queryset[offset : offset + limit]) if offset < total else []
        return Response(CamelCased(page_body(items, total=total, limit=limit, offset=offset)))

    @extend_schema(
        operation_id="integration_versions_list",
        summary="Versions, newest first",
        responses=VersionSerializer(many=True),
    )
    def versions(self, request, pk=None):
        return self._page(selectors.version_list(integration=self.get_object()), VersionSerializer)

    @extend_schema(
        operation_id="integration_version_retrieve",
        summary="One version (snapshot without credentials)",
        responses=VersionDetailSerializer,
    )
    def version_detail(self, request, pk=None, number=None):
        version = selectors.version_get(integration=self.get_object(), number=number)
        return Response(VersionDetailSerializer(version).data)

    @extend_schema(
        summary="Restore a version (makes a new version)",
        description="Restores the version's `config` and `settings`. Credentials are restored only with "
        "`restoreCredentials: true`, which needs the admin role (403 otherwise); without it the current credentials "
        "stay, unless the restored config moves the API origin (scheme, host, port): then they are dropped "
        "(`credentialsSet` false) and the integration must be connected again.",
        request=RestoreVersionSerializer,
        responses=IntegrationSerializer,
    )
    def restore_version(self, request, pk=None, number=None):
        integration = self.get_object()
        body = RestoreVersionSerializer(data=request.data if isinstance(request.data, dict) else {})
        body.is_valid(raise_exception=True)
        restore_credentials = body.validated_data["restore_credentials"]
        if restore_credentials and request.membership.role != Role.ADMIN:
            raise PermissionDenied(
                "Only an admin may restore credentials from a version (restoreCredentials).",
                details={"restoreCredentials": ["Requires the admin role."]},
            )
        integration = services.integration_restore_version(
            integration=integration, number=number, actor=request.user, restore_credentials=restore_credentials
        )
        return Response(self._detail(integration))
