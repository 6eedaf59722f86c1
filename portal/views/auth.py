"""Getting into the portal: the single-use link from the API, the standalone login, and signing out."""

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.lockout import login_locked, login_retry_after
from accounts.models import Membership
from config.api import client_ip, hit_rate_limit
from portal import services
from portal.oauth_return import safe_next
from portal.web import SESSION_KEY, render_page, with_portal_headers


def _sign_in(request, membership: Membership) -> None:
    login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SESSION_KEY] = str(membership.pk)


@require_GET
def enter(request, token: str):
    """The link's landing: consume it once and sign its user in; a used or expired link is a 410 page."""
    try:
        membership = services.portal_link_redeem(token=token)
    except services.LinkGone:
        if request.user.is_authenticated and SESSION_KEY in request.session:
            logout(request)  # a stale link never leaves a previous portal session behind in this browser
        return render_page(request, "portal/link_gone.html", status=410)
    _sign_in(request, membership)
    return with_portal_headers(redirect("portal:home"))


@require_http_methods(["GET", "POST"])
def login_view(request):
    """Email and password (and a tenant slug for users of several tenants), for use without an embedding app."""
    next_path = safe_next(request.POST.get("next") or request.GET.get("next"))
    context = {"next": next_path, "email": "", "tenant": "", "error": ""}
    if request.method == "POST":
        email = (request.POST.get("email") or "").strip().lower()[:254]
        password = request.POST.get("password") or ""
        tenant_slug = (request.POST.get("tenant") or "").strip().lower()[:50]
        context.update(email=email, tenant=tenant_slug)
        if settings.RATE_LIMIT_ENABLED and hit_rate_limit("auth", f"portal-ip:{client_ip(request)}").exceeded:
            context["error"] = "Too many attempts. Wait a minute and try again."
            return render_page(request, "portal/login.html", context, status=429)
        if email and login_locked(request=request, email=email):
            # The per-account limit the API's token endpoint and the admin login share: the right password too.
            return _locked_out(request, context, email)
        membership, error = _membership_for(request, email, password, tenant_slug)
        if membership is None:
            context["error"] = error
            return render_page(request, "portal/login.html", context, status=400)
        _sign_in(request, membership)
        return with_portal_headers(redirect(next_path))
    return render_page(request, "portal/login.html", context)


def _locked_out(request, context: dict, email: str):
    retry_after = login_retry_after(email)
    minutes = max(1, -(-retry_after // 60))
    context["error"] = (
        "Too many failed sign-in attempts for this account. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    )
    response = render_page(request, "portal/login.html", context, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def _membership_for(request, email: str, password: str, tenant_slug: str) -> tuple[Membership | None, str]:
    # With `request`, django-axes counts a failure against the same per-email limit as the API and the admin login.
    user = authenticate(request, email=email, password=password) if email and password else None
    if user is None:  # wrong password, unknown email and inactive user answer alike
        return None, "Invalid email or password."
    memberships = list(user.memberships.select_related("tenant", "user").filter(tenant__is_active=True))
    if tenant_slug:
        memberships = [m for m in memberships if m.tenant.slug == tenant_slug]
    if not memberships:
        return None, "You are not a member of an active tenant" + (" with that slug." if tenant_slug else ".")
    if len(memberships) > 1:
        return None, "You belong to several tenants: enter the tenant's slug."
    return memberships[0], ""


@require_POST
def logout_view(request):
    logout(request)
    return with_portal_headers(redirect(reverse("portal:login")))
