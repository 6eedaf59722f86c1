"""The API docs pages (Swagger UI, ReDoc), served with the app's own copies of their assets and a CSP.

The assets come from the pinned drf-spectacular-sidecar package. The stock ReDoc template pulls Google Fonts, and
ReDoc's bundle shows a logo from its CDN in the menu footer: our template drops the fonts, and the Content Security
Policy below stops the browser from fetching anything from another origin (the logo simply does not show).
"""

from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

# Swagger UI and ReDoc run inline bootstrap scripts and inline styles; ReDoc's search runs in a blob: worker.
DOCS_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-ancestors 'none'",
    ]
)


class _SameOriginOnly:
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CSP
        return response


class SwaggerView(_SameOriginOnly, SpectacularSwaggerView):
    pass


class RedocView(_SameOriginOnly, SpectacularRedocView):
    template_name = "console/redoc.html"
