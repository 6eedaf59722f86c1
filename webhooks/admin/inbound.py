"""Django admin for inbound webhooks: endpoints (secrets never shown) and received events (raw body, replay)."""

from django.contrib import admin, messages
from django.utils.html import format_html

from webhooks import inbound as services
from webhooks.models.inbound import InboundEndpoint, InboundEvent

RAW_BODY_PREVIEW = 256 * 1024


@admin.register(InboundEndpoint)
class InboundEndpointAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "integration", "signature_scheme", "active", "verify_signature", "created_at")
    list_filter = ("active", "verify_signature", "signature_scheme")
    search_fields = ("name", "path", "tenant__name", "integration__name")
    list_select_related = ("tenant", "integration")
    raw_id_fields = ("tenant", "integration")
    # Secrets are neither shown nor edited here: rotate through the API (the new one is shown once).
    exclude = ("secret", "previous_secret")
    readonly_fields = ("id", "previous_secret_expires_at", "created_at", "updated_at")
    actions = ("rotate_secret",)

    @admin.action(description="Rotate the secret (the old one verifies during the grace period)")
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            services.inbound_endpoint_rotate_secret(endpoint=endpoint)
        self.message_user(
            request,
            f"Rotated {queryset.count()} secret(s). The new secrets are not shown here: use the API's rotate-secret "
            "to obtain one.",
            messages.WARNING,
        )


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = ("id", "endpoint", "event_type", "provider_event_id", "status", "attempts", "received_at")
    list_filter = ("status", "received_at")
    search_fields = ("=id", "=provider_event_id", "event_type", "endpoint__name", "endpoint__path")
    list_select_related = ("endpoint",)
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
        "headers",
        "raw_body",
    )
    exclude = ("body",)
    actions = ("replay",)
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

    @admin.display(description="Raw body")
    def raw_body(self, obj) -> str:
        raw = bytes(obj.body or b"")
        text = raw[:RAW_BODY_PREVIEW].decode("utf-8", errors="replace")
        note = f" (first {RAW_BODY_PREVIEW} of {len(raw)} bytes)" if len(raw) > RAW_BODY_PREVIEW else ""
        return format_html(
            '<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}</pre>{}', text, note
        )

    @admin.action(description="Replay: process the selected events again")
    def replay(self, request, queryset):
        count = 0
        for event in queryset.defer("body"):
            services.inbound_event_replay(event=event)
            count += 1
        self.message_user(request, f"{count} event(s) queued for processing.", messages.SUCCESS)
