"""Inbound webhooks: the tenant API under /api/v1/integrations/inbound-webhooks and the public receiver."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from webhooks.inbound_views import InboundEndpointViewSet, InboundReceiveView

router = SimpleRouter(trailing_slash=False)
router.register("api/v1/integrations/inbound-webhooks", InboundEndpointViewSet, basename="inbound-webhook")

urlpatterns = [
    path("api/v1/webhooks/receive/<str:path>", InboundReceiveView.as_view(), name="inbound-webhook-receive"),
    *router.urls,
]
