"""OAuth started in the portal: where the provider's callback sends the browser back, and how the flow finishes.

The portal starts a flow with `returnUrl` = `/portal/integrations/{id}/oauth/complete?next=<page>`. The public
callback (`GET /api/v1/oauth/callback`) stores nothing: it checks the state (and the provider's `iss`) and redirects
here with `code`, `state`, `integrationId` and `iss` when the provider sent one (or `error`). The browser that
arrives has proved nothing about who it is (a consent link can be forwarded), so the flow is finished here, by the
signed-in portal user, through the service the API's `POST …/oauth/callback` uses (`connections.oauth_complete`): it
completes only for the user who started the flow and refuses anyone else (403, nothing stored, the state left
unconsumed).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse

from integrations import connections
from integrations.connection_serializers import OAuthCallbackSerializer
from integrations.models import ConnectionScope

_CALLBACK_FIELDS = ("code", "state", "error", "error_description", "iss")


@dataclass(frozen=True)
class PortalOAuthOutcome:
    success: bool
    message: str


def portal_return_url(*, integration_id, next_path: str) -> str:
    """The returnUrl a portal flow is started with (a path: the service makes it absolute on PUBLIC_BASE_URL)."""
    base = reverse("portal:oauth-complete", kwargs={"integration_id": integration_id})
    return f"{base}?{urlencode({'next': safe_next(next_path)})}"


def safe_next(path: str | None, default: str = "/portal/") -> str:
    """Only a portal path (no scheme, no host, no backslash) is a place to come back to."""
    path = (path or "").strip()
    if path.startswith("/portal/") and "//" not in path and "\\" not in path and "\n" not in path:
        return path
    return default


def complete_portal_oauth(*, params, integration, user, tenant) -> PortalOAuthOutcome:
    """Finish the flow for the signed-in portal `user` with the `code` and `state` the callback handed back.

    Input is checked like the API's completion endpoint (same serializer); a bad, expired or replayed callback is an
    outcome to show, not an exception. A flow started by another user raises the service's PermissionDenied (the
    portal answers it with a 403 page): nothing is exchanged or stored.
    """
    body = OAuthCallbackSerializer(data={name: params[name] for name in _CALLBACK_FIELDS if name in params})
    if not body.is_valid():
        return PortalOAuthOutcome(False, "Connecting failed: the provider's answer was incomplete. Start again.")
    data = body.validated_data
    result = connections.oauth_complete(
        state=data["state"],
        code=data.get("code") or None,
        error=data.get("error") or None,
        error_description=data.get("error_description") or None,
        iss=data.get("iss") or None,  # RFC 9207: checked again against the provider's issuer
        user=user,
        tenant=tenant,
        integration=integration,
        scope=ConnectionScope.USER if integration.user_scoped else ConnectionScope.TENANT,
    )
    if result.success:
        return PortalOAuthOutcome(True, f"{integration.name} is connected.")
    return PortalOAuthOutcome(False, f"Connecting failed: {result.error_description or result.error}")
