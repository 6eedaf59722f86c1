"""Writes for tenants, users and memberships (used by the management commands, seed data and tests)."""

from django.db import transaction

from accounts.models import Membership, Role, User
from config.errors import Conflict, NotFound, ValidationFailed
from tenants.models import Tenant


@transaction.atomic
def tenant_create(*, name: str, slug: str) -> Tenant:
    if Tenant.objects.filter(slug=slug).exists():
        raise Conflict(f"A tenant with slug '{slug}' already exists.")
    tenant = Tenant(name=name, slug=slug)
    tenant.full_clean()
    tenant.save()
    return tenant


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str,
    tenant_slug: str | None = None,
    role: str = Role.MEMBER,
    super_admin: bool = False,
    full_name: str = "",
) -> tuple[User, Membership | None]:
    """A user, and their membership of `tenant_slug` with `role` when given. A super admin needs no tenant."""
    email = User.objects.normalize_email(email).lower()
    if User.objects.filter(email=email).exists():
        raise Conflict(f"A user with email '{email}' already exists.")
    if role not in Role.values:
        raise ValidationFailed(details={"role": [f"Must be one of: {', '.join(Role.values)}."]})
    if not tenant_slug and not super_admin:
        raise ValidationFailed("A user needs a tenant unless they are a super admin.")
    tenant = None
    if tenant_slug:
        tenant = Tenant.objects.filter(slug=tenant_slug).first()
        if tenant is None:
            raise NotFound("tenant", f"No tenant with slug '{tenant_slug}'.")
    create = User.objects.create_superuser if super_admin else User.objects.create_user
    user = create(email=email, password=password, full_name=full_name)
    membership = Membership.objects.create(user=user, tenant=tenant, role=role) if tenant else None
    return user, membership


def user_summary(user: User, membership: Membership | None) -> dict:
    tenant = membership.tenant if membership else None
    return {
        "id": str(user.id),
        "email": user.email,
        "tenant": {"id": str(tenant.id), "slug": tenant.slug, "name": tenant.name} if tenant else None,
        "role": membership.role if membership else None,
        "permissions": list(membership.permissions) if membership else [],
        "isSuperAdmin": user.is_super_admin,
    }
