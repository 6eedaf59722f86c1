"""The outbound event catalog: every event a subscription may ask for, with a description and an example payload.

Seed 001's sixteen recruiting events, and the platform's own lifecycle events (api.md). A subscription lists
event names or patterns: ``*`` (everything) or ``<category>.*`` (every event of a category, e.g.
``application.*``). ``trigger`` refuses an event that is not in this catalog.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CATALOG",
    "CATEGORIES",
    "WEBHOOK_DISABLED",
    "WEBHOOK_TEST",
    "EventType",
    "invalid_patterns",
    "is_known_event",
    "is_valid_pattern",
    "matches",
]

WEBHOOK_DISABLED = "webhook.disabled"
WEBHOOK_TEST = "webhook.test"

_APP = "7d6f1b1e-3c1a-4a56-9a0e-1f2b3c4d5e6f"
_CAND = "0c9e4f5a-2b7d-4e8c-a1f3-6d5e4c3b2a10"
_JOB = "b3a2c1d0-9e8f-4a7b-8c6d-5e4f3a2b1c0d"
_INTEGRATION = "5f0c8a2e-6b1d-4c3e-9f7a-2d8e1b4c6a90"


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    example: dict[str, Any] = field(default_factory=dict)

    @property
    def category(self) -> str:
        return self.name.split(".", 1)[0]


_EVENTS = [
    # Seed 001: recruiting events.
    EventType(
        "application.created",
        "A candidate applied to a job.",
        {"applicationId": _APP, "candidateId": _CAND, "jobId": _JOB, "stageId": "applied"},
    ),
    EventType(
        "application.stage_changed",
        "An application moved to another pipeline stage.",
        {"applicationId": _APP, "candidateId": _CAND, "jobId": _JOB, "fromStage": "applied", "toStage": "interview"},
    ),
    EventType(
        "application.rejected",
        "An application was rejected.",
        {"applicationId": _APP, "candidateId": _CAND, "jobId": _JOB, "reason": "Position filled"},
    ),
    EventType(
        "application.hired",
        "The candidate of an application was hired.",
        {"applicationId": _APP, "candidateId": _CAND, "jobId": _JOB, "startDate": "2025-12-01"},
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
    ),
    EventType(
        "interview.completed",
        "An interview took place.",
        {"interviewId": "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b", "applicationId": _APP, "outcome": "advance"},
    ),
    EventType(
        "interview.cancelled",
        "An interview was cancelled.",
        {"interviewId": "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b", "applicationId": _APP, "reason": "Candidate withdrew"},
    ),
    EventType(
        "offer.created",
        "An offer was drafted.",
        {"offerId": "a9b8c7d6-e5f4-4a3b-2c1d-0e9f8a7b6c5d", "applicationId": _APP, "salary": 95000, "currency": "EUR"},
    ),
    EventType(
        "offer.sent",
        "An offer was sent to the candidate (for example through DocuSign).",
        {"offerId": "a9b8c7d6-e5f4-4a3b-2c1d-0e9f8a7b6c5d", "applicationId": _APP, "esignatureProvider": "docusign"},
    ),
    EventType(
        "offer.accepted",
        "The candidate accepted an offer.",
        {
            "offerId": "a9b8c7d6-e5f4-4a3b-2c1d-0e9f8a7b6c5d",
            "applicationId": _APP,
            "acceptedAt": "2025-11-22T09:00:00Z",
        },
    ),
    EventType(
        "offer.declined",
        "The candidate declined an offer.",
        {"offerId": "a9b8c7d6-e5f4-4a3b-2c1d-0e9f8a7b6c5d", "applicationId": _APP, "reason": "Counter offer"},
    ),
    EventType(
        "candidate.created",
        "A candidate profile was created.",
        {"candidateId": _CAND, "email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace"},
    ),
    EventType(
        "candidate.updated",
        "A candidate profile changed.",
        {"candidateId": _CAND, "changedFields": ["phone", "resumeUrl"]},
    ),
    EventType(
        "job.created",
        "A job was created.",
        {"jobId": _JOB, "title": "Backend Engineer", "department": "Engineering", "location": "Remote"},
    ),
    EventType(
        "job.opened",
        "A job was opened (published, for example to LinkedIn or Indeed).",
        {"jobId": _JOB, "title": "Backend Engineer", "jobBoards": ["linkedin", "indeed"]},
    ),
    EventType("job.closed", "A job was closed.", {"jobId": _JOB, "title": "Backend Engineer", "reason": "filled"}),
    # The platform's own lifecycle events (api.md).
    EventType(
        "integration.created",
        "An integration was created in the tenant.",
        {"integrationId": _INTEGRATION, "name": "Google Calendar", "provider": "google_calendar", "status": "pending"},
    ),
    EventType(
        "integration.updated",
        "An integration's configuration, settings or status changed.",
        {"integrationId": _INTEGRATION, "name": "Google Calendar", "changedFields": ["config"]},
    ),
    EventType(
        "integration.deleted",
        "An integration was deleted.",
        {"integrationId": _INTEGRATION, "name": "Google Calendar", "provider": "google_calendar"},
    ),
    EventType(
        "integration.connected",
        "An integration was connected (OAuth completed or credentials accepted).",
        {"integrationId": _INTEGRATION, "connectionId": "c0ffee00-1234-4abc-8def-000000000001", "authType": "oauth2"},
    ),
    EventType(
        "integration.disconnected",
        "An integration's connection was removed and its token revoked where the provider allows it.",
        {"integrationId": _INTEGRATION, "connectionId": "c0ffee00-1234-4abc-8def-000000000001"},
    ),
    EventType(
        "integration.connection_expired",
        "A connection's token could not be refreshed (invalid_grant, or refreshes kept failing for the provider's "
        "giveUpAfterHours): the user must connect again.",
        {
            "integrationId": _INTEGRATION,
            "connectionId": "c0ffee00-1234-4abc-8def-000000000001",
            "error": "invalid_grant",
            "reconnectReason": "refresh_token_revoked",
        },
    ),
    EventType(
        "integration.connection_recovered",
        "A connection that was expired or in error works again (first successful refresh, test or connect).",
        {
            "integrationId": _INTEGRATION,
            "connectionId": "c0ffee00-1234-4abc-8def-000000000001",
            "previousStatus": "expired",
            "via": "connect",
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
    ),
    EventType(
        "integration.event_received",
        "An inbound webhook from a provider was received and verified.",
        {"integrationId": _INTEGRATION, "endpointId": "d1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a", "eventType": "push"},
    ),
    EventType(
        WEBHOOK_DISABLED,
        "A webhook subscription was disabled after persistent delivery failures (or a 410 Gone).",
        {
            "webhookId": "f0e1d2c3-b4a5-4968-8776-655443322110",
            "name": "Application Events",
            "url": "https://example.com/webhooks/applications",
            "reason": "Every delivery failed for 24 hours (10 failures).",
        },
    ),
    EventType(
        WEBHOOK_TEST,
        "A test delivery, sent by POST /api/v1/integrations/webhooks/{id}/test.",
        {"webhookId": "f0e1d2c3-b4a5-4968-8776-655443322110", "message": "This is a test webhook."},
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
