import uuid

from django.core.validators import RegexValidator
from django.db import models

slug_validator = RegexValidator(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$", "Use lowercase letters, digits and hyphens.")


class Tenant(models.Model):
    """A customer organisation. Every tenant-owned row points here; no request sees another tenant's rows."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=50, unique=True, validators=[slug_validator])
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"
