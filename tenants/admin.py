from django.contrib import admin

from console.admin_support import CascadeDeleteMixin
from tenants.models import Tenant


@admin.register(Tenant)
class TenantAdmin(CascadeDeleteMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "slug")
    readonly_fields = ("id", "created_at", "updated_at")
