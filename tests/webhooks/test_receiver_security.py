"""The public receiver under attack: junk senders starving a provider, probing for paths, replaying captures."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from urllib.parse import urlencode

import pytest

from tests.helpers import assert_error
from tests.webhooks.inbound_support import BASE, RECEIVE, endpoint, integration, post_signed, stripe_event
from webhooks.inbound_signatures import sign_for_test
from webhooks.models import InboundEndpoint, InboundEvent

pytestmark = pytest.mark.django_db

HMAC_SECRET = "a-shared-secret-of-ours"


def _post(client, path, body, headers=None, *, ip="127.0.0.1", content_type="application/json", query=""):
    url = RECEIVE.format(path=path) + (f"?{query}" if query else "")
    return client.generic("POST", url, body, content_type=content_type, headers=headers or {}, REMOTE_ADDR=ip)


def _hmac_endpoint(**fields):
    return endpoint(integration(key="custom_webhook"), secret=HMAC_SECRET, **fields)


def _fresh_address() -> str:
    """A sender address no other test (or earlier run in the same minute) has spent budget from: the counters live
    in the shared Redis, which these tests leave alone for the rest of the suite."""
    return f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"


@pytest.fixture
def limits(settings):
    """Rate limits on, with the given rates."""
    settings.RATE_LIMIT_ENABLED = True

    def apply(**rates):
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, **rates}

    return apply


# --- 5. Denial of service through the receiver's rate limit -------------------------------------------------------
class TestReceiverRateLimits:
    def test_junk_from_one_sender_does_not_starve_the_provider(self, anon_client, limits):
        limits(webhook_receiver="5/minute", webhook_receiver_path="50/minute", webhook_receiver_address="50/minute")
        ep, attacker, provider = endpoint(), _fresh_address(), _fresh_address()
        junk = [_post(anon_client, ep.path, b"{}", ip=attacker).status_code for _ in range(8)]
        assert junk == [401] * 5 + [429] * 3
        for n in range(5):
            assert post_signed(anon_client, ep, stripe_event(f"evt_real_{n}"), REMOTE_ADDR=provider).status_code == 200
        assert InboundEvent.objects.filter(endpoint=ep).count() == 5

    def test_bad_signatures_do_not_spend_the_path_ceiling(self, anon_client, limits):
        limits(webhook_receiver="100/minute", webhook_receiver_path="3/minute", webhook_receiver_address="100/minute")
        ep, provider = endpoint(), _fresh_address()
        for _ in range(10):  # from many addresses: each charged to its sender, none to the path
            assert _post(anon_client, ep.path, stripe_event(), ip=_fresh_address()).status_code == 401
        answers = [
            post_signed(anon_client, ep, stripe_event(f"evt_ok_{n}"), REMOTE_ADDR=provider).status_code
            for n in range(4)
        ]
        assert answers == [200, 200, 200, 429]  # verified requests do spend it: the ceiling holds
        limited = post_signed(anon_client, ep, stripe_event("evt_late"), REMOTE_ADDR=_fresh_address())
        assert int(assert_error(limited, 429, "RATE_LIMIT_EXCEEDED")["retryAfter"]) >= 1

    def test_one_address_has_one_budget_across_all_paths(self, anon_client, limits):
        limits(webhook_receiver="100/minute", webhook_receiver_path="100/minute", webhook_receiver_address="4/minute")
        attacker = _fresh_address()
        answers = [_post(anon_client, f"probe-{n}", b"{}", ip=attacker).status_code for n in range(6)]
        assert answers == [401, 401, 401, 401, 429, 429]
        ep = endpoint()  # another sender is not affected
        assert post_signed(anon_client, ep, stripe_event(), REMOTE_ADDR=_fresh_address()).status_code == 200

    def test_a_forged_x_forwarded_for_does_not_move_the_senders_budget(self, anon_client, limits, settings):
        settings.TRUSTED_PROXIES = []  # the default: no proxy vouches for the header
        limits(webhook_receiver="3/minute", webhook_receiver_path="100/minute", webhook_receiver_address="100/minute")
        ep, attacker = endpoint(), _fresh_address()
        answers = [
            _post(anon_client, ep.path, b"{}", {"X-Forwarded-For": _fresh_address()}, ip=attacker).status_code
            for _ in range(5)
        ]
        assert answers == [401, 401, 401, 429, 429]

    def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(self, anon_client, limits, settings):
        settings.TRUSTED_PROXIES = ["10.9.0.0/16"]
        limits(webhook_receiver="2/minute", webhook_receiver_path="100/minute", webhook_receiver_address="100/minute")
        ep, attacker, provider = endpoint(), _fresh_address(), _fresh_address()
        via_proxy = {"X-Forwarded-For": f"{_fresh_address()}, {attacker}"}  # the left entry is the client's own lie
        junk = [_post(anon_client, ep.path, b"{}", via_proxy, ip="10.9.0.5").status_code for _ in range(3)]
        assert junk == [401, 401, 429]
        ok = post_signed(anon_client, ep, stripe_event(), REMOTE_ADDR="10.9.0.5", HTTP_X_FORWARDED_FOR=provider)
        assert ok.status_code == 200

    def test_limits_default_to_ten_times_the_per_path_and_address_rate(self):
        from django.conf import settings

        count, _, period = settings.RATE_LIMITS["webhook_receiver"].partition("/")
        assert settings.RATE_LIMITS["webhook_receiver_path"] == f"{int(count) * 10}/{period}"
        assert settings.RATE_LIMITS["webhook_receiver_address"] == f"{int(count) * 10}/{period}"


# --- 6. The receiver is no oracle for which paths exist -----------------------------------------------------------
def _answer(response) -> tuple:
    body = response.json()
    body["error"].pop("requestId")
    return response.status_code, body, response["Content-Type"]


class TestPathOracle:
    def test_unknown_path_and_every_rejection_look_the_same(self, anon_client, settings):
        ep = endpoint()
        inactive = endpoint(active=False)
        stale = sign_for_test("stripe", stripe_event(), "whsec_x", timestamp=int(time.time()) - 3600)
        answers = {
            "unknown path": _answer(_post(anon_client, "no-such-endpoint-here", stripe_event())),
            "missing signature": _answer(_post(anon_client, ep.path, stripe_event())),
            "wrong signature": _answer(post_signed(anon_client, ep, stripe_event(), secret="whsec_not_the_one")),
            "stale timestamp": _answer(_post(anon_client, ep.path, stripe_event(), stale)),
            "inactive": _answer(post_signed(anon_client, inactive, stripe_event())),
        }
        assert len({json.dumps(a, sort_keys=True) for a in answers.values()}) == 1, answers
        status, body, _ = answers["unknown path"]
        assert status == 401 and body["error"]["code"] == "WEBHOOK_REJECTED"
        for word in ("signature", "header", "tolerance", "Stripe", "not found", "inactive"):
            assert word.lower() not in json.dumps(body).lower()
        assert InboundEvent.objects.count() == 0

    def test_oversized_body_is_413_on_known_and_unknown_paths_alike(self, anon_client, settings):
        settings.INBOUND_MAX_BODY_BYTES = 100
        ep = endpoint()
        big = json.dumps({"pad": "x" * 200}).encode()
        known = _answer(post_signed(anon_client, ep, big))
        unknown = _answer(_post(anon_client, "no-such-endpoint-here", big))
        assert known == unknown and known[0] == 413

    def test_the_tenant_reads_why_its_endpoint_refused_a_request(self, admin_client, anon_client):
        ep = endpoint(integration(admin_client.tenant))
        before = admin_client.get(f"{BASE}/{ep.id}").json()
        assert before["rejectedCount"] == 0 and before["lastRejectedAt"] is None and before["lastRejectedReason"] == ""
        post_signed(anon_client, ep, stripe_event(), secret="whsec_not_the_one")
        _post(anon_client, ep.path, stripe_event())
        after = admin_client.get(f"{BASE}/{ep.id}").json()
        assert after["rejectedCount"] == 2 and after["lastRejectedAt"]
        assert after["lastRejectedReason"] == "signature rejected: missing signature header Stripe-Signature"
        listed = admin_client.get(BASE).json()["items"][0]
        assert listed["rejectedCount"] == 2

    def test_a_secret_never_reaches_the_recorded_reason(self, anon_client):
        ep = _hmac_endpoint()
        headers = {"X-Signature": "sha256=" + "ab" * 32}
        _post(anon_client, ep.path, b'{"secret": "nope"}', headers)
        ep.refresh_from_db()
        assert ep.last_rejected_reason == "signature rejected: signature mismatch"
        assert HMAC_SECRET not in ep.last_rejected_reason


# --- 7. Replays of the body-only schemes ---------------------------------------------------------------------------
class TestReplays:
    def test_hmac_capture_replayed_under_a_new_webhook_id_is_the_same_event(self, anon_client):
        ep = _hmac_endpoint()
        body = b'{"event": "order.paid", "amount": 100}'  # no id in the body
        signed = sign_for_test("hmac_sha256", body, HMAC_SECRET)
        first = _post(anon_client, ep.path, body, {**signed, "X-Webhook-Id": "wh_original"})
        replay = _post(anon_client, ep.path, body, {**signed, "X-Webhook-Id": "wh_attacker_1"})
        again = _post(anon_client, ep.path, body, {**signed, "Idempotency-Key": "other"})
        assert first.status_code == replay.status_code == again.status_code == 200
        assert first.json()["eventId"] == replay.json()["eventId"] == again.json()["eventId"]
        assert InboundEvent.objects.filter(endpoint=ep).count() == 1

    def test_hmac_body_with_an_id_is_keyed_on_it(self, anon_client):
        ep = _hmac_endpoint()
        for delivery in ("a", "b"):
            body = json.dumps({"id": "ord_1", "attempt": delivery}).encode()
            _post(
                anon_client,
                ep.path,
                body,
                {**sign_for_test("hmac_sha256", body, HMAC_SECRET), "X-Webhook-Id": delivery},
            )
        assert list(InboundEvent.objects.values_list("provider_event_id", flat=True)) == ["ord_1"]

    def test_github_capture_replayed_under_a_new_delivery_id_is_the_same_event(self, anon_client):
        ep = endpoint(integration(key="github"), secret="github-secret-value")
        body = json.dumps({"action": "opened", "number": 7}).encode()
        signed = sign_for_test("github", body, "github-secret-value")
        ids = {
            _post(anon_client, ep.path, body, {**signed, "X-GitHub-Delivery": delivery}).json()["eventId"]
            for delivery in ("72d3162e-cc78-11e3-81ab-4c9367dc0958", "00000000-0000-0000-0000-000000000001")
        }
        assert len(ids) == 1 and InboundEvent.objects.count() == 1

    def test_twilio_capture_replayed_under_a_new_idempotency_token_is_the_same_event(self, anon_client):
        token = "12345678901234567890123456789012"
        ep = endpoint(integration(key="twilio"), secret=token)
        params = {"MessageSid": "SM6a6b3d8f1c2e4d5f6a7b8c9d0e1f2a3b", "MessageStatus": "delivered"}
        url = f"http://testserver{RECEIVE.format(path=ep.path)}"
        data = url + "".join(name + params[name] for name in sorted(params))
        signature = base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()
        body = urlencode(params).encode()
        form = "application/x-www-form-urlencoded"
        for idem in ("idem-original", "idem-attacker"):
            headers = {"X-Twilio-Signature": signature, "I-Twilio-Idempotency-Token": idem}
            assert _post(anon_client, ep.path, body, headers, content_type=form).status_code == 200
        assert InboundEvent.objects.count() == 1


class TestRequireTimestamp:
    def _create(self, client, **body):
        integ = integration(client.tenant, key="custom_webhook")
        payload = {"integrationId": str(integ.id), "name": "Signed", "secret": HMAC_SECRET, **body}
        return client.post(BASE, payload, format="json")

    def test_endpoint_created_with_require_timestamp_takes_signed_timestamps_only(self, admin_client, anon_client):
        created = self._create(admin_client, requireTimestamp=True)
        assert created.status_code == 201, created.content
        assert created.json()["requireTimestamp"] is True and created.json()["signatureScheme"] == "hmac_sha256"
        ep = InboundEndpoint.objects.get(pk=created.json()["id"])
        body = b'{"event": "ping"}'
        # the body-only signature a captured request carries is not enough any more
        body_only = sign_for_test("hmac_sha256", body, HMAC_SECRET)
        assert _post(anon_client, ep.path, body, body_only).status_code == 401
        ts = int(time.time())
        signed = sign_for_test("hmac_sha256", body, HMAC_SECRET, timestamp=ts, require_timestamp=True)
        assert signed["X-Webhook-Timestamp"] == str(ts)
        expected = hmac.new(HMAC_SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        assert signed["X-Signature"] == expected  # MAC over "{timestamp}.{body}"
        first = _post(anon_client, ep.path, body, signed)
        assert first.status_code == 200
        # a replay inside the window is the same event; a re-stamped one cannot be forged
        assert _post(anon_client, ep.path, body, signed).json()["eventId"] == first.json()["eventId"]
        forged = {**signed, "X-Webhook-Timestamp": str(ts + 60)}
        assert _post(anon_client, ep.path, body, forged).status_code == 401
        zero_padded = {**signed, "X-Webhook-Timestamp": f"0{ts}"}  # verifies (same number) but is no new event
        assert _post(anon_client, ep.path, body, zero_padded).json()["eventId"] == first.json()["eventId"]
        assert InboundEvent.objects.count() == 1

    def test_a_timestamp_outside_five_minutes_is_refused(self, admin_client, anon_client):
        ep = InboundEndpoint.objects.get(pk=self._create(admin_client, requireTimestamp=True).json()["id"])
        body = b'{"event": "ping"}'
        for skew in (-301, 301):
            headers = sign_for_test(
                "hmac_sha256", body, HMAC_SECRET, timestamp=int(time.time()) + skew, require_timestamp=True
            )
            assert _post(anon_client, ep.path, body, headers).status_code == 401
        headers = sign_for_test(
            "hmac_sha256", body, HMAC_SECRET, timestamp=int(time.time()) - 240, require_timestamp=True
        )
        assert _post(anon_client, ep.path, body, headers).status_code == 200
        ep.refresh_from_db()
        assert ep.last_rejected_reason == "signature rejected: timestamp outside tolerance"

    def test_default_is_off_and_body_only_signatures_still_verify(self, admin_client, anon_client):
        created = self._create(admin_client)
        assert created.json()["requireTimestamp"] is False
        ep = InboundEndpoint.objects.get(pk=created.json()["id"])
        body = b'{"event": "ping"}'
        assert _post(anon_client, ep.path, body, sign_for_test("hmac_sha256", body, HMAC_SECRET)).status_code == 200

    def test_only_hmac_sha256_takes_it(self, admin_client):
        error = assert_error(self._create(admin_client, signatureScheme="stripe", requireTimestamp=True), 400)
        assert "requireTimestamp" in error["details"]
        created = self._create(admin_client, requireTimestamp=True).json()
        patched = admin_client.patch(f"{BASE}/{created['id']}", {"signatureScheme": "github"}, format="json")
        assert "requireTimestamp" in assert_error(patched, 400)["details"]
