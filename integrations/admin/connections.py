"""Django admin for connections and OAuth states: the cross-tenant view of who is connected, never a secret."""

from django.contrib import admin

from integrations.models import Connection, OAuthState


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
    list_filter = ["status", "auth_type"]
    search_fields = ["id", "integration__name", "tenant__slug", "user__email"]
    list_select_related = ["integration", "tenant", "user"]
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


@admin.register(OAuthState)
class OAuthStateAdmin(admin.ModelAdmin):
    list_display = ["id", "integration", "tenant", "user", "scope", "expires_at", "used_at", "created_at"]
    list_filter = ["scope"]
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
