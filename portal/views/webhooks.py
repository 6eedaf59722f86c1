"""Outbound webhooks: subscriptions (create, edit, delete), the secret shown once, test sends, deliveries with their
attempts, retry, and replay of a time window with a dry-run count first."""

from dataclasses import dataclass
from datetime import timedelta
from itertools import groupby

from django.contrib import messages
from django.shortcuts import redirect
from django.utils import timezone

from accounts.models import Permission
from config.errors import Conflict, DomainError, ValidationFailed
from integrations.selectors import parse_instant
from portal.presenters import excerpt, masked_headers, pretty_json
from portal.web import forbidden, pop_secret, portal_page, render_page, stash_secret
from webhooks import event_types, selectors, services
from webhooks.models import DeliveryAttempt, DeliveryStatus, WebhookStatus
from webhooks.serializers import WebhookUpdateSerializer, WebhookWriteSerializer

DELIVERIES_SHOWN = 50


@dataclass(frozen=True)
class EventGroup:
    name: str
    events: list
    wildcard: str  # "<group>.*" when it selects exactly this group's events, else ""


def _event_groups() -> list[EventGroup]:
    """The picker's choices: the event types the API's catalog lists (built-in and custom, one query), by group."""
    groups = []
    for name, rows in groupby(event_types.event_type_list(), key=lambda row: row.group):
        rows = list(rows)
        same_prefix = all(row.name.split(".", 1)[0] == name for row in rows)
        groups.append(EventGroup(name=name, events=rows, wildcard=f"{name}.*" if same_prefix else ""))
    return groups


def _form_data(post) -> dict:
    return {
        "name": (post.get("name") or "").strip(),
        "url": (post.get("url") or "").strip(),
        "events": [e for e in post.getlist("events") if e],
    }


def _validated(serializer_class, data: dict) -> dict:
    """The form's values through the API's own input serializer (lengths, shapes), so both take the same input."""
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        field, problems = next(iter(serializer.errors.items()))
        problem = problems[0] if isinstance(problems, list) else problems
        raise ValidationFailed(f"{field}: {problem}", details=serializer.errors)
    return dict(serializer.validated_data)


def _list_context(request, **extra):
    webhooks = list(selectors.webhook_list(tenant=request.tenant).order_by("-created_at", "-id"))
    return {"webhooks": webhooks, "event_groups": _event_groups(), "form": {}, "nav": "webhooks", **extra}


@portal_page(Permission.READ, methods=("GET", "POST"))
def webhook_list(request):
    if request.method == "GET":
        return render_page(request, "portal/webhooks.html", _list_context(request))
    if Permission.CREATE not in request.membership.permissions:
        return forbidden(request)
    data = _form_data(request.POST)
    try:
        webhook, secret = services.webhook_create(
            tenant=request.tenant, actor=request.user, **_validated(WebhookWriteSerializer, data)
        )
    except DomainError as exc:
        context = _list_context(request, form=data, error=exc.message, errors=exc.details)
        return render_page(request, "portal/webhooks.html", context, status=400)
    if secret is not None:  # v1a: an ed25519 key pair, nothing secret to show (its public key is on the page)
        stash_secret(request, webhook_id=webhook.pk, secret=secret)
    messages.success(request, f"Subscription {webhook.name} created.")
    return redirect("portal:webhook", webhook_id=webhook.pk)


def _detail_context(request, webhook, **extra):
    status_filter = request.GET.get("status", "")
    error = ""
    try:
        deliveries = list(
            selectors.delivery_list(webhook=webhook, filters={"status": status_filter})[:DELIVERIES_SHOWN]
        )
    except ValidationFailed as exc:
        deliveries, error = [], exc.message
    return {
        "webhook": webhook,
        "deliveries": deliveries,
        "stats": selectors.webhook_stats(webhook=webhook),
        "activity": list(selectors.webhook_activity(webhook=webhook)),
        "public_keys": selectors.webhook_public_keys(webhook=webhook),
        "event_groups": _event_groups(),
        "status_filter": status_filter,
        "delivery_statuses": DeliveryStatus.values,
        "webhook_statuses": [WebhookStatus.ACTIVE, WebhookStatus.INACTIVE],
        "filter_error": error,
        "replay": {"since": "", "until": "", "status": DeliveryStatus.FAILED},
        "nav": "webhooks",
        **extra,
    }


@portal_page()
def webhook_detail(request, webhook_id):
    webhook = selectors.webhook_get(tenant=request.tenant, webhook_id=webhook_id)
    if request.htmx and request.GET.get("part") == "deliveries":
        return render_page(request, "portal/partials/deliveries.html", _detail_context(request, webhook))
    shown = pop_secret(request, webhook_id=webhook.pk)
    extra = {"secret": shown[0], "rotated": shown[1]} if shown else {}
    return render_page(request, "portal/webhook.html", _detail_context(request, webhook, **extra))


@portal_page(Permission.UPDATE, methods=("POST",))
def webhook_edit(request, webhook_id):
    webhook = selectors.webhook_get(tenant=request.tenant, webhook_id=webhook_id)
    data = _form_data(request.POST)
    if request.POST.get("status"):
        data["status"] = request.POST["status"]
    try:
        services.webhook_update(webhook=webhook, data=_validated(WebhookUpdateSerializer, data), actor=request.user)
    except DomainError as exc:
        context = _detail_context(request, webhook, edit_error=exc.message, edit_form=data)
        return render_page(request, "portal/webhook.html", context, status=400)
    messages.success(request, "Subscription saved.")
    return redirect("portal:webhook", webhook_id=webhook.pk)


@portal_page(Permission.DELETE, methods=("POST",))
def webhook_delete(request, webhook_id):
    webhook = selectors.webhook_get(tenant=request.tenant, webhook_id=webhook_id)
    services.webhook_delete(webhook=webhook, actor=request.user)
    messages.success(request, f"Subscription {webhook.name} deleted.")
    return redirect("portal:webhooks")


@portal_page(Permission.UPDATE, methods=("POST",))
def webhook_rotate_secret(request, webhook_id):
    webhook = selectors.webhook_get(tenant=request.tenant, webhook_id=webhook_id)
    secret = services.webhook_rotate_secret(webhook=webhook, actor=request.user)
    if secret is None:  # v1a: a new key pair; the private key is never shown, receivers take the new public key
        messages.success(request, "New signing key pair: add its public key below; the previous one signs meanwhile.")
    else:
        stash_secret(request, webhook_id=webhook.pk, secret=secret, rotated=True)
    return redirect("portal:webhook", webhook_id=webhook.pk)


@portal_page(Permission.CREATE, methods=("POST",))
def webhook_send_test(request, webhook_id):
    webhook = selectors.webhook_get(tenant=request.tenant, webhook_id=webhook_id)
    result = services.webhook_test(webhook=webhook, actor=request.user)
    text = "Test delivered" if result["success"] else f"Test failed: {result['message']}"
    if result.get("response_status"):
        text += f" (HTTP {result['response_status']})"
    (messages.success if result["success"] else messages.error)(request, text + ".")
    return redirect("portal:webhook", webhook_id=webhook.pk)


@portal_page(Permission.UPDATE, methods=("POST",))
def webhook_replay(request, webhook_id):
    """Two steps: `dry_run` answers how many deliveries the window holds; `confirm` re-sends them."""
    webhook = selectors.webhook_get(tenant=request.tenant, webhook_id=webhook_id)
    form = {
        "since": request.POST.get("since", ""),
        "until": request.POST.get("until", ""),
        "status": request.POST.get("status") or DeliveryStatus.FAILED,
    }
    try:
        since = parse_instant("since", form["since"]) or timezone.now() - timedelta(days=1)
        until = parse_instant("until", form["until"], end_of_day=True)
        if request.POST.get("confirm"):
            ids = services.webhook_replay(
                webhook=webhook, since=since, until=until, status=form["status"], actor=request.user
            )
            messages.success(request, f"{len(ids)} deliveries queued again." if ids else "No delivery matched.")
            return redirect("portal:webhook", webhook_id=webhook.pk)
        count = selectors.delivery_replay_count(webhook=webhook, since=since, until=until, status=form["status"])
    except DomainError as exc:
        context = _detail_context(request, webhook, replay=form, replay_error=exc.message)
        return render_page(request, "portal/webhook.html", context, status=400)
    context = _detail_context(request, webhook, replay=form, replay_count=count)
    return render_page(request, "portal/webhook.html", context)


@portal_page()
def delivery_detail(request, webhook_id, delivery_id):
    webhook = selectors.webhook_get(tenant=request.tenant, webhook_id=webhook_id)
    delivery = selectors.delivery_get(webhook=webhook, delivery_id=delivery_id)
    attempts = [
        {
            "attempt": attempt,
            "headers": masked_headers(attempt.request_headers),
            "response": excerpt(attempt.response_body),
        }
        for attempt in DeliveryAttempt.objects.filter(delivery=delivery).order_by("-attempt_number", "-created_at")
    ]
    context = {
        "webhook": webhook,
        "delivery": delivery,
        "attempts": attempts,
        "body": pretty_json(delivery.event.body),
        "nav": "webhooks",
    }
    return render_page(request, "portal/delivery.html", context)


@portal_page(Permission.UPDATE, methods=("POST",))
def delivery_retry(request, webhook_id, delivery_id):
    webhook = selectors.webhook_get(tenant=request.tenant, webhook_id=webhook_id)
    try:
        services.delivery_retry(webhook=webhook, delivery_id=delivery_id, actor=request.user)
    except Conflict as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Delivery queued again.")
    return redirect("portal:delivery", webhook_id=webhook.pk, delivery_id=delivery_id)
