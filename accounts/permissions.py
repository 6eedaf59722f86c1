"""Role-based permissions: `integrations:create|read|update|delete` derived from the membership's role."""

from rest_framework.permissions import BasePermission

from accounts.models import Permission

_METHOD_PERMISSIONS = {
    "GET": Permission.READ,
    "HEAD": Permission.READ,
    "OPTIONS": Permission.READ,
    "POST": Permission.CREATE,
    "PUT": Permission.UPDATE,
    "PATCH": Permission.UPDATE,
    "DELETE": Permission.DELETE,
}


def required_permission(view, request) -> str:
    """A view's `required_permissions` maps action names to a permission; otherwise the HTTP method decides."""
    per_action = getattr(view, "required_permissions", {})
    action = getattr(view, "action", None)
    if action in per_action:
        return per_action[action]
    return _METHOD_PERMISSIONS.get(request.method, Permission.READ)


class HasTenantPermission(BasePermission):
    message = "You do not have permission to perform this action."

    def has_permission(self, request, view) -> bool:
        membership = getattr(request, "membership", None)
        if membership is None:
            self.message = "This endpoint needs a tenant membership."
            return False
        needed = required_permission(view, request)
        if needed not in membership.permissions:
            self.message = f"Your role ({membership.role}) lacks the permission {needed}."
            return False
        return True


class IsSuperAdmin(BasePermission):
    message = "Super admin access required."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_super_admin)
