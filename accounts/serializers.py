from django.contrib.auth import authenticate
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.authentication import TENANT_CLAIM
from accounts.lockout import login_locked, login_retry_after
from config.errors import RateLimited
from config.serializers import StrictSerializer


class TokenObtainSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    tenant = serializers.SlugField(max_length=50, required=False, help_text="Tenant slug, for users of several.")

    def validate(self, attrs):
        request = self.context.get("request")
        email = attrs["email"].lower()
        if login_locked(request=request, email=email):
            raise RateLimited(
                "Too many failed sign-in attempts for this account. Please try again later.",
                retry_after=login_retry_after(email),
            )
        user = authenticate(request, email=email, password=attrs["password"])
        if user is None:  # wrong password, unknown email and inactive user answer alike
            raise AuthenticationFailed("Invalid email or password.")
        memberships = list(user.memberships.select_related("tenant"))
        if attrs.get("tenant"):
            memberships = [m for m in memberships if m.tenant.slug == attrs["tenant"]]
            if not memberships:
                raise AuthenticationFailed("You are not a member of that tenant.")
        if len(memberships) > 1:
            raise serializers.ValidationError({"tenant": ["You belong to several tenants: name one."]})
        if not memberships and not user.is_super_admin:
            raise AuthenticationFailed("You are not a member of any tenant.")
        refresh = RefreshToken.for_user(user)
        if memberships:
            if not memberships[0].tenant.is_active:
                raise AuthenticationFailed("Tenant is inactive.")
            refresh[TENANT_CLAIM] = str(memberships[0].tenant_id)
        return {"access": str(refresh.access_token), "refresh": str(refresh)}


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class TokenRefreshSerializer(StrictSerializer):
    refresh = serializers.CharField(
        max_length=4096,
        help_text="A refresh token. It is spent by this call: the answer carries a new one and the old one is refused "
        "from then on (rotation).",
    )


class LogoutSerializer(StrictSerializer):
    refresh = serializers.CharField(max_length=4096, help_text="The refresh token to revoke.")


class PasswordChangeSerializer(StrictSerializer):
    current_password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class MeTenantSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    name = serializers.CharField()


class MeSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    tenant = MeTenantSerializer(allow_null=True)
    role = serializers.CharField(allow_null=True)
    permissions = serializers.ListField(child=serializers.CharField())
    is_super_admin = serializers.BooleanField()
