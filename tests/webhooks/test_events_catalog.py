"""The event catalog, event patterns, and GET /api/v1/integrations/webhooks/events."""

import pytest

from accounts.models import Role
from tests.helpers import assert_error
from webhooks.events import CATALOG, CATEGORIES, invalid_patterns, is_known_event, is_valid_pattern, matches

URL = "/api/v1/integrations/webhooks/events"

SEED_001_EVENTS = {
    "application.created",
    "application.stage_changed",
    "application.rejected",
    "application.hired",
    "interview.scheduled",
    "interview.completed",
    "interview.cancelled",
    "offer.created",
    "offer.sent",
    "offer.accepted",
    "offer.declined",
    "candidate.created",
    "candidate.updated",
    "job.created",
    "job.opened",
    "job.closed",
}
PLATFORM_EVENTS = {
    "integration.created",
    "integration.updated",
    "integration.deleted",
    "integration.connected",
    "integration.disconnected",
    "integration.connection_expired",
    "integration.connection_recovered",
    "integration.health_changed",
    "integration.event_received",
    "webhook.disabled",
    "webhook.test",
    "webhook.delivery.failing",
    "webhook.delivery.exhausted",
    "webhook.endpoint.disabled",
    "webhook.endpoint.recovered",
}


def test_catalog_holds_seed_001s_sixteen_events_and_the_platforms_own():
    assert len(SEED_001_EVENTS) == 16
    assert set(CATALOG) == SEED_001_EVENTS | PLATFORM_EVENTS


@pytest.mark.parametrize("name", sorted(SEED_001_EVENTS | PLATFORM_EVENTS))
def test_every_event_has_a_description_and_an_example_payload(name):
    event = CATALOG[name]
    assert len(event.description) > 10
    assert isinstance(event.example, dict) and event.example
    assert all("_" not in key for key in event.example), "example keys are camelCase like the API"


@pytest.mark.parametrize(
    ("patterns", "event", "expected"),
    [
        (["*"], "application.created", True),
        (["*"], "webhook.disabled", True),
        (["application.*"], "application.stage_changed", True),
        (["application.*"], "applications.created", False),
        (["application.*"], "interview.scheduled", False),
        (["application.created"], "application.created", True),
        (["application.created"], "application.hired", False),
        (["job.*", "offer.sent"], "offer.sent", True),
        (["job.*", "offer.sent"], "offer.accepted", False),
        ([], "job.created", False),
    ],
)
def test_pattern_matching(patterns, event, expected):
    assert matches(patterns, event) is expected


def test_valid_and_invalid_patterns():
    for good in ("*", "application.*", "integration.*", "webhook.*", "offer.declined", "integration.health_changed"):
        assert is_valid_pattern(good), good
    for bad in ("application.", "application.**", "nothing.*", "*.created", "Application.created", "", "offer", 3):
        assert not is_valid_pattern(bad), bad
    assert invalid_patterns(["*", "nope.*", "job.opened", "job.reopened"]) == ["nope.*", "job.reopened"]
    assert is_known_event("job.opened") and not is_known_event("job.*")


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.ADMIN, Role.INTEGRATION_MANAGER, Role.MEMBER])
def test_every_role_reads_the_catalog(make_client, role):
    response = make_client(role).get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == len(CATALOG)
    assert body["hasMore"] is False
    first = body["items"][0]
    assert set(first) == {
        "name",
        "event",
        "group",
        "category",
        "description",
        "schema",
        "example",
        "version",
        "deprecated",
    }
    assert {item["event"] for item in body["items"]} == set(CATALOG)
    created = next(i for i in body["items"] if i["event"] == "application.created")
    assert created["category"] == "application"
    assert created["example"]["applicationId"]


@pytest.mark.django_db
def test_catalog_filters_by_category_and_paginates(admin_client):
    response = admin_client.get(URL, {"category": "offer"})
    assert [i["event"] for i in response.json()["items"]] == [
        "offer.accepted",
        "offer.created",
        "offer.declined",
        "offer.sent",
    ]

    page = admin_client.get(URL, {"limit": 5, "offset": 5}).json()
    assert len(page["items"]) == 5 and page["offset"] == 5 and page["nextOffset"] == 10
    assert "offer" in CATEGORIES


@pytest.mark.django_db
def test_catalog_refuses_an_unknown_category_and_anonymous_callers(admin_client, anon_client):
    assert_error(admin_client.get(URL, {"category": "weather"}), 400, "VALIDATION_ERROR")
    assert_error(admin_client.get(URL, {"limit": "lots"}), 400, "VALIDATION_ERROR")
    assert_error(anon_client.get(URL), 401, "AUTHENTICATION_REQUIRED")
