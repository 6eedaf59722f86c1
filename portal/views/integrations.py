"""One integration: status, health, connect / test / disconnect, versions with restore, the activity log."""

from django.contrib import messages
from django.shortcuts import redirect

from accounts.models import Permission, Role
from config.errors import DomainError, ValidationFailed
from config.errors import PermissionDenied as DomainPermissionDenied
from integrations import connections
from integrations import selectors as integration_selectors
from integrations import services as integration_services
from integrations.models import ActivityStatus, ActivityType, ConnectionScope, HealthCheck
from portal.oauth_return import complete_portal_oauth, portal_return_url, safe_next
from portal.presenters import SchemaField, schema_fields, sparkline, values_from_form, version_diff
from portal.web import portal_page, render_page, require

HEALTH_POINTS = 30
VERSIONS_SHOWN = 20
ACTIVITY_SHOWN = 50


def _integration(request, integration_id):
    return integration_selectors.integration_get(tenant=request.tenant, integration_id=integration_id)


def _here(integration) -> str:
    return f"/portal/integrations/{integration.pk}/"


@portal_page()
def detail(request, integration_id):
    integration = _integration(request, integration_id)
    provider = integration.provider
    user = request.user if integration.user_scoped else None
    connection = connections.connection_get(integration=integration, user=user)
    checks = list(
        HealthCheck.objects.filter(integration=integration)
        .order_by("-checked_at")
        .only("status", "response_time_ms", "checked_at", "status_code", "kind")[:HEALTH_POINTS]
    )[::-1]
    versions = list(integration_selectors.version_list(integration=integration)[: VERSIONS_SHOWN + 1])
    version_rows = [
        {"version": v, "diff": version_diff(v.snapshot, versions[i + 1].snapshot if i + 1 < len(versions) else None)}
        for i, v in enumerate(versions[:VERSIONS_SHOWN])
    ]
    activity_filters = {"type": request.GET.get("type", ""), "status": request.GET.get("status", "")}
    activity_error = ""
    try:
        activity = list(
            integration_selectors.activity_list(integration=integration, filters=activity_filters)[:ACTIVITY_SHOWN]
        )
    except ValidationFailed as exc:
        activity, activity_error = [], exc.message
    credential_fields = schema_fields(provider.credential_schema, secret=True)
    context = {
        "integration": integration,
        "provider": provider,
        "connection": connection,
        "connected": bool(connection and connection.status == "active"),
        "credential_fields": credential_fields,
        "basic_fields": _basic_fields(provider, credential_fields),
        "checks": checks,
        "chart": sparkline([c.response_time_ms for c in checks]),
        "version_rows": version_rows,
        "activity": activity,
        "activity_filters": activity_filters,
        "activity_error": activity_error,
        "activity_types": ActivityType.values,
        "activity_statuses": ActivityStatus.values,
        "nav": "home",
    }
    template = "portal/partials/activity.html" if request.htmx and request.GET.get("part") == "activity" else None
    return render_page(request, template or "portal/integration.html", context)


def _basic_fields(provider, fields) -> list[SchemaField]:
    """The two inputs of a username/password provider, labelled as the provider names them (Twilio: Account SID and
    Auth token); the connection service maps them onto its credential fields in the same order."""
    names = {f.name: f for f in fields}
    required = list((provider.credential_schema or {}).get("required") or [])
    if "username" not in names and len(required) >= 2 and all(n in names for n in required[:2]):
        first, second = names[required[0]], names[required[1]]
        return [
            SchemaField("username", first.label, "text", True, first.help),
            SchemaField("password", second.label, "password", True, second.help),
        ]
    return [SchemaField("username", "Username", "text", True), SchemaField("password", "Password", "password", True)]


@portal_page(Permission.UPDATE, methods=("POST",))
def connect(request, integration_id):
    """API key, basic or custom credentials: the service tests them with the provider before storing anything."""
    integration = _integration(request, integration_id)
    kind = request.POST.get("kind", "")
    if kind == "api_key":
        payload = {"api_key": (request.POST.get("apiKey") or "").strip()}
    elif kind == "basic":
        payload = {"username": request.POST.get("username") or "", "password": request.POST.get("password") or ""}
    elif kind == "custom":
        payload = {
            "credentials": values_from_form(integration.provider.credential_schema, request.POST, prefix="cred.")
        }
    else:
        messages.error(request, "Choose how to connect.")
        return redirect(_here(integration))
    if kind == "api_key" and not payload["api_key"]:
        messages.error(request, "Enter the API key.")
        return redirect(_here(integration))
    try:
        connections.connect_credentials(integration=integration, kind=kind, payload=payload, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Connected.")
    return redirect(_here(integration))


@portal_page(Permission.READ, methods=("POST",))
def connect_oauth(request, integration_id):
    """Start OAuth: tenant-level for managers and admins, the user's own on a user-scoped integration (any role)."""
    integration = _integration(request, integration_id)
    if not integration.user_scoped:
        require(request, Permission.UPDATE)
    scope = ConnectionScope.USER if integration.user_scoped else ConnectionScope.TENANT
    back = safe_next(request.POST.get("next"), _here(integration))
    try:
        url, _state = connections.oauth_start(
            integration=integration,
            user=request.user,
            scope=scope,
            return_url=portal_return_url(integration_id=integration.pk, next_path=back),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    return redirect(url)


@portal_page()
def oauth_complete(request, integration_id):
    """Where a portal OAuth flow comes back from the public callback: finish it for this session's user (only the
    user who started it can) and return to the page it started from."""
    integration = _integration(request, integration_id)
    if not integration.user_scoped:
        require(request, Permission.UPDATE)  # like the API's tenant-level completion
    outcome = complete_portal_oauth(
        params=request.GET, integration=integration, user=request.user, tenant=request.tenant
    )
    (messages.success if outcome.success else messages.error)(request, outcome.message)
    return redirect(safe_next(request.GET.get("next"), _here(integration)))


@portal_page(Permission.UPDATE, methods=("POST",))
def test(request, integration_id):
    integration = _integration(request, integration_id)
    result = connections.connection_test(integration=integration, user=request.user, actor=request.user)
    if request.htmx:
        return render_page(request, "portal/partials/test_result.html", {"result": result})
    (messages.success if result.ok else messages.error)(request, f"Test: {result.message}")
    return redirect(_here(integration))


@portal_page(Permission.UPDATE, methods=("POST",))
def disconnect(request, integration_id):
    integration = _integration(request, integration_id)
    try:
        connections.disconnect(integration=integration, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Disconnected. The stored credentials were erased.")
    return redirect(_here(integration))


@portal_page(Permission.UPDATE, methods=("POST",))
def restore_version(request, integration_id, number: int):
    """Config and settings come back; the version's credentials only when an admin ticks "restore credentials" (the
    API's `restoreCredentials` rule), and a restored config that moves the API origin drops the current ones."""
    integration = _integration(request, integration_id)
    restore_credentials = request.POST.get("restore_credentials") in ("1", "on", "true")
    if restore_credentials and request.membership.role != Role.ADMIN:
        raise DomainPermissionDenied("Only an admin may restore credentials from a version.")
    try:
        integration = integration_services.integration_restore_version(
            integration=integration, number=number, actor=request.user, restore_credentials=restore_credentials
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Version {number} restored as version {integration.current_version}.")
    return redirect(_here(integration))


@portal_page(Permission.DELETE, methods=("POST",))
def delete(request, integration_id):
    integration = _integration(request, integration_id)
    name = integration.name
    integration_services.integration_delete(integration=integration, actor=request.user)
    messages.success(request, f"{name} was deleted.")
    return redirect("portal:home")
