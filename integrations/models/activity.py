"""Activity log (seeds 002, 003, 004): what happened to an integration, who did it, under which request."""

import uuid

from django.conf import settings as django_settings
from django.db import models
from django.utils import timezone

__all__ = ["ActivityLog", "ActivityStatus", "ActivityType"]


class ActivityType(models.TextChoices):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"
    TEST = "test"
    CONNECT = "connect"
    DISCONNECT = "disconnect"
    CREDENTIALS = "credentials"
    HEALTH_CHECK = "health_check"
    SYNC = "sync"
    WEBHOOK = "webhook"
    REFRESH = "refresh"
    API_CALL = "api_call"


class ActivityStatus(models.TextChoices):
    SUCCESS = "success"
    ERROR = "error"
    RUNNING = "running"


class ActivityLog(models.Model):
    """One entry; written through `integrations.activity.log_activity`, never with a secret in `details`.

    `integration` is nulled (not deleted) when the integration goes, so the `delete` entry itself stays as an audit row.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    integration = models.ForeignKey(
        "integrations.Integration", null=True, blank=True, on_delete=models.SET_NULL, related_name="activity_logs"
    )
    type = models.CharField(max_length=16, choices=ActivityType.choices)
    status = models.CharField(max_length=16, choices=ActivityStatus.choices)
    message = models.CharField(max_length=1000, blank=True)
    details = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["integration", "-created_at"], name="activity_integ_created_idx"),
            models.Index(fields=["integration", "status"], name="activity_integ_status_idx"),
            models.Index(fields=["integration", "type"], name="activity_integ_type_idx"),
            models.Index(fields=["created_at"], name="activity_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.status} ({self.integration_id})"
