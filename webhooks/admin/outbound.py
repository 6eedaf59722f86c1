"""Django admin for outbound webhooks: subscriptions with their recent deliveries, and the deliveries themselves.

Actions go through webhooks.services (the same rules as the API). Secrets are never shown, except the new one
once, in the message after a rotation.
"""

from datetime import timedelta

from django.contrib import admin, messages
from django.forms.models import BaseInlineFormSet
from django.utils import timezone

from webhooks import services
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


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "url", "status", "success_count", "failure_count", "last_success_at")
    list_filter = ("status",)
    search_fields = ("name", "url", "tenant__name", "tenant__slug")
    list_select_related = ("tenant",)
    raw_id_fields = ("tenant", "integration", "created_by")
    readonly_fields = (
        "success_count",
        "failure_count",
        "last_success_at",
        "last_failure_at",
        "consecutive_failures",
        "failing_since",
        "disabled_at",
        "disabled_reason",
        "signature_scheme",  # chosen at creation: its keys are made by webhooks.services
        "created_at",
        "updated_at",
    )
    inlines = [RecentDeliveryInline]
    actions = ["retry_failed", "disable", "enable", "rotate_secret"]

    @admin.action(description="Retry failed deliveries of the last 7 days")
    def retry_failed(self, request, queryset):
        now = timezone.now()
        total = 0
        for webhook in queryset:
            total += len(services.webhook_replay(webhook=webhook, since=now - timedelta(days=7), until=now))
        self.message_user(request, f"{total} deliveries queued again.", messages.SUCCESS)

    @admin.action(description="Disable")
    def disable(self, request, queryset):
        count = sum(services.webhook_disable(webhook=w, reason="Disabled by an administrator.") for w in queryset)
        self.message_user(request, f"{count} subscriptions disabled.", messages.SUCCESS)

    @admin.action(description="Enable (and send the deliveries that waited)")
    def enable(self, request, queryset):
        count = 0
        for webhook in queryset.exclude(status=WebhookStatus.ACTIVE):
            services.webhook_update(webhook=webhook, data={"status": WebhookStatus.ACTIVE})
            count += 1
        self.message_user(request, f"{count} subscriptions enabled.", messages.SUCCESS)

    @admin.action(description="Rotate the signing secret")
    def rotate_secret(self, request, queryset):
        for webhook in queryset:
            secret = services.webhook_rotate_secret(webhook=webhook)
            if secret is None:  # v1a: a new ed25519 key pair; the private key is never shown
                self.message_user(
                    request, f"New key pair of {webhook.name} (the old one signs for the overlap).", messages.SUCCESS
                )
                continue
            self.message_user(
                request,
                f"New secret of {webhook.name} (shown once; the old one signs for the overlap period): {secret}",
                messages.WARNING,
            )


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fk_name = "delivery"
    fields = ("attempt_number", "outcome", "response_status", "error", "duration_ms", "created_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    ordering = ("attempt_number",)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "event_type", "webhook", "status", "attempt_count", "last_response_status", "created_at")
    list_filter = ("status", "event_type")
    search_fields = ("id", "event__id", "webhook__name")
    list_select_related = ("webhook",)
    raw_id_fields = ("tenant", "webhook", "event", "last_attempt")
    readonly_fields = [f.name for f in Delivery._meta.concrete_fields]
    inlines = [AttemptInline]
    actions = ["retry"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    @admin.action(description="Retry now")
    def retry(self, request, queryset):
        count = 0
        for delivery in queryset.select_related("webhook").exclude(status=DeliveryStatus.PENDING):
            services.delivery_retry(webhook=delivery.webhook, delivery_id=delivery.pk)
            count += 1
        self.message_user(request, f"{count} deliveries queued again.", messages.SUCCESS)


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(admin.ModelAdmin):
    list_display = ("delivery", "attempt_number", "outcome", "response_status", "duration_ms", "created_at")
    list_filter = ("outcome",)
    raw_id_fields = ("delivery",)
    readonly_fields = [f.name for f in DeliveryAttempt._meta.concrete_fields]

    def has_add_permission(self, request):
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("id", "event", "tenant", "created_at")
    list_filter = ("event",)
    search_fields = ("id", "idempotency_key")
    raw_id_fields = ("tenant",)
    readonly_fields = [f.name for f in WebhookEvent._meta.concrete_fields]

    def has_add_permission(self, request):
        return False


@admin.register(WebhookRecovery)
class WebhookRecoveryAdmin(admin.ModelAdmin):
    """Recovery jobs (started through the API): read-only, to follow them."""

    list_display = ("id", "webhook", "status", "total", "done", "since", "until", "created_at")
    list_filter = ("status",)
    list_select_related = ("webhook",)
    raw_id_fields = ("tenant", "webhook", "created_by")
    readonly_fields = [f.name for f in WebhookRecovery._meta.concrete_fields]

    def has_add_permission(self, request):
        return False
