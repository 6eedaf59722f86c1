"""Provider representations: the super-admin view (the whole catalog entry) and the tenant catalog (public parts)."""

from djangorestframework_camel_case.util import camelize
from rest_framework import serializers

from config.serializers import StrictSerializer
from providers.models import Audience, Provider, ProviderStatus
from providers.services import CLIENT_ID_KEY, MODEL_FIELDS, provider_oauth_client

_NULLABLE_TEXT = ("api_base_url", "inbound_signature_scheme", "docs_url", "required_plan", "notes")
# oauthConfig keys a tenant may see: where the user is sent and what is asked, never the client.
_PUBLIC_OAUTH_KEYS = ("authorizationUrl", "tokenUrl", "revocationUrl", "scopes", "scopeSeparator", "pkce")

_ENTRY_FIELDS = [field for field in MODEL_FIELDS if field != "key"]


class ProviderSerializer(serializers.ModelSerializer):
    """Super admin: the catalog entry, plus `clientSecretSet` (and `clientId` when stored) inside `oauthConfig`."""

    provider = serializers.CharField(source="key", read_only=True)
    oauth_config = serializers.SerializerMethodField()
    api_base_url = serializers.CharField(read_only=True, allow_null=True)
    inbound_signature_scheme = serializers.CharField(read_only=True, allow_null=True)
    docs_url = serializers.CharField(read_only=True, allow_null=True)
    required_plan = serializers.CharField(read_only=True, allow_null=True)
    notes = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = Provider
        fields = ["id", "provider", *_ENTRY_FIELDS, "locked_fields", "created_at", "updated_at"]
        read_only_fields = fields

    def get_oauth_config(self, obj) -> dict | None:
        if obj.oauth_config is None:
            return None
        return {**obj.oauth_config, "clientSecretSet": bool(obj.oauth_client_secret)}

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for field in _NULLABLE_TEXT:
            if data.get(field) == "":
                data[field] = None
        # Values of these JSON columns are catalog data in camelCase already; the renderer leaves keys alone.
        return data


class CatalogProviderSerializer(serializers.ModelSerializer):
    """A tenant's view of a provider: what it does and how it connects, without the OAuth client."""

    provider = serializers.CharField(source="key", read_only=True)
    oauth_config = serializers.SerializerMethodField()
    api_base_url = serializers.CharField(read_only=True, allow_null=True)
    inbound_signature_scheme = serializers.CharField(read_only=True, allow_null=True)
    docs_url = serializers.CharField(read_only=True, allow_null=True)
    required_plan = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = Provider
        fields = [
            "id",
            "provider",
            *[f for f in _ENTRY_FIELDS if f not in ("oauth_config", "notes")],
            "oauth_config",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_oauth_config(self, obj) -> dict | None:
        if not isinstance(obj.oauth_config, dict):
            return None
        public = {key: obj.oauth_config[key] for key in _PUBLIC_OAUTH_KEYS if key in obj.oauth_config}
        public["clientConfigured"] = provider_oauth_client(obj) is not None
        return public

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for field in _NULLABLE_TEXT:
            if data.get(field) == "":
                data[field] = None
        return data


class ProviderStatusSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=ProviderStatus.choices)


class ProviderAudienceSerializer(StrictSerializer):
    audience = serializers.ChoiceField(choices=Audience.choices)


class ProviderStatusResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    updated_at = serializers.DateTimeField()


class ProviderAudienceResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    audience = serializers.CharField()
    updated_at = serializers.DateTimeField()


def entry_from_request(data) -> dict:
    """The request body back in the catalog's camelCase (the parser snake_cased the keys of non-opaque fields)."""
    from django.conf import settings

    if not isinstance(data, dict):
        return data
    return dict(camelize(dict(data), **settings.JSON_CAMEL_CASE["JSON_UNDERSCOREIZE"]))


__all__ = [
    "CLIENT_ID_KEY",
    "CatalogProviderSerializer",
    "ProviderAudienceResponseSerializer",
    "ProviderAudienceSerializer",
    "ProviderSerializer",
    "ProviderStatusResponseSerializer",
    "ProviderStatusSerializer",
    "entry_from_request",
]
