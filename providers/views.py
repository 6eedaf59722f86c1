"""Super-admin provider API (`/api/v1/admin/providers…`) and the tenant catalog (`/api/v1/catalog…`)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status as http_status
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.permissions import HasTenantPermission, IsSuperAdmin
from config.api import RateLimitFirstMixin
from providers import selectors, services
from providers.serializers import (
    CatalogProviderSerializer,
    ProviderAudienceResponseSerializer,
    ProviderAudienceSerializer,
    ProviderSerializer,
    ProviderStatusResponseSerializer,
    ProviderStatusSerializer,
    entry_from_request,
)
from tenants.scoping import request_tenant

_KEY_REGEX = "[a-z][a-z0-9_]{0,63}"


def _filter_params(*names):
    return [OpenApiParameter(name, str, required=False) for name in names]


@extend_schema_view(
    list=extend_schema(summary="List providers", parameters=_filter_params("category", "status", "audience", "search")),
    create=extend_schema(summary="Create a provider (a catalog entry)", request=ProviderSerializer),
    retrieve=extend_schema(summary="Get a provider"),
    partial_update=extend_schema(summary="Update a provider (partial catalog entry)", request=ProviderSerializer),
    destroy=extend_schema(summary="Delete a provider no integration uses"),
)
class AdminProviderViewSet(RateLimitFirstMixin, viewsets.GenericViewSet):
    """Super admins edit the catalog; what they change by hand is locked against `sync_providers`."""

    permission_classes = [IsSuperAdmin]
    serializer_class = ProviderSerializer
    rate_limit_group = "providers"
    not_found_code = "PROVIDER_NOT_FOUND"
    lookup_field = "key"
    lookup_value_regex = _KEY_REGEX

    def get_queryset(self):
        return selectors.provider_list(filters={})

    def get_object(self):
        return selectors.provider_get(key=self.kwargs["key"])

    def list(self, request):
        page = self.paginate_queryset(selectors.provider_list(filters=request.query_params))
        return self.get_paginated_response(ProviderSerializer(page, many=True).data)

    def create(self, request):
        provider = services.provider_create(data=entry_from_request(request.data), actor=request.user)
        return Response(ProviderSerializer(provider).data, status=http_status.HTTP_201_CREATED)

    def retrieve(self, request, key=None):
        return Response(ProviderSerializer(self.get_object()).data)

    def partial_update(self, request, key=None):
        provider = services.provider_update(
            provider=self.get_object(), data=entry_from_request(request.data), actor=request.user
        )
        return Response(ProviderSerializer(provider).data)

    def destroy(self, request, key=None):
        services.provider_delete(provider=self.get_object(), actor=request.user)
        return Response(status=http_status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Set a provider's status", request=ProviderStatusSerializer, responses=ProviderStatusResponseSerializer
    )
    @action(detail=True, methods=["patch"], url_path="status")
    def set_status(self, request, key=None):
        serializer = ProviderStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        provider = services.provider_set_status(
            provider=self.get_object(), status=serializer.validated_data["status"], actor=request.user
        )
        return Response({"id": str(provider.id), "status": provider.status, "updated_at": provider.updated_at})

    @extend_schema(
        summary="Set a provider's audience",
        request=ProviderAudienceSerializer,
        responses=ProviderAudienceResponseSerializer,
    )
    @action(detail=True, methods=["patch"], url_path="audience")
    def set_audience(self, request, key=None):
        serializer = ProviderAudienceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        provider = services.provider_set_audience(
            provider=self.get_object(), audience=serializer.validated_data["audience"], actor=request.user
        )
        return Response({"id": str(provider.id), "audience": provider.audience, "updated_at": provider.updated_at})


@extend_schema_view(
    list=extend_schema(
        summary="The catalog: providers a tenant may enable", parameters=_filter_params("category", "search")
    ),
    retrieve=extend_schema(summary="One catalog provider"),
)
class CatalogViewSet(RateLimitFirstMixin, viewsets.GenericViewSet):
    """Providers with audience `tenant` and status `active` or `beta`, for any member of a tenant."""

    permission_classes = [HasTenantPermission]
    serializer_class = CatalogProviderSerializer
    rate_limit_group = "providers"
    not_found_code = "PROVIDER_NOT_FOUND"
    lookup_field = "key"
    lookup_value_regex = _KEY_REGEX

    def get_queryset(self):
        return selectors.catalog_queryset()

    def list(self, request):
        request_tenant(request)
        page = self.paginate_queryset(selectors.catalog_list(filters=request.query_params))
        return self.get_paginated_response(CatalogProviderSerializer(page, many=True).data)

    def retrieve(self, request, key=None):
        request_tenant(request)
        return Response(CatalogProviderSerializer(selectors.catalog_get(key=key)).data)
