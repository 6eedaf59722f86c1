import pytest
from django.test import Client
from rest_framework.test import APIClient

from config.api import parse_page_params
from tests.helpers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.urls_conventions")]


def test_camelcase_output_and_input_with_snake_case_accepted_and_user_data_untouched(anon_client):
    body = {"displayName": "Acme", "config": {"calendarId": "primary", "sync_enabled": True}}
    response = anon_client.post("/test/echo", body, format="json")
    assert response.status_code == 200
    assert response.json() == body

    snake = anon_client.post("/test/echo", {"display_name": "Acme"}, format="json")
    assert snake.json() == {"displayName": "Acme"}


def test_validation_errors_name_fields_in_camelcase(anon_client):
    error = assert_error(anon_client.post("/test/echo", {"displayName": "x" * 11}, format="json"), 400)
    assert error["code"] == "VALIDATION_ERROR"
    assert list(error["details"]) == ["displayName"]
    assert "displayName" in error["message"]


def test_unknown_fields_are_refused(anon_client):
    error = assert_error(anon_client.post("/test/echo", {"displayName": "a", "isAdmin": True}, format="json"), 400)
    assert error["details"] == {"isAdmin": ["Unknown field."]}


def test_malformed_json_is_a_400(anon_client):
    response = anon_client.post("/test/echo", data=b'{"displayName": ', content_type="application/json")
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert "JSON" in error["message"]


def test_a_json_body_that_is_not_an_object_is_a_400(anon_client):
    assert_error(anon_client.post("/test/echo", data=b"[1,2]", content_type="application/json"), 400)


def test_wrong_content_type_is_a_415(anon_client):
    response = anon_client.post("/test/echo", data=b"displayName=a", content_type="text/plain")
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_wrong_method_is_a_405(admin_client):
    assert_error(admin_client.delete("/api/v1/auth/me"), 405, "METHOD_NOT_ALLOWED")


def test_unknown_url_is_a_404_in_the_error_shape(anon_client):
    assert_error(anon_client.get("/api/v1/nothing-here"), 404, "NOT_FOUND")


def test_unhandled_error_is_a_500_without_internals():
    client = APIClient(raise_request_exception=False)
    response = client.get("/test/crash")
    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert "secret-internal-detail" not in response.content.decode()
    assert error["message"] == "An internal error occurred."


def test_crash_outside_drf_is_a_500_in_the_same_shape():
    response = Client(raise_request_exception=False).get("/test/plain-crash")
    assert response.status_code == 500
    body = response.json()
    assert body["error"]["code"] == "INTERNAL_ERROR"
    assert "secret-internal-detail" not in response.content.decode()


def test_request_id_is_generated_and_a_valid_one_echoed(anon_client):
    generated = anon_client.get("/healthz")["X-Request-Id"]
    assert len(generated) == 32

    echoed = anon_client.get("/healthz", HTTP_X_REQUEST_ID="req-123.abc")
    assert echoed["X-Request-Id"] == "req-123.abc"

    replaced = anon_client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert replaced["X-Request-Id"] != "bad id\nwith newline"
    assert len(replaced["X-Request-Id"]) == 32


def test_error_carries_the_callers_request_id(anon_client):
    response = anon_client.get("/api/v1/auth/me", HTTP_X_REQUEST_ID="trace-42")
    error = assert_error(response, 401)
    assert error["requestId"] == "trace-42"


@pytest.mark.parametrize(
    ("params", "expected"),
    [({}, (50, 0)), ({"limit": "10", "offset": "20"}, (10, 20)), ({"limit": "10", "page": "3"}, (10, 20))],
)
def test_page_params(params, expected):
    assert parse_page_params(params) == expected


@pytest.mark.parametrize(
    "params", [{"limit": "-1"}, {"limit": "10000"}, {"limit": "0"}, {"offset": "-5"}, {"page": "0"}, {"limit": "ten"}]
)
def test_bad_page_params_are_400(params):
    from rest_framework.exceptions import ValidationError

    with pytest.raises(ValidationError) as info:
        parse_page_params(params)
    assert set(info.value.detail) <= {"limit", "offset", "page"}


def test_rate_limit_headers_and_429_once_the_budget_is_spent(anon_client, settings):
    settings.RATE_LIMIT_ENABLED = True
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "default": "3/minute"}
    client = APIClient(REMOTE_ADDR="10.9.8.7")

    remaining = []
    for _ in range(3):
        response = client.post("/test/echo", {"displayName": "a"}, format="json")
        assert response.status_code == 200
        assert response["X-RateLimit-Limit"] == "3"
        assert int(response["X-RateLimit-Reset"]) > 0
        remaining.append(int(response["X-RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]

    response = client.post("/test/echo", {"displayName": "a"}, format="json")
    error = assert_error(response, 429, "RATE_LIMIT_EXCEEDED")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert error["retryAfter"] == int(response["Retry-After"])
    assert response["X-RateLimit-Remaining"] == "0"


def test_rate_limit_headers_on_401_answers(settings):
    settings.RATE_LIMIT_ENABLED = True
    response = APIClient(REMOTE_ADDR="10.9.8.6").get("/api/v1/auth/me")
    assert response.status_code == 401
    assert "X-RateLimit-Limit" in response


def test_rate_limit_budget_is_per_user(make_client, settings):
    settings.RATE_LIMIT_ENABLED = True
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "default": "1/minute"}
    first, second = make_client(), make_client()
    assert first.get("/api/v1/auth/me").status_code == 200
    assert first.get("/api/v1/auth/me").status_code == 429
    assert second.get("/api/v1/auth/me").status_code == 200


def test_options_answers_on_every_kind_of_view(admin_client):
    from tests.integrations.factories import IntegrationFactory

    integration = IntegrationFactory(tenant=admin_client.tenant)
    for url in (
        "/api/v1/integrations",
        f"/api/v1/integrations/{integration.pk}",
        f"/api/v1/integrations/{integration.pk}/health/check",
        "/api/v1/auth/me",
    ):
        response = admin_client.options(url)
        assert response.status_code == 200, (url, response.content[:300])
        assert "name" in response.json()


def test_an_absurd_offset_is_a_400_not_a_database_overflow(admin_client):
    error = assert_error(admin_client.get("/api/v1/integrations", {"offset": "877595849437091201024"}), 400)
    assert list(error["details"]) == ["offset"]
