from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


def _sync_beat_schedule(sender, **kwargs):
    from config.periodic import sync_periodic_tasks

    sync_periodic_tasks()


class ProjectConfig(AppConfig):
    """The project itself as an app: its management commands, and the beat schedule kept in step after migrate."""

    name = "config"
    label = "project"

    def ready(self):
        # Django signals post_migrate only for apps with models: hang the sync on django-celery-beat's.
        post_migrate.connect(
            _sync_beat_schedule,
            sender=apps.get_app_config("django_celery_beat"),
            dispatch_uid="project.sync_beat_schedule",
        )
