import uuid

__all__ = ["AuthType", "Connection", "ConnectionScope", "ConnectionStatus", "ReconnectReason"]

from django.conf import settings
from django.db import models

from integrations.crypto import EncryptedJSONField


class ConnectionStatus(models.TextChoices):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    ERROR = "error"


class ConnectionScope(models.TextChoices):
    TENANT = "tenant"
    USER = "user"


class AuthType(models.TextChoices):
    """How a connection authenticates (the provider catalog's authType values that carry credentials)."""

    OAUTH2 = "oauth2"
    API_KEY = "api_key"
    BASIC = "basic"
    CUSTOM = "custom"


class ReconnectReason(models.TextChoices):
    """Why a connection needs the user to connect again (`reconnectReason` on GET …/connection)."""

    REFRESH_TOKEN_REVOKED = "refresh_token_revoked"  # the provider refused the refresh token (invalid_grant)
    REFRESH_FAILED = "refresh_failed"  # refreshes kept failing for the provider's giveUpAfterHours
    INVALID_CREDENTIALS = "invalid_credentials"  # the provider refused the stored credentials (401/403)
    DISCONNECTED = "disconnected"  # disconnected on purpose; the credentials are gone


class Connection(models.Model):
    """The live, authenticated link between an integration and a third-party account.

    Tenant-level (user is null) or user-scoped (one per user). The single home of credentials: API keys, basic
    credentials, custom credential dicts and OAuth tokens, all in the encrypted `credentials` dict.
    Reconnecting updates this row, so the connection id stays the same; a disconnect wipes the credentials and
    leaves the row with status `revoked`.

    `metadata` holds what is learnt while connecting and is not secret (Salesforce `instanceUrl`, DocuSign `baseUri`
    and `accountId`, the token type): values for the catalog's URL placeholders.
    `token_generation` goes up on every token write, so a refresh can tell that someone else refreshed meanwhile.
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
    credential_hint = models.CharField(max_length=32, blank=True, help_text="Masked, e.g. …WxYz.")
    granted_scopes = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    oauth_client_id = models.CharField(
        "OAuth client ID", max_length=255, blank=True, help_text="The OAuth client that minted it."
    )
    metadata = models.JSONField(default=dict, blank=True, help_text="Non-secret values learnt while connecting.")
    token_generation = models.PositiveIntegerField(default=0)
    connected_at = models.DateTimeField(null=True, blank=True)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    last_validated_at = models.DateTimeField(null=True, blank=True)
    validation_error = models.TextField(blank=True)
    last_test_result = models.JSONField(default=dict, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    # Lifecycle: why the connection is broken (a ReconnectReason, "" while it works), and the current streak of
    # refresh failures that are not transient (giveUpAfterHours counts from refresh_failing_since).
    status_reason = models.CharField(max_length=32, blank=True)
    refresh_failures = models.PositiveIntegerField(default=0)
    refresh_failing_since = models.DateTimeField(null=True, blank=True)
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

    @property
    def scope(self) -> str:
        return ConnectionScope.USER if self.user_id else ConnectionScope.TENANT

    @property
    def is_oauth(self) -> bool:
        return self.auth_type == AuthType.OAUTH2

    @property
    def needs_reconnect(self) -> bool:
        return self.status in (ConnectionStatus.EXPIRED, ConnectionStatus.REVOKED, ConnectionStatus.ERROR)

    @property
    def reconnect_reason(self) -> str | None:
        if not self.needs_reconnect:
            return None
        if self.status_reason:
            return self.status_reason
        return {
            ConnectionStatus.EXPIRED: ReconnectReason.REFRESH_TOKEN_REVOKED,
            ConnectionStatus.REVOKED: ReconnectReason.DISCONNECTED,
        }.get(self.status, ReconnectReason.INVALID_CREDENTIALS).value

    @property
    def access_token(self) -> str:
        return (self.credentials or {}).get("access_token", "")

    @property
    def refresh_token(self) -> str:
        return (self.credentials or {}).get("refresh_token", "")
