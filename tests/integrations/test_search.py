"""Search across integrations and within one (seed 003): fan-out, a failing or slow provider reported beside the
others' results, the caller's own connection for user-scoped integrations, paging, validation and isolation.

Tests that reach a provider run transactionally: the provider calls happen in worker threads, which write their
activity entries through their own database connections.
"""

import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.db import OperationalError

from accounts.models import Role
from integrations.models import ActivityLog, Connection
from tests.helpers import assert_error, assert_tenant_isolation
from tests.integrations.connection_support import (  # noqa: F401
    make_integration,
    no_backoff_sleep,
    oauth_connection,
)

SEARCH = "/api/v1/integrations/search"
STRIPE_SEARCH_URL = "https://api.stripe.com/v1/customers/search"
HUBSPOT_CONTACTS_SEARCH_URL = "https://api.hubapi.com/crm/v3/objects/contacts/search"
GOOGLE_EVENTS_URL = "https://www.googleapis.com/calendar/v3/calendars/primary/events"
STRIPE_KEY = "sk_test_51HxAbCdEfGhIjKlMnOpQrStUv"

transactional = pytest.mark.django_db(transaction=True)


# --- provider payloads, shaped like the documented ones -------------------------------------------------------------
def stripe_customers(*customers: tuple[str, str, str]) -> dict:
    """https://docs.stripe.com/api/customers/search: a search_result object."""
    return {
        "object": "search_result",
        "url": "/v1/customers/search",
        "has_more": False,
        "next_page": None,
        "data": [
            {
                "id": cid,
                "object": "customer",
                "name": name,
                "email": email,
                "created": 1680893993,
                "livemode": False,
                "metadata": {},
                "invoice_settings": {"default_payment_method": None},
            }
            for cid, name, email in customers
        ],
    }


def hubspot_contacts(*contacts: tuple[str, str, str, str]) -> dict:
    """https://developers.hubspot.com/docs/api/crm/search: {total, results: [{id, properties, updatedAt}]}."""
    return {
        "total": len(contacts),
        "results": [
            {
                "id": cid,
                "properties": {
                    "firstname": first,
                    "lastname": last,
                    "email": f"{first.lower()}@acme.example",
                    "hs_lastmodifieddate": updated,
                    "hs_object_id": cid,
                },
                "createdAt": "2023-11-02T08:00:00.000Z",
                "updatedAt": updated,
                "archived": False,
            }
            for cid, first, last, updated in contacts
        ],
    }


def google_events(*events: tuple[str, str, str]) -> dict:
    """https://developers.google.com/calendar/api/v3/reference/events/list."""
    return {
        "kind": "calendar#events",
        "etag": '"p33c9ttfb9aaf80g"',
        "summary": "ada@acme.example",
        "updated": "2024-06-02T10:00:00.000Z",
        "timeZone": "UTC",
        "accessRole": "owner",
        "items": [
            {
                "kind": "calendar#event",
                "id": eid,
                "status": "confirmed",
                "htmlLink": f"https://www.google.com/calendar/event?eid={eid}",
                "created": "2024-05-01T09:00:00.000Z",
                "updated": updated,
                "summary": summary,
                "description": "Agenda inside",
                "start": {"dateTime": "2024-06-10T09:00:00Z"},
                "end": {"dateTime": "2024-06-10T10:00:00Z"},
            }
            for eid, summary, updated in events
        ],
    }


# --- givens ---------------------------------------------------------------------------------------------------------
def searchable(tenant, key: str, **fields):
    fields.setdefault("status", "active")
    fields.setdefault("search_enabled", True)
    return make_integration(tenant, key, **fields)


def api_key_connection(integration, key: str = STRIPE_KEY) -> Connection:
    return Connection.objects.create(
        tenant=integration.tenant,
        integration=integration,
        auth_type="api_key",
        status="active",
        credentials={"apiKey": key},
        credential_hint="sk_t…StUv",
    )


def stripe(tenant, **fields):
    integration = searchable(tenant, "stripe", name=fields.pop("name", "Stripe"), **fields)
    api_key_connection(integration)
    return integration


def hubspot(tenant, **fields):
    fields.setdefault("searchable_entities", ["contact"])
    integration = searchable(tenant, "hubspot", name=fields.pop("name", "HubSpot"), **fields)
    oauth_connection(integration, access="hubspot-access-token")
    return integration


def calendar(tenant, *users_and_tokens, **fields):
    """Google Calendar (user-scoped): one connection per (user, access token) given."""
    integration = searchable(tenant, "google_calendar", name=fields.pop("name", "Calendar"), **fields)
    assert integration.user_scoped
    for user, token in users_and_tokens:
        oauth_connection(integration, user=user, access=token)
    return integration


def query_of(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def calls_to(url: str) -> list:
    return [c for c in responses.calls if c.request.url.split("?")[0] == url]


def wait_for(predicate, timeout: float = 10.0):
    """Poll `predicate` (a database read) until it is truthy. SQLite's shared in-memory test database refuses a read
    while another connection writes ("table is locked"): such a read is simply retried."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except OperationalError:
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


# --- the fan-out ----------------------------------------------------------------------------------------------------
@transactional
@responses.activate
def test_search_fans_out_to_every_searchable_integration_and_merges_results_newest_first(make_client):
    # given Stripe (API key), HubSpot (OAuth) and the caller's Google Calendar, all searchable
    member = make_client(Role.MEMBER)
    tenant = member.tenant
    pay, crm = stripe(tenant), hubspot(tenant)
    cal = calendar(tenant, (member.user, "ya29.member"))
    responses.add(
        responses.GET, STRIPE_SEARCH_URL, json=stripe_customers(("cus_NeGfPRiPKxeBi1", "Acme Corp", "ops@acme.example"))
    )
    responses.add(
        responses.POST,
        HUBSPOT_CONTACTS_SEARCH_URL,
        json=hubspot_contacts(("512", "Ada", "Acme", "2024-05-03T10:00:00.000Z")),
    )
    responses.add(
        responses.GET, GOOGLE_EVENTS_URL, json=google_events(("evt1", "Acme kickoff", "2024-06-01T09:00:00.000Z"))
    )

    # when the member searches everything
    response = member.post(SEARCH, {"query": "acme"}, format="json")

    # then every provider answered and the hits are merged, dated ones newest first, undated last
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"results", "total", "took", "hasMore", "byIntegration", "byEntity", "errors"}
    assert body["errors"] == []
    assert [(r["provider"], r["id"]) for r in body["results"]] == [
        ("google_calendar", "evt1"),
        ("hubspot", "512"),
        ("stripe", "cus_NeGfPRiPKxeBi1"),
    ]
    assert body["total"] == 3 and body["hasMore"] is False and body["took"] >= 0
    event = body["results"][0]
    assert event == {
        "id": "evt1",
        "entity": "event",
        "title": "Acme kickoff",
        "description": "Agenda inside",
        "url": "https://www.google.com/calendar/event?eid=evt1",
        "updatedAt": "2024-06-01T09:00:00.000Z",
        "integrationId": str(cal.pk),
        "integrationName": "Calendar",
        "provider": "google_calendar",
    }
    assert body["results"][1]["title"] == "Ada Acme" and body["results"][1]["integrationId"] == str(crm.pk)
    assert body["results"][2]["title"] == "Acme Corp" and body["results"][2]["integrationId"] == str(pay.pk)
    assert set(body["byIntegration"]) == {str(pay.pk), str(crm.pk), str(cal.pk)}
    assert [r["id"] for r in body["byIntegration"][str(crm.pk)]] == ["512"]
    assert {k: [r["id"] for r in v] for k, v in body["byEntity"].items()} == {
        "event": ["evt1"],
        "contact": ["512"],
        "customer": ["cus_NeGfPRiPKxeBi1"],
    }
    # each provider was called with its own credentials and asked for limit + 1 hits
    (stripe_call,) = calls_to(STRIPE_SEARCH_URL)
    assert stripe_call.request.headers["Authorization"] == f"Bearer {STRIPE_KEY}"
    assert query_of(stripe_call)["query"] == ['name~"acme" OR email~"acme"']
    assert query_of(stripe_call)["limit"] == ["11"]
    (hubspot_call,) = calls_to(HUBSPOT_CONTACTS_SEARCH_URL)
    assert hubspot_call.request.headers["Authorization"] == "Bearer hubspot-access-token"
    assert json.loads(hubspot_call.request.body)["query"] == "acme"
    (google_call,) = calls_to(GOOGLE_EVENTS_URL)
    assert google_call.request.headers["Authorization"] == "Bearer ya29.member"
    # and each call left its api_call activity entry on its integration
    assert wait_for(lambda: ActivityLog.objects.filter(type="api_call").count() == 3)
    assert set(ActivityLog.objects.filter(type="api_call").values_list("integration_id", flat=True)) == {
        pay.pk,
        crm.pk,
        cal.pk,
    }


@transactional
@responses.activate
def test_a_failing_and_a_slow_provider_are_reported_beside_the_other_results(admin_client, settings):
    # given three searchable integrations: Stripe answers 500, HubSpot hangs, Google answers
    settings.SEARCH_PROVIDER_TIMEOUT_SECONDS = 0.5
    tenant = admin_client.tenant
    pay, crm = stripe(tenant), hubspot(tenant)
    calendar(tenant, (admin_client.user, "ya29.admin"))
    responses.add(
        responses.GET,
        STRIPE_SEARCH_URL,
        status=500,
        json={"error": {"type": "api_error", "message": "An unknown error occurred"}},
    )
    release = threading.Event()

    def hanging_hubspot(request):
        release.wait(10)
        return 200, {}, json.dumps(hubspot_contacts(("512", "Ada", "Acme", "2024-05-03T10:00:00.000Z")))

    responses.add_callback(responses.POST, HUBSPOT_CONTACTS_SEARCH_URL, callback=hanging_hubspot)
    responses.add(
        responses.GET, GOOGLE_EVENTS_URL, json=google_events(("evt1", "Acme kickoff", "2024-06-01T09:00:00.000Z"))
    )

    # when the admin searches
    started = time.monotonic()
    response = admin_client.post(SEARCH, {"query": "acme"}, format="json")
    elapsed = time.monotonic() - started

    # then the answer comes after the timeout, not after the hanging provider, with Google's hit and two errors
    release.set()
    assert response.status_code == 200, response.content
    assert elapsed < 5
    body = response.json()
    assert [r["id"] for r in body["results"]] == ["evt1"]
    errors = {e["provider"]: e for e in body["errors"]}
    assert set(errors) == {"stripe", "hubspot"}
    assert errors["stripe"] == {
        "integrationId": str(pay.pk),
        "integrationName": "Stripe",
        "provider": "stripe",
        "code": "CONNECTION_FAILED",
        "message": "Stripe answered 500: An unknown error occurred",
        "kind": "server_error",
        "providerStatus": 500,
    }
    assert errors["hubspot"]["code"] == "TIMEOUT"
    assert errors["hubspot"]["integrationId"] == str(crm.pk)
    assert errors["hubspot"]["message"] == "HubSpot CRM did not answer within 0.5 s."
    assert len(calls_to(STRIPE_SEARCH_URL)) == 3  # retried twice on the 500 (a GET), then given up
    # and the hanging call, once released, still records its activity entry (its answer is dropped)
    assert wait_for(lambda: ActivityLog.objects.filter(integration=crm, type="api_call").exists())


@transactional
@responses.activate
def test_user_scoped_search_uses_the_callers_own_connection(make_client):
    # given a user-scoped calendar that Alice and Bob both connected, and Carol did not
    alice = make_client(Role.MEMBER)
    bob = make_client(Role.MEMBER, tenant=alice.tenant)
    carol = make_client(Role.INTEGRATION_MANAGER, tenant=alice.tenant)
    cal = calendar(alice.tenant, (alice.user, "ya29.alice"), (bob.user, "ya29.bob"))
    responses.add(
        responses.GET, GOOGLE_EVENTS_URL, json=google_events(("evt-bob", "Bob's 1:1", "2024-06-01T09:00:00.000Z"))
    )

    # when Bob searches, and Carol searches
    bobs = bob.post(SEARCH, {"query": "1:1"}, format="json")
    carols = carol.post(SEARCH, {"query": "1:1"}, format="json")

    # then Bob's search went out with Bob's token only; Carol's was never sent and says why
    assert bobs.status_code == 200 and [r["id"] for r in bobs.json()["results"]] == ["evt-bob"]
    assert [c.request.headers["Authorization"] for c in responses.calls] == ["Bearer ya29.bob"]
    assert carols.status_code == 200
    body = carols.json()
    assert body["results"] == []
    assert body["errors"] == [
        {
            "integrationId": str(cal.pk),
            "integrationName": "Calendar",
            "provider": "google_calendar",
            "code": "NOT_CONNECTED",
            "message": "You have no connection. Connect your own account first.",
        }
    ]


@pytest.mark.django_db
def test_a_user_id_other_than_the_callers_is_refused(make_client):
    member = make_client(Role.MEMBER)
    other = make_client(Role.MEMBER, tenant=member.tenant)
    cal = calendar(member.tenant, (other.user, "ya29.other"))

    global_search = member.post(SEARCH, {"query": "x", "userId": str(other.user.pk)}, format="json")
    one = member.get(f"/api/v1/integrations/{cal.pk}/search", {"query": "x", "userId": str(other.user.pk)})

    assert_error(global_search, 403, "PERMISSION_DENIED")
    assert_error(one, 403, "PERMISSION_DENIED")


@transactional
@responses.activate
def test_a_user_id_naming_the_caller_is_accepted(make_client):
    member = make_client(Role.MEMBER)
    calendar(member.tenant, (member.user, "ya29.me"))
    responses.add(responses.GET, GOOGLE_EVENTS_URL, json=google_events(("e1", "Standup", "2024-06-01T09:00:00Z")))

    response = member.post(SEARCH, {"query": "standup", "userId": str(member.user.pk)}, format="json")

    assert response.status_code == 200, response.content
    assert [r["id"] for r in response.json()["results"]] == ["e1"]


@transactional
@responses.activate
def test_only_active_search_enabled_integrations_of_search_capable_providers_are_called(admin_client):
    # given one searchable integration and three that are not (inactive, search off, provider without search)
    tenant = admin_client.tenant
    stripe(tenant)
    stripe(tenant, name="Old Stripe", status="inactive")
    stripe(tenant, name="Quiet Stripe", search_enabled=False)
    searchable(tenant, "slack", name="Slack")  # the catalog's Slack does not support search
    responses.add(responses.GET, STRIPE_SEARCH_URL, json=stripe_customers(("cus_1", "Acme", "a@acme.example")))

    response = admin_client.post(SEARCH, {"query": "acme"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert [(r["integrationName"], r["id"]) for r in body["results"]] == [("Stripe", "cus_1")]
    assert body["errors"] == []
    assert len(responses.calls) == 1


@transactional
@responses.activate
def test_integrations_and_entities_restrict_the_fan_out(admin_client):
    tenant = admin_client.tenant
    pay, crm = stripe(tenant), hubspot(tenant)
    cal = calendar(tenant, (admin_client.user, "ya29.admin"))
    responses.add(responses.GET, STRIPE_SEARCH_URL, json=stripe_customers(("cus_1", "Acme", "a@acme.example")))
    responses.add(responses.GET, GOOGLE_EVENTS_URL, json=google_events(("e1", "Acme sync", "2024-06-01T09:00:00Z")))

    only_stripe = admin_client.post(SEARCH, {"query": "acme", "integrations": [str(pay.pk)]}, format="json")
    only_events = admin_client.post(SEARCH, {"query": "acme", "entities": ["event"]}, format="json")
    via_filters = admin_client.post(SEARCH, {"query": "acme", "filters": {"entityTypes": ["event"]}}, format="json")

    assert [r["integrationId"] for r in only_stripe.json()["results"]] == [str(pay.pk)]
    assert [r["integrationId"] for r in only_events.json()["results"]] == [str(cal.pk)]
    assert [r["integrationId"] for r in via_filters.json()["results"]] == [str(cal.pk)]
    assert not calls_to(HUBSPOT_CONTACTS_SEARCH_URL)
    assert len(calls_to(STRIPE_SEARCH_URL)) == 1 and len(calls_to(GOOGLE_EVENTS_URL)) == 2
    assert crm.pk  # HubSpot exists and is searchable, yet was never asked


@pytest.mark.django_db
def test_naming_an_integration_that_cannot_be_searched_is_a_400(admin_client):
    quiet = stripe(admin_client.tenant, name="Quiet", search_enabled=False)

    response = admin_client.post(SEARCH, {"query": "acme", "integrations": [str(quiet.pk)]}, format="json")

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert str(quiet.pk) in error["details"]["integrations"][0]


@transactional
@responses.activate
def test_date_range_and_custom_filters_reach_the_provider(admin_client):
    calendar(admin_client.tenant, (admin_client.user, "ya29.admin"))
    responses.add(responses.GET, GOOGLE_EVENTS_URL, json=google_events())

    response = admin_client.post(
        SEARCH,
        {
            "query": "review",
            "filters": {
                "dateRange": {"start": "2024-06-01T00:00:00Z"},
                "customFilters": {"timeMax": "2024-06-30T00:00:00Z"},
            },
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    params = query_of(responses.calls[0])
    assert params["timeMin"] == ["2024-06-01T00:00:00Z"]
    assert params["timeMax"] == ["2024-06-30T00:00:00Z"]  # a camelCase provider filter arrives untouched


@transactional
@responses.activate
def test_limit_and_offset_page_through_each_integrations_hits(admin_client):
    calendar(admin_client.tenant, (admin_client.user, "ya29.admin"))
    events = google_events(
        ("e1", "One", "2024-06-03T09:00:00Z"),
        ("e2", "Two", "2024-06-02T09:00:00Z"),
        ("e3", "Three", "2024-06-01T09:00:00Z"),
    )
    responses.add(responses.GET, GOOGLE_EVENTS_URL, json=events)

    first = admin_client.post(SEARCH, {"query": "x", "limit": 2}, format="json").json()
    second = admin_client.post(SEARCH, {"query": "x", "limit": 2, "offset": 2}, format="json").json()

    assert [r["id"] for r in first["results"]] == ["e1", "e2"] and first["hasMore"] is True and first["total"] == 2
    assert [r["id"] for r in second["results"]] == ["e3"] and second["hasMore"] is False
    assert [query_of(c)["maxResults"] for c in responses.calls] == [["3"], ["5"]]  # offset + limit + 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "query"),
        ({"query": ""}, "query"),
        ({"query": "x", "limit": -1}, "limit"),
        ({"query": "x", "limit": 0}, "limit"),
        ({"query": "x", "limit": 51}, "limit"),
        ({"query": "x", "offset": -1}, "offset"),
        ({"query": "x", "limit": 50, "offset": 51}, "offset"),
        ({"query": "x", "integrations": ["not-a-uuid"]}, "integrations"),
        (
            {"query": "x", "filters": {"dateRange": {"start": "2024-06-02T00:00:00Z", "end": "2024-06-01T00:00:00Z"}}},
            "filters",
        ),
        ({"query": "x", "filters": {"dateRange": {"start": "yesterday"}}}, "filters"),
        ({"query": "x", "sort": "newest"}, "sort"),
    ],
)
def test_bad_search_bodies_are_400(admin_client, body, field):
    response = admin_client.post(SEARCH, body, format="json")

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert field in error["details"], error


@pytest.mark.django_db
def test_a_foreign_integration_named_in_a_search_is_a_404(admin_client, other_tenant_client):
    theirs = stripe(other_tenant_client.tenant)

    response = admin_client.post(SEARCH, {"query": "x", "integrations": [str(theirs.pk)]}, format="json")

    assert_error(response, 404, "INTEGRATION_NOT_FOUND")


# --- one integration ------------------------------------------------------------------------------------------------
@transactional
@responses.activate
def test_searching_one_integration_returns_its_hits(make_client):
    member = make_client(Role.MEMBER)
    crm = hubspot(member.tenant, searchable_entities=[])
    companies = "https://api.hubapi.com/crm/v3/objects/companies/search"
    responses.add(
        responses.POST,
        HUBSPOT_CONTACTS_SEARCH_URL,
        json=hubspot_contacts(("512", "Ada", "Acme", "2024-05-03T10:00:00.000Z")),
    )
    responses.add(
        responses.POST,
        companies,
        json={
            "total": 1,
            "results": [
                {
                    "id": "77",
                    "properties": {
                        "name": "Acme Inc",
                        "domain": "acme.example",
                        "hs_lastmodifieddate": "2024-05-04T10:00:00.000Z",
                    },
                    "createdAt": "2023-01-01T00:00:00.000Z",
                    "updatedAt": "2024-05-04T10:00:00.000Z",
                    "archived": False,
                }
            ],
        },
    )

    response = member.get(f"/api/v1/integrations/{crm.pk}/search", {"query": "acme", "entities": "contact,company"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"results", "total", "took", "hasMore"}
    assert [(r["entity"], r["id"], r["title"]) for r in body["results"]] == [
        ("company", "77", "Acme Inc"),
        ("contact", "512", "Ada Acme"),
    ]
    assert body["total"] == 2 and body["hasMore"] is False
    assert {c.request.url for c in responses.calls} == {HUBSPOT_CONTACTS_SEARCH_URL, companies}


@transactional
@responses.activate
def test_a_failing_provider_fails_the_search_of_that_integration_with_502(admin_client):
    pay = stripe(admin_client.tenant)
    responses.add(
        responses.GET,
        STRIPE_SEARCH_URL,
        status=401,
        json={"error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****StUv"}},
    )

    response = admin_client.get(f"/api/v1/integrations/{pay.pk}/search", {"query": "acme"})

    error = assert_error(response, 502, "CONNECTION_FAILED")
    assert error["details"] == {"kind": "auth_failed", "providerStatus": 401}
    assert STRIPE_KEY not in response.content.decode()


@transactional
@responses.activate
def test_a_slow_provider_times_out_the_search_of_that_integration(admin_client, settings):
    settings.SEARCH_PROVIDER_TIMEOUT_SECONDS = 0.3
    pay = stripe(admin_client.tenant)
    release = threading.Event()

    def hanging(request):
        release.wait(10)
        return 200, {}, json.dumps(stripe_customers())

    responses.add_callback(responses.GET, STRIPE_SEARCH_URL, callback=hanging)

    response = admin_client.get(f"/api/v1/integrations/{pay.pk}/search", {"query": "acme"})
    release.set()

    error = assert_error(response, 502, "CONNECTION_FAILED")
    assert error["details"] == {"kind": "timeout"}
    assert error["message"] == "Stripe did not answer within 0.3 s."
    assert wait_for(lambda: ActivityLog.objects.filter(integration=pay, type="api_call").exists())


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [{"search_enabled": False}, {"status": "inactive"}],
    ids=["search-disabled", "inactive"],
)
@responses.activate
def test_searching_an_integration_that_cannot_be_searched_is_a_400(admin_client, fields):
    pay = stripe(admin_client.tenant, **fields)

    response = admin_client.get(f"/api/v1/integrations/{pay.pk}/search", {"query": "acme"})

    assert_error(response, 400, "VALIDATION_ERROR")
    assert not responses.calls


@pytest.mark.django_db
def test_searching_an_integration_of_a_provider_without_search_is_a_400(admin_client):
    chat = searchable(admin_client.tenant, "slack")

    response = admin_client.get(f"/api/v1/integrations/{chat.pk}/search", {"query": "hello"})

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert "does not support search" in error["message"]


@pytest.mark.django_db
def test_searching_an_unconnected_integration_is_a_400(make_client):
    member = make_client(Role.MEMBER)
    cal = calendar(member.tenant)

    response = member.get(f"/api/v1/integrations/{cal.pk}/search", {"query": "x"})

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["details"] == {"connection": ["You have no connection. Connect your own account first."]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params, field",
    [
        ({}, "query"),
        ({"query": "x", "limit": "-1"}, "limit"),
        ({"query": "x", "limit": "abc"}, "limit"),
        ({"query": "x", "limit": "51"}, "limit"),
        ({"query": "x", "offset": "-5"}, "offset"),
        ({"query": "x", "entities": "envelope"}, "entities"),
    ],
)
def test_bad_search_parameters_are_400(admin_client, params, field):
    pay = stripe(admin_client.tenant)

    response = admin_client.get(f"/api/v1/integrations/{pay.pk}/search", params)

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert field in error["details"], error


# --- roles, isolation, rate limits ----------------------------------------------------------------------------------
@transactional  # one test for the three roles: each transactional test costs a database flush
@responses.activate
def test_every_tenant_role_may_search(make_client):
    admin = make_client(Role.ADMIN)
    pay = stripe(admin.tenant)
    responses.add(responses.GET, STRIPE_SEARCH_URL, json=stripe_customers(("cus_1", "Acme", "a@acme.example")))

    for role in (Role.ADMIN, Role.INTEGRATION_MANAGER, Role.MEMBER):
        client = admin if role == Role.ADMIN else make_client(role, tenant=admin.tenant)
        everything = client.post(SEARCH, {"query": "acme"}, format="json")
        one = client.get(f"/api/v1/integrations/{pay.pk}/search", {"query": "acme"})

        assert (everything.status_code, one.status_code) == (200, 200), role
        assert everything.json()["total"] == 1 and one.json()["total"] == 1


@pytest.mark.django_db
def test_search_needs_authentication(anon_client, admin_client):
    pay = stripe(admin_client.tenant)

    assert_error(anon_client.post(SEARCH, {"query": "x"}, format="json"), 401, "AUTHENTICATION_REQUIRED")
    assert_error(
        anon_client.get(f"/api/v1/integrations/{pay.pk}/search", {"query": "x"}), 401, "AUTHENTICATION_REQUIRED"
    )


@pytest.mark.django_db
def test_another_tenants_integrations_are_never_searched_or_revealed(admin_client, other_tenant_client):
    pay = stripe(admin_client.tenant)

    assert_tenant_isolation(
        other_tenant_client,
        [
            f"/api/v1/integrations/{pay.pk}/search?query=acme",
            ("post", SEARCH, {"query": "acme", "integrations": [str(pay.pk)]}),
            ("post", SEARCH, {"query": "acme"}),
        ],
        [pay.pk],
    )


@pytest.mark.django_db
def test_search_counts_against_the_search_rate_limit(admin_client, settings):
    settings.RATE_LIMIT_ENABLED = True
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "search": "2/minute"}

    answers = [admin_client.post(SEARCH, {"query": "x"}, format="json") for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0]["X-RateLimit-Limit"] == "2"
    assert_error(answers[2], 429, "RATE_LIMIT_EXCEEDED")
