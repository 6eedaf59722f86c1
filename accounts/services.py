"""Writes for tenants, users and memberships (used by the management commands, seed data and tests)."""

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.authentication import TENANT_CLAIM, TenantJWTAuthentication
from accounts.lockout import login_locked, login_retry_after
from accounts.models import Membership, Role, User
from config.errors import Conflict, NotFound, RateLimited, ValidationFailed
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


# --- JWT refresh tokens: rotation, logout, password change (docs/security.md) ----------------------------------------
class RefreshTokenRefused(Exception):
    """The refresh token is malformed, expired, revoked or already spent."""


def token_pair_for(*, user: User, tenant_id=None) -> dict[str, str]:
    """A new {access, refresh}; the refresh token is recorded (OutstandingToken) so it can be revoked later."""
    refresh = RefreshToken.for_user(user)
    if tenant_id:
        refresh[TENANT_CLAIM] = str(tenant_id)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


@transaction.atomic
def refresh_token_rotate(*, raw: str) -> dict[str, str]:
    """Spend a refresh token: it is blacklisted and a new pair (same claims, new jti) comes back. Two concurrent
    refreshes with one token: the blacklist row is unique, so only the first gets a pair."""
    refresh = _valid_refresh(raw)
    # The user, membership and tenant must still be active: the same rule as every authenticated request.
    TenantJWTAuthentication().get_user(refresh)
    _, created = refresh.blacklist()
    if not created:
        raise RefreshTokenRefused("Token is blacklisted")
    data = {"access": str(refresh.access_token)}
    refresh.set_jti()
    refresh.set_exp()
    refresh.set_iat()
    refresh.outstand()
    data["refresh"] = str(refresh)
    return data


@transaction.atomic
def refresh_token_revoke(*, raw: str) -> None:
    """Logout: the refresh token can no longer be used (its access tokens live out their short lifetime)."""
    _valid_refresh(raw).blacklist()


def refresh_tokens_revoke_all(*, user: User) -> int:
    """Blacklist every unexpired refresh token issued to `user`; the number revoked."""
    outstanding = OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now()).exclude(
        blacklistedtoken__isnull=False
    )
    rows = [BlacklistedToken(token=token) for token in outstanding]
    BlacklistedToken.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def user_change_password(*, request, user: User, current_password: str, new_password: str, tenant_id=None) -> dict:
    """Check the current password (through the same failed-login counters as sign-in, so a stolen access token
    cannot be used to guess it), set the new one, revoke every refresh token of the user (all sessions) and hand
    the caller a fresh pair."""
    if login_locked(request=request, email=user.email):
        raise RateLimited(
            "Too many failed sign-in attempts for this account. Please try again later.",
            retry_after=login_retry_after(user.email),
        )
    if authenticate(request, email=user.email, password=current_password) is None:
        problem = "The current password is not correct."
        raise ValidationFailed(problem, details={"currentPassword": [problem]})
    try:
        validate_password(new_password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed(exc.messages[0], details={"newPassword": list(exc.messages)}) from exc
    # Not one transaction with the check above: a wrong current password must stay counted.
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        refresh_tokens_revoke_all(user=user)
        return token_pair_for(user=user, tenant_id=tenant_id)


def _valid_refresh(raw: str) -> RefreshToken:
    try:
        return RefreshToken(raw)
    except TokenError as exc:
        raise RefreshTokenRefused(str(exc)) from exc


def refresh_tokens_flush_expired() -> int:
    """Delete the records of refresh tokens past their expiry (their blacklist rows go with them)."""
    _, per_model = OutstandingToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return per_model.get(OutstandingToken._meta.label, 0)
