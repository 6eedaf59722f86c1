"""Connection endpoints (full paths; included at the site root by config.urls)."""

from django.urls import path

from integrations.connection_views import ConnectionViewSet, OAuthCallbackView, ProviderTestView, UserConnectionViewSet
from integrations.proxy_views import IntegrationProxyViewSet


def _tenant(actions: dict[str, str]):
    return ConnectionViewSet.as_view(actions)


def _user(actions: dict[str, str]):
    return UserConnectionViewSet.as_view(actions)


BASE = "api/v1/integrations/<uuid:pk>"
ME = "api/v1/me/integrations/<uuid:pk>"

urlpatterns = [
    path("api/v1/oauth/callback", OAuthCallbackView.as_view(), name="oauth-callback"),
    path(f"{BASE}/connect/oauth", _tenant({"post": "connect_oauth"}), name="integration-connect-oauth"),
    path(f"{BASE}/oauth/authorize", _tenant({"get": "oauth_authorize"}), name="integration-oauth-authorize"),
    path(f"{BASE}/oauth/callback", _tenant({"post": "oauth_callback"}), name="integration-oauth-callback"),
    path(f"{BASE}/oauth/refresh", _tenant({"post": "oauth_refresh"}), name="integration-oauth-refresh"),
    path(f"{BASE}/connect/api-key", _tenant({"post": "connect_api_key"}), name="integration-connect-api-key"),
    path(f"{BASE}/connect/basic", _tenant({"post": "connect_basic"}), name="integration-connect-basic"),
    path(f"{BASE}/connect/custom", _tenant({"post": "connect_custom"}), name="integration-connect-custom"),
    path(f"{BASE}/credentials", _tenant({"patch": "update_credentials"}), name="integration-credentials"),
    path(f"{BASE}/connection", _tenant({"get": "retrieve_connection"}), name="integration-connection"),
    path(f"{BASE}/connection/test", _tenant({"post": "test"}), name="integration-connection-test"),
    path(f"{BASE}/test", _tenant({"post": "test"}), name="integration-test"),
    path(f"{BASE}/status", _tenant({"get": "status"}), name="integration-status"),
    path(f"{BASE}/disconnect", _tenant({"post": "disconnect"}), name="integration-disconnect"),
    path(f"{ME}/connect/oauth", _user({"post": "connect_oauth"}), name="me-integration-connect-oauth"),
    path(f"{ME}/oauth/callback", _user({"post": "oauth_callback"}), name="me-integration-oauth-callback"),
    path(f"{ME}/connection", _user({"get": "retrieve_connection"}), name="me-integration-connection"),
    path(f"{ME}/disconnect", _user({"post": "disconnect"}), name="me-integration-disconnect"),
    path(
        f"{BASE}/proxy/<path:path>",
        IntegrationProxyViewSet.as_view(
            {
                "get": "proxy_read",
                "head": "proxy_head",
                "post": "proxy_post",
                "put": "proxy_put",
                "patch": "proxy_patch",
                "delete": "proxy_delete",
            }
        ),
        name="integration-proxy",
    ),
    path("api/v1/admin/providers/<str:key>/test", ProviderTestView.as_view(), name="admin-provider-test"),
]
