from django import forms
from django.contrib import admin

from portal.models import PortalLink, TenantTheme


class TenantThemeForm(forms.ModelForm):
    logo_url = forms.URLField(max_length=500, required=False, assume_scheme="https", label="Logo URL")
    primary_color = forms.CharField(max_length=7, widget=forms.TextInput(attrs={"type": "color"}))

    class Meta:
        model = TenantTheme
        fields = ("tenant", "display_name", "logo_url", "primary_color")


@admin.register(TenantTheme)
class TenantThemeAdmin(admin.ModelAdmin):
    """Super admins set each tenant's portal name, logo and primary colour here."""

    form = TenantThemeForm

    list_display = ("tenant", "display_name", "primary_color", "updated_at")
    search_fields = ("tenant__name", "tenant__slug", "display_name")
    autocomplete_fields = ("tenant",)


@admin.register(PortalLink)
class PortalLinkAdmin(admin.ModelAdmin):
    """Read-only audit of minted links (the token itself is never stored)."""

    list_display = ("user", "tenant", "created_at", "expires_at", "used_at")
    list_filter = ("tenant",)
    readonly_fields = [f.name for f in PortalLink._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
