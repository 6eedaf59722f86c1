"""Inbound webhooks: each endpoint's URL to copy, its recent events with their processing status, and replay."""

from django.conf import settings
from django.contrib import messages
from django.db.models import Prefetch
from django.shortcuts import redirect
from django.urls import reverse

from accounts.models import Permission
from config.errors import DomainError, NotFound
from portal.web import portal_page, render_page
from webhooks import inbound as inbound_services
from webhooks.models import InboundEndpoint, InboundEvent

EVENTS_SHOWN = 20


def _endpoints(tenant):
    return InboundEndpoint.objects.filter(tenant=tenant).select_related("integration").order_by("name", "pk")


@portal_page()
def inbound_list(request):
    recent = InboundEvent.objects.defer("body", "headers").order_by("-received_at", "-pk")[:EVENTS_SHOWN]
    endpoints = list(_endpoints(request.tenant).prefetch_related(Prefetch("events", recent, to_attr="recent_events")))
    for endpoint in endpoints:
        endpoint.public_url = settings.PUBLIC_BASE_URL + reverse(
            "inbound-webhook-receive", kwargs={"path": endpoint.path}
        )
    return render_page(request, "portal/inbound.html", {"endpoints": endpoints, "nav": "inbound"})


@portal_page(Permission.UPDATE, methods=("POST",))
def inbound_replay(request, endpoint_id, event_id):
    endpoint = _endpoints(request.tenant).filter(pk=endpoint_id).first()
    event = InboundEvent.objects.filter(endpoint=endpoint, pk=event_id).first() if endpoint else None
    if event is None:
        raise NotFound("inbound_event")
    try:
        inbound_services.inbound_event_replay(event=event, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The event will be processed again.")
    return redirect("portal:inbound")
