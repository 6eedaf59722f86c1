"""Provider URLs: the super-admin catalog API and the tenant catalog."""

from django.urls import path

from providers.views import AdminProviderViewSet, CatalogViewSet

admin_list = AdminProviderViewSet.as_view({"get": "list", "post": "create"})
admin_detail = AdminProviderViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"})
admin_status = AdminProviderViewSet.as_view({"patch": "set_status"})
admin_audience = AdminProviderViewSet.as_view({"patch": "set_audience"})
catalog_list = CatalogViewSet.as_view({"get": "list"})
catalog_detail = CatalogViewSet.as_view({"get": "retrieve"})

urlpatterns = [
    path("api/v1/admin/providers", admin_list, name="admin-providers"),
    path("api/v1/admin/providers/<str:key>", admin_detail, name="admin-provider-detail"),
    path("api/v1/admin/providers/<str:key>/status", admin_status, name="admin-provider-status"),
    path("api/v1/admin/providers/<str:key>/audience", admin_audience, name="admin-provider-audience"),
    path("api/v1/catalog", catalog_list, name="catalog"),
    path("api/v1/catalog/<str:key>", catalog_detail, name="catalog-detail"),
]
