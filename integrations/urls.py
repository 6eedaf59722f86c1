"""`/api/v1/integrations…`: CRUD, by provider, activate/deactivate, versions and logs (full paths; see config/urls.py).

Connection, health, test/status, search, widget and webhook routes live in their own modules.
"""

from django.urls import path

from integrations.views import IntegrationViewSet

_view = IntegrationViewSet.as_view

urlpatterns = [
    path("api/v1/integrations", _view({"get": "list", "post": "create"}), name="integrations"),
    path("api/v1/integrations/provider/<str:key>", _view({"get": "by_provider"}), name="integrations-by-provider"),
    path(
        "api/v1/integrations/<uuid:pk>",
        _view({"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}),
        name="integration-detail",
    ),
    path("api/v1/integrations/<uuid:pk>/activate", _view({"post": "activate"}), name="integration-activate"),
    path("api/v1/integrations/<uuid:pk>/deactivate", _view({"post": "deactivate"}), name="integration-deactivate"),
    path("api/v1/integrations/<uuid:pk>/logs", _view({"get": "logs"}), name="integration-logs"),
    path("api/v1/integrations/<uuid:pk>/versions", _view({"get": "versions"}), name="integration-versions"),
    path(
        "api/v1/integrations/<uuid:pk>/versions/<int:number>",
        _view({"get": "version_detail"}),
        name="integration-version",
    ),
    path(
        "api/v1/integrations/<uuid:pk>/versions/<int:number>/restore",
        _view({"post": "restore_version"}),
        name="integration-version-restore",
    ),
]
