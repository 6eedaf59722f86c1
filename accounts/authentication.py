"""JWT authentication that also resolves the request's tenant from the token's membership, in one query."""

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from accounts.models import Membership, User

TENANT_CLAIM = "tenant_id"


class TenantJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token):
        user_id = validated_token.get("user_id")
        tenant_id = validated_token.get(TENANT_CLAIM)
        membership = None
        try:
            if tenant_id:
                membership = Membership.objects.select_related("user", "tenant").get(
                    user_id=user_id, tenant_id=tenant_id
                )
                user = membership.user
            else:
                user = User.objects.get(pk=user_id)
        except (Membership.DoesNotExist, User.DoesNotExist, ValueError) as exc:
            raise AuthenticationFailed("The token's user or membership no longer exists.") from exc
        if not user.is_active:
            raise AuthenticationFailed("User is inactive.")
        if membership is not None and not membership.tenant.is_active:
            raise AuthenticationFailed("Tenant is inactive.")
        user.active_membership = membership
        return user

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            membership = result[0].active_membership
            request._request.membership = membership
            request._request.tenant = membership.tenant if membership else None
        return result
