"""What a received event means: one handler per provider (registry keyed by the provider key), a default for the rest.

A handler reads the stored raw event, names the provider's event type and announces it to the platform as
`integration.event_received` (delivered to outbound subscribers) with the provider's type inside:

    {integrationId, provider, providerEventType, providerEventId, inboundEventId, data}

Handlers run inside the processing transaction (webhooks.inbound.inbound_event_process): whatever they emit is
committed together with the event's `processed` status. A handler raises TransientProcessingError for a failure
worth retrying; any other exception fails the event (it stays replayable).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs

from integrations import events
from webhooks.inbound_signatures import BODY_HASH_PREFIX

EVENT_RECEIVED = "integration.event_received"
_FORM = "application/x-www-form-urlencoded"


@dataclass
class InboundContext:
    """A stored event with lazy views of its body: JSON, form fields, text."""

    event: Any  # webhooks.models.InboundEvent, with endpoint__integration__provider loaded

    @property
    def integration(self):
        return self.event.endpoint.integration

    @property
    def provider_key(self) -> str:
        return self.integration.provider.key

    @cached_property
    def body(self) -> bytes:
        return bytes(self.event.body)

    @cached_property
    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON (or not UTF-8)."""
        try:
            return json.loads(self.body) if self.body.strip() else None
        except ValueError:
            return None

    @cached_property
    def form(self) -> dict[str, str]:
        """Form fields (first value of each) for a form-encoded body, else {}."""
        if not self.event.content_type.lower().startswith(_FORM):
            return {}
        try:
            parsed = parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return {}
        return {name: values[0] for name, values in parsed.items()}

    def header(self, name: str) -> str:
        lowered = name.lower()
        for key, value in (self.event.headers or {}).items():
            if key.lower() == lowered:
                return str(value)
        return ""

    @property
    def payload(self) -> Any:
        """The body as data for subscribers: JSON, else form fields, else the text (invalid UTF-8 replaced)."""
        if self.json is not None:
            return self.json
        if self.form:
            return self.form
        return {"raw": self.body.decode("utf-8", errors="replace")} if self.body else {}


@dataclass
class HandlerResult:
    event_type: str | None = None
    emitted: list[str] = field(default_factory=list)


Handler = Callable[[InboundContext], HandlerResult]
HANDLERS: dict[str, Handler] = {}


def register(*provider_keys: str) -> Callable[[Handler], Handler]:
    def decorator(fn: Handler) -> Handler:
        for key in provider_keys:
            HANDLERS[key] = fn
        return fn

    return decorator


def handler_for(provider_key: str) -> Handler:
    return HANDLERS.get(provider_key, default_handler)


def dispatch(event) -> HandlerResult:
    context = InboundContext(event)
    return handler_for(context.provider_key)(context)


def announce(
    context: InboundContext, event_type: str | None, data: Any, *, provider_event_id: str | None = None
) -> HandlerResult:
    """Emit `integration.event_received` for this event (outbound webhooks deliver it after commit).

    `providerEventId` is the provider's id of the event: the deduplication key unless that is our hash of the body
    (a provider that names no id in what it signs), or what the handler read elsewhere (GitHub's delivery header).
    """
    integration = context.integration
    if provider_event_id is None:
        key = context.event.provider_event_id
        provider_event_id = None if not key or key.startswith(BODY_HASH_PREFIX) else key
    events.emit(
        integration.tenant,
        EVENT_RECEIVED,
        {
            "integrationId": str(integration.id),
            "provider": context.provider_key,
            "providerEventType": event_type,
            "providerEventId": provider_event_id,
            "inboundEventId": str(context.event.id),
            "data": data,
        },
    )
    return HandlerResult(event_type=event_type, emitted=[EVENT_RECEIVED])


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# --- Default ------------------------------------------------------------------------------------------------------
def guess_event_type(context: InboundContext) -> str | None:
    """A common field naming the event (`type`, `event`, `event_type`, `eventType`), or a common header."""
    data = context.json
    if isinstance(data, dict):
        for key in ("type", "event", "event_type", "eventType"):
            if _str(data.get(key)):
                return data[key]
    for header in ("X-Webhook-Event", "X-Event-Type"):
        if context.header(header):
            return context.header(header)
    return _str(context.form.get("event")) or _str(context.form.get("type"))


def default_handler(context: InboundContext) -> HandlerResult:
    """Any provider without its own handler: record the event's type and pass its body on as it came."""
    return announce(context, guess_event_type(context), context.payload)


# --- Providers ----------------------------------------------------------------------------------------------------
@register("stripe")
def stripe_handler(context: InboundContext) -> HandlerResult:
    """Stripe event objects `{id, type: "invoice.paid", data: {object, previous_attributes?}, ...}`: the platform
    event carries Stripe's `data` as it came (the invoice under `data.object`)."""
    body = context.json if isinstance(context.json, dict) else {}
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    return announce(context, _str(body.get("type")), data)


@register("github")
def github_handler(context: InboundContext) -> HandlerResult:
    """`X-GitHub-Event: pull_request` + body `action: opened` -> `pull_request.opened`; `ping` stays `ping`."""
    name = context.header("X-GitHub-Event") or None
    data = context.json if isinstance(context.json, dict) else context.payload
    if not isinstance(context.json, dict) and context.form.get("payload"):  # content type x-www-form-urlencoded
        with contextlib.suppress(ValueError):
            data = json.loads(context.form["payload"])
    action = _str(data.get("action")) if isinstance(data, dict) else None
    event_type = f"{name}.{action}" if name and action else name
    return announce(context, event_type, data, provider_event_id=context.header("X-GitHub-Delivery") or None)


@register("slack")
def slack_handler(context: InboundContext) -> HandlerResult:
    """Events API (`event_callback` -> the inner event's type, e.g. `message`, `app_mention`), slash commands
    (form `command=/deploy` -> `slash_command`), interactivity (form `payload={"type": "block_actions"}`)."""
    data = context.json
    if isinstance(data, dict):
        if data.get("type") == "event_callback" and isinstance(data.get("event"), dict):
            inner = data["event"]
            event_type = _str(inner.get("type"))
            if event_type and _str(inner.get("subtype")):
                event_type = f"{event_type}.{inner['subtype']}"
            return announce(context, event_type, data)
        return announce(context, _str(data.get("type")), data)
    form = context.form
    if form.get("payload"):
        try:
            payload = json.loads(form["payload"])
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            kind = _str(payload.get("type"))
            return announce(context, f"interactive.{kind}" if kind else "interactive", payload)
    if form.get("command"):
        return announce(context, "slash_command", form)
    return announce(context, guess_event_type(context), context.payload)


@register("twilio")
def twilio_handler(context: InboundContext) -> HandlerResult:
    """Form callbacks: a message status (`MessageStatus=delivered` -> `message.delivered`), an incoming message
    (`SmsStatus=received` with a `Body` -> `message.received`), a call status (`CallStatus=completed` ->
    `call.completed`). JSON bodies (Event Streams) carry `type`."""
    form = context.form
    if form:
        status = form.get("MessageStatus") or form.get("SmsStatus")
        if form.get("CallSid") and form.get("CallStatus"):
            event_type = f"call.{form['CallStatus']}"
        elif status:
            event_type = f"message.{status}"
        else:
            event_type = None
        return announce(context, event_type, form)
    return default_handler(context)
