"""Django admin for outbound webhooks: subscriptions with their recent deliveries, and the deliveries themselves.

Actions go through webhooks.services (the same rules as the API) and each writes an activity entry. Secrets are
never shown: not the signing secrets, not the values of a subscription's custom headers (masked in the recorded
request headers too), except a new signing secret once, on the page answering the rotation.
"""

from datetime import timedelta

from django.contrib import admin, messages
from django.forms.models import BaseInlineFormSet
from django.utils import timezone

from console.admin_support import (
    CascadeDeleteMixin,
    console_activity,
    excerpt,
    headers_table,
    secret_shown_once,
)
from webhooks import services
from webhooks.delivery import mask_headers
from webhooks.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Webhook,
    WebhookEvent,
    WebhookRecovery,
    WebhookStatus,
)

RECENT_DELIVERIES = 20


class RecentDeliveriesFormSet(BaseInlineFormSet):
    def get_queryset(self):
        return super().get_queryset().select_related("last_attempt").order_by("-created_at")[:RECENT_DELIVERIES]


class RecentDeliveryInline(admin.TabularInline):
    model = Delivery
    formset = RecentDeliveriesFormSet
    fk_name = "webhook"
    verbose_name_plural = f"recent deliveries (last {RECENT_DELIVERIES})"
    fields = (
        "event_type",
        "status",
        "attempt_count",
        "last_response_status",
        "last_error",
        "created_at",
        "completed_at",
    )
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True


def _console(action: str, **details) -> dict:
    """What a console action adds to the activity entry the service writes (one entry per change)."""
    return {"source": "console", "action": action, **details}


def _webhook_activity(request, webhook, action: str, message: str, **details) -> None:
    console_activity(
        request,
        integration=webhook.integration,
        tenant_id=webhook.tenant_id,
        type="webhook",
        message=message,
        details={"action": action, "webhookId": str(webhook.pk), **details},
    )


@admin.register(Webhook)
class WebhookAdmin(CascadeDeleteMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "tenant",
        "url",
        "status",
        "circuit_state",
        "success_count",
        "failure_count",
        "last_success_at",
    )
    list_filter = ("status", "circuit_state", "tenant")
    search_fields = ("=id", "name", "url", "tenant__name", "tenant__slug")
    list_select_related = ("tenant",)
    raw_id_fields = ("tenant", "integration", "created_by")
    # Custom header values are the tenant's secrets (an API key for its receiver, say): only their names show.
    # What a subscription sends where is the tenant's to change (through the API, which validates the URL).
    exclude = ("headers",)
    readonly_fields = (
        "id",
        "tenant",
        "integration",
        "url",
        "events",
        "custom_headers",
        "status",
        "retry_attempts",
        "timeout_ms",
        "created_by",
        "success_count",
        "failure_count",
        "last_success_at",
        "last_failure_at",
        "consecutive_failures",
        "failing_since",
        "disabled_at",
        "disabled_reason",
        "signature_scheme",  # chosen at creation: its keys are made by webhooks.services
        "rate_limit",  # the tenant's throttle, validated by the API
        # flow control (webhooks.flow), kept by the delivery engine
        "circuit_state",
        "circuit_failures",
        "circuit_opened_at",
        "paused_until",
        "window_started_at",
        "window_attempts",
        "window_failures",
        "created_at",
        "updated_at",
    )
    inlines = [RecentDeliveryInline]
    actions = ["retry_failed", "disable", "enable", "rotate_secret"]

    def has_add_permission(self, request) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            _webhook_activity(request, obj, "edit", "Console: subscription edited.", changedFields=form.changed_data)

    def delete_model(self, request, obj):
        """Through the service, with the console's activity entry."""
        services.webhook_delete(webhook=obj, actor=request.user, activity=_console("delete"))

    def delete_queryset(self, request, queryset):
        for webhook in queryset.select_related("integration"):
            self.delete_model(request, webhook)

    @admin.display(description="Custom headers")
    def custom_headers(self, obj) -> str:
        return headers_table(mask_headers(obj.headers), testid="custom-headers")

    @admin.action(description="Retry failed deliveries of the last 7 days")
    def retry_failed(self, request, queryset):
        now = timezone.now()
        total = 0
        for webhook in queryset.select_related("integration"):
            ids = services.webhook_replay(
                webhook=webhook,
                since=now - timedelta(days=7),
                until=now,
                actor=request.user,
                activity=_console("replay_failed"),
            )
            total += len(ids)
        self.message_user(request, f"{total} deliveries queued again.", messages.SUCCESS)

    @admin.action(description="Disable")
    def disable(self, request, queryset):
        count = 0
        for webhook in queryset.select_related("integration"):
            if services.webhook_disable(webhook=webhook, reason="Disabled by an administrator."):
                count += 1
                _webhook_activity(request, webhook, "disable", "Console: subscription disabled.")
        self.message_user(request, f"{count} subscriptions disabled.", messages.SUCCESS)

    @admin.action(description="Enable (and send the deliveries that waited)")
    def enable(self, request, queryset):
        count = 0
        for webhook in queryset.select_related("integration").exclude(status=WebhookStatus.ACTIVE):
            services.webhook_update(
                webhook=webhook, data={"status": WebhookStatus.ACTIVE}, actor=request.user, activity=_console("enable")
            )
            count += 1
        self.message_user(request, f"{count} subscriptions enabled.", messages.SUCCESS)

    @admin.action(description="Rotate the signing secret (the new one is shown once)")
    def rotate_secret(self, request, queryset):
        shown = []
        for webhook in queryset.select_related("integration"):
            secret = services.webhook_rotate_secret(
                webhook=webhook, actor=request.user, activity=_console("rotate_secret")
            )
            if secret is None:  # v1a: a new ed25519 key pair; the private key is never shown
                self.message_user(
                    request, f"New key pair of {webhook.name} (the old one signs for the overlap).", messages.SUCCESS
                )
                continue
            shown.append((f"{webhook.name} ({webhook.url})", secret))
        if not shown:
            return None
        return secret_shown_once(
            request,
            title="New signing secrets",
            secrets=shown,
            note="The previous secret keeps signing beside the new one during the overlap period.",
            admin_site=self.admin_site,
        )


class AttemptDisplay:
    """The columns an attempt shows, on the delivery's page and its own: request headers masked, the response's
    first bytes."""

    @admin.display(description="Request headers")
    def request_headers_masked(self, obj) -> str:
        return headers_table(mask_headers(obj.request_headers), testid="request-headers")

    @admin.display(description="Response (excerpt)")
    def response_excerpt(self, obj) -> str:
        return excerpt(obj.response_body, truncated=obj.response_truncated, testid="response-excerpt")


class AttemptInline(AttemptDisplay, admin.StackedInline):
    model = DeliveryAttempt
    fk_name = "delivery"
    fields = (
        ("attempt_number", "outcome", "response_status", "duration_ms", "created_at"),
        "url",
        "error",
        "request_headers_masked",
        "response_excerpt",
    )
    readonly_fields = (
        "attempt_number",
        "outcome",
        "response_status",
        "duration_ms",
        "created_at",
        "url",
        "error",
        "request_headers_masked",
        "response_excerpt",
    )
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("attempt_number",)
    classes = ("attempts",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("delivery__webhook")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "event_type",
        "webhook",
        "tenant",
        "status",
        "attempt_count",
        "last_response_status",
        "created_at",
    )
    list_filter = ("status", "tenant", "event_type", "created_at")
    search_fields = ("=id", "=event__id", "event_type", "webhook__name", "webhook__url")
    list_select_related = ("webhook", "tenant")
    raw_id_fields = ("tenant", "webhook", "event", "last_attempt")
    readonly_fields = [f.name for f in Delivery._meta.concrete_fields if f.name not in ("claim_token",)]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("id", "status"),
                    ("tenant", "webhook"),
                    ("event", "event_type"),
                    ("attempt_count", "round_attempts", "duration_ms"),
                    ("last_response_status", "created_at", "completed_at"),
                    "last_error",
                )
            },
        ),
        ("Worker state", {"classes": ("collapse",), "fields": ("next_attempt_at", "locked_until", "last_attempt")}),
    )
    inlines = [AttemptInline]
    actions = ["retry"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a delivery changes through its actions only

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the delivery log; it goes with its subscription

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        # The dashboard's "failing endpoints" link to one subscription's failed deliveries.
        return lookup in ("webhook__id__exact", "event__id__exact") or super().lookup_allowed(lookup, value, request)

    @admin.action(description="Retry / replay now (a new attempt, same webhook-id)", permissions=["view"])
    def retry(self, request, queryset):
        count = 0
        for delivery in queryset.select_related("webhook__integration").exclude(status=DeliveryStatus.PENDING):
            services.delivery_retry(
                webhook=delivery.webhook,
                delivery_id=delivery.pk,
                actor=request.user,
                activity=_console("delivery_retry", previousStatus=delivery.status),
            )
            count += 1
        self.message_user(request, f"{count} deliveries queued again.", messages.SUCCESS)


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(AttemptDisplay, admin.ModelAdmin):
    list_display = ("delivery", "tenant", "attempt_number", "outcome", "response_status", "duration_ms", "created_at")
    list_filter = ("outcome", ("delivery__tenant", admin.RelatedFieldListFilter))
    search_fields = ("=delivery__id", "delivery__event_type", "url")
    list_select_related = ("delivery__tenant",)
    raw_id_fields = ("delivery",)
    fields = (
        "id",
        "delivery",
        "attempt_number",
        "outcome",
        "url",
        "request_headers_masked",
        "response_status",
        "response_excerpt",
        "error",
        "duration_ms",
        "created_at",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("delivery__webhook", "delivery__tenant")

    @admin.display(description="Tenant", ordering="delivery__tenant__name")
    def tenant(self, obj):
        return obj.delivery.tenant

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class EventDeliveryInline(admin.TabularInline):
    model = Delivery
    fk_name = "event"
    verbose_name_plural = "deliveries of this event"
    fields = ("webhook", "status", "attempt_count", "last_response_status", "last_error", "completed_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("webhook")


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("id", "event", "tenant", "created_at")
    list_filter = ("event", "tenant")
    search_fields = ("=id", "event", "idempotency_key")
    list_select_related = ("tenant",)
    raw_id_fields = ("tenant",)
    readonly_fields = [f.name for f in WebhookEvent._meta.concrete_fields]
    inlines = [EventDeliveryInline]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookRecovery)
class WebhookRecoveryAdmin(admin.ModelAdmin):
    """Recovery jobs (started through the API): read-only, to follow them."""

    list_display = ("id", "webhook", "tenant", "status", "total", "done", "since", "until", "created_at")
    list_filter = ("status", "tenant")
    search_fields = ("=id", "webhook__name")
    list_select_related = ("webhook", "tenant")
    raw_id_fields = ("tenant", "webhook", "created_by")
    readonly_fields = [f.name for f in WebhookRecovery._meta.concrete_fields]

    def has_add_permission(self, request):
        return False
