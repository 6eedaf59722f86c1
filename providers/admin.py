"""Django admin for the provider catalog: filters, search, bulk status actions; hand edits get locked for sync."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import models

from providers.catalog_loader import CatalogError, validate_entry
from providers.models import Provider, ProviderStatus
from providers.services import (
    CLIENT_ID_KEY,
    CLIENT_SECRET_KEY,
    MODEL_FIELDS,
    catalog_error_details,
    provider_bulk_set_status,
    provider_entry,
    provider_lock_fields,
)


class ProviderAdminForm(forms.ModelForm):
    """The catalog entry schema validates what is typed here too; the client secret is write-only."""

    new_client_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="OAuth client secret, stored encrypted. Leave empty to keep the current one.",
    )
    clear_client_secret = forms.BooleanField(required=False, help_text="Remove the stored client secret.")

    class Meta:
        model = Provider
        fields = [
            f.name
            for f in Provider._meta.get_fields()
            if f.concrete and f.editable and f.name not in ("id", "oauth_client_secret")
        ]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        candidate = Provider(**{f: getattr(self.instance, f) for f in MODEL_FIELDS})
        for field in MODEL_FIELDS:
            if field in cleaned:
                setattr(candidate, field, cleaned[field])
        stored = set()
        if isinstance(candidate.oauth_config, dict) and candidate.oauth_config.get(CLIENT_ID_KEY):
            stored.add(CLIENT_ID_KEY)
        secret_kept = self.instance.oauth_client_secret and not cleaned.get("clear_client_secret")
        if cleaned.get("new_client_secret") or secret_kept:
            stored.add(CLIENT_SECRET_KEY)
        try:
            validate_entry(
                provider_entry(candidate),
                source="<admin>",
                http_allowed_networks=settings.PROVIDER_ALLOWED_NETWORKS,
                stored_client=stored,
            )
        except CatalogError as exc:
            for field_path, problems in catalog_error_details(exc).items():
                root = field_path.split(".", 1)[0].split("[", 1)[0]
                target = _model_field_for(root)
                self.add_error(target if target in self.fields else None, f"{field_path}: {'; '.join(problems)}")
        return cleaned


def _model_field_for(entry_key: str) -> str | None:
    from providers.services import ENTRY_FIELDS

    return ENTRY_FIELDS.get(entry_key)


def _status_action(status: str):
    def act(modeladmin, request, queryset):
        count = provider_bulk_set_status(providers=list(queryset), status=status)
        modeladmin.message_user(request, f"{count} provider(s) set to {status} (status locked).", messages.SUCCESS)

    act.__name__ = f"set_status_{status}"
    act.short_description = f"Set status: {status} (locks the field)"
    return act


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderAdminForm
    list_display = [
        "key",
        "display_name",
        "category",
        "status",
        "audience",
        "auth_type",
        "client_secret_set",
        "updated_at",
    ]
    list_filter = ["category", "status", "audience", "auth_type"]
    search_fields = ["key", "name", "display_name", "description"]
    readonly_fields = ["id", "client_secret_set", "created_at", "updated_at"]
    ordering = ["key"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = [_status_action(s) for s in ProviderStatus.values]

    @admin.display(boolean=True, description="Client secret set")
    def client_secret_set(self, obj) -> bool:
        return bool(obj.oauth_client_secret)

    def save_model(self, request, obj, form, change):
        secret = form.cleaned_data.get("new_client_secret")
        if form.cleaned_data.get("clear_client_secret"):
            obj.oauth_client_secret = ""
        elif secret:
            obj.oauth_client_secret = secret
        super().save_model(request, obj, form, change)
        if change:
            # Compare values, not form.changed_data (JSON widgets re-render differently from what was typed).
            initial, cleaned = form.initial, form.cleaned_data
            edited = [f for f in MODEL_FIELDS if f in cleaned and f != "key" and cleaned[f] != initial.get(f)]
            if cleaned.get("locked_fields") == initial.get("locked_fields"):  # else the admin set the locks by hand
                provider_lock_fields(provider=obj, fields=edited)
