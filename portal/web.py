"""What every portal page shares: the session's membership, role checks, the error pages and the framing headers.

A portal page is a plain Django view wrapped in `portal_page(...)`. The wrapper signs nobody in by itself: the
session was opened by a single-use link (`enter`) or by `/portal/login`, which store the membership they chose.
Domain errors a service raises become the same statuses as in the API (404 for another tenant's id, 403 for a
role that lacks the permission), rendered as portal pages.
"""

from __future__ import annotations

import re
from functools import wraps
from urllib.parse import quote

from django.conf import settings
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.models import Membership, Permission, Role
from config.errors import DomainError, NotFound
from config.errors import PermissionDenied as DomainPermissionDenied
from portal.services import DEFAULT_PRIMARY_COLOR, theme_for

SESSION_KEY = "portal_membership_id"
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:*]+$")


def frame_ancestors() -> str:
    """CSP `frame-ancestors` from PORTAL_FRAME_ANCESTORS; anything that is not a bare origin is left out."""
    origins = [o.strip().rstrip("/") for o in settings.PORTAL_FRAME_ANCESTORS if _ORIGIN.match(o.strip().rstrip("/"))]
    return " ".join(["'self'", *origins])


def with_portal_headers(response):
    """The portal may be framed by PORTAL_FRAME_ANCESTORS only (CSP), never cached, and never leaks its URL."""
    response["Content-Security-Policy"] = f"frame-ancestors {frame_ancestors()}"
    response.xframe_options_exempt = True  # CSP frame-ancestors decides; X-Frame-Options cannot list origins
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    return response


def session_membership(request) -> Membership | None:
    if not request.user.is_authenticated:
        return None
    membership_id = request.session.get(SESSION_KEY)
    if not membership_id:
        return None
    return (
        Membership.objects.select_related("tenant", "user")
        .filter(pk=membership_id, user=request.user, user__is_active=True, tenant__is_active=True)
        .first()
    )


def page_context(request, context: dict | None = None) -> dict:
    membership = getattr(request, "membership", None)
    theme = (
        theme_for(membership.tenant) if membership else {"name": "Integrations", "logo_url": "", "primary_color": ""}
    )
    if not _COLOR.match(theme.get("primary_color") or ""):
        theme["primary_color"] = DEFAULT_PRIMARY_COLOR
    permissions = membership.permissions if membership else ()
    return {
        "theme": theme,
        "membership": membership,
        "can_create": Permission.CREATE in permissions,
        "can_update": Permission.UPDATE in permissions,
        "can_delete": Permission.DELETE in permissions,
        "is_admin": bool(membership and membership.role == Role.ADMIN),
        **(context or {}),
    }


def render_page(request, template: str, context: dict | None = None, *, status: int = 200):
    response = TemplateResponse(request, template, page_context(request, context), status=status)
    return with_portal_headers(response)


def error_page(request, status: int, title: str, message: str):
    return render_page(request, "portal/error.html", {"title": title, "message": message}, status=status)


def portal_page(permission: str = Permission.READ, *, methods=("GET",)):
    """Sign-in required (else to /portal/login?next=…), then `permission` of the session's role, then the view."""

    def decorate(view):
        @require_http_methods([*methods, "HEAD"] if "GET" in methods else list(methods))
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            membership = session_membership(request)
            if membership is None:
                login_url = reverse("portal:login")
                return with_portal_headers(redirect(f"{login_url}?next={quote(request.get_full_path())}"))
            request.membership, request.tenant = membership, membership.tenant
            if permission not in membership.permissions:
                return forbidden(request)
            try:
                response = view(request, *args, **kwargs)
            except (NotFound, Http404):
                return error_page(request, 404, "Not found", "This page does not exist, or belongs to someone else.")
            except DomainPermissionDenied as exc:
                return error_page(request, 403, "Not allowed", exc.message)
            except DomainError as exc:  # a rule a form did not catch: its status and message, never a 500
                return error_page(request, exc.status_code, "This could not be done", exc.message)
            return with_portal_headers(response)

        return wrapper

    return decorate


def forbidden(request):
    role = request.membership.get_role_display() if getattr(request, "membership", None) else "Your role"
    return error_page(request, 403, "Not allowed", f"{role}s cannot do this. Ask a tenant admin.")


def require(request, permission: str) -> None:
    """Inside a view: stop with a 403 page unless the session's role has `permission` (e.g. delete)."""
    if permission not in request.membership.permissions:
        raise DomainPermissionDenied(f"Your role ({request.membership.get_role_display()}) cannot do this.")


_SECRET_KEY = "portal_shown_once"


def stash_secret(request, *, webhook_id, secret: str, rotated: bool = False) -> None:
    """Keep a just-made signing secret for the next page view only (the redirect after the POST), encrypted like
    every stored secret; `pop_secret` shows it once and forgets it."""
    from integrations.crypto import encrypt_str

    request.session[_SECRET_KEY] = {"webhook": str(webhook_id), "value": encrypt_str(secret), "rotated": rotated}


def pop_secret(request, *, webhook_id) -> tuple[str, bool] | None:
    from integrations.crypto import DecryptionError, decrypt_str

    stashed = request.session.get(_SECRET_KEY)
    if not stashed or stashed.get("webhook") != str(webhook_id):
        return None
    del request.session[_SECRET_KEY]
    try:
        return decrypt_str(stashed["value"]), bool(stashed.get("rotated"))
    except DecryptionError:
        return None
