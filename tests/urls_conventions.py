"""A test-only URLconf: the real site plus views that exercise the conventions (echo, crash)."""

from django.urls import include, path
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import RateLimitFirstMixin
from config.serializers import StrictSerializer


class EchoSerializer(StrictSerializer):
    display_name = serializers.CharField(max_length=10)
    config = serializers.DictField(required=False)


class EchoView(RateLimitFirstMixin, APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def post(self, request):
        serializer = EchoSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class CrashView(RateLimitFirstMixin, APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("secret-internal-detail")


def plain_crash(request):
    raise RuntimeError("secret-internal-detail")


urlpatterns = [
    path("test/echo", EchoView.as_view()),
    path("test/crash", CrashView.as_view()),
    path("test/plain-crash", plain_crash),
    path("", include("config.urls")),
]

handler404 = "config.urls.handler404"
handler500 = "config.urls.handler500"
