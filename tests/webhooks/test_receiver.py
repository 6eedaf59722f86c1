"""The public receiver POST /api/v1/webhooks/receive/{path}: each scheme signed as its provider documents it."""

import base64
import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook

from tests.helpers import assert_error
from tests.webhooks.inbound_support import (
    RECEIVE,
    STRIPE_SECRET,
    endpoint,
    integration,
    post_signed,
    stripe_event,
)
from webhooks import inbound as services
from webhooks.inbound_signatures import sign_for_test
from webhooks.models import InboundEvent

pytestmark = pytest.mark.django_db

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the signing secret of Slack's own example
TWILIO_TOKEN = "12345678901234567890123456789012"
GITHUB_SECRET = "It's a Secret to Everybody"  # GitHub's documented test vector
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks spec's example secret


def _post(client, path, body, headers=None, content_type="application/json", **extra):
    return client.generic(
        "POST", RECEIVE.format(path=path), body, content_type=content_type, headers=headers or {}, **extra
    )


def _accepted(response) -> InboundEvent:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "success"
    return InboundEvent.objects.get(pk=body["eventId"])


def _rejected(response, code="WEBHOOK_REJECTED", status=401):
    assert_error(response, status, code)
    assert InboundEvent.objects.count() == 0


# --- stripe ---------------------------------------------------------------------------------------------------------
class TestStripe:
    def test_signed_event_is_stored_raw_and_answered_with_its_id(self, anon_client, django_capture_on_commit_callbacks):
        ep = endpoint()
        body = stripe_event()
        with django_capture_on_commit_callbacks() as callbacks:
            response = post_signed(anon_client, ep, body)
        event = _accepted(response)
        assert bytes(event.body) == body
        assert event.provider_event_id == "evt_1NG8Du2eZvKYlo2CUI79vXWy"
        assert event.status == "pending"
        assert event.endpoint == ep and event.tenant_id == ep.tenant_id
        assert event.source_ip == "127.0.0.1"
        assert event.content_type == "application/json"
        assert len(callbacks) == 1  # processing is enqueued after commit, not run in the request

    def test_stripe_scheme_is_the_default_for_a_stripe_integration(self):
        assert endpoint().signature_scheme == "stripe"

    def test_one_valid_v1_among_several_is_accepted(self, anon_client):
        ep = endpoint()
        body = stripe_event()
        ts = int(time.time())
        good = hmac.new(STRIPE_SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        header = f"t={ts},v1={'0' * 64},v1={good},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
        _accepted(_post(anon_client, ep.path, body, {"Stripe-Signature": header}))

    def test_stale_timestamp_is_refused(self, anon_client):
        ep = endpoint()
        body = stripe_event()
        headers = sign_for_test("stripe", body, STRIPE_SECRET, timestamp=int(time.time()) - 301)
        _rejected(_post(anon_client, ep.path, body, headers))

    def test_wrong_secret_is_refused(self, anon_client):
        ep = endpoint()
        _rejected(post_signed(anon_client, ep, stripe_event(), secret="whsec_someone_elses_secret"))

    def test_missing_signature_is_refused_and_logged_without_storing(self, anon_client, caplog):
        ep = endpoint()
        with caplog.at_level(logging.WARNING, logger="webhooks.inbound"):
            response = _post(anon_client, ep.path, stripe_event())
        _rejected(response)
        assert "missing signature header" not in response.content.decode()  # the caller learns nothing
        record = next(r for r in caplog.records if r.getMessage() == "webhooks.inbound.rejected")
        assert record.endpoint_id == str(ep.id) and record.source_ip == "127.0.0.1"
        assert "missing signature header Stripe-Signature" in record.reason
        ep.refresh_from_db()
        assert ep.rejected_count == 1 and "missing signature header" in ep.last_rejected_reason

    def test_reserialised_json_does_not_verify(self, anon_client):
        ep = endpoint()
        body = stripe_event()
        headers = sign_for_test("stripe", body, STRIPE_SECRET)
        pretty = json.dumps(json.loads(body), indent=2).encode()
        _rejected(_post(anon_client, ep.path, pretty, headers))

    def test_signature_of_another_scheme_is_refused(self, anon_client):
        ep = endpoint()
        body = stripe_event()
        headers = sign_for_test("github", body, STRIPE_SECRET)
        _rejected(_post(anon_client, ep.path, body, headers))


# --- github -------------------------------------------------------------------------------------------------------
class TestGithub:
    def test_documented_test_vector_is_accepted(self, anon_client):
        # https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
        ep = endpoint(integration(key="github"), secret=GITHUB_SECRET)
        headers = {
            "X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "X-GitHub-Event": "ping",
        }
        event = _accepted(_post(anon_client, ep.path, b"Hello, World!", headers, content_type="text/plain"))
        assert bytes(event.body) == b"Hello, World!"
        # X-GitHub-Delivery is not signed: the key is the hash of the body GitHub signed
        assert event.provider_event_id == "sha256:" + hashlib.sha256(b"Hello, World!").hexdigest()

    def test_tampered_body_is_refused(self, anon_client):
        ep = endpoint(integration(key="github"), secret=GITHUB_SECRET)
        headers = {"X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}
        _rejected(_post(anon_client, ep.path, b"Hello, World?", headers, content_type="text/plain"))

    def test_legacy_sha1_header_alone_is_refused(self, anon_client):
        ep = endpoint(integration(key="github"), secret=GITHUB_SECRET)
        sha1 = hmac.new(GITHUB_SECRET.encode(), b"{}", hashlib.sha1).hexdigest()
        _rejected(_post(anon_client, ep.path, b"{}", {"X-Hub-Signature": f"sha1={sha1}"}))


# --- slack --------------------------------------------------------------------------------------------------------
def _slack_headers(body: bytes, secret: str = SLACK_SECRET, ts: int | None = None) -> dict:
    timestamp = str(ts or int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


class TestSlack:
    EVENT = json.dumps(
        {
            "token": "XXYYZZ",
            "team_id": "T123ABC456",
            "api_app_id": "A123ABC456",
            "event": {
                "type": "app_mention",
                "user": "U123ABC456",
                "text": "<@U0LAN0Z89> hi",
                "ts": "1515449522.000016",
            },
            "type": "event_callback",
            "event_id": "Ev123ABC456",
            "event_time": 1515449522000016,
        }
    ).encode()

    def test_events_api_callback_signed_by_slack_sdk_is_accepted(self, anon_client):
        ep = endpoint(integration(key="slack"), secret=SLACK_SECRET)
        event = _accepted(_post(anon_client, ep.path, self.EVENT, _slack_headers(self.EVENT)))
        assert event.provider_event_id == "Ev123ABC456"

    def test_slash_command_form_body_is_accepted(self, anon_client):
        ep = endpoint(integration(key="slack"), secret=SLACK_SECRET)
        body = urlencode(
            {"command": "/weather", "text": "94070", "team_id": "T0001", "user_id": "U2147483697"}
        ).encode()
        event = _accepted(
            _post(anon_client, ep.path, body, _slack_headers(body), content_type="application/x-www-form-urlencoded")
        )
        assert bytes(event.body) == body

    def test_stale_timestamp_is_refused(self, anon_client):
        ep = endpoint(integration(key="slack"), secret=SLACK_SECRET)
        headers = _slack_headers(self.EVENT, ts=int(time.time()) - 60 * 6)
        _rejected(_post(anon_client, ep.path, self.EVENT, headers))

    def test_wrong_secret_is_refused(self, anon_client):
        ep = endpoint(integration(key="slack"), secret=SLACK_SECRET)
        _rejected(_post(anon_client, ep.path, self.EVENT, _slack_headers(self.EVENT, secret="another-secret-value")))

    def test_url_verification_answers_the_challenge_and_stores_nothing(self, anon_client):
        ep = endpoint(integration(key="slack"), secret=SLACK_SECRET)
        body = json.dumps(
            {
                "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
                "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                "type": "url_verification",
            }
        ).encode()
        response = _post(anon_client, ep.path, body, _slack_headers(body))
        assert response.status_code == 200
        assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
        assert InboundEvent.objects.count() == 0


# --- standard webhooks / svix -------------------------------------------------------------------------------------
class TestStandardWebhooks:
    BODY = b'{"type":"user.created","data":{"id":"usr_2Nq9p"}}'

    def _headers(self, secret=STANDARD_SECRET, prefix="webhook-", ts=None, msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek"):
        when = ts or datetime.now(UTC)
        signature = Webhook(secret).sign(msg_id, when, self.BODY.decode())
        return {
            f"{prefix}id": msg_id,
            f"{prefix}timestamp": str(int(when.timestamp())),
            f"{prefix}signature": signature,
        }

    def _endpoint(self):
        return endpoint(integration(key="custom_webhook"), secret=STANDARD_SECRET, signature_scheme="standard_webhooks")

    def test_signed_by_the_standardwebhooks_library_is_accepted(self, anon_client):
        ep = self._endpoint()
        event = _accepted(_post(anon_client, ep.path, self.BODY, self._headers()))
        assert event.provider_event_id == "msg_p5jXN8AQM9LWM0D4loKWxJek"

    def test_svix_headers_are_accepted(self, anon_client):
        ep = self._endpoint()
        event = _accepted(_post(anon_client, ep.path, self.BODY, self._headers(prefix="svix-")))
        assert event.provider_event_id == "msg_p5jXN8AQM9LWM0D4loKWxJek"

    def test_stale_timestamp_is_refused(self, anon_client):
        ep = self._endpoint()
        _rejected(_post(anon_client, ep.path, self.BODY, self._headers(ts=datetime.now(UTC) - timedelta(minutes=6))))

    def test_wrong_secret_is_refused(self, anon_client):
        ep = self._endpoint()
        other = "whsec_" + base64.b64encode(b"another-secret-of-32-bytes-long!").decode()
        _rejected(_post(anon_client, ep.path, self.BODY, self._headers(secret=other)))


# --- twilio -------------------------------------------------------------------------------------------------------
def _twilio_signature(url: str, params: dict) -> str:
    """Twilio's documented algorithm: the full URL, then each POST field name + value, sorted by name, HMAC-SHA1."""
    data = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(TWILIO_TOKEN.encode(), data.encode(), hashlib.sha1).digest()).decode()


class TestTwilio:
    PARAMS = {
        "MessageSid": "SM6a6b3d8f1c2e4d5f6a7b8c9d0e1f2a3b",
        "MessageStatus": "delivered",
        "AccountSid": "AC00000000000000000000000000000000",
        "From": "+15017122661",
        "To": "+15558675310",
    }

    def test_status_callback_signed_over_the_public_url_is_accepted(self, anon_client, settings):
        # Behind a TLS-terminating proxy the request arrives as http://testserver; Twilio signed the public URL.
        settings.PUBLIC_BASE_URL = "https://hooks.example.com"
        ep = endpoint(integration(key="twilio"), secret=TWILIO_TOKEN)
        query = "tenant=acme&x=1"
        url = f"https://hooks.example.com{RECEIVE.format(path=ep.path)}?{query}"
        body = urlencode(self.PARAMS).encode()
        response = anon_client.generic(
            "POST",
            f"{RECEIVE.format(path=ep.path)}?{query}",
            body,
            content_type="application/x-www-form-urlencoded",
            headers={"X-Twilio-Signature": _twilio_signature(url, self.PARAMS)},
        )
        event = _accepted(response)
        assert event.provider_event_id == "SM6a6b3d8f1c2e4d5f6a7b8c9d0e1f2a3b:delivered"

    def test_signature_over_the_internal_url_is_refused(self, anon_client, settings):
        settings.PUBLIC_BASE_URL = "https://hooks.example.com"
        ep = endpoint(integration(key="twilio"), secret=TWILIO_TOKEN)
        internal = f"http://testserver{RECEIVE.format(path=ep.path)}"
        body = urlencode(self.PARAMS).encode()
        headers = {"X-Twilio-Signature": _twilio_signature(internal, self.PARAMS)}
        _rejected(_post(anon_client, ep.path, body, headers, content_type="application/x-www-form-urlencoded"))

    def test_changed_parameter_is_refused(self, anon_client):
        ep = endpoint(integration(key="twilio"), secret=TWILIO_TOKEN)
        url = f"http://testserver{RECEIVE.format(path=ep.path)}"
        headers = {"X-Twilio-Signature": _twilio_signature(url, self.PARAMS)}
        body = urlencode({**self.PARAMS, "MessageStatus": "failed"}).encode()
        _rejected(_post(anon_client, ep.path, body, headers, content_type="application/x-www-form-urlencoded"))


# --- hmac_sha256 and odd bodies ---------------------------------------------------------------------------------
class TestHmacAndBodies:
    SECRET = "a-shared-secret-of-ours"

    def _endpoint(self, **fields):
        return endpoint(integration(key="custom_webhook"), secret=self.SECRET, **fields)

    def test_hex_hmac_in_the_configured_header_is_accepted(self, anon_client):
        ep = self._endpoint(signature_header="X-Acme-Signature")
        body = b'{"id": 42, "event": "order.created"}'
        signature = hmac.new(self.SECRET.encode(), body, hashlib.sha256).hexdigest()
        event = _accepted(_post(anon_client, ep.path, body, {"X-Acme-Signature": signature}))
        assert event.provider_event_id == "42"

    def test_signature_in_the_default_header_is_refused_when_another_is_configured(self, anon_client):
        ep = self._endpoint(signature_header="X-Acme-Signature")
        body = b"{}"
        _rejected(_post(anon_client, ep.path, body, sign_for_test("hmac_sha256", body, self.SECRET)))

    @pytest.mark.parametrize(
        ("body", "content_type"),
        [
            (b"", "application/json"),
            (b"not json at all", "text/plain"),
            (b"\xff\xfe\x00invalid utf-8 \xc3\x28", "application/octet-stream"),
            (b'{"truncated": ', "application/json"),
            (b"a=1&b=%ZZ", "application/x-www-form-urlencoded"),
        ],
    )
    def test_odd_bodies_are_stored_byte_for_byte_when_signed(self, anon_client, body, content_type):
        ep = self._endpoint()
        headers = sign_for_test("hmac_sha256", body, self.SECRET)
        event = _accepted(_post(anon_client, ep.path, body, headers, content_type=content_type))
        assert bytes(event.body) == body
        assert event.body_size == len(body)
        assert event.provider_event_id == "sha256:" + hashlib.sha256(body).hexdigest()

    def test_nul_and_lone_surrogates_in_the_event_id_are_stored_cleaned(self, anon_client):
        ep = self._endpoint(verify_signature=False)
        body = b'{"id": "evt_\\u0000nul\\ud800x"}'
        event = _accepted(_post(anon_client, ep.path, body, {"X-Note": "tab\there"}))
        assert event.provider_event_id == "evt_nul?x"
        assert bytes(event.body) == body

    def test_unsigned_endpoint_accepts_without_a_signature(self, anon_client):
        ep = self._endpoint(verify_signature=False)
        _accepted(_post(anon_client, ep.path, b'{"hello": "world"}'))

    def test_credentials_headers_are_not_stored(self, anon_client):
        ep = self._endpoint()
        body = b"{}"
        headers = {
            **sign_for_test("hmac_sha256", body, self.SECRET),
            "Authorization": "Bearer abc",
            "Cookie": "sessionid=xyz",
            "X-Custom": "kept",
        }
        event = _accepted(_post(anon_client, ep.path, body, headers))
        lowered = {k.lower(): v for k, v in event.headers.items()}
        assert "authorization" not in lowered and "cookie" not in lowered
        assert lowered["x-custom"] == "kept"


# --- endpoint state, limits, rotation -----------------------------------------------------------------------------
class TestEndpointState:
    def test_unknown_path_is_refused_like_a_bad_signature(self, anon_client):
        assert_error(_post(anon_client, "no-such-endpoint", b"{}"), 401, "WEBHOOK_REJECTED")

    def test_inactive_endpoint_is_refused_and_stores_nothing(self, anon_client):
        ep = endpoint(active=False)
        assert_error(post_signed(anon_client, ep, stripe_event()), 401, "WEBHOOK_REJECTED")
        assert InboundEvent.objects.count() == 0
        ep.refresh_from_db()
        assert ep.rejected_count == 1 and ep.last_rejected_reason == "endpoint inactive"

    def test_body_over_the_limit_is_413(self, anon_client, settings):
        settings.INBOUND_MAX_BODY_BYTES = 1000
        ep = endpoint()
        body = json.dumps({"id": "evt_big", "pad": "x" * 1000}).encode()
        _rejected(post_signed(anon_client, ep, body), code="PAYLOAD_TOO_LARGE", status=413)

    def test_body_at_the_limit_is_accepted(self, anon_client, settings):
        body = json.dumps({"id": "evt_fits", "pad": "x" * 900}).encode()
        settings.INBOUND_MAX_BODY_BYTES = len(body)
        _accepted(post_signed(anon_client, endpoint(), body))

    def test_get_is_405(self, anon_client):
        ep = endpoint()
        assert_error(anon_client.get(RECEIVE.format(path=ep.path)), 405, "METHOD_NOT_ALLOWED")

    def test_old_secret_verifies_during_the_grace_period_only(self, anon_client):
        ep = endpoint()
        new_secret = services.inbound_endpoint_rotate_secret(endpoint=ep, grace_seconds=3600)
        _accepted(post_signed(anon_client, ep, stripe_event("evt_old_secret"), secret=STRIPE_SECRET))
        _accepted(post_signed(anon_client, ep, stripe_event("evt_new_secret"), secret=new_secret))
        ep.refresh_from_db()
        ep.previous_secret_expires_at = timezone.now() - timedelta(seconds=1)
        ep.save()
        response = post_signed(anon_client, ep, stripe_event("evt_after_grace"), secret=STRIPE_SECRET)
        assert_error(response, 401, "WEBHOOK_REJECTED")
        assert not InboundEvent.objects.filter(provider_event_id="evt_after_grace").exists()

    def test_rotation_without_grace_refuses_the_old_secret_at_once(self, anon_client):
        ep = endpoint()
        services.inbound_endpoint_rotate_secret(endpoint=ep, grace_seconds=0)
        assert_error(post_signed(anon_client, ep, stripe_event()), 401, "WEBHOOK_REJECTED")

    def test_repeated_event_answers_with_the_first_id(self, anon_client):
        ep = endpoint()
        first = _accepted(post_signed(anon_client, ep, stripe_event("evt_repeat")))
        second = post_signed(anon_client, ep, stripe_event("evt_repeat"))
        assert second.status_code == 200 and second.json()["eventId"] == str(first.id)
        assert InboundEvent.objects.count() == 1

    def test_same_event_id_on_two_endpoints_is_two_events(self, anon_client):
        a, b = endpoint(), endpoint()
        _accepted(post_signed(anon_client, a, stripe_event("evt_shared")))
        _accepted(post_signed(anon_client, b, stripe_event("evt_shared")))
        assert InboundEvent.objects.count() == 2


class TestRateLimit:
    def test_flood_on_one_endpoint_is_429_while_another_keeps_serving(self, anon_client, settings):
        settings.RATE_LIMIT_ENABLED = True
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, "webhook_receiver": "3/minute"}
        flooded, quiet = endpoint(), endpoint()
        answers = [post_signed(anon_client, flooded, stripe_event(f"evt_flood_{i}")).status_code for i in range(5)]
        assert answers == [200, 200, 200, 429, 429]
        limited = post_signed(anon_client, flooded, stripe_event("evt_flood_x"))
        error = assert_error(limited, 429, "RATE_LIMIT_EXCEEDED")
        assert int(limited["Retry-After"]) >= 1 and error["retryAfter"] >= 1
        assert limited["X-RateLimit-Limit"] == "3"
        assert post_signed(anon_client, quiet, stripe_event("evt_quiet")).status_code == 200
        assert InboundEvent.objects.filter(endpoint=flooded).count() == 3
