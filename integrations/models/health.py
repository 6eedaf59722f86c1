"""Health checks (seeds 000, 001): one row per check of an integration through its provider's health request."""

import uuid

from django.db import models
from django.utils import timezone

__all__ = ["HEALTH_FAN_OUT_TASK", "HealthCheck", "HealthCheckStatus", "HealthCheckTrigger"]

HEALTH_FAN_OUT_TASK = "integrations.health.fan_out"


class HealthCheckStatus(models.TextChoices):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    # The provider has no health request: nothing could be checked.
    UNKNOWN = "unknown"


class HealthCheckTrigger(models.TextChoices):
    SCHEDULED = "scheduled"
    MANUAL = "manual"


class HealthCheck(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    integration = models.ForeignKey("integrations.Integration", on_delete=models.CASCADE, related_name="health_checks")
    status = models.CharField(max_length=16, choices=HealthCheckStatus.choices)
    # The provider client's verdict (providers.clients.base.CheckKind, or "timeout"/"slow"/"connection_expired").
    kind = models.CharField(max_length=32, blank=True)
    response_time_ms = models.PositiveIntegerField("response time (ms)", null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    trigger = models.CharField(max_length=16, choices=HealthCheckTrigger.choices, default=HealthCheckTrigger.SCHEDULED)
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-checked_at"]
        indexes = [
            models.Index(fields=["integration", "-checked_at"], name="health_integ_checked_idx"),
            models.Index(fields=["status"], name="health_status_idx"),
            models.Index(fields=["checked_at"], name="health_checked_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.integration_id} {self.status} at {self.checked_at:%Y-%m-%d %H:%M:%S}"
