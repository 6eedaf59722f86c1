"""Hostile input found by fuzzing: oversized or deeply nested JSON, NUL bytes. A 4xx in the error shape, no crash."""

import json
import logging

import pytest

from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

URL = "/api/v1/integrations"
WEBHOOKS = "/api/v1/integrations/webhooks"


@pytest.fixture
def no_exception_logged(caplog):
    caplog.set_level(logging.INFO)
    yield
    crashes = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not crashes, [r.getMessage() for r in crashes]


def _post_raw(client, url, raw: bytes | str):
    return client.generic("POST", url, raw, content_type="application/json")


@pytest.mark.usefixtures("no_exception_logged")
class TestNul:
    def test_nul_in_a_query_parameter_is_400(self, admin_client):
        error = assert_error(admin_client.get(f"{URL}?search=%00x"), 400, "VALIDATION_ERROR")
        assert "NUL" in error["message"] and error["details"] == {"query": [error["message"]]}

    def test_nul_in_a_query_parameter_name_is_400(self, admin_client):
        assert_error(admin_client.get(f"{URL}?se%00arch=x"), 400, "VALIDATION_ERROR")

    def test_nul_in_the_path_is_400(self, admin_client):
        assert_error(admin_client.get(f"{URL}/abc%00def"), 400, "VALIDATION_ERROR")

    def test_nul_on_the_public_receiver_is_400_too(self, anon_client):
        assert_error(anon_client.post("/api/v1/webhooks/receive/ab%00c", {}, format="json"), 400, "VALIDATION_ERROR")

    @pytest.mark.parametrize(
        "body",
        [
            '{"name": "a\\u0000b", "url": "https://example.com/h", "events": ["*"]}',
            '{"name": "n", "url": "https://example.com/h", "events": ["*"], "headers": {"X-A\\u0000": "v"}}',
            '{"name": "n", "url": "https://example.com/h", "events": ["a\\u0000"]}',
        ],
    )
    def test_nul_in_any_string_or_key_of_the_body_is_400(self, admin_client, body):
        error = assert_error(_post_raw(admin_client, WEBHOOKS, body), 400, "VALIDATION_ERROR")
        assert "NUL" in error["message"]

    def test_lone_surrogate_in_the_body_is_400(self, admin_client):
        body = '{"name": "a\\ud800b", "url": "https://example.com/h", "events": ["*"]}'
        assert_error(_post_raw(admin_client, WEBHOOKS, body), 400, "VALIDATION_ERROR")


@pytest.mark.usefixtures("no_exception_logged")
class TestJsonShape:
    def test_deeply_nested_json_is_400(self, admin_client):
        body = '{"name": "x", "config": ' + "[" * 100_000 + "]" * 100_000 + "}"
        error = assert_error(_post_raw(admin_client, URL, body), 400, "VALIDATION_ERROR")
        assert "nested" in error["message"]

    def test_nesting_just_past_the_limit_is_400_and_at_it_passes_the_parser(self, admin_client):
        from config.input_limits import MAX_JSON_DEPTH

        def nested(depth):  # the body object is level 1
            return '{"name": "x", "url": "https://example.com/h", "events": ["*"], "payload": ' + (
                "[" * (depth - 1) + "]" * (depth - 1) + "}"
            )

        assert "nested" in assert_error(_post_raw(admin_client, WEBHOOKS, nested(MAX_JSON_DEPTH + 1)), 400)["message"]
        at_limit = assert_error(_post_raw(admin_client, WEBHOOKS, nested(MAX_JSON_DEPTH)), 400)
        assert "nested" not in at_limit["message"]  # refused by the serializer (unknown field), not the parser

    @pytest.mark.parametrize("body", ['{"name": ', "not json", '{"a": NaN}', '{"a": 1e999}', b'{"a": "\xff"}'])
    def test_malformed_json_is_400(self, admin_client, body):
        assert_error(_post_raw(admin_client, URL, body), 400, "VALIDATION_ERROR")


@pytest.mark.usefixtures("no_exception_logged")
class TestBodySize:
    def test_body_over_data_upload_max_memory_size_is_413(self, admin_client, settings):
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
        body = json.dumps({"name": "x" * 3000})
        error = assert_error(_post_raw(admin_client, URL, body), 413, "PAYLOAD_TOO_LARGE")
        assert "2000" in error["message"]

    def test_body_within_the_limit_is_parsed(self, admin_client, settings):
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
        body = json.dumps({"name": "x", "url": "https://example.com/h", "events": ["*"], "bogus": "y" * 1500})
        error = assert_error(_post_raw(admin_client, WEBHOOKS, body), 400, "VALIDATION_ERROR")
        assert "bogus" in error["details"]

    def test_default_limit_is_djangos_two_and_a_half_megabytes(self, admin_client):
        body = json.dumps({"name": "x" * (2_621_440 + 10)})
        assert_error(_post_raw(admin_client, URL, body), 413, "PAYLOAD_TOO_LARGE")
