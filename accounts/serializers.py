from django.contrib.auth import authenticate
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer as SimpleJWTRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.authentication import TENANT_CLAIM, TenantJWTAuthentication
from config.serializers import StrictSerializer


class TokenObtainSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    tenant = serializers.SlugField(max_length=50, required=False, help_text="Tenant slug, for users of several.")

    def validate(self, attrs):
        user = authenticate(self.context.get("request"), email=attrs["email"].lower(), password=attrs["password"])
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


class TokenRefreshSerializer(StrictSerializer, SimpleJWTRefreshSerializer):
    def validate(self, attrs):
        try:
            data = super().validate(attrs)
        except TokenError as exc:
            raise InvalidToken(str(exc)) from exc
        # The user, membership and tenant must still be active: the same rule as every authenticated request.
        TenantJWTAuthentication().get_user(RefreshToken(attrs["refresh"], verify=False))
        return data


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
