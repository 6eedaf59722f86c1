"""Subscription filters: validation (400 naming `filter`), matching rules, and no delivery for a filtered-out event."""

import pytest

from config.errors import ValidationFailed
from tests.factories import TenantFactory
from tests.helpers import assert_error
from webhooks import services
from webhooks.filters import filter_matches, filter_validate
from webhooks.models import Delivery

BASE = "/api/v1/integrations/webhooks"
URL = "http://127.0.0.1:9/hooks"
STAGES = {"toStage": {"in": ["interview", "offer"]}, "job.remote": True}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"toStage": "interview", "job": {"remote": True}}, True),
        ({"toStage": "offer", "job": {"remote": True, "title": "x"}}, True),
        ({"toStage": "applied", "job": {"remote": True}}, False),  # not in the list
        ({"toStage": "offer", "job": {"remote": False}}, False),  # both conditions must hold
        ({"toStage": "offer", "job": {"remote": 1}}, False),  # true is not 1
        ({"toStage": "offer"}, False),  # a missing path never equals
        ({"toStage": "offer", "job": "remote"}, False),  # a path through a non-object
    ],
)
def test_in_and_literal_conditions_are_anded(data, expected):
    assert filter_matches(STAGES, data) is expected


@pytest.mark.parametrize(
    ("conditions", "data", "expected"),
    [
        ({"reason": {"exists": True}}, {"reason": None}, True),  # present, even null
        ({"reason": {"exists": True}}, {}, False),
        ({"reason": {"exists": False}}, {}, True),
        ({"reason": {"exists": False}}, {"reason": "x"}, False),
        ({"salary": 95000}, {"salary": 95000.0}, True),  # JSON numbers
        ({"salary": {"in": [1, 2]}}, {"salary": True}, False),
        ({"jobBoards": ["linkedin"]}, {"jobBoards": ["linkedin"]}, True),
        ({"items.0.id": "a"}, {"items": [{"id": "a"}]}, True),
        ({"stage": None}, {"stage": None}, True),
        ({"stage": None}, {}, False),
        ({}, {"anything": 1}, True),
    ],
)
def test_exists_null_numbers_arrays(conditions, data, expected):
    assert filter_matches(conditions, data) is expected


@pytest.mark.parametrize(
    "bad",
    [
        ["toStage"],
        "toStage=offer",
        {"toStage": {"eq": "offer"}},
        {"toStage": {"in": "offer"}},
        {"toStage": {"in": []}},
        {"toStage": {"in": ["a"], "exists": True}},
        {"toStage": {"exists": "yes"}},
        {"toStage": {"in": [{"nested": 1}]}},
        {"": 1},
        {"a..b": 1},
        {f"k{n}": n for n in range(21)},
    ],
)
def test_invalid_filters_are_refused_naming_filter(bad):
    with pytest.raises(ValidationFailed) as excinfo:
        filter_validate(bad)
    assert list(excinfo.value.details) == ["filter"]


@pytest.mark.django_db
def test_api_refuses_an_invalid_filter_with_400_naming_filter_and_keeps_path_keys(admin_client):
    for bad in ({"toStage": {"regex": "o.*"}}, ["a"], "x"):
        body = {"name": "f", "url": URL, "events": ["*"], "filter": bad}
        error = assert_error(admin_client.post(BASE, body, format="json"), 400, "VALIDATION_ERROR")
        assert "filter" in error["details"], error

    created = admin_client.post(BASE, {"name": "f", "url": URL, "events": ["*"], "filter": STAGES}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["filter"] == STAGES  # the dotted camelCase paths come back as sent
    hook_id = created.json()["id"]
    patched = admin_client.patch(f"{BASE}/{hook_id}", {"filter": {"job_id": {"exists": True}}}, format="json")
    assert patched.json()["filter"] == {"job_id": {"exists": True}}
    assert_error(admin_client.patch(f"{BASE}/{hook_id}", {"filter": {"a": {"nope": 1}}}, format="json"), 400)
    assert admin_client.patch(f"{BASE}/{hook_id}", {"filter": None}, format="json").json()["filter"] == {}


@pytest.mark.django_db
def test_a_filtered_out_event_creates_no_delivery(enqueued):
    tenant = TenantFactory()
    picky, _ = services.webhook_create(tenant=tenant, name="picky", url=URL, events=["application.*"], filter=STAGES)
    everything, _ = services.webhook_create(tenant=tenant, name="all", url=URL, events=["*"])

    matching = services.trigger(
        tenant, "application.stage_changed", {"toStage": "offer", "job": {"remote": True}, "applicationId": "a"}
    )
    other = services.trigger(tenant, "application.stage_changed", {"toStage": "applied", "job": {"remote": True}})

    assert Delivery.objects.filter(event=matching, webhook=picky).count() == 1
    assert not Delivery.objects.filter(event=other, webhook=picky).exists()
    assert Delivery.objects.filter(webhook=everything).count() == 2
    assert len(other.delivery_ids) == 1
