"""`/api/v1/integrations/{id}/proxy/{path}`: the auth proxy (integrations.proxy). Thin: read, call, pass back."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import viewsets

from accounts.models import Permission
from config.schema import ErrorResponseSerializer
from integrations import proxy
from integrations.models import Integration
from tenants.scoping import TenantScopedViewSetMixin

_ERRORS = {
    400: OpenApiResponse(
        ErrorResponseSerializer,
        description="A path that would leave the API base URL, a refused "
        "destination (private address), invalid input: nothing was sent.",
    ),
    404: OpenApiResponse(ErrorResponseSerializer, description="No such integration in your tenant."),
    409: OpenApiResponse(ErrorResponseSerializer, description="Not connected, or the connection needs a reconnect."),
    413: OpenApiResponse(ErrorResponseSerializer, description="A body (request or answer) above PROXY_MAX_BODY_BYTES."),
    429: OpenApiResponse(
        ErrorResponseSerializer,
        description="The connection's provider budget is spent (`Retry-After` says how long); no call was made. A "
        "429 of the provider itself is passed back as it came.",
    ),
    502: OpenApiResponse(ErrorResponseSerializer, description="The provider could not be reached."),
}


def _doc(method: str, permission: str):
    return extend_schema(
        summary=f"Proxy a {method} to the provider's API",
        description=(
            "Forwards to the provider's API base URL + `path` with the stored credentials injected (OAuth bearer, "
            "refreshed when needed; API key placed as the catalog says). Query string and body (JSON, form, ...) "
            "pass through; `Authorization`, `Cookie`, `Set-Cookie` and hop-by-hop headers are stripped both ways. "
            "The provider's status, headers and body come back as they are. User-scoped integrations use the "
            f"caller's own connection. Needs `{permission}`."
        ),
        parameters=[
            OpenApiParameter("path", str, OpenApiParameter.PATH, description="Path under the provider's API base URL.")
        ],
        request=None if method in ("GET", "HEAD", "DELETE") else {"*/*": OpenApiTypes.BINARY},
        responses={(200, "*/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The provider's answer."), **_ERRORS},
    )


class IntegrationProxyViewSet(TenantScopedViewSetMixin, viewsets.GenericViewSet):
    """The provider's API with the stored credentials: reads need integrations:read, writes integrations:update."""

    queryset = Integration.objects.select_related("provider", "tenant")
    not_found_code = "INTEGRATION_NOT_FOUND"
    not_found_message = "Integration not found."
    rate_limit_group = "integrations"
    serializer_class = ErrorResponseSerializer  # for the schema only: each method documents its own shapes
    required_permissions = {
        "proxy_read": Permission.READ,
        "proxy_head": Permission.READ,
        "proxy_post": Permission.UPDATE,
        "proxy_put": Permission.UPDATE,
        "proxy_patch": Permission.UPDATE,
        "proxy_delete": Permission.UPDATE,
    }

    def _forward(self, request, path: str) -> HttpResponse:
        integration = self.get_object()
        django_request = request._request
        limit = proxy.settings.PROXY_MAX_BODY_BYTES
        try:
            length = int(django_request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            raise proxy.PayloadTooLarge(f"The request body is larger than {limit} bytes.", details={"limit": limit})
        body = django_request.read(limit + 1) if length else None
        raw_uri = django_request.META.get("RAW_URI") or django_request.META.get("REQUEST_URI") or ""
        raw_path = raw_uri.split("?", 1)[0].split("/proxy/", 1)[-1] if "/proxy/" in raw_uri else ""
        result = proxy.proxy_call(
            integration=integration,
            user=request.user,
            method=request.method,
            path=path,
            raw_path=raw_path,
            query_string=django_request.META.get("QUERY_STRING", ""),
            headers=dict(django_request.headers),
            body=body,
        )
        response = HttpResponse(b"" if request.method == "HEAD" else result.body, status=result.status)
        for name, value in result.headers:
            response[name] = value
        if not any(name.lower() == "content-type" for name, _ in result.headers):
            del response["Content-Type"]
        return response

    @_doc("GET", Permission.READ)
    def proxy_read(self, request, pk=None, path=""):
        return self._forward(request, path)

    @_doc("HEAD", Permission.READ)
    def proxy_head(self, request, pk=None, path=""):
        return self._forward(request, path)

    @_doc("POST", Permission.UPDATE)
    def proxy_post(self, request, pk=None, path=""):
        return self._forward(request, path)

    @_doc("PUT", Permission.UPDATE)
    def proxy_put(self, request, pk=None, path=""):
        return self._forward(request, path)

    @_doc("PATCH", Permission.UPDATE)
    def proxy_patch(self, request, pk=None, path=""):
        return self._forward(request, path)

    @_doc("DELETE", Permission.UPDATE)
    def proxy_delete(self, request, pk=None, path=""):
        return self._forward(request, path)
