"""Django admin for inbound webhooks: endpoints (secrets never shown) and received events (raw body, replay)."""

from django.contrib import admin, messages
from django.utils.html import format_html

from console.admin_support import CascadeDeleteMixin, console_activity, headers_table, secret_shown_once
from webhooks import inbound as services
from webhooks.delivery import mask_headers
from webhooks.models.inbound import InboundEndpoint, InboundEvent

RAW_BODY_PREVIEW = 256 * 1024


@admin.register(InboundEndpoint)
class InboundEndpointAdmin(CascadeDeleteMixin, admin.ModelAdmin):
    list_display = ("name", "tenant", "integration", "signature_scheme", "active", "verify_signature", "created_at")
    list_filter = ("active", "verify_signature", "signature_scheme", "tenant")
    search_fields = ("=id", "name", "path", "tenant__name", "integration__name")
    list_select_related = ("tenant", "integration")
    raw_id_fields = ("tenant", "integration")
    # Secrets are neither shown nor edited here: rotate through the API (the new one is shown once).
    exclude = ("secret", "previous_secret")
    readonly_fields = ("id", "previous_secret_expires_at", "created_at", "updated_at")
    actions = ("rotate_secret",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            console_activity(
                request,
                integration=obj.integration,
                type="webhook",
                message=f"Console: inbound endpoint {obj.name} edited.",
                details={"action": "inbound_edit", "endpointId": str(obj.pk), "changedFields": form.changed_data},
            )

    def delete_model(self, request, obj):
        console_activity(
            request,
            integration=obj.integration,
            type="webhook",
            message=f"Console: inbound endpoint {obj.name} deleted.",
            details={"action": "inbound_delete", "endpointId": str(obj.pk)},
        )
        services.inbound_endpoint_delete(endpoint=obj)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset.select_related("integration"):
            self.delete_model(request, endpoint)

    @admin.action(description="Rotate the secret (the new one is shown once; the old one verifies during the grace)")
    def rotate_secret(self, request, queryset):
        shown = []
        for endpoint in queryset.select_related("integration"):
            shown.append(
                (f"{endpoint.name} ({endpoint.path})", services.inbound_endpoint_rotate_secret(endpoint=endpoint))
            )
            console_activity(
                request,
                integration=endpoint.integration,
                type="webhook",
                message=f"Console: inbound endpoint {endpoint.name} secret rotated.",
                details={"action": "inbound_rotate_secret", "endpointId": str(endpoint.pk)},
            )
        return secret_shown_once(
            request,
            title="New inbound secrets",
            secrets=shown,
            note="Paste it into the provider's dashboard: the old secret still verifies during the grace period.",
            admin_site=self.admin_site,
        )


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = ("id", "endpoint", "tenant", "event_type", "provider_event_id", "status", "attempts", "received_at")
    list_filter = ("status", "tenant", "received_at")
    search_fields = ("=id", "=provider_event_id", "event_type", "endpoint__name", "endpoint__path")
    list_select_related = ("endpoint", "tenant")
    raw_id_fields = ("tenant", "endpoint")
    readonly_fields = (
        "id",
        "tenant",
        "endpoint",
        "provider_event_id",
        "event_type",
        "status",
        "error",
        "attempts",
        "received_at",
        "processed_at",
        "processing_ms",
        "content_type",
        "source_ip",
        "body_size",
        "request_headers",
        "raw_body",
    )
    exclude = ("body", "headers")
    actions = ("replay", "replay_failed")
    date_hierarchy = "received_at"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        # The change list never loads bodies (up to INBOUND_MAX_BODY_BYTES each).
        return (
            qs.defer("body")
            if request.resolver_match and request.resolver_match.url_name.endswith("changelist")
            else qs
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # received events are the record of what providers sent

    @admin.display(description="Raw body")
    def raw_body(self, obj) -> str:
        raw = bytes(obj.body or b"")
        text = raw[:RAW_BODY_PREVIEW].decode("utf-8", errors="replace")
        note = f" (first {RAW_BODY_PREVIEW} of {len(raw)} bytes)" if len(raw) > RAW_BODY_PREVIEW else ""
        return format_html(
            '<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}</pre>{}', text, note
        )

    @admin.display(description="Request headers")
    def request_headers(self, obj) -> str:
        # The provider's signature header (and anything credential-like) is masked; the rest is as received.
        return headers_table(
            mask_headers(obj.headers, secret_names=[obj.endpoint.effective_signature_header]),
            testid="inbound-headers",
        )

    def _replay(self, request, queryset) -> int:
        count = 0
        for event in queryset.defer("body").select_related("endpoint__integration"):
            services.inbound_event_replay(
                event=event,
                actor=request.user,
                activity={
                    "source": "console",
                    "action": "inbound_replay",
                    "eventId": str(event.pk),
                    "previousStatus": event.status,
                },
            )
            count += 1
        return count

    @admin.action(description="Replay: process the selected events again")
    def replay(self, request, queryset):
        count = self._replay(request, queryset)
        self.message_user(request, f"{count} event(s) queued for processing.", messages.SUCCESS)

    @admin.action(description="Replay the failed ones among the selected events")
    def replay_failed(self, request, queryset):
        count = self._replay(request, queryset.filter(status="failed"))
        self.message_user(request, f"{count} failed event(s) queued for processing.", messages.SUCCESS)
