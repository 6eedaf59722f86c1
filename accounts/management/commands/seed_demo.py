import json

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Membership, Role, User
from tenants.models import Tenant

DEMO_USERS = (
    ("admin@demo.test", Role.ADMIN, "demo-admin-pass"),
    ("manager@demo.test", Role.INTEGRATION_MANAGER, "demo-manager-pass"),
    ("member@demo.test", Role.MEMBER, "demo-member-pass"),
)
SUPER_ADMIN = ("root@demo.test", "demo-root-pass")


class Command(BaseCommand):
    help = "Load demo data (a demo tenant, one user per role, a super admin, the provider catalog); safe to re-run."

    @transaction.atomic
    def handle(self, *args, **options):
        if self._has_command("sync_providers"):
            call_command("sync_providers", stdout=self.stderr)
        tenant, _ = Tenant.objects.get_or_create(slug="demo", defaults={"name": "Demo Company"})
        users = []
        for email, role, password in DEMO_USERS:
            user = User.objects.filter(email=email).first() or User.objects.create_user(email=email)
            user.set_password(password)
            user.save()
            Membership.objects.update_or_create(user=user, tenant=tenant, defaults={"role": role})
            users.append({"email": email, "password": password, "role": role, "tenant": tenant.slug})
        email, password = SUPER_ADMIN
        root = User.objects.filter(email=email).first() or User.objects.create_superuser(email=email)
        root.set_password(password)
        root.save()
        users.append({"email": email, "password": password, "role": "super_admin", "tenant": None})
        self.stdout.write(json.dumps({"tenant": {"id": str(tenant.id), "slug": tenant.slug}, "users": users}, indent=2))
        self._demo_integration(tenant, users_admin=User.objects.get(email=DEMO_USERS[0][0]))

    @staticmethod
    def _demo_integration(tenant, users_admin) -> None:
        """One demo integration (Stripe, sandbox, no credentials) when the tenant has none yet."""
        from integrations.models import Integration
        from integrations.services import integration_create
        from providers.models import Provider

        if not Integration.objects.filter(tenant=tenant).exists() and Provider.objects.filter(key="stripe").exists():
            integration_create(
                tenant=tenant, provider="stripe", name="Stripe (demo)", environment="sandbox", actor=users_admin
            )

    @staticmethod
    def _has_command(name: str) -> bool:
        from django.core.management import get_commands

        return name in get_commands()
