"""The embeddable tenant portal's own rows: single-use sign-in links and each tenant's theme."""

import hashlib
import uuid

from django.conf import settings as django_settings
from django.core.validators import RegexValidator
from django.db import models


class PortalLink(models.Model):
    """A single-use sign-in link minted by `POST /api/v1/portal/sessions`. Only a hash of its token is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    token_hash = models.CharField(max_length=64, unique=True)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="portal_link_expires_idx")]

    def __str__(self) -> str:
        return f"Portal link for {self.user_id} ({'used' if self.used_at else 'unused'})"

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()


color_validator = RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour as #rrggbb.")


class TenantTheme(models.Model):
    """How the portal looks for one tenant; set by super admins in Django admin."""

    tenant = models.OneToOneField("tenants.Tenant", on_delete=models.CASCADE, related_name="portal_theme")
    display_name = models.CharField(
        max_length=200, blank=True, help_text="Shown in the portal; the tenant's name when blank."
    )
    logo_url = models.URLField(max_length=500, blank=True, help_text="An https image URL shown in the navigation bar.")
    primary_color = models.CharField(max_length=7, default="#2563eb", validators=[color_validator])
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "portal theme"

    def __str__(self) -> str:
        return f"Theme of {self.tenant}"
