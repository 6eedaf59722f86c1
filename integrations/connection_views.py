"""Connection endpoints: OAuth (start, callbacks, refresh), credentials, connection status/test, disconnect,
user-scoped connections, and the super admin's provider test. Thin: validate, call one service, serialize."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Permission
from accounts.permissions import IsSuperAdmin
from config.api import RateLimitFirstMixin
from config.errors import NotFound
from config.schema import ErrorResponseSerializer
from integrations import connection_serializers as s
from integrations import connections as services
from integrations.models import ConnectionScope, Integration
from tenants.scoping import TenantScopedViewSetMixin


def _integration(view) -> Integration:
    return view.get_object()


def _oauth_failure(result) -> Response:
    return Response(
        {"success": False, "error": result.error, "error_description": result.error_description}, status=400
    )


_COMPLETE_DESCRIPTION = (
    "Second half of the OAuth flow (RFC 9700 §4.7). The provider redirects the browser to the public "
    "`GET /api/v1/oauth/callback`, which stores nothing and redirects to the flow's returnUrl with `code`, `state` "
    "and `integrationId` (or `error`). The front-end, holding the token of the user who started the flow, posts "
    "`{code, state}` here; only then is the code exchanged and the connection stored. Another user gets 403 and "
    "nothing is stored; a state of another integration, tenant or connection scope is `invalid_state`; a code "
    "completes once (`state_already_used` afterwards)."
)


def _complete_schema(summary: str):
    return extend_schema(
        summary=summary,
        description=_COMPLETE_DESCRIPTION,
        request=s.OAuthCallbackSerializer,
        responses={
            200: s.SuccessMessageSerializer,
            400: PolymorphicProxySerializer(
                component_name="OAuthCallbackFailure",
                serializers=[s.OAuthErrorSerializer, ErrorResponseSerializer],
                resource_type_field_name=None,
                help_text="The provider's refusal or a bad state (seed 000's shape) or invalid input (the API error "
                "shape).",
            ),
            403: OpenApiResponse(ErrorResponseSerializer, description="The flow was started by another user."),
        },
    )


def _complete(view, request, scope: str) -> Response:
    integration = _integration(view)
    data = _valid(s.OAuthCallbackSerializer, request.data)
    result = services.oauth_complete(
        state=data["state"],
        code=data.get("code"),
        error=data.get("error"),
        error_description=data.get("error_description"),
        iss=data.get("iss"),
        user=request.user,
        tenant=view.tenant,
        integration=integration,
        scope=scope,
    )
    if not result.success:
        return _oauth_failure(result)
    return Response({"success": True, "message": "OAuth authentication successful"})


class _IntegrationScopedViewSet(TenantScopedViewSetMixin, viewsets.GenericViewSet):
    queryset = Integration.objects.select_related("provider", "tenant")
    not_found_code = "INTEGRATION_NOT_FOUND"
    not_found_message = "Integration not found."
    rate_limit_group = "connections"
    serializer_class = s.ConnectionSerializer  # for the schema; each action documents its own shapes


class ConnectionViewSet(_IntegrationScopedViewSet):
    """Tenant-level connections of an integration (seeds 000, 003, 004)."""

    required_permissions = {
        "connect_oauth": Permission.UPDATE,
        "oauth_authorize": Permission.UPDATE,
        "oauth_callback": Permission.UPDATE,
        "oauth_refresh": Permission.UPDATE,
        "connect_api_key": Permission.UPDATE,
        "connect_basic": Permission.UPDATE,
        "connect_custom": Permission.UPDATE,
        "update_credentials": Permission.UPDATE,
        "disconnect": Permission.UPDATE,
        # A test writes lastConnectionTest and may call the provider: seed 004 gives it to admin and manager.
        "test": Permission.UPDATE,
        "retrieve_connection": Permission.READ,
        "status": Permission.READ,
    }

    @extend_schema(
        summary="Start OAuth (seed 003)", request=s.ReturnUrlSerializer, responses=s.AuthorizationUrlSerializer
    )
    def connect_oauth(self, request, pk=None):
        data = _valid(s.ReturnUrlSerializer, request.data)
        url, state = services.oauth_start(
            integration=_integration(self),
            user=request.user,
            scope=ConnectionScope.TENANT,
            return_url=data["return_url"],
        )
        return Response({"authorization_url": url, "state": state})

    @extend_schema(
        summary="OAuth authorization URL (seed 000)",
        parameters=[OpenApiParameter("returnUrl", str, required=False), OpenApiParameter("state", str, required=False)],
        responses=s.AuthUrlSerializer,
    )
    def oauth_authorize(self, request, pk=None):
        aliases = {"returnUrl": "return_url"}
        params = {aliases.get(k, k): v for k, v in request.query_params.items()}
        data = _valid(s.AuthorizeQuerySerializer, params)
        url, _state = services.oauth_start(
            integration=_integration(self),
            user=request.user,
            scope=ConnectionScope.TENANT,
            return_url=data.get("return_url") or None,
            client_state=data.get("state", ""),
        )
        return Response({"auth_url": url})

    @_complete_schema("Complete OAuth: store the connection (the user who started the flow)")
    def oauth_callback(self, request, pk=None):
        return _complete(self, request, ConnectionScope.TENANT)

    @extend_schema(summary="Refresh the OAuth token (seed 000)", request=None, responses=s.SuccessMessageSerializer)
    def oauth_refresh(self, request, pk=None):
        integration = _integration(self)
        connection = services.connection_get(integration=integration)
        if connection is None:
            raise NotFound("connection", "The integration has no connection.")
        services.refresh_connection(connection=connection, actor=request.user, reason="manual")
        return Response({"success": True, "message": "Token refreshed successfully"})

    @extend_schema(summary="Connect with an API key", request=s.ApiKeySerializer, responses=s.ConnectedSerializer)
    def connect_api_key(self, request, pk=None):
        return self._connect(request, "api_key", s.ApiKeySerializer)

    @extend_schema(summary="Connect with basic auth", request=s.BasicSerializer, responses=s.ConnectedSerializer)
    def connect_basic(self, request, pk=None):
        return self._connect(request, "basic", s.BasicSerializer)

    @extend_schema(
        summary="Connect with custom credentials",
        request=s.CustomCredentialsSerializer,
        responses=s.ConnectedSerializer,
    )
    def connect_custom(self, request, pk=None):
        return self._connect(request, "custom", s.CustomCredentialsSerializer)

    def _connect(self, request, kind, serializer_class):
        data = _valid(serializer_class, request.data)
        connection = services.connect_credentials(
            integration=_integration(self),
            kind=kind,
            payload=data,
            display_name=data.get("display_name", ""),
            actor=request.user,
        )
        return Response(s.ConnectedSerializer(connection).data)

    @extend_schema(
        summary="Replace credentials", request=s.CredentialsPatchSerializer, responses=s.CredentialsUpdatedSerializer
    )
    def update_credentials(self, request, pk=None):
        data = _valid(s.CredentialsPatchSerializer, request.data)
        connection = services.credentials_update(
            integration=_integration(self),
            credential_type=data["credential_type"],
            credentials=data["credentials"],
            actor=request.user,
        )
        body = {
            "success": True,
            "credential_secret_name": services.credential_secret_name(connection),
            "updated_at": connection.updated_at,
        }
        return Response(s.CredentialsUpdatedSerializer(body).data)

    @extend_schema(summary="The tenant-level connection", responses=s.ConnectionSerializer)
    def retrieve_connection(self, request, pk=None):
        integration = _integration(self)
        connection = services.connection_for_caller(integration=integration, user=request.user)
        if connection is None:
            raise NotFound("connection", "The integration has no connection.")
        return Response(s.ConnectionSerializer(connection).data)

    @extend_schema(summary="Test the connection (seed 004)", request=None, responses=s.TestResultSerializer)
    def test(self, request, pk=None):
        result = services.connection_test(integration=_integration(self), user=request.user, actor=request.user)
        return Response(s.TestResultSerializer(s.check_result_body(result)).data)

    @extend_schema(summary="Integration status (seed 004)", responses=s.StatusSerializer)
    def status(self, request, pk=None):
        body = services.connection_status(integration=_integration(self), user=request.user)
        return Response(s.StatusSerializer(body).data)

    @extend_schema(
        summary="Disconnect (revokes at the provider where it can)", request=None, responses=s.DisconnectedSerializer
    )
    def disconnect(self, request, pk=None):
        connection = services.disconnect(integration=_integration(self), actor=request.user)
        return Response(s.DisconnectedSerializer({"success": True, "disconnected_at": connection.disconnected_at}).data)


class UserConnectionViewSet(_IntegrationScopedViewSet):
    """The caller's own connection of a user-scoped integration (seed 003's /api/user/…): any tenant role."""

    required_permissions = {
        "connect_oauth": Permission.READ,
        "oauth_callback": Permission.READ,
        "retrieve_connection": Permission.READ,
        "disconnect": Permission.READ,
    }

    @extend_schema(
        summary="Start my OAuth connection", request=s.ReturnUrlSerializer, responses=s.AuthorizationUrlSerializer
    )
    def connect_oauth(self, request, pk=None):
        data = _valid(s.ReturnUrlSerializer, request.data)
        url, state = services.oauth_start(
            integration=_integration(self), user=request.user, scope=ConnectionScope.USER, return_url=data["return_url"]
        )
        return Response({"authorization_url": url, "state": state})

    @_complete_schema("Complete my OAuth connection (the user who started the flow)")
    def oauth_callback(self, request, pk=None):
        return _complete(self, request, ConnectionScope.USER)

    @extend_schema(summary="My connection", responses=s.UserConnectionSerializer)
    def retrieve_connection(self, request, pk=None):
        integration = _integration(self)
        connection = services.connection_get(integration=integration, user=request.user)
        if connection is None:
            return Response(s.UserConnectionSerializer({"connected": False, "needs_reconnect": False}).data)
        body = {
            "connected": connection.status == "active",
            "connection_id": connection.pk,
            "status": connection.status,
            "last_connected_at": connection.connected_at,
            "needs_reconnect": connection.needs_reconnect,
            "reconnect_reason": connection.reconnect_reason,
        }
        return Response(s.UserConnectionSerializer(body).data)

    @extend_schema(summary="Disconnect my connection", request=None, responses=s.DisconnectedSerializer)
    def disconnect(self, request, pk=None):
        connection = services.disconnect(integration=_integration(self), user=request.user, actor=request.user)
        return Response(s.DisconnectedSerializer({"success": True, "disconnected_at": connection.disconnected_at}).data)


class OAuthCallbackView(RateLimitFirstMixin, APIView):
    """The public redirect target of every provider: no JWT, and it stores nothing.

    Whoever's browser arrives here has proved nothing about who they are (a consent link can be forwarded), so this
    view only checks that the state is ours and passes `code` and `state` on to the front-end of the user who
    started the flow, which completes it with its own token (`POST …/oauth/callback`). With the flow's returnUrl (or
    OAUTH_DEFAULT_RETURN_URL) that is a 302; without either, a small page hands them to the window that opened the
    consent popup through postMessage, restricted to the allowed origins. An unknown state never redirects.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    rate_limit_group = "connections"

    @extend_schema(
        summary="OAuth redirect target (public; stores nothing)",
        description="Checks the state and redirects to the flow's returnUrl (else OAUTH_DEFAULT_RETURN_URL) with "
        "`code`, `state`, `integrationId` (and `clientState` when the flow was started with one), or with `error` "
        "(`access_denied`, `state_expired`, `state_already_used`, `invalid_issuer`, …) instead of `code`. RFC 9207: "
        "for a provider configured with an `issuer`, an `iss` naming another server (or none, from a server that "
        "advertises sending it) is refused here with `invalid_issuer` and the code is not passed on; an accepted "
        "`iss` is passed on with the code. Without a return URL it answers a page that posts "
        "`{type: 'oauth_callback', code, state, integrationId, error}` to `window.opener` (allowed origins only). "
        "An unknown state: an error page (400), no redirect. The front-end then completes with "
        "`POST /api/v1/integrations/{id}/oauth/callback` or `POST /api/v1/me/integrations/{id}/oauth/callback`.",
        parameters=[
            OpenApiParameter(n, str, required=False) for n in ("code", "state", "error", "error_description", "iss")
        ],
        responses={
            302: OpenApiResponse(description="To the return URL with code and state, or error."),
            (200, "text/html"): OpenApiResponse(OpenApiTypes.STR, description="The hand-off page (no return URL)."),
            (400, "text/html"): OpenApiResponse(OpenApiTypes.STR, description="Unknown state: an error page."),
            (400, "application/json"): OpenApiResponse(
                ErrorResponseSerializer,
                description="Input no view reads (a NUL byte in the query, config.input_limits): the API's error.",
            ),
        },
        auth=[],
    )
    def get(self, request):
        params = request.query_params
        state = params.get("state", "")
        code = params.get("code", "")
        usable_code = bool(code) and len(code) <= 4096  # what the completion endpoint accepts
        result = services.oauth_callback_check(
            state=state,
            error=params.get("error") or (None if usable_code else "invalid_request"),
            iss=params.get("iss"),
        )
        if result.integration is None:  # not our state: say so, send the browser nowhere
            return _page(
                request,
                "oauth_result.html",
                {"success": False, "error": result.error, "error_description": result.error_description},
                status=400,
            )
        query = {"integrationId": str(result.integration.pk), "state": state}
        if result.success:
            query["code"] = code
            if params.get("iss"):  # RFC 9207: checked above; the completion POST may pass it on to be checked again
                query["iss"] = params["iss"]
        else:
            query["error"] = result.error
        if result.client_state:
            query["clientState"] = result.client_state
        if result.return_url:
            response = HttpResponseRedirect(_with_query(result.return_url, query))
            response["Cache-Control"] = "no-store"
            response["Referrer-Policy"] = "no-referrer"
            return response
        context = {
            "message": {"type": "oauth_callback", **query},
            "origins": services.allowed_return_origin_strings(),
            "success": result.success,
            "error": result.error,
            "integration_name": result.integration.name,
        }
        return _page(request, "oauth_handoff.html", context, status=200)


def _page(request, template: str, context: dict, *, status: int) -> TemplateResponse:
    response = TemplateResponse(request, template, context, status=status)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


class ProviderTestView(RateLimitFirstMixin, APIView):
    """`POST /api/v1/admin/providers/{key}/test`: the super admin's system-level test of a provider."""

    permission_classes = [IsSuperAdmin]
    rate_limit_group = "providers"
    not_found_code = "PROVIDER_NOT_FOUND"

    @extend_schema(summary="System-level provider test", request=None, responses=s.ProviderTestResultSerializer)
    def post(self, request, key: str):
        from providers.selectors import provider_get

        result = services.provider_system_test(provider=provider_get(key=key))
        return Response(s.ProviderTestResultSerializer(s.check_result_body(result, include_details=False)).data)


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, (parts.query, urlencode(extra))))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
