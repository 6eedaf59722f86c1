"""OAuth started in the portal: where the provider's callback sends the browser back, and how the flow finishes.

The portal starts a flow with `returnUrl` = `/portal/integrations/{id}/oauth/complete?next=<page>`. Today the
public callback (`GET /api/v1/oauth/callback`) exchanges the code itself and redirects here with
`status=success|error` (+ `error`). If the callback instead hands back `code` and `state` (a flow completed by
the signed-in user who started it), `complete_portal_oauth` finishes it here, bound to this portal session's
tenant, integration and user, through the connection service. Both shapes are handled by this one function so
the rest of the portal does not care which callback it runs behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse

from integrations import connections


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


def complete_portal_oauth(*, params, integration, membership) -> PortalOAuthOutcome:
    """Finish (or report) the flow for the signed-in portal user; never raises for a bad or replayed callback."""
    state = params.get("state")
    if state and (params.get("code") or params.get("error")):
        result = connections.oauth_complete(
            state=state,
            code=params.get("code"),
            error=params.get("error"),
            error_description=params.get("error_description"),
            expect_tenant=membership.tenant,
            expect_integration=integration,
            expect_user=membership.user,
        )
        if result.success:
            return PortalOAuthOutcome(True, f"{integration.name} is connected.")
        return PortalOAuthOutcome(False, f"Connecting failed: {result.error_description or result.error}.")
    if params.get("status") == "success":
        return PortalOAuthOutcome(True, f"{integration.name} is connected.")
    error = (params.get("error") or "unknown_error")[:100]
    return PortalOAuthOutcome(False, f"Connecting failed ({error}). Start connecting again.")
