"""Home (the tenant's integrations), the provider catalog, and enabling a provider."""

from django.contrib import messages
from django.shortcuts import redirect

from accounts.models import Permission
from config.errors import DomainError, ValidationFailed
from integrations import selectors as integration_selectors
from integrations import services as integration_services
from portal.presenters import schema_fields, values_from_form
from portal.web import portal_page, render_page
from providers import selectors as provider_selectors
from providers.models import Category


@portal_page()
def home(request):
    integrations = integration_selectors.integration_list(tenant=request.tenant, filters={}).order_by("name")
    rows = [{"integration": i, "conn_status": i._conn_status, "conn_hint": i._conn_hint} for i in integrations]
    return render_page(request, "portal/home.html", {"rows": rows, "nav": "home"})


@portal_page()
def catalog(request):
    filters = {"search": request.GET.get("q", ""), "category": request.GET.get("category", "")}
    error = ""
    try:
        providers = list(provider_selectors.catalog_list(filters=filters))
    except ValidationFailed as exc:
        providers, error = [], exc.message
    enabled = set(
        integration_selectors.integration_queryset(tenant=request.tenant).values_list("provider__key", flat=True)
    )
    context = {
        "providers": providers,
        "enabled": enabled,
        "q": filters["search"],
        "category": filters["category"],
        "categories": Category.choices,
        "error": error,
        "nav": "catalog",
    }
    partial = request.htmx and not request.htmx.history_restore_request  # a restored page needs the whole page
    template = "portal/partials/provider_list.html" if partial else "portal/catalog.html"
    return render_page(request, template, context)


@portal_page(Permission.CREATE, methods=("GET", "POST"))
def enable(request, key: str):
    """Enable a provider: a name and the settings its config schema asks for; the service validates them."""
    provider = provider_selectors.catalog_get(key=key)
    values = values_from_form(provider.config_schema, request.POST, prefix="config.") if request.POST else {}
    context = {"provider": provider, "name": request.POST.get("name", provider.display_name), "errors": {}}
    name = (request.POST.get("name") or "").strip()
    if request.method == "POST" and not 1 <= len(name) <= 200:
        context.update(
            error="Give the integration a name of 1 to 200 characters.", errors={"name": ["1 to 200 characters."]}
        )
    elif request.method == "POST":
        try:
            integration = integration_services.integration_create(
                tenant=request.tenant,
                provider=provider,
                name=name,
                config=values,
                actor=request.user,
            )
        except DomainError as exc:
            context.update(error=exc.message, errors=exc.details)
        else:
            messages.success(request, f"{integration.name} is enabled. Connect it to start using it.")
            return redirect("portal:integration", integration_id=integration.pk)
    context["fields"] = schema_fields(provider.config_schema, values=values)
    return render_page(request, "portal/enable.html", context, status=400 if context.get("error") else 200)
