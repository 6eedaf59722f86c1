"""`POST /api/v1/portal/sessions`: how an embedding app gets a single-use portal link for one of its users."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import HasTenantPermission
from config.api import RateLimitFirstMixin
from config.serializers import StrictSerializer
from portal import services


class PortalSessionCreateSerializer(StrictSerializer):
    user_id = serializers.UUIDField(required=False, help_text="The user to sign in; default: the caller.")
    ttl_seconds = serializers.IntegerField(
        required=False,
        min_value=services.LINK_TTL_MIN_SECONDS,
        max_value=services.LINK_TTL_MAX_SECONDS,
        help_text="How long the link stays usable (60 to 3600 seconds, default 600).",
    )


class PortalSessionSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="Single-use: signs the user into the portal and lands on /portal/.")
    expires_at = serializers.DateTimeField()


class PortalSessionView(RateLimitFirstMixin, APIView):
    """Tenant admins only (others 403). The link is single-use: a used or expired one answers 410."""

    permission_classes = [HasTenantPermission]
    rate_limit_group = "default"  # an embedding backend mints one link per page view
    not_found_code = "USER_NOT_FOUND"

    @extend_schema(
        request=PortalSessionCreateSerializer,
        responses={201: PortalSessionSerializer},
        summary="Open a portal session (a single-use sign-in link)",
    )
    def post(self, request):
        body = PortalSessionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        link = services.portal_link_create(
            caller=request.membership,
            user_id=body.validated_data.get("user_id"),
            ttl_seconds=body.validated_data.get("ttl_seconds"),
        )
        data = PortalSessionSerializer({"url": link.url, "expires_at": link.expires_at}).data
        return Response(data, status=status.HTTP_201_CREATED)
