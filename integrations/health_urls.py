"""Health of an integration (seed 000) and metrics (seed 004)."""

from django.urls import path

from integrations.health_views import AdminMetricsView, IntegrationHealthViewSet, MetricsView

urlpatterns = [
    path(
        "api/v1/integrations/<uuid:pk>/health",
        IntegrationHealthViewSet.as_view({"get": "health"}),
        name="integration-health",
    ),
    path(
        "api/v1/integrations/<uuid:pk>/health/check",
        IntegrationHealthViewSet.as_view({"post": "check"}),
        name="integration-health-check",
    ),
    path(
        "api/v1/integrations/<uuid:pk>/health/checks",
        IntegrationHealthViewSet.as_view({"get": "checks"}),
        name="integration-health-checks",
    ),
    path("api/v1/admin/metrics", AdminMetricsView.as_view(), name="admin-metrics"),
    path("metrics", MetricsView.as_view(), name="metrics"),
]
