from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_event_types(sender, **kwargs) -> None:
    """Seed the built-in event types after every migrate (and after a test database flush, which empties them)."""
    from webhooks.event_types import event_types_sync

    event_types_sync()


class WebhooksConfig(AppConfig):
    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_sync_event_types, sender=self, dispatch_uid="webhooks.sync_event_types")
