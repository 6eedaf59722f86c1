"""The beat schedule, as data: one list, synced into django-celery-beat after every migrate and by
`manage.py setup_periodic_tasks` (idempotent). Task names are the `name=` of each task's decorator."""

import json
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class PeriodicTaskSpec:
    name: str
    task: str
    every_seconds: int
    queue: str = "default"


def periodic_tasks() -> list[PeriodicTaskSpec]:
    return [
        # Health (seeds 000/001): every 5 minutes, fanned out to one check per integration, spread over the period.
        PeriodicTaskSpec(
            "integrations: health checks",
            "integrations.health.fan_out",
            settings.HEALTH_CHECK_INTERVAL_SECONDS,
            "health",
        ),
        # OAuth: refresh tokens that expire within the margin; drop spent and expired authorization states.
        PeriodicTaskSpec("connections: refresh expiring tokens", "integrations.connections.refresh_expiring", 300),
        PeriodicTaskSpec("connections: purge old OAuth states", "integrations.oauth_states.purge", 3600),
        # Retention of activity entries (ACTIVITY_LOG_RETENTION_DAYS).
        PeriodicTaskSpec("integrations: prune old activity logs", "integrations.activity.prune", 24 * 3600),
        # Outbound deliveries whose retry is due but that no queued task holds (lost messages, killed workers).
        PeriodicTaskSpec("webhooks: sweep overdue deliveries", "webhooks.sweep_deliveries", 30, "webhooks"),
        # Inbound events received but never processed (a lost message).
        PeriodicTaskSpec("webhooks: sweep pending inbound events", "webhooks.inbound.sweep", 600, "inbound"),
        # Records of expired JWT refresh tokens (rotation and logout keep one row per token until it expires).
        PeriodicTaskSpec("accounts: flush expired refresh tokens", "accounts.tokens.flush_expired", 24 * 3600),
    ]


def sync_periodic_tasks() -> list[str]:
    """Create or update each task's schedule (idempotent); returns the names it created or changed.

    A super admin's `enabled` switch in Django admin is left alone.
    """
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    changed = []
    for spec in periodic_tasks():
        interval, _ = IntervalSchedule.objects.get_or_create(every=spec.every_seconds, period=IntervalSchedule.SECONDS)
        wanted = {"task": spec.task, "interval": interval, "queue": spec.queue, "kwargs": json.dumps({})}
        task, created = PeriodicTask.objects.get_or_create(name=spec.name, defaults=wanted)
        updates = {k: v for k, v in wanted.items() if getattr(task, k) != v}
        if updates:
            for key, value in updates.items():
                setattr(task, key, value)
            task.save()
        if created or updates:
            changed.append(spec.name)
    return changed
