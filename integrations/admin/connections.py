"""Django admin for connections and OAuth states: the cross-tenant view of who is connected, never a secret."""

from django.contrib import admin, messages

from config.errors import DomainError
from integrations import connections as services
from integrations.models import Connection, ConnectionStatus, OAuthState


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "integration",
        "tenant",
        "user",
        "auth_type",
        "status",
        "credential_hint",
        "expires_at",
        "last_validated_at",
        "connected_at",
    ]
    list_filter = ["status", "auth_type", "tenant"]
    search_fields = ["=id", "=integration__id", "integration__name", "tenant__name", "tenant__slug", "user__email"]
    list_select_related = ["integration", "tenant", "user"]
    actions = ["expire", "revoke"]
    # The encrypted credentials are never shown nor editable here: reconnect through the API instead.
    exclude = ["credentials"]
    readonly_fields = [
        "id",
        "tenant",
        "integration",
        "user",
        "auth_type",
        "credential_hint",
        "granted_scopes",
        "expires_at",
        "oauth_client_id",
        "metadata",
        "token_generation",
        "connected_at",
        "last_refreshed_at",
        "last_validated_at",
        "validation_error",
        "last_test_result",
        "disconnected_at",
        "created_at",
        "updated_at",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("credentials")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # credentials change through the API (connect, reconnect); the console acts through actions

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # "Revoke" disconnects (at the provider too) and keeps the row for a reconnect

    @admin.action(description="Mark expired (the tenant must reconnect)", permissions=["view"])
    def expire(self, request, queryset):
        """Through the connections service, which writes the activity entry and emits connection_expired."""
        count = 0
        for connection in queryset.filter(status=ConnectionStatus.ACTIVE):
            count += services.connection_expire(
                connection=connection, actor=request.user, reason="Expired by an administrator (console)."
            )
        self.message_user(request, f"{count} connection(s) marked expired.", messages.SUCCESS)

    @admin.action(
        description="Revoke (disconnect: revoked at the provider where it can be, credentials wiped)",
        permissions=["view"],
    )
    def revoke(self, request, queryset):
        """The same disconnect as the API's (activity entry and integration.disconnected included)."""
        done, failed = 0, []
        for connection in queryset.exclude(status=ConnectionStatus.REVOKED).select_related(
            "integration__provider", "integration__tenant", "user"
        ):
            try:
                services.disconnect(integration=connection.integration, user=connection.user, actor=request.user)
                done += 1
            except DomainError as exc:
                failed.append(f"{connection.integration.name}: {exc.message}")
        self.message_user(request, f"{done} connection(s) revoked.", messages.SUCCESS)
        if failed:
            self.message_user(request, "Not revoked: " + "; ".join(failed), messages.ERROR)


@admin.register(OAuthState)
class OAuthStateAdmin(admin.ModelAdmin):
    list_display = ["id", "integration", "tenant", "user", "scope", "expires_at", "used_at", "created_at"]
    list_filter = ["scope", "tenant"]
    search_fields = ["=id", "=integration__id", "integration__name", "tenant__name", "user__email"]
    list_select_related = ["integration", "tenant", "user"]
    exclude = ["code_verifier", "state_hash"]
    readonly_fields = [
        "id",
        "tenant",
        "user",
        "integration",
        "scope",
        "redirect_uri",
        "return_url",
        "client_state",
        "oauth_client_id",
        "expires_at",
        "used_at",
        "created_at",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("code_verifier")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
