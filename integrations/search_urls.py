"""Search (seed 003) and the dashboard widgets of one integration; full paths (included at the site root)."""

from django.urls import path

from integrations.search_views import SearchViewSet, WidgetViewSet

urlpatterns = [
    path("api/v1/integrations/search", SearchViewSet.as_view({"post": "search_all"}), name="integrations-search"),
    path(
        "api/v1/integrations/<uuid:pk>/search",
        SearchViewSet.as_view({"get": "search"}),
        name="integration-search",
    ),
    path(
        "api/v1/integrations/<uuid:pk>/widgets/status",
        WidgetViewSet.as_view({"get": "status"}),
        name="integration-widget-status",
    ),
    path(
        "api/v1/integrations/<uuid:pk>/widgets/activity",
        WidgetViewSet.as_view({"get": "activity"}),
        name="integration-widget-activity",
    ),
    path(
        "api/v1/integrations/<uuid:pk>/widgets/data",
        WidgetViewSet.as_view({"get": "data"}),
        name="integration-widget-data",
    ),
]
