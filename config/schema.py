"""OpenAPI: every operation documents api.md's error shape, and the bearer JWT scheme."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="e.g. VALIDATION_ERROR, INTEGRATION_NOT_FOUND, RATE_LIMIT_EXCEEDED")
    message = serializers.CharField()
    details = serializers.DictField(help_text="Field errors for VALIDATION_ERROR; otherwise context.")
    request_id = serializers.CharField()
    retry_after = serializers.IntegerField(required=False, help_text="Seconds, on 429 only.")


class ErrorResponseSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


_ERROR_CODES = ("400", "401", "403", "404", "429")
_WRITE_ERROR_CODES = ("409",)  # a duplicate name or path, a provider still in use, a state that forbids the change


class AutoSchema(SpectacularAutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes = _ERROR_CODES + (_WRITE_ERROR_CODES if self.method in ("POST", "PUT", "PATCH", "DELETE") else ())
        for code in codes:
            responses.setdefault(code, self._get_response_for_code(ErrorResponseSerializer, code))
        return responses


class TenantJWTScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.TenantJWTAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
