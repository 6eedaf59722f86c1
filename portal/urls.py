"""The portal's pages under /portal/ and its one API endpoint, `POST /api/v1/portal/sessions`."""

from django.urls import include, path

from portal.api import PortalSessionView
from portal.views import auth, catalog, inbound, integrations, me, webhooks

app_name = "portal"

pages = [
    path("", catalog.home, name="home"),
    path("enter/<str:token>/", auth.enter, name="enter"),
    path("login/", auth.login_view, name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path("catalog/", catalog.catalog, name="catalog"),
    path("catalog/<slug:key>/enable/", catalog.enable, name="enable"),
    path("integrations/<uuid:integration_id>/", integrations.detail, name="integration"),
    path("integrations/<uuid:integration_id>/connect/", integrations.connect, name="connect"),
    path("integrations/<uuid:integration_id>/connect/oauth/", integrations.connect_oauth, name="connect-oauth"),
    path("integrations/<uuid:integration_id>/oauth/complete", integrations.oauth_complete, name="oauth-complete"),
    path("integrations/<uuid:integration_id>/test/", integrations.test, name="test"),
    path("integrations/<uuid:integration_id>/disconnect/", integrations.disconnect, name="disconnect"),
    path(
        "integrations/<uuid:integration_id>/versions/<int:number>/restore/",
        integrations.restore_version,
        name="restore-version",
    ),
    path("integrations/<uuid:integration_id>/delete/", integrations.delete, name="delete"),
    path("webhooks/", webhooks.webhook_list, name="webhooks"),
    path("webhooks/<uuid:webhook_id>/", webhooks.webhook_detail, name="webhook"),
    path("webhooks/<uuid:webhook_id>/edit/", webhooks.webhook_edit, name="webhook-edit"),
    path("webhooks/<uuid:webhook_id>/delete/", webhooks.webhook_delete, name="webhook-delete"),
    path("webhooks/<uuid:webhook_id>/rotate-secret/", webhooks.webhook_rotate_secret, name="webhook-rotate"),
    path("webhooks/<uuid:webhook_id>/test/", webhooks.webhook_send_test, name="webhook-test"),
    path("webhooks/<uuid:webhook_id>/replay/", webhooks.webhook_replay, name="webhook-replay"),
    path(
        "webhooks/<uuid:webhook_id>/deliveries/<uuid:delivery_id>/",
        webhooks.delivery_detail,
        name="delivery",
    ),
    path(
        "webhooks/<uuid:webhook_id>/deliveries/<uuid:delivery_id>/retry/",
        webhooks.delivery_retry,
        name="delivery-retry",
    ),
    path("inbound/", inbound.inbound_list, name="inbound"),
    path(
        "inbound/<uuid:endpoint_id>/events/<uuid:event_id>/replay/",
        inbound.inbound_replay,
        name="inbound-replay",
    ),
    path("me/", me.my_connections, name="me"),
    path("me/<uuid:integration_id>/disconnect/", me.my_disconnect, name="me-disconnect"),
]

urlpatterns = [
    path("api/v1/portal/sessions", PortalSessionView.as_view(), name="portal-sessions"),
    path("portal/", include(pages)),
]
