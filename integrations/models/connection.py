import uuid

__all__ = ["Connection", "ConnectionStatus"]

from django.conf import settings
from django.db import models

from integrations.crypto import EncryptedJSONField


class ConnectionStatus(models.TextChoices):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    ERROR = "error"


class Connection(models.Model):
    """The live, authenticated link between an integration and a third-party account.

    Tenant-level (user is null) or user-scoped (one per user). The single home of credentials: API keys, basic
    credentials, custom credential dicts and OAuth tokens, all in the encrypted `credentials` dict.
    Reconnecting updates this row, so the connection id stays the same.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="connections")
    integration = models.ForeignKey("integrations.Integration", on_delete=models.CASCADE, related_name="connections")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="connections"
    )
    auth_type = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=ConnectionStatus.choices, default=ConnectionStatus.ACTIVE)
    credentials = EncryptedJSONField(default=dict)
    display_name = models.CharField(max_length=200, blank=True)
    credential_hint = models.CharField(max_length=32, blank=True, help_text="Masked, e.g. sk_l…WxYz.")
    granted_scopes = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    oauth_client_id = models.CharField(max_length=255, blank=True, help_text="The OAuth client that minted it.")
    connected_at = models.DateTimeField(null=True, blank=True)
    last_validated_at = models.DateTimeField(null=True, blank=True)
    validation_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["integration"], condition=models.Q(user__isnull=True), name="uniq_connection_tenant_level"
            ),
            models.UniqueConstraint(
                fields=["integration", "user"], condition=models.Q(user__isnull=False), name="uniq_connection_user"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "integration"], name="conn_tenant_integration_idx"),
            models.Index(fields=["status", "expires_at"], name="conn_status_expires_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.integration_id} ({'user ' + str(self.user_id) if self.user_id else 'tenant'})"
