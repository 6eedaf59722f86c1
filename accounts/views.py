from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import MeSerializer, TokenObtainSerializer, TokenPairSerializer, TokenRefreshSerializer
from accounts.services import user_summary
from config.api import RateLimitFirstMixin


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

    @extend_schema(request=TokenRefreshSerializer, responses=TokenPairSerializer, summary="Refresh an access token")
    def post(self, request):
        serializer = TokenRefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class MeView(RateLimitFirstMixin, APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MeSerializer, summary="The calling user, its tenant, role and permissions")
    def get(self, request):
        return Response(user_summary(request.user, getattr(request, "membership", None)))
