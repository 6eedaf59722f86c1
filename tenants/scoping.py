"""Tenant scoping, once: the viewset mixin every tenant API inherits, which resolves the tenant from the token."""

from rest_framework.exceptions import PermissionDenied

from accounts.permissions import HasTenantPermission
from config.api import RateLimitFirstMixin

UUID_PATTERN = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


def request_tenant(request):
    """The tenant of the token's membership (set by TenantJWTAuthentication); 403 for a user without one."""
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        raise PermissionDenied("This endpoint needs a tenant membership.")
    return tenant


class TenantScopedViewSetMixin(RateLimitFirstMixin):
    """Scopes `queryset` to the caller's tenant (field `tenant_field`); another tenant's row is a 404.

    Subclasses set `queryset`, `not_found_code` and, optionally, `required_permissions` per action.
    """

    tenant_field = "tenant"
    lookup_value_regex = UUID_PATTERN
    permission_classes = [HasTenantPermission]
    not_found_code = "NOT_FOUND"

    @property
    def tenant(self):
        return request_tenant(self.request)

    def get_queryset(self):
        return super().get_queryset().filter(**{self.tenant_field: self.tenant})
