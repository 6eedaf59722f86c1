"""My connections: every role connects and disconnects its own account on user-scoped integrations."""

from django.contrib import messages
from django.shortcuts import redirect

from config.errors import DomainError
from integrations import connections
from integrations import selectors as integration_selectors
from integrations.models import Connection
from portal.web import portal_page, render_page


@portal_page()
def my_connections(request):
    integrations = list(
        integration_selectors.integration_queryset(tenant=request.tenant).filter(user_scoped=True).order_by("name")
    )
    mine = {
        c.integration_id: c
        for c in Connection.objects.filter(integration__in=integrations, user=request.user).only(
            "integration_id", "status", "connected_at", "credential_hint"
        )
    }
    rows = [{"integration": i, "connection": mine.get(i.pk)} for i in integrations]
    return render_page(request, "portal/me.html", {"rows": rows, "nav": "me"})


@portal_page(methods=("POST",))
def my_disconnect(request, integration_id):
    integration = integration_selectors.integration_get(tenant=request.tenant, integration_id=integration_id)
    try:
        connections.disconnect(integration=integration, user=request.user, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Your {integration.name} account is disconnected.")
    return redirect("portal:me")
