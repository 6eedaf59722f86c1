"""Outbound webhook URLs (full paths; included at the site root by config/urls.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from webhooks.views import (
    AdminEventTypeViewSet,
    WebhookAsyncAPIView,
    WebhookEventCatalogView,
    WebhookTriggerView,
    WebhookViewSet,
)

router = SimpleRouter(trailing_slash=False)
router.register(r"api/v1/integrations/webhooks", WebhookViewSet, basename="webhook")

urlpatterns = [
    path("api/v1/integrations/webhooks/trigger", WebhookTriggerView.as_view(), name="webhook-trigger"),
    path("api/v1/integrations/webhooks/events", WebhookEventCatalogView.as_view(), name="webhook-events"),
    path("api/v1/integrations/webhooks/asyncapi.json", WebhookAsyncAPIView.as_view(), name="webhook-asyncapi"),
    path(
        "api/v1/admin/event-types",
        AdminEventTypeViewSet.as_view({"get": "list", "post": "create"}),
        name="admin-event-types",
    ),
    path(
        "api/v1/admin/event-types/<str:name>",
        AdminEventTypeViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="admin-event-type-detail",
    ),
    *router.urls,
]
