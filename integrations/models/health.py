"""Health checks (seeds 000, 001): one row per check of an integration through its provider's health request."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models.signals import post_migrate
from django.utils import timezone

from config.periodic import PeriodicTaskSpec, register

__all__ = ["HEALTH_FAN_OUT_TASK", "HealthCheck", "HealthCheckStatus", "HealthCheckTrigger"]

HEALTH_FAN_OUT_TASK = "integrations.health.fan_out"

# Registered here, not in the tasks module: models are imported by every process (migrate's post_migrate sync of
# the beat schedule included), tasks modules only by workers.
register(
    PeriodicTaskSpec(
        name="integrations-health-checks",
        task=HEALTH_FAN_OUT_TASK,
        every_seconds=settings.HEALTH_CHECK_INTERVAL_SECONDS,
        queue="health",
    )
)


def _sync_beat_schedule(sender, **kwargs):
    """Workaround: config/apps.py connects its sync with sender=the `project` app, which Django never signals (it has
    no models module), so the schedule would only appear through `setup_periodic_tasks`. Run it once django-celery-
    beat's tables are migrated instead. Idempotent; harmless beside the foundation's hook once that is fixed."""
    if getattr(sender, "label", None) != "django_celery_beat":
        return
    from config.periodic import sync_periodic_tasks

    sync_periodic_tasks()


post_migrate.connect(_sync_beat_schedule, dispatch_uid="integrations.health.sync_beat_schedule")


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
    response_time_ms = models.PositiveIntegerField(null=True, blank=True)
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
