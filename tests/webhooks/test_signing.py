"""Outbound webhook signatures, cross-checked with the official ``standardwebhooks`` package."""

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as StandardVerificationError

from webhooks.signing import (
    WebhookVerificationError,
    build_headers,
    generate_secret,
    secret_bytes,
    sign_payload_hex,
    sign_standard,
    verify,
)

BODY = json.dumps({"id": "evt_1", "type": "contact.created", "data": {"name": "Zoë"}}).encode()


def _headers(secrets, *, body=BODY, timestamp=None, msg_id="msg_2bYfTf7cm7WQw3K1", attempt=1):
    return build_headers(
        msg_id=msg_id,
        event="contact.created",
        attempt=attempt,
        timestamp=int(time.time()) if timestamp is None else timestamp,
        body=body,
        secrets=secrets,
    )


def _only(headers, *names):
    wanted = {n.lower() for n in names}
    return {k: v for k, v in headers.items() if k.lower() in wanted}


STANDARD = ("webhook-id", "webhook-timestamp", "webhook-signature")
LEGACY = ("X-Webhook-Signature", "X-Webhook-Timestamp")


# --------------------------------------------------------------------------- secrets


def test_generate_secret_round_trips_to_32_bytes():
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(secret_bytes(secret)) == 32
    assert secret_bytes(secret) == base64.b64decode(secret.removeprefix("whsec_"))
    assert generate_secret() != secret


def test_user_secret_is_used_as_utf8():
    assert secret_bytes("my shared secret ü") == "my shared secret ü".encode()


def test_secret_bytes_rejects_empty_and_broken_whsec():
    with pytest.raises(ValueError):
        secret_bytes("")
    with pytest.raises(ValueError) as info:
        secret_bytes("whsec_not*base64!")
    assert "not*base64" not in str(info.value)


def test_unpadded_whsec_secret_is_accepted():
    raw = b"0123456789abcdefghijklmnopqrstu"  # 31 bytes: base64 needs one '=' of padding
    assert secret_bytes("whsec_" + base64.b64encode(raw).decode().rstrip("=")) == raw


# --------------------------------------------------------------------------- signatures


def test_sign_payload_hex_is_hmac_sha256_of_body():
    secret = generate_secret()
    # keyed with the secret string as the API returned it (UTF-8), as the product docs' consumer verifies it
    assert sign_payload_hex(BODY, secret) == hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()


def test_sign_standard_matches_official_library():
    secret = generate_secret()
    ts = 1_700_000_000
    official = Webhook(secret).sign("msg_1", datetime.fromtimestamp(ts, tz=UTC), BODY.decode())
    assert sign_standard("msg_1", ts, BODY, secret) == official


def test_build_headers_contents():
    new, old = generate_secret(), generate_secret()
    headers = _headers([new, old], timestamp=1_700_000_000, attempt=3)
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "IntegrationFramework-Webhooks/1.0"
    assert headers["X-Webhook-Event"] == "contact.created"
    assert headers["X-Webhook-Id"] == headers["webhook-id"] == "msg_2bYfTf7cm7WQw3K1"
    assert headers["X-Webhook-Attempt"] == "3"
    assert headers["X-Webhook-Timestamp"] == headers["webhook-timestamp"] == "1700000000"
    assert headers["X-Webhook-Signature"] == sign_payload_hex(BODY, new)
    entries = headers["webhook-signature"].split(" ")
    assert entries == [
        sign_standard("msg_2bYfTf7cm7WQw3K1", 1_700_000_000, BODY, new),
        sign_standard("msg_2bYfTf7cm7WQw3K1", 1_700_000_000, BODY, old),
    ]


@pytest.mark.parametrize("secrets", [[], (), "whsec_abc"])
def test_build_headers_needs_secrets(secrets):
    with pytest.raises(ValueError):
        _headers(secrets)


# --------------------------------------------------------------------------- official library accepts our deliveries


def test_official_library_verifies_our_delivery():
    secret = generate_secret()
    headers = _headers([secret])
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_official_library_during_rotation_accepts_old_and_new_secret():
    new, old = generate_secret(), generate_secret()
    headers = _headers([new, old])
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)  # a consumer that has not updated yet
    with pytest.raises(StandardVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)


def test_official_library_rejects_tampered_body():
    secret = generate_secret()
    headers = _headers([secret])
    with pytest.raises(StandardVerificationError):
        Webhook(secret).verify(BODY.replace(b"Zo", b"Xo"), headers)


# --------------------------------------------------------------------------- our verify()


def test_verify_accepts_standard_headers():
    secret = generate_secret()
    verify(BODY, _only(_headers([secret]), *STANDARD), secret)


def test_verify_accepts_legacy_headers():
    secret = generate_secret()
    verify(BODY, _only(_headers([secret]), *LEGACY), secret)


def test_verify_accepts_full_header_set_and_str_payload():
    secret = generate_secret()
    verify(BODY.decode(), _headers([secret]), secret)


def test_verify_header_lookup_is_case_insensitive():
    secret = generate_secret()
    headers = {k.upper(): v for k, v in _headers([secret]).items()}
    verify(BODY, headers, secret)
    verify(BODY, {k.lower(): v for k, v in _only(_headers([secret]), *LEGACY).items()}, secret)


def test_verify_accepts_old_secret_during_rotation():
    new, old = generate_secret(), generate_secret()
    headers = _only(_headers([new, old]), *STANDARD)
    verify(BODY, headers, new)
    verify(BODY, headers, old)


@pytest.mark.parametrize("names", [STANDARD, LEGACY])
def test_verify_rejects_tampered_body(names):
    secret = generate_secret()
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify(BODY + b" ", _only(_headers([secret]), *names), secret)


@pytest.mark.parametrize("names", [STANDARD, LEGACY])
def test_verify_rejects_wrong_secret(names):
    secret, other = generate_secret(), generate_secret()
    with pytest.raises(WebhookVerificationError) as info:
        verify(BODY, _only(_headers([secret]), *names), other)
    assert other not in str(info.value) and secret not in str(info.value)


@pytest.mark.parametrize("names", [STANDARD, LEGACY])
def test_verify_rejects_stale_and_future_timestamps(names):
    secret = generate_secret()
    now = 1_700_000_000
    stale = _only(_headers([secret], timestamp=now - 301), *names)
    future = _only(_headers([secret], timestamp=now + 301), *names)
    for headers in (stale, future):
        with pytest.raises(WebhookVerificationError, match="timestamp outside tolerance"):
            verify(BODY, headers, secret, now=now)
    verify(BODY, _only(_headers([secret], timestamp=now - 300), *names), secret, now=now)
    verify(BODY, stale, secret, now=now, tolerance=600)


def test_verify_standard_signature_covers_id_and_timestamp():
    secret = generate_secret()
    headers = _only(_headers([secret]), *STANDARD)
    with pytest.raises(WebhookVerificationError):
        verify(BODY, {**headers, "webhook-id": "msg_other"}, secret)
    with pytest.raises(WebhookVerificationError):
        verify(BODY, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)}, secret)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp"])
def test_verify_rejects_missing_standard_header(missing):
    secret = generate_secret()
    headers = _only(_headers([secret]), *STANDARD)
    del headers[missing]
    with pytest.raises(WebhookVerificationError, match="missing header"):
        verify(BODY, headers, secret)


def test_verify_rejects_without_any_signature_header():
    secret = generate_secret()
    headers = _only(_headers([secret]), "webhook-id", "webhook-timestamp", "X-Webhook-Timestamp")
    with pytest.raises(WebhookVerificationError, match="missing header"):
        verify(BODY, headers, secret)


def test_verify_rejects_malformed_standard_signatures():
    secret = generate_secret()
    headers = _only(_headers([secret]), *STANDARD)
    for value in ("", "v1", "v1,", "v1,@@@", "v2," + headers["webhook-signature"].split(",", 1)[1]):
        with pytest.raises(WebhookVerificationError):
            verify(BODY, {**headers, "webhook-signature": value}, secret)


def test_verify_rejects_non_numeric_timestamp():
    secret = generate_secret()
    headers = _only(_headers([secret]), *STANDARD)
    with pytest.raises(WebhookVerificationError, match="invalid timestamp"):
        verify(BODY, {**headers, "webhook-timestamp": "yesterday"}, secret)


def test_user_provided_secret_works_for_hex_header():
    secret = "correct horse battery staple"
    headers = _headers([secret])
    assert headers["X-Webhook-Signature"] == hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()
    verify(BODY, _only(headers, *LEGACY), secret)
    verify(BODY, _only(headers, *STANDARD), secret)
    with pytest.raises(WebhookVerificationError):
        verify(BODY, _only(headers, *LEGACY), "correct horse battery stapler")


def test_hex_header_without_timestamp_is_accepted():
    secret = generate_secret()
    verify(BODY, {"X-Webhook-Signature": sign_payload_hex(BODY, secret)}, secret)


# --------------------------------------------------------------------------- v1a (ed25519)


def test_v1a_signature_verifies_with_the_public_key_and_nothing_else():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from webhooks.signing import generate_keypair

    private, public = generate_keypair()
    other_private, other_public = generate_keypair()
    now = 1_700_000_000
    headers = build_headers(msg_id="msg_1", event="e", attempt=1, timestamp=now, body=BODY, secrets=[private])

    version, _, signature = headers["webhook-signature"].partition(",")
    assert version == "v1a" and "X-Webhook-Signature" not in headers
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public.removeprefix("whpk_")))
    key.verify(base64.b64decode(signature), b"msg_1.1700000000." + BODY)  # raises if wrong
    verify(BODY, headers, public, now=now)
    with pytest.raises(WebhookVerificationError):
        verify(BODY + b" ", headers, public, now=now)
    with pytest.raises(WebhookVerificationError):
        verify(BODY, headers, other_public, now=now)
    with pytest.raises(WebhookVerificationError):
        verify(BODY, headers, public, now=now + 3600)
    both = build_headers(msg_id="m", event="e", attempt=1, timestamp=now, body=BODY, secrets=[other_private, private])
    verify(BODY, both, public, now=now)
    verify(BODY, both, other_public, now=now)
    assert private not in str(both) and private.removeprefix("whsk_") not in str(both)
