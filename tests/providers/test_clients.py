"""Provider clients: the registry, the catalog-driven GenericClient, and each family's real request shapes."""

import json

import pytest
import responses

from integrations.models import Connection
from providers.clients.base import CheckKind, CheckResult, GenericClient, NotSupported, ProviderClient
from providers.clients.google import GoogleClient
from providers.clients.slack import SlackClient
from providers.registry import client_class, get_client, register
from tests.integrations.connection_support import (  # noqa: F401
    make_integration,
    no_backoff_sleep,
    oauth_connection,
)
from tests.integrations.factories import IntegrationFactory

pytestmark = pytest.mark.django_db


def _client(key, *, credentials=None, auth_type="oauth2", metadata=None, config=None):
    integration = make_integration(IntegrationFactory().tenant, key, user_scoped=False, config=config or {})
    connection = Connection(
        tenant=integration.tenant,
        integration=integration,
        auth_type=auth_type,
        credentials={"access_token": "tok-1234", "token_type": "Bearer"} if credentials is None else credentials,
        metadata=metadata or {},
    )
    return get_client(integration, connection=connection)


def test_registry_picks_the_family_class_or_the_generic_one():
    assert client_class("google_calendar") is GoogleClient and client_class("gmail") is GoogleClient
    assert client_class("slack") is SlackClient
    assert client_class("rippling") is GenericClient


def test_a_key_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="already served"):

        @register("slack")
        class Another(ProviderClient):
            pass


def test_get_client_without_a_connection_uses_the_tenant_level_one():
    integration = make_integration(IntegrationFactory().tenant, "slack")
    connection = oauth_connection(integration, access="xoxb-1")

    client = get_client(integration)

    assert client.connection.pk == connection.pk


def test_get_client_of_a_user_scoped_integration_takes_no_users_connection_unless_given(make_client):
    member = make_client("member")
    integration = make_integration(member.tenant, "google_calendar")
    connection = oauth_connection(integration, user=member.user)

    assert get_client(integration).connection is None
    assert get_client(integration, connection=connection).connection.pk == connection.pk


def test_check_result_maps_kinds_to_health():
    assert CheckResult(True, CheckKind.OK, "x").health_status == "healthy"
    assert CheckResult(False, CheckKind.SERVER_ERROR, "x").health_status == "degraded"
    assert CheckResult(False, CheckKind.AUTH_FAILED, "x").health_status == "unhealthy"
    assert CheckResult(True, CheckKind.SKIPPED, "x").as_dict()["kind"] == "skipped"


@responses.activate
def test_generic_client_uses_the_catalog_base_url_auth_placement_and_health_check():
    client = _client("rippling", auth_type="api_key", credentials={"apiKey": "rip-token-1"})
    responses.add(responses.GET, "https://rest.ripplingapis.com/companies", json=[{"id": "c1"}])

    result = client.health_check()

    assert result.ok and result.kind == CheckKind.OK and result.status_code == 200
    assert responses.calls[0].request.headers["Authorization"] == "Bearer rip-token-1"


def test_health_check_without_credentials_or_without_a_request():
    assert _client("stripe", credentials={}, auth_type="api_key").health_check().kind == CheckKind.NOT_CONFIGURED
    glassdoor = _client("glassdoor", auth_type="custom", credentials={"partnerId": "1", "partnerKey": "k"})
    assert glassdoor.health_check().kind == CheckKind.SKIPPED


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"ok": True, "team": "Acme", "team_id": "T1", "user": "bot"}, CheckKind.OK),
        ({"ok": False, "error": "invalid_auth"}, CheckKind.AUTH_FAILED),
        ({"ok": False, "error": "ratelimited"}, CheckKind.RATE_LIMITED),
        ({"ok": False, "error": "missing_scope"}, CheckKind.CLIENT_ERROR),
    ],
)
@responses.activate
def test_slack_health_check_reads_ok_in_a_200_body(body, kind):
    client = _client("slack", credentials={"access_token": "xoxb-1"})
    responses.add(responses.GET, "https://slack.com/api/auth.test", json=body)

    result = client.health_check()

    assert result.kind == kind and result.ok is (kind == CheckKind.OK)
    if result.ok:
        assert result.details == {"team": "Acme", "teamId": "T1", "user": "bot"}


@responses.activate
def test_google_calendar_search_uses_events_q():
    client = _client("google_calendar", config={"calendarId": "team@acme.test"})
    responses.add(
        responses.GET,
        "https://www.googleapis.com/calendar/v3/calendars/team%40acme.test/events",
        json={
            "items": [
                {
                    "id": "ev1",
                    "summary": "Interview: Ada",
                    "htmlLink": "https://calendar.google.com/event?eid=1",
                    "updated": "2025-01-01T10:00:00Z",
                }
            ]
        },
    )

    hits = client.search("Ada", limit=5)

    params = responses.calls[0].request.params
    assert params["q"] == "Ada" and params["maxResults"] == "5" and params["singleEvents"] == "true"
    assert hits == [
        {
            "id": "ev1",
            "entity": "event",
            "title": "Interview: Ada",
            "description": "",
            "url": "https://calendar.google.com/event?eid=1",
            "updatedAt": "2025-01-01T10:00:00Z",
        }
    ]


@responses.activate
def test_microsoft_graph_search_uses_dollar_search_with_eventual_consistency():
    client = _client("outlook_calendar")
    responses.add(
        responses.GET,
        "https://graph.microsoft.com/v1.0/me/events",
        json={"value": [{"id": "AAMk", "subject": "Standup", "bodyPreview": "daily", "webLink": "https://outlook/x"}]},
    )

    hits = client.search("Standup")

    request = responses.calls[0].request
    assert request.params["$search"] == '"Standup"' and request.headers["ConsistencyLevel"] == "eventual"
    assert hits[0]["title"] == "Standup" and hits[0]["entity"] == "event"


@responses.activate
def test_hubspot_search_posts_to_the_crm_search_endpoint():
    client = _client("hubspot")
    responses.add(
        responses.POST,
        "https://api.hubapi.com/crm/v3/objects/contacts/search",
        json={
            "total": 1,
            "results": [
                {
                    "id": "51",
                    "properties": {"firstname": "Ada", "lastname": "Lovelace", "email": "ada@example.com"},
                    "updatedAt": "2025-01-01T00:00:00Z",
                }
            ],
        },
    )

    hits = client.search("ada", entities=["contact"], limit=10)

    sent = json.loads(responses.calls[0].request.body)
    assert sent["query"] == "ada" and sent["limit"] == 10 and "email" in sent["properties"]
    assert hits[0]["title"] == "Ada Lovelace" and hits[0]["description"] == "ada@example.com"


@responses.activate
def test_stripe_search_uses_the_customer_search_api():
    client = _client("stripe", auth_type="api_key", credentials={"apiKey": "sk_test_abc123"})
    responses.add(
        responses.GET,
        "https://api.stripe.com/v1/customers/search",
        json={"object": "search_result", "data": [{"id": "cus_1", "name": "Ada", "email": "ada@example.com"}]},
    )

    hits = client.search("ada")

    assert responses.calls[0].request.params["query"] == 'name~"ada" OR email~"ada"'
    assert responses.calls[0].request.headers["Authorization"] == "Bearer sk_test_abc123"
    assert hits[0]["id"] == "cus_1" and hits[0]["entity"] == "customer"


@responses.activate
def test_salesforce_calls_go_to_the_instance_url_with_sosl_search():
    client = _client("salesforce", metadata={"instanceUrl": "https://acme.my.salesforce.com"})
    responses.add(
        responses.GET,
        "https://acme.my.salesforce.com/services/data/v60.0/search",
        json={
            "searchRecords": [
                {"attributes": {"type": "Contact"}, "Id": "003xx", "Name": "Ada", "LastModifiedDate": "2025-01-01"}
            ]
        },
    )

    hits = client.search("Ada-Lovelace", entities=["contact"])

    q = responses.calls[0].request.params["q"]
    assert q.startswith("FIND {Ada\\-Lovelace} IN ALL FIELDS RETURNING Contact(Id, Name, LastModifiedDate")
    assert hits[0]["entity"] == "contact" and hits[0]["url"] == "https://acme.my.salesforce.com/003xx"


def test_salesforce_without_an_instance_url_is_not_configured():
    result = _client("salesforce").health_check()

    assert result.kind == CheckKind.NOT_CONFIGURED and "instanceUrl" in result.message


@responses.activate
def test_twilio_uses_basic_auth_and_the_account_path():
    sid = "AC" + "ab" * 16
    client = _client("twilio", auth_type="basic", credentials={"accountSid": sid, "authToken": "tw-token"})
    responses.add(
        responses.GET,
        f"https://api.twilio.com/2010-04-01/Accounts/{sid}/Messages.json",
        json={"messages": [{"sid": "SM1"}, {"sid": "SM2"}]},
    )

    messages = client.fetch_entities("message", limit=1)

    assert messages == [{"sid": "SM1"}]
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")


@responses.activate
def test_bamboohr_directory_with_the_api_key_as_basic_username():
    client = _client(
        "bamboohr", auth_type="custom", credentials={"apiKey": "bhr-key"}, config={"companyDomain": "acme"}
    )
    responses.add(
        responses.GET,
        "https://api.bamboohr.com/api/gateway.php/acme/v1/employees/directory",
        json={"fields": [], "employees": [{"id": "1", "displayName": "Ada"}]},
    )

    assert client.fetch_entities("employee") == [{"id": "1", "displayName": "Ada"}]
    assert responses.calls[0].request.headers["Accept"] == "application/json"


@responses.activate
def test_docusign_health_check_goes_to_the_account_base_uri():
    client = _client("docusign", metadata={"baseUri": "https://na3.docusign.net", "accountId": "acc-1"})
    responses.add(responses.GET, "https://na3.docusign.net/restapi/v2.1/accounts/acc-1", json={"accountName": "Acme"})

    assert client.health_check().ok


@responses.activate
def test_unsupported_operations_and_entities_are_clear_validation_errors():
    with pytest.raises(NotSupported):
        _client("rippling", auth_type="api_key", credentials={"apiKey": "k"}).search("x")
    with pytest.raises(NotSupported, match="use one of"):
        _client("stripe", auth_type="api_key", credentials={"apiKey": "k"}).fetch_entities("planet")


@responses.activate
def test_a_provider_error_during_fetch_is_a_502_with_the_providers_message():
    from providers.clients.base import ProviderError

    client = _client("stripe", auth_type="api_key", credentials={"apiKey": "sk_test_abc123"})
    responses.add(
        responses.GET, "https://api.stripe.com/v1/customers", status=403, json={"error": {"message": "Restricted key"}}
    )

    with pytest.raises(ProviderError) as caught:
        client.fetch_entities("customer")

    assert caught.value.status_code == 502 and caught.value.provider_status == 403
    assert caught.value.kind == CheckKind.AUTH_FAILED
    assert "Restricted key" in caught.value.message
