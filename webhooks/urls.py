"""Outbound webhook URLs (full paths; included at the site root by config/urls.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from webhooks.views import WebhookEventCatalogView, WebhookTriggerView, WebhookViewSet

router = SimpleRouter(trailing_slash=False)
router.register(r"api/v1/integrations/webhooks", WebhookViewSet, basename="webhook")

urlpatterns = [
    path("api/v1/integrations/webhooks/trigger", WebhookTriggerView.as_view(), name="webhook-trigger"),
    path("api/v1/integrations/webhooks/events", WebhookEventCatalogView.as_view(), name="webhook-events"),
    *router.urls,
]
