"""The landing page at `/`: what this service is and where its surfaces are (demo logins listed in DEBUG only)."""

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_GET


def demo_logins() -> list[dict[str, str]]:
    """The accounts `manage.py seed_demo` creates (their passwords are fixed, public and only for local use)."""
    from accounts.management.commands.seed_demo import DEMO_USERS, SUPER_ADMIN

    logins = [
        {"email": email, "password": password, "role": "super admin (console)"} for email, password in [SUPER_ADMIN]
    ]
    logins += [
        {"email": email, "password": password, "role": f"{role} of tenant demo (portal, API)"}
        for email, role, password in DEMO_USERS
    ]
    return logins


@require_GET
def landing(request):
    return render(
        request,
        "console/landing.html",
        {"demo_logins": demo_logins() if settings.DEBUG else [], "title": settings.SPECTACULAR_SETTINGS["TITLE"]},
    )
