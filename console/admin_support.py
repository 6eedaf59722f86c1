"""What every ModelAdmin of the console shares: the activity entry an action writes, masked headers, and the page
that shows a new secret once.

Actions go through the same services as the API (the rules live there); this module only records that a super
admin did it, from the console, and renders safely.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from integrations.activity import log_activity

EXCERPT_CHARS = 600


def console_activity(
    request,
    *,
    integration=None,
    tenant_id=None,
    type: str,
    message: str,
    details: Mapping | None = None,
    status: str = "success",
) -> None:
    """The activity entry of one console action, by the signed-in super admin, marked `source: console`."""
    log_activity(
        integration=integration,
        tenant_id=tenant_id,
        type=type,
        status=status,
        message=message,
        details={"source": "console", **(details or {})},
        actor=request.user,
    )


def headers_table(headers: Mapping[str, str], *, testid: str = "headers"):
    if not headers:
        return "—"
    rows = format_html_join(
        "", "<tr><td><code>{}</code></td><td><code>{}</code></td></tr>", sorted(headers.items(), key=lambda kv: kv[0])
    )
    return format_html('<table class="headers" data-testid="{}">{}</table>', testid, rows)


def excerpt(text: str | None, *, truncated: bool = False, testid: str = "excerpt"):
    text = text or ""
    if not text:
        return "—"
    cut = len(text) > EXCERPT_CHARS
    more = " …" if cut or truncated else ""
    return format_html('<pre class="excerpt" data-testid="{}">{}{}</pre>', testid, text[:EXCERPT_CHARS], more)


def secret_shown_once(request, *, title: str, secrets: list[tuple[str, str]], note: str, admin_site):
    """A page with the new secret(s), answered to the action's POST and never stored anywhere (not in the session or
    the messages cookie): leaving the page is the last time they can be seen."""
    context = {
        **admin_site.each_context(request),
        "title": title,
        "secrets": secrets,
        "note": note,
    }
    response = TemplateResponse(request, "console/secret_shown_once.html", context)
    response["Cache-Control"] = "no-store"
    return response


class CascadeDeleteMixin:
    """For a ModelAdmin whose deletion takes its history along (deliveries, attempts, activity, health checks...).

    Those histories are never deleted by hand in the console (their admins refuse it), which Django's delete page
    would otherwise read as "you may not delete the parent either". Deleting the parent is the one way they go.
    """

    def get_deleted_objects(self, objs, request):
        deleted, model_count, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, model_count, set(), protected
