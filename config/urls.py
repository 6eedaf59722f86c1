from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from accounts.views import LogoutView, MeView, PasswordChangeView, TokenRefreshView, TokenView
from config.api import django_error_view
from config.health import healthz, readyz
from console.docs import RedocView, SwaggerView
from console.views import landing

api_v1 = [
    path("auth/token", TokenView.as_view(), name="auth-token"),
    path("auth/token/refresh", TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("auth/me", MeView.as_view(), name="auth-me"),
    path("auth/logout", LogoutView.as_view(), name="auth-logout"),
    path("auth/password", PasswordChangeView.as_view(), name="auth-password"),
]

# Each module below declares full paths ("api/v1/…", "metrics"); more specific modules come first.
urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("", include("webhooks.inbound_urls")),
    path("", include("webhooks.urls")),
    path("", include("integrations.connection_urls")),
    path("", include("integrations.health_urls")),
    path("", include("integrations.search_urls")),
    path("", include("integrations.urls")),
    path("", include("providers.urls")),
    path("", include("portal.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", RedocView.as_view(url_name="schema"), name="redoc"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("", landing, name="landing"),
]

handler400 = django_error_view(400, "BAD_REQUEST", "Bad request.")
handler403 = django_error_view(403, "PERMISSION_DENIED", "Forbidden.")
handler404 = django_error_view(404, "NOT_FOUND", "Not found.")
handler500 = django_error_view(500, "INTERNAL_ERROR", "An internal error occurred.")
