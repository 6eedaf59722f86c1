"""Integration: one tenant's configured use of a provider (seeds 000, 002, 003, 004)."""

import uuid

__all__ = ["Environment", "HealthStatus", "Integration", "IntegrationStatus"]

from django.conf import settings as django_settings
from django.db import models


class IntegrationStatus(models.TextChoices):
    PENDING = "pending"
    ACTIVE = "active"
    ERROR = "error"
    INACTIVE = "inactive"


class HealthStatus(models.TextChoices):
    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


class Environment(models.TextChoices):
    PRODUCTION = "production"
    SANDBOX = "sandbox"
    STAGING = "staging"
    DEVELOPMENT = "development"


class Integration(models.Model):
    """One tenant's configured use of a provider. Credentials live on its Connection(s), never here."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="integrations")
    provider = models.ForeignKey("providers.Provider", on_delete=models.PROTECT, related_name="integrations")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=2000)
    status = models.CharField(max_length=16, choices=IntegrationStatus.choices, default=IntegrationStatus.PENDING)
    auth_type = models.CharField(max_length=16)
    environment = models.CharField(max_length=16, choices=Environment.choices, default=Environment.PRODUCTION)
    config = models.JSONField(default=dict, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    icon = models.CharField(max_length=100, blank=True)
    allowed_shard_types = models.JSONField(default=list, blank=True)
    search_enabled = models.BooleanField(default=False)
    searchable_entities = models.JSONField(default=list, blank=True)
    user_scoped = models.BooleanField(default=False)
    enabled_at = models.DateTimeField(null=True, blank=True)
    enabled_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_health_check_at = models.DateTimeField(null=True, blank=True)
    health_status = models.CharField(max_length=16, choices=HealthStatus.choices, default=HealthStatus.UNKNOWN)
    consecutive_health_failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_connection_test = models.DateTimeField(null=True, blank=True)
    # Number of the newest IntegrationVersion; bumped under a row lock by the services (0 = none yet).
    current_version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="uniq_integration_tenant_name")]
        indexes = [
            # (…, id) matches sort_queryset's pk tie-break, so a page is an index range scan, not a sort of the tenant.
            models.Index(fields=["tenant", "-created_at", "id"], name="integ_tenant_created_idx"),
            models.Index(fields=["tenant", "status"], name="integ_tenant_status_idx"),
            models.Index(fields=["tenant", "provider"], name="integ_tenant_provider_idx"),
            models.Index(fields=["tenant", "environment"], name="integ_tenant_env_idx"),
            models.Index(fields=["tenant", "-updated_at", "id"], name="integ_tenant_updated_idx"),
            models.Index(fields=["status"], name="integ_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider_id})"
