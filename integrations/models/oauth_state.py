import hashlib
import uuid

__all__ = ["OAuthState"]

from django.conf import settings
from django.db import models

from integrations.crypto import EncryptedTextField


class OAuthState(models.Model):
    """One authorization attempt: the `state` sent to the provider and everything the callback needs.

    Only a SHA-256 of the state token is stored (a database reader cannot forge a callback), the PKCE verifier is
    encrypted. Single-use: `consume` is one atomic `UPDATE … WHERE used_at IS NULL AND expires_at > now`.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    state_hash = models.CharField(max_length=64, unique=True)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    integration = models.ForeignKey("integrations.Integration", on_delete=models.CASCADE, related_name="oauth_states")
    scope = models.CharField(max_length=8, default="tenant", help_text="tenant or user: which connection it makes.")
    redirect_uri = models.CharField("redirect URI", max_length=500)
    return_url = models.CharField("return URL", max_length=2000, blank=True)
    client_state = models.CharField(max_length=200, blank=True, help_text="Opaque value the caller passed.")
    code_verifier = EncryptedTextField(blank=True, default="")
    oauth_client_id = models.CharField("OAuth client ID", max_length=255, blank=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "OAuth state"
        verbose_name_plural = "OAuth states"
        indexes = [models.Index(fields=["expires_at"], name="oauthstate_expires_idx")]

    def __str__(self) -> str:
        return f"OAuthState {self.id} ({self.integration_id})"

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()
