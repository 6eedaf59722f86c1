"""Django admin (the one cross-tenant surface) for integrations, their versions and activity logs."""

from django.contrib import admin, messages

from console.admin_support import CascadeDeleteMixin, console_activity
from integrations.health import health_check_run
from integrations.models import ActivityLog, Integration, IntegrationVersion
from integrations.models.health import HealthCheckTrigger
from integrations.services import integration_delete

# A health check runs in the request (the admin waits for the answer): a bounded number at once.
HEALTH_CHECK_NOW_MAX = 20


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
class IntegrationAdmin(CascadeDeleteMixin, admin.ModelAdmin):
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
    list_filter = ["status", "health_status", "tenant", "environment", "provider__category", "provider"]
    search_fields = ["=id", "name", "description", "tenant__name", "tenant__slug", "provider__key"]
    list_select_related = ["tenant", "provider"]
    raw_id_fields = ["tenant", "provider", "enabled_by", "created_by"]
    readonly_fields = ["id", "current_version", "created_at", "updated_at"]
    inlines = [VersionInline]
    date_hierarchy = "created_at"
    actions = ["run_health_check"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            console_activity(
                request,
                integration=obj,
                type="update",
                message=f"Console: {', '.join(form.changed_data)} edited.",
                details={"action": "edit", "changedFields": form.changed_data},
            )

    def delete_model(self, request, obj):
        """Through the service: the `delete` activity entry stays and `integration.deleted` is emitted."""
        integration_delete(integration=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for integration in queryset.select_related("provider", "tenant"):
            self.delete_model(request, integration)

    @admin.action(description=f"Run a health check now (at most {HEALTH_CHECK_NOW_MAX} at once)")
    def run_health_check(self, request, queryset):
        """Through the health service, as a manual check: it records the result and writes the activity entry."""
        integrations = list(queryset.select_related("provider", "tenant")[: HEALTH_CHECK_NOW_MAX + 1])
        if len(integrations) > HEALTH_CHECK_NOW_MAX:
            self.message_user(
                request, f"Select at most {HEALTH_CHECK_NOW_MAX} integrations for a check now.", messages.ERROR
            )
            return
        results = []
        for integration in integrations:
            check = health_check_run(integration=integration, trigger=HealthCheckTrigger.MANUAL, actor=request.user)
            results.append(f"{integration.name}: {check.status if check else 'skipped'}")
        self.message_user(request, "Health checked. " + "; ".join(results), messages.SUCCESS)


@admin.register(IntegrationVersion)
class IntegrationVersionAdmin(admin.ModelAdmin):
    """Read-only history; the encrypted credentials are never shown (only whether there were any)."""

    list_display = ["integration", "tenant", "number", "credentials_set", "created_by", "created_at"]
    list_filter = ["tenant"]
    list_select_related = ["integration", "tenant", "created_by"]
    search_fields = ["integration__name", "=integration__id"]
    fields = ["id", "tenant", "integration", "number", "snapshot", "credentials_set", "changed_fields", "created_by"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("credentials")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ActivityLog)
class ActivityLogAdmin(admin.ModelAdmin):
    list_display = ["created_at", "type", "status", "integration", "tenant", "actor", "message"]
    list_filter = ["type", "status", "tenant", "created_at"]
    search_fields = ["message", "=request_id", "integration__name", "=integration__id", "tenant__name"]
    list_select_related = ["integration", "tenant", "actor"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in ActivityLog._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the audit trail; pruned by the retention task only
