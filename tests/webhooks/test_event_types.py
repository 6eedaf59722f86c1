"""Event types as data: the catalog with schemas, super-admin writes (API and Django admin), trigger validation
against the schema, and the AsyncAPI 3 document."""

import json
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7

from tests.factories import TenantFactory
from tests.helpers import assert_error
from webhooks import services
from webhooks.events import CATALOG, OPERATIONAL_EVENTS
from webhooks.models import Delivery, EventType, WebhookEvent

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/integrations/webhooks/events"
ASYNCAPI = "/api/v1/integrations/webhooks/asyncapi.json"
ADMIN = "/api/v1/admin/event-types"
TRIGGER = "/api/v1/integrations/webhooks/trigger"
WEBHOOKS = "/api/v1/integrations/webhooks"
ASYNCAPI_SCHEMA = Path(__file__).parent / "schemas" / "asyncapi-3.0.0.json"

CONTRACT = {
    "name": "contract.signed",
    "description": "A candidate signed their employment contract.",
    "group": "contract",
    "schema": {
        "type": "object",
        "required": ["contractId", "signedAt"],
        "properties": {
            "contractId": {"type": "string"},
            "signedAt": {"type": "string"},
            "salary": {"type": "number", "minimum": 0},
        },
        "additionalProperties": False,
    },
    "example": {"contractId": "c-1", "signedAt": "2025-11-20T10:00:00Z", "salary": 90000},
}


# --------------------------------------------------------------------------- the seeded catalog


def test_every_builtin_type_is_seeded_with_a_valid_schema_and_an_example_that_satisfies_it():
    rows = {row.name: row for row in EventType.objects.all()}
    assert set(CATALOG) <= set(rows)
    for name in CATALOG:
        row = rows[name]
        Draft202012Validator.check_schema(row.schema)
        assert row.schema["type"] == "object"
        assert list(Draft202012Validator(row.schema).iter_errors(row.example)) == [], name
        assert row.builtin and row.version >= 1 and row.deprecated is False and row.group == name.split(".")[0]


def test_operational_events_require_the_subscription_they_are_about():
    for name in OPERATIONAL_EVENTS:
        row = EventType.objects.get(name=name)
        assert row.group == "webhook"
        assert "subscriptionId" in row.schema["required"]


def test_catalog_lists_schemas_and_filters_by_group(admin_client):
    body = admin_client.get(EVENTS, {"group": "webhook"}).json()

    names = [item["name"] for item in body["items"]]
    assert set(OPERATIONAL_EVENTS) <= set(names) and {"webhook.disabled", "webhook.test"} <= set(names)
    assert all(item["group"] == "webhook" for item in body["items"])
    failing = next(i for i in body["items"] if i["name"] == "webhook.delivery.failing")
    # the schema is the caller's JSON Schema, not camel-cased or snake-cased by the API layer
    assert failing["schema"]["additionalProperties"] is True
    assert failing["schema"]["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert failing["example"]["subscriptionId"]
    application = admin_client.get(EVENTS, {"group": "application"}).json()
    assert {i["name"] for i in application["items"]} == {n for n in CATALOG if n.startswith("application.")}
    assert_error(admin_client.get(EVENTS, {"group": "weather"}), 400, "VALIDATION_ERROR")


def test_catalog_query_count_does_not_grow_with_types(admin_client, django_assert_max_num_queries):
    with CaptureQueriesContext(connection) as few:
        admin_client.get(EVENTS)
    for n in range(15):
        EventType.objects.create(name=f"extra.type_{n}", description="x", group="extra", schema={"type": "object"})
    with CaptureQueriesContext(connection) as many:
        assert admin_client.get(EVENTS, {"limit": 100}).json()["total"] == len(CATALOG) + 15
    assert len(many) == len(few)


# --------------------------------------------------------------------------- super admin writes


def test_super_admin_adds_a_custom_type_that_tenants_subscribe_to_and_trigger(super_admin_client, admin_client):
    created = super_admin_client.post(ADMIN, CONTRACT, format="json")

    assert created.status_code == 201, created.content
    assert created.json()["schema"] == CONTRACT["schema"]
    assert created.json()["version"] == 1 and created.json()["group"] == "contract"
    hook = admin_client.post(
        WEBHOOKS, {"name": "c", "url": "http://127.0.0.1:9/h", "events": ["contract.*"]}, format="json"
    )
    assert hook.status_code == 201, hook.content
    sent = admin_client.post(TRIGGER, {"event": "contract.signed", "data": CONTRACT["example"]}, format="json")
    assert sent.status_code == 200, sent.content
    assert sent.json()["deliveries"] == 1


def test_only_super_admins_write_event_types(admin_client, anon_client):
    assert_error(admin_client.post(ADMIN, CONTRACT, format="json"), 403)
    assert_error(admin_client.patch(f"{ADMIN}/offer.sent", {"deprecated": True}, format="json"), 403)
    assert_error(anon_client.post(ADMIN, CONTRACT, format="json"), 401)
    assert not EventType.objects.filter(name="contract.signed").exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "Contract Signed"}, "name"),
        ({"name": "contract"}, "name"),
        ({"schema": {"type": "object", "properties": {"a": {"type": "strnig"}}}}, "schema"),
        ({"schema": {"type": "array"}}, "schema"),
        ({"schema": ["not", "an", "object"]}, "schema"),
        ({"example": {"contractId": 5, "signedAt": "x"}}, "example.contractId"),
        ({"example": {"contractId": "c"}}, "example.signedAt"),
        ({"group": "Not A Group"}, "group"),
    ],
)
def test_bad_event_types_are_400_with_the_field(super_admin_client, change, field):
    error = assert_error(super_admin_client.post(ADMIN, {**CONTRACT, **change}, format="json"), 400)
    assert field in error["details"], error


def test_an_existing_name_is_a_conflict(super_admin_client):
    assert_error(super_admin_client.post(ADMIN, {**CONTRACT, "name": "offer.sent"}, format="json"), 409)


def test_patch_by_dotted_name_edits_and_a_new_schema_bumps_the_version(super_admin_client):
    super_admin_client.post(ADMIN, CONTRACT, format="json")
    url = f"{ADMIN}/contract.signed"

    described = super_admin_client.patch(url, {"description": "Signed, sealed.", "deprecated": True}, format="json")
    assert described.status_code == 200, described.content
    assert described.json()["version"] == 1 and described.json()["deprecated"] is True
    new_schema = {**CONTRACT["schema"], "required": ["contractId"]}
    bumped = super_admin_client.patch(url, {"schema": new_schema}, format="json")
    assert bumped.json()["version"] == 2 and bumped.json()["schema"]["required"] == ["contractId"]
    # an edit that leaves the stored example invalid is refused
    strict = {**CONTRACT["schema"], "required": ["contractId", "signedAt", "approver"]}
    assert_error(super_admin_client.patch(url, {"schema": strict}, format="json"), 400)
    assert super_admin_client.get(url).json()["version"] == 2
    assert_error(super_admin_client.get(f"{ADMIN}/no.such"), 404)


def test_a_schema_edit_takes_effect_at_the_next_trigger(super_admin_client):
    tenant = TenantFactory()
    super_admin_client.post(ADMIN, CONTRACT, format="json")
    services.trigger(tenant, "contract.signed", {"contractId": "c", "signedAt": "now"})
    super_admin_client.patch(
        f"{ADMIN}/contract.signed",
        {
            "schema": {
                **CONTRACT["schema"],
                "properties": {**CONTRACT["schema"]["properties"], "contractId": {"type": "integer"}},
            },
            "example": {"contractId": 1, "signedAt": "now"},
        },
        format="json",
    )
    with pytest.raises(services.ValidationFailed) as excinfo:
        services.trigger(tenant, "contract.signed", {"contractId": "c", "signedAt": "now"})
    assert "data.contractId" in excinfo.value.details


def test_django_admin_adds_and_validates_event_types(client, super_admin_client):
    client.force_login(super_admin_client.user)
    form = {
        "name": "contract.sent",
        "description": "Sent for signature.",
        "group": "contract",
        "schema": json.dumps(CONTRACT["schema"]),
        "example": json.dumps(CONTRACT["example"]),
    }

    bad = client.post("/admin/webhooks/eventtype/add/", {**form, "example": json.dumps({"contractId": 1})})
    assert bad.status_code == 200 and b"example.contractId" in bad.content
    assert not EventType.objects.filter(name="contract.sent").exists()
    good = client.post("/admin/webhooks/eventtype/add/", form)
    assert good.status_code == 302, good.content[:2000]
    assert EventType.objects.get(name="contract.sent").schema == CONTRACT["schema"]
    assert client.get("/admin/webhooks/eventtype/?q=contract").status_code == 200


# --------------------------------------------------------------------------- trigger validates data


def test_api_trigger_with_schema_breaking_data_is_400_with_field_errors_and_writes_nothing(admin_client):
    admin_client.post(WEBHOOKS, {"name": "all", "url": "http://127.0.0.1:9/h", "events": ["*"]}, format="json")

    response = admin_client.post(
        TRIGGER, {"event": "offer.created", "data": {"offerId": 42, "salary": "lots", "extra": "kept"}}, format="json"
    )

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert set(error["details"]) == {"data.offerId", "data.salary"}
    assert "is not of type 'string'" in error["details"]["data.offerId"][0]
    assert not WebhookEvent.objects.exists() and not Delivery.objects.exists()
    assert_error(admin_client.post(TRIGGER, {"event": "offer.exploded", "data": {}}, format="json"), 400)


def test_python_trigger_validates_too_and_reports_missing_required_fields():
    tenant = TenantFactory()
    with pytest.raises(services.ValidationFailed) as excinfo:
        services.trigger(tenant, "webhook.delivery.failing", {"attempts": "four"})
    assert set(excinfo.value.details) == {"data.subscriptionId", "data.attempts"}
    assert not WebhookEvent.objects.exists()


# --------------------------------------------------------------------------- AsyncAPI


def _asyncapi_validator() -> Draft7Validator:
    spec = json.loads(ASYNCAPI_SCHEMA.read_text())
    draft7 = DRAFT7
    resources = [(spec["$id"], draft7.create_resource(spec))]
    resources += [(uri, draft7.create_resource(sub)) for uri, sub in spec["definitions"].items()]
    return Draft7Validator(spec, registry=Registry().with_resources(resources))


def test_asyncapi_document_is_valid_asyncapi_3_and_describes_every_type(admin_client, super_admin_client):
    super_admin_client.post(ADMIN, CONTRACT, format="json")

    response = admin_client.get(ASYNCAPI)

    assert response.status_code == 200
    document = response.json()
    errors = sorted(_asyncapi_validator().iter_errors(document), key=lambda e: list(e.path))
    assert errors == [], [f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]]
    assert document["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == set(EventType.objects.values_list("name", flat=True))
    message = document["components"]["messages"]["contract_signed"]
    assert message["payload"]["properties"]["data"]["required"] == ["contractId", "signedAt"]
    assert message["examples"][0]["payload"]["data"] == CONTRACT["example"]
    operation = document["operations"]["receive_contract_signed"]
    assert operation["action"] == "receive" and operation["channel"] == {"$ref": "#/channels/contract_signed"}


def test_the_vendored_asyncapi_schema_rejects_a_broken_document():
    errors = list(_asyncapi_validator().iter_errors({"asyncapi": "3.0.0", "channels": {}}))
    assert errors, "the validator must catch a document without info"
