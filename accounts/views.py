from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken

from accounts.serializers import (
    LogoutSerializer,
    MeSerializer,
    PasswordChangeSerializer,
    TokenObtainSerializer,
    TokenPairSerializer,
    TokenRefreshSerializer,
)
from accounts.services import (
    RefreshTokenRefused,
    refresh_token_revoke,
    refresh_token_rotate,
    user_change_password,
    user_summary,
)
from config.api import RateLimitFirstMixin
from config.schema import ErrorResponseSerializer


class TokenView(RateLimitFirstMixin, APIView):
    """`{email, password}` → `{access, refresh}`."""

    authentication_classes = []
    permission_classes = [AllowAny]
    rate_limit_group = "auth"

    @extend_schema(request=TokenObtainSerializer, responses=TokenPairSerializer, summary="Obtain a token pair")
    def post(self, request):
        serializer = TokenObtainSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class TokenRefreshView(RateLimitFirstMixin, APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    rate_limit_group = "auth"

    @extend_schema(
        request=TokenRefreshSerializer,
        responses={200: TokenPairSerializer, 401: ErrorResponseSerializer},
        summary="Refresh an access token (rotates the refresh token)",
        description="Spends the refresh token: the answer carries a new access token and a new refresh token; the "
        "refresh token sent is refused from then on (401). Keep the new one.",
    )
    def post(self, request):
        serializer = TokenRefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            return Response(refresh_token_rotate(raw=serializer.validated_data["refresh"]))
        except RefreshTokenRefused as exc:
            raise InvalidToken(str(exc)) from exc


class LogoutView(RateLimitFirstMixin, APIView):
    """`{refresh}` → 204: the refresh token is revoked. Holding the token is the proof, so no access token is
    needed (a front-end may log out after its access token expired)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    rate_limit_group = "auth"

    @extend_schema(
        request=LogoutSerializer,
        responses={204: None, 401: ErrorResponseSerializer},
        summary="Log out: revoke a refresh token",
        description="The refresh token can no longer be refreshed. Access tokens already issued stay valid until they "
        "expire (JWT_ACCESS_MINUTES); drop them client-side.",
        auth=[],
    )
    def post(self, request):
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            refresh_token_revoke(raw=serializer.validated_data["refresh"])
        except RefreshTokenRefused as exc:
            raise InvalidToken(str(exc)) from exc
        return Response(status=204)


class PasswordChangeView(RateLimitFirstMixin, APIView):
    """`{currentPassword, newPassword}` → a new token pair; every other refresh token of the user is revoked."""

    permission_classes = [IsAuthenticated]
    rate_limit_group = "auth"

    @extend_schema(
        request=PasswordChangeSerializer,
        responses={200: TokenPairSerializer, 400: ErrorResponseSerializer, 429: ErrorResponseSerializer},
        summary="Change my password (signs out every other session)",
        description="Checks the current password (wrong guesses count toward the account's failed-login limit), sets "
        "the new one, revokes every refresh token issued to the user and answers a fresh pair for this session.",
    )
    def post(self, request):
        serializer = PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = getattr(request, "membership", None)
        pair = user_change_password(
            request=request,
            user=request.user,
            current_password=serializer.validated_data["current_password"],
            new_password=serializer.validated_data["new_password"],
            tenant_id=membership.tenant_id if membership else None,
        )
        return Response(pair)


class MeView(RateLimitFirstMixin, APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MeSerializer, summary="The calling user, its tenant, role and permissions")
    def get(self, request):
        return Response(user_summary(request.user, getattr(request, "membership", None)))
