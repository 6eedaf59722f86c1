import json

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role
from accounts.services import user_create, user_summary
from config.errors import DomainError


class Command(BaseCommand):
    help = "Create a tenant user (--tenant SLUG --role ROLE) or a super admin (--super-admin); prints JSON."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--tenant", help="tenant slug")
        parser.add_argument("--role", choices=Role.values, default=Role.MEMBER)
        parser.add_argument("--super-admin", action="store_true")
        parser.add_argument("--full-name", default="")

    def handle(self, *args, **opts):
        try:
            user, membership = user_create(
                email=opts["email"],
                password=opts["password"],
                tenant_slug=opts["tenant"],
                role=opts["role"],
                super_admin=opts["super_admin"],
                full_name=opts["full_name"],
            )
        except DomainError as exc:
            raise CommandError(f"{exc.message} {exc.details or ''}".strip()) from exc
        self.stdout.write(json.dumps(user_summary(user, membership)))
