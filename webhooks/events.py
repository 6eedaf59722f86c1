"""The built-in outbound event catalog: every event the platform defines, with a description, the JSON Schema of its
``data`` and an example payload (valid against the schema).

The recruiting events of the product (application, interview, offer, candidate, job), the platform's own lifecycle
events (integration.*) and the webhook system's operational events (webhook.*). These are the seed of the
``EventType`` table (see ``webhooks.event_types``), where super admins add custom types; ``trigger`` refuses an event
that is not in that table and data that breaks its schema. A subscription lists event names or patterns: ``*``
(everything) or ``<group>.*`` (every event of a group, e.g. ``application.*``).

The built-in schemas type every documented property but require none (except the operational events'
``subscriptionId``): producers may send a subset, and extra properties are allowed, so adding a property later is
not a breaking change. Wrong types are refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CATALOG",
    "CATEGORIES",
    "OPERATIONAL_EVENTS",
    "WEBHOOK_DELIVERY_EXHAUSTED",
    "WEBHOOK_DELIVERY_FAILING",
    "WEBHOOK_DISABLED",
    "WEBHOOK_ENDPOINT_DISABLED",
    "WEBHOOK_ENDPOINT_RECOVERED",
    "WEBHOOK_TEST",
    "EventType",
    "invalid_patterns",
    "is_known_event",
    "is_valid_pattern",
    "matches",
]

WEBHOOK_DISABLED = "webhook.disabled"
WEBHOOK_TEST = "webhook.test"
WEBHOOK_DELIVERY_FAILING = "webhook.delivery.failing"
WEBHOOK_DELIVERY_EXHAUSTED = "webhook.delivery.exhausted"
WEBHOOK_ENDPOINT_DISABLED = "webhook.endpoint.disabled"
WEBHOOK_ENDPOINT_RECOVERED = "webhook.endpoint.recovered"
OPERATIONAL_EVENTS = (
    WEBHOOK_DELIVERY_FAILING,
    WEBHOOK_DELIVERY_EXHAUSTED,
    WEBHOOK_ENDPOINT_DISABLED,
    WEBHOOK_ENDPOINT_RECOVERED,
)

_APP = "7d6f1b1e-3c1a-4a56-9a0e-1f2b3c4d5e6f"
_CAND = "0c9e4f5a-2b7d-4e8c-a1f3-6d5e4c3b2a10"
_JOB = "b3a2c1d0-9e8f-4a7b-8c6d-5e4f3a2b1c0d"
_INTEGRATION = "5f0c8a2e-6b1d-4c3e-9f7a-2d8e1b4c6a90"
_SUBSCRIPTION = "f0e1d2c3-b4a5-4968-8776-655443322110"
_DELIVERY = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
_EVENT = "7f2c1a4e-0b9d-4c55-9b1e-3a2d4c5e6f70"


_S = {"type": "string"}
_STR_OR_NULL = {"type": ["string", "null"]}
_INT = {"type": "integer"}
_NUM = {"type": "number"}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_ID = {"type": "string", "description": "An identifier (a UUID in this platform)."}
_DATE = {"type": "string", "format": "date"}
_TIME = {"type": "string", "format": "date-time"}


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    example: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    version: int = 1

    @property
    def category(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def group(self) -> str:
        return self.category

    @property
    def schema(self) -> dict[str, Any]:
        """The JSON Schema (draft 2020-12) of the event's ``data``."""
        schema: dict[str, Any] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": self.properties,
            "additionalProperties": True,
        }
        if self.required:
            schema["required"] = list(self.required)
        return schema


_APPLICATION = {"applicationId": _ID, "candidateId": _ID, "jobId": _ID}
_INTERVIEW = {"interviewId": _ID, "applicationId": _ID}
_OFFER = {"offerId": _ID, "applicationId": _ID}
_INTEGRATION_PROPS = {
    "integrationId": _ID,
    "name": _S,
    "provider": _S,
    "status": _S,
    "connectionId": _ID,
    "changedFields": _STRINGS,
}
# The operational events' data (what webhooks.services sends): the subscription they are about, then per type
# the message (failing, exhausted), the reason (disabled) or the failure run that ended (recovered).
_ABOUT = {
    "subscriptionId": {**_ID, "description": "The subscription (webhook) this event is about."},
    "name": _S,
    "url": _S,
}
_MESSAGE = {
    **_ABOUT,
    "deliveryId": _ID,
    "eventId": _ID,
    "event": _S,
    "attempts": {**_INT, "description": "Attempts made so far, this one included."},
    "responseStatus": {"type": ["integer", "null"], "description": "The last attempt's HTTP status (null: none)."},
    "error": {**_STR_OR_NULL, "description": "Why the last attempt failed."},
}


_EVENTS = [
    # Seed 001: recruiting events.
    EventType(
        "application.created",
        "A candidate applied to a job.",
        {"applicationId": _APP, "candidateId": _CAND, "jobId": _JOB, "stageId": "applied"},
        properties={**_APPLICATION, "stageId": _S},
    ),
    EventType(
        "application.stage_changed",
        "An application moved to another pipeline stage.",
        {"applicationId": _APP, "candidateId": _CAND, "jobId": _JOB, "fromStage": "applied", "toStage": "interview"},
        properties={**_APPLICATION, "fromStage": _S, "toStage": _S},
    ),
    EventType(
        "application.rejected",
        "An application was rejected.",
        {"applicationId": _APP, "candidateId": _CAND, "jobId": _JOB, "reason": "Position filled"},
        properties={**_APPLICATION, "reason": _S},
    ),
    EventType(
        "application.hired",
        "The candidate of an application was hired.",
        {"applicationId": _APP, "candidateId": _CAND, "jobId": _JOB, "startDate": "2025-12-01"},
        properties={**_APPLICATION, "startDate": _DATE},
    ),
    EventType(
        "interview.scheduled",
        "An interview was scheduled.",
        {
            "interviewId": "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b",
            "applicationId": _APP,
            "startsAt": "2025-11-20T14:00:00Z",
            "endsAt": "2025-11-20T15:00:00Z",
            "calendarProvider": "google_calendar",
        },
        properties={**_INTERVIEW, "startsAt": _TIME, "endsAt": _TIME, "calendarProvider": _S},
    ),
    EventType(
        "interview.completed",
        "An interview took place.",
        {"interviewId": "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b", "applicationId": _APP, "outcome": "advance"},
        properties={**_INTERVIEW, "outcome": _S},
    ),
    EventType(
        "interview.cancelled",
        "An interview was cancelled.",
        {"interviewId": "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b", "applicationId": _APP, "reason": "Candidate withdrew"},
        properties={**_INTERVIEW, "reason": _S},
    ),
    EventType(
        "offer.created",
        "An offer was drafted.",
        {"offerId": "a9b8c7d6-e5f4-4a3b-2c1d-0e9f8a7b6c5d", "applicationId": _APP, "salary": 95000, "currency": "EUR"},
        properties={**_OFFER, "salary": _NUM, "currency": _S},
    ),
    EventType(
        "offer.sent",
        "An offer was sent to the candidate (for example through DocuSign).",
        {"offerId": "a9b8c7d6-e5f4-4a3b-2c1d-0e9f8a7b6c5d", "applicationId": _APP, "esignatureProvider": "docusign"},
        properties={**_OFFER, "esignatureProvider": _S},
    ),
    EventType(
        "offer.accepted",
        "The candidate accepted an offer.",
        {
            "offerId": "a9b8c7d6-e5f4-4a3b-2c1d-0e9f8a7b6c5d",
            "applicationId": _APP,
            "acceptedAt": "2025-11-22T09:00:00Z",
        },
        properties={**_OFFER, "acceptedAt": _TIME},
    ),
    EventType(
        "offer.declined",
        "The candidate declined an offer.",
        {"offerId": "a9b8c7d6-e5f4-4a3b-2c1d-0e9f8a7b6c5d", "applicationId": _APP, "reason": "Counter offer"},
        properties={**_OFFER, "reason": _S},
    ),
    EventType(
        "candidate.created",
        "A candidate profile was created.",
        {"candidateId": _CAND, "email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace"},
        properties={"candidateId": _ID, "email": _S, "firstName": _S, "lastName": _S},
    ),
    EventType(
        "candidate.updated",
        "A candidate profile changed.",
        {"candidateId": _CAND, "changedFields": ["phone", "resumeUrl"]},
        properties={"candidateId": _ID, "changedFields": _STRINGS},
    ),
    EventType(
        "job.created",
        "A job was created.",
        {"jobId": _JOB, "title": "Backend Engineer", "department": "Engineering", "location": "Remote"},
        properties={"jobId": _ID, "title": _S, "department": _S, "location": _S},
    ),
    EventType(
        "job.opened",
        "A job was opened (published, for example to LinkedIn or Indeed).",
        {"jobId": _JOB, "title": "Backend Engineer", "jobBoards": ["linkedin", "indeed"]},
        properties={"jobId": _ID, "title": _S, "jobBoards": _STRINGS},
    ),
    EventType("job.closed", "A job was closed.", {"jobId": _JOB, "title": "Backend Engineer", "reason": "filled"}),
    # The platform's own lifecycle events (api.md, properties={"jobId": _ID, "title": _S, "reason": _S}),
    EventType(
        "integration.created",
        "An integration was created in the tenant.",
        {"integrationId": _INTEGRATION, "name": "Google Calendar", "provider": "google_calendar", "status": "pending"},
        properties=_INTEGRATION_PROPS,
    ),
    EventType(
        "integration.updated",
        "An integration's configuration, settings or status changed.",
        {"integrationId": _INTEGRATION, "name": "Google Calendar", "changedFields": ["config"]},
        properties=_INTEGRATION_PROPS,
    ),
    EventType(
        "integration.deleted",
        "An integration was deleted.",
        {"integrationId": _INTEGRATION, "name": "Google Calendar", "provider": "google_calendar"},
        properties=_INTEGRATION_PROPS,
    ),
    EventType(
        "integration.connected",
        "An integration was connected (OAuth completed or credentials accepted).",
        {"integrationId": _INTEGRATION, "connectionId": "c0ffee00-1234-4abc-8def-000000000001", "authType": "oauth2"},
        properties={**_INTEGRATION_PROPS, "authType": _S},
    ),
    EventType(
        "integration.disconnected",
        "An integration's connection was removed and its token revoked where the provider allows it.",
        {"integrationId": _INTEGRATION, "connectionId": "c0ffee00-1234-4abc-8def-000000000001"},
        properties=_INTEGRATION_PROPS,
    ),
    EventType(
        "integration.connection_expired",
        "A connection's token could not be refreshed (invalid_grant, or refreshes kept failing for the provider's "
        "giveUpAfterHours): the user must connect again.",
        {
            "integrationId": _INTEGRATION,
            "connectionId": "c0ffee00-1234-4abc-8def-000000000001",
            "status": "expired",
            "error": "invalid_grant",
            "reconnectReason": "refresh_token_revoked",
            "expiredAt": "2026-01-15T09:30:00Z",
        },
        properties={
            **_INTEGRATION_PROPS,
            "error": _STR_OR_NULL,
            "reconnectReason": {
                **_S,
                "description": "Why the user must connect again (`reconnectReason` on the connection).",
            },
            "expiredAt": _TIME,
        },
        version=2,  # v2: reconnectReason and expiredAt documented (giveUpAfterHours); v1 data still valid
    ),
    EventType(
        "integration.connection_recovered",
        "A connection that was expired or in error works again (first successful refresh, test or connect).",
        {
            "integrationId": _INTEGRATION,
            "connectionId": "c0ffee00-1234-4abc-8def-000000000001",
            "status": "active",
            "previousStatus": "expired",
            "via": "connect",
            "recoveredAt": "2026-01-15T10:05:00Z",
        },
        properties={
            **_INTEGRATION_PROPS,
            "previousStatus": {
                "type": "string",
                "enum": ["expired", "error"],
                "description": "The connection's status before it recovered.",
            },
            "via": {
                "type": "string",
                "enum": ["connect", "refresh", "test"],
                "description": "What brought it back: connecting again, a token refresh or a connection test.",
            },
            "recoveredAt": _TIME,
        },
    ),
    EventType(
        "integration.health_changed",
        "An integration's health status changed.",
        {
            "integrationId": _INTEGRATION,
            "previousStatus": "healthy",
            "status": "degraded",
            "responseTime": 2450,
            "error": "Rate limit exceeded",
        },
        properties={
            **_INTEGRATION_PROPS,
            "previousStatus": _STR_OR_NULL,
            "responseTime": {"type": ["integer", "null"]},
            "error": _STR_OR_NULL,
        },
    ),
    EventType(
        "integration.event_received",
        "An inbound webhook from a provider was received and verified.",
        {"integrationId": _INTEGRATION, "endpointId": "d1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a", "eventType": "push"},
        properties={"integrationId": _ID, "endpointId": _ID, "eventType": _S},
    ),
    EventType(
        WEBHOOK_DISABLED,
        "The older name of webhook.endpoint.disabled, still sent (with webhookId) to the subscriptions that ask "
        "for it: a subscription to webhook.* receives both.",
        {
            "webhookId": _SUBSCRIPTION,
            "subscriptionId": _SUBSCRIPTION,
            "name": "Application Events",
            "url": "https://example.com/webhooks/applications",
            "reason": "Every delivery failed for 24 hours (10 failures).",
        },
        properties={"webhookId": _ID, **_ABOUT, "reason": _S},
    ),
    EventType(
        WEBHOOK_TEST,
        "A test delivery, sent by POST /api/v1/integrations/webhooks/{id}/test.",
        {"webhookId": "f0e1d2c3-b4a5-4968-8776-655443322110", "message": "This is a test webhook."},
        properties={"webhookId": _ID, "message": _S},
    ),
    # The webhook system's operational events: about one subscription (data.subscriptionId), never sent to it.
    EventType(
        WEBHOOK_DELIVERY_FAILING,
        "A message to a subscription failed WEBHOOK_FAILING_AFTER_ATTEMPTS attempts in a row (it is still retried "
        "while it has attempts left). Sent to the tenant's other subscriptions, never to the one it is about.",
        {
            "subscriptionId": _SUBSCRIPTION,
            "name": "Application Events",
            "url": "https://example.com/webhooks/applications",
            "deliveryId": _DELIVERY,
            "eventId": _EVENT,
            "event": "application.created",
            "attempts": 4,
            "responseStatus": 503,
            "error": "HTTP 503",
        },
        properties=_MESSAGE,
        required=("subscriptionId",),
        version=2,  # v2: the fields the engine sends (v1 had lastResponseStatus, lastError); v1 data still valid
    ),
    EventType(
        WEBHOOK_DELIVERY_EXHAUSTED,
        "A message to a subscription failed for good: its retries are exhausted or the receiver's answer is not "
        "retried (it is sent again only if recovered). Sent to the tenant's other subscriptions, never to the one it "
        "is about.",
        {
            "subscriptionId": _SUBSCRIPTION,
            "name": "Application Events",
            "url": "https://example.com/webhooks/applications",
            "deliveryId": _DELIVERY,
            "eventId": _EVENT,
            "event": "application.created",
            "attempts": 4,
            "responseStatus": None,
            "error": "Timed out after 10000 ms",
        },
        properties=_MESSAGE,
        required=("subscriptionId",),
        version=2,  # v2: the fields the engine sends (v1 had lastResponseStatus, lastError); v1 data still valid
    ),
    EventType(
        WEBHOOK_ENDPOINT_DISABLED,
        "A subscription was disabled after persistent delivery failures or a 410 Gone; its new messages wait until "
        "it is enabled again (webhook.disabled is the older name of this event).",
        {
            "subscriptionId": _SUBSCRIPTION,
            "name": "Application Events",
            "url": "https://example.com/webhooks/applications",
            "reason": "The receiver answered 410 Gone.",
        },
        properties={**_ABOUT, "reason": _S},
        required=("subscriptionId",),
        version=2,  # v2: the fields the engine sends (v1 had lastResponseStatus, lastError); v1 data still valid
    ),
    EventType(
        WEBHOOK_ENDPOINT_RECOVERED,
        "A subscription that was failing (its circuit breaker open, or WEBHOOK_FAILING_AFTER_ATTEMPTS failures in a "
        "row) accepted a message again.",
        {
            "subscriptionId": _SUBSCRIPTION,
            "name": "Application Events",
            "url": "https://example.com/webhooks/applications",
            "failedAttempts": 6,
            "failingSince": "2025-11-20T14:00:00.000Z",
        },
        properties={
            **_ABOUT,
            "failedAttempts": {**_INT, "description": "Failed attempts in a row before this success."},
            "failingSince": {"type": ["string", "null"], "format": "date-time"},
        },
        required=("subscriptionId",),
        version=2,  # v2: the fields the engine sends (v1 had lastResponseStatus, lastError); v1 data still valid
    ),
]

CATALOG: dict[str, EventType] = {e.name: e for e in _EVENTS}
CATEGORIES: frozenset[str] = frozenset(e.category for e in _EVENTS)


def is_known_event(name: str) -> bool:
    return isinstance(name, str) and name in CATALOG


def is_valid_pattern(pattern: str) -> bool:
    """``*``, a catalog event, or ``<category>.*`` of a catalog category."""
    if not isinstance(pattern, str):
        return False
    if pattern == "*" or pattern in CATALOG:
        return True
    return pattern.endswith(".*") and pattern[:-2] in CATEGORIES


def invalid_patterns(patterns: Iterable[str]) -> list[str]:
    return [str(p) for p in patterns if not is_valid_pattern(p)]


def matches(patterns: Iterable[str], event: str) -> bool:
    """True when any of ``patterns`` selects ``event`` (``*``, the exact name, or ``<category>.*``)."""
    category = event.split(".", 1)[0]
    for pattern in patterns:
        if pattern == "*" or pattern == event:
            return True
        if pattern.endswith(".*") and pattern[:-2] == category:
            return True
    return False
