import json

from django.core.management.base import BaseCommand

from config.periodic import periodic_tasks, sync_periodic_tasks


class Command(BaseCommand):
    help = "Create or update the celery-beat schedule (health checks, sweepers, clean-ups); safe to re-run."

    def handle(self, *args, **options):
        changed = sync_periodic_tasks()
        self.stdout.write(json.dumps({"tasks": [t.name for t in periodic_tasks()], "changed": changed}))
