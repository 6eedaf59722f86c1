"""Django admin (the one cross-tenant surface) for integrations, their versions and activity logs."""

from django.contrib import admin

from integrations.models import ActivityLog, Integration, IntegrationVersion


class VersionInline(admin.TabularInline):
    model = IntegrationVersion
    fields = ["number", "changed_fields", "credentials_set", "created_by", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ["-number"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("credentials").select_related("created_by")


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "tenant",
        "provider",
        "status",
        "environment",
        "health_status",
        "current_version",
        "created_at",
    ]
    list_filter = ["status", "environment", "health_status", "provider__category", "provider"]
    search_fields = ["name", "description", "tenant__name", "tenant__slug", "provider__key"]
    list_select_related = ["tenant", "provider"]
    raw_id_fields = ["tenant", "provider", "enabled_by", "created_by"]
    readonly_fields = ["id", "current_version", "created_at", "updated_at"]
    inlines = [VersionInline]
    date_hierarchy = "created_at"


@admin.register(IntegrationVersion)
class IntegrationVersionAdmin(admin.ModelAdmin):
    """Read-only history; the encrypted credentials are never shown (only whether there were any)."""

    list_display = ["integration", "number", "credentials_set", "created_by", "created_at"]
    list_select_related = ["integration", "created_by"]
    search_fields = ["integration__name", "integration__id"]
    fields = ["id", "tenant", "integration", "number", "snapshot", "credentials_set", "changed_fields", "created_by"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("credentials")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ActivityLog)
class ActivityLogAdmin(admin.ModelAdmin):
    list_display = ["created_at", "type", "status", "integration", "tenant", "actor", "message"]
    list_filter = ["type", "status"]
    search_fields = ["message", "request_id", "integration__name"]
    list_select_related = ["integration", "tenant", "actor"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in ActivityLog._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
