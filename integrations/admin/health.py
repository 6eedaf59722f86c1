"""Django admin: recorded health checks (read-only)."""

from django.contrib import admin

from integrations.models import HealthCheck


@admin.register(HealthCheck)
class HealthCheckAdmin(admin.ModelAdmin):
    list_display = (
        "checked_at",
        "integration",
        "tenant",
        "status",
        "kind",
        "status_code",
        "response_time_ms",
        "trigger",
    )
    list_filter = ("status", "tenant", "kind", "trigger", "checked_at")
    search_fields = ("=integration__id", "integration__name", "tenant__name", "error")
    list_select_related = ("integration", "tenant")
    raw_id_fields = ("tenant", "integration")
    date_hierarchy = "checked_at"
    readonly_fields = (
        "id",
        "tenant",
        "integration",
        "status",
        "kind",
        "response_time_ms",
        "status_code",
        "error",
        "trigger",
        "checked_at",
    )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # pruned by the retention task
