"""Version history of an integration (seed 004): one row per change of its config, settings or credentials."""

import uuid

from django.conf import settings as django_settings
from django.db import models

from integrations.crypto import EncryptedJSONField

__all__ = ["IntegrationVersion"]


class IntegrationVersion(models.Model):
    """A full snapshot of an integration's config, settings and tenant-level credentials after one change.

    `snapshot` holds the plain parts (`config`, `settings`, `credentialType`); the credentials sit in their own
    encrypted column (still encrypted at rest, and re-encrypted by `rotate_encryption_keys` like every other secret).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    integration = models.ForeignKey("integrations.Integration", on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    snapshot = models.JSONField(default=dict)
    credentials = EncryptedJSONField(null=True, blank=True)
    credentials_set = models.BooleanField(default=False)
    changed_fields = models.JSONField(default=list)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["integration", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "number"], name="uniq_integration_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.integration_id} v{self.number}"
