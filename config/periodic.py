"""The beat schedule, as data: synced into django-celery-beat after every migrate and by `setup_periodic_tasks`."""

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class PeriodicTaskSpec:
    name: str
    task: str
    every_seconds: int
    queue: str = "default"


PERIODIC_TASKS: list[PeriodicTaskSpec] = []


def register(spec: PeriodicTaskSpec) -> PeriodicTaskSpec:
    PERIODIC_TASKS.append(spec)
    return spec


def sync_periodic_tasks() -> list[str]:
    """Create or update each registered task's schedule (idempotent); returns the names it created or changed."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    changed = []
    for spec in PERIODIC_TASKS:
        interval, _ = IntervalSchedule.objects.get_or_create(every=spec.every_seconds, period=IntervalSchedule.SECONDS)
        defaults = {
            "task": spec.task,
            "interval": interval,
            "queue": spec.queue,
            "enabled": True,
            "kwargs": json.dumps({}),
        }
        task, created = PeriodicTask.objects.get_or_create(name=spec.name, defaults=defaults)
        if created:
            changed.append(spec.name)
            continue
        updates = {k: v for k, v in defaults.items() if k != "enabled" and getattr(task, k) != v}
        if updates:
            for key, value in updates.items():
                setattr(task, key, value)
            task.save()
            changed.append(spec.name)
    return changed
