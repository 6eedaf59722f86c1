import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra):
        if not email:
            raise ValueError("An email is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """Logs in with an email. Super admins are Django staff superusers; tenant roles live on Membership."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(auto_now_add=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    @property
    def is_super_admin(self) -> bool:
        return self.is_active and self.is_staff and self.is_superuser


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    INTEGRATION_MANAGER = "integration_manager", "Integration manager"
    MEMBER = "member", "Member"


class Permission:
    CREATE = "integrations:create"
    READ = "integrations:read"
    UPDATE = "integrations:update"
    DELETE = "integrations:delete"


ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.ADMIN: (Permission.CREATE, Permission.READ, Permission.UPDATE, Permission.DELETE),
    Role.INTEGRATION_MANAGER: (Permission.CREATE, Permission.READ, Permission.UPDATE),
    Role.MEMBER: (Permission.READ,),
}


class Membership(models.Model):
    """A user's role in one tenant. The token names the membership's tenant; every request acts inside it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="uniq_membership_user_tenant")]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant.slug} ({self.role})"

    @property
    def permissions(self) -> tuple[str, ...]:
        return ROLE_PERMISSIONS[self.role]
