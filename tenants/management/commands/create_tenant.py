import json

from django.core.management.base import BaseCommand, CommandError

from accounts.services import tenant_create
from config.errors import DomainError


class Command(BaseCommand):
    help = "Create a tenant and print it as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--slug", required=True)

    def handle(self, *args, name, slug, **options):
        try:
            tenant = tenant_create(name=name, slug=slug)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        except Exception as exc:  # model validation of the slug
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps({"id": str(tenant.id), "name": tenant.name, "slug": tenant.slug}))
