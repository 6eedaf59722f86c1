"""Signatures of the webhooks we deliver, and a helper for consumers to verify them.

Every delivery carries two signature schemes:

* ``webhook-id`` / ``webhook-timestamp`` / ``webhook-signature`` -- the Standard Webhooks
  spec (https://www.standardwebhooks.com/). The signature covers ``"{id}.{timestamp}.{body}"``,
  so the id and the timestamp cannot be replayed with another value. During a secret rotation
  the header holds one entry per active key, newest first.
* ``X-Webhook-Signature`` -- the legacy header of our product docs: hex HMAC-SHA256 of the raw
  body, made with the newest secret only. It does not cover the timestamp.

Two kinds of keys (``signatureScheme`` of the subscription):

* ``v1`` (symmetric): a ``whsec_<base64>`` secret (what :func:`generate_secret` makes) or a
  user-provided one. ``webhook-signature`` entries are ``v1,<base64 HMAC-SHA256>`` keyed with the
  base64-decoded bytes of a ``whsec_`` secret (the Standard Webhooks convention, what every
  Standard Webhooks library does) or the UTF-8 bytes of any other secret. ``X-Webhook-Signature``
  is keyed with the secret string exactly as the API returned it, UTF-8 encoded, so the plain
  ``hmac.new(secret.encode(), body, sha256).hexdigest()`` of the product docs verifies it.
* ``v1a`` (asymmetric, ed25519): a ``whsk_<base64 seed>`` private key that never leaves the
  server (stored encrypted) and its ``whpk_<base64 raw public key>``. ``webhook-signature``
  entries are ``v1a,<base64 ed25519 signature>`` over the same ``"{id}.{timestamp}.{body}"``.
  There is no shared secret, so no ``X-Webhook-Signature`` header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
import time
from collections.abc import Mapping, Sequence
from functools import lru_cache

__all__ = [
    "PRIVATE_KEY_PREFIX",
    "PUBLIC_KEY_PREFIX",
    "SECRET_PREFIX",
    "USER_AGENT",
    "WebhookVerificationError",
    "build_headers",
    "generate_keypair",
    "generate_secret",
    "public_key_of",
    "secret_bytes",
    "sign_asymmetric",
    "sign_payload_hex",
    "sign_standard",
    "verify",
]

SECRET_PREFIX = "whsec_"
PRIVATE_KEY_PREFIX = "whsk_"  # Standard Webhooks: an asymmetric (ed25519) secret key
PUBLIC_KEY_PREFIX = "whpk_"  # ... and its public key
USER_AGENT = "IntegrationFramework-Webhooks/1.0"
DEFAULT_TOLERANCE = 300


class WebhookVerificationError(Exception):
    """A delivery failed verification. The message says why and never contains a secret or signature."""


def generate_secret() -> str:
    """Return a new signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(32)).decode("ascii")


def generate_keypair() -> tuple[str, str]:
    """Return a new ed25519 key pair ``(whsk_<base64 32-byte seed>, whpk_<base64 32-byte public key>)``."""
    seed = _secrets.token_bytes(32)
    private = PRIVATE_KEY_PREFIX + base64.b64encode(seed).decode("ascii")
    return private, public_key_of(private)


def _decode_prefixed(value: str, prefix: str) -> bytes:
    encoded = value[len(prefix) :]
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{prefix} key is not valid base64") from None
    if len(raw) != 32:
        raise ValueError(f"{prefix} key must hold 32 bytes")
    return raw


@lru_cache(maxsize=4096)
def _private_key(private: str):
    # cryptography is imported here, not at the top: verify() of v1 and hex signatures needs only the standard
    # library, so consumers can copy this module without it.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not private.startswith(PRIVATE_KEY_PREFIX):
        raise ValueError("not a whsk_ private key")
    return Ed25519PrivateKey.from_private_bytes(_decode_prefixed(private, PRIVATE_KEY_PREFIX))


def public_key_of(private: str) -> str:
    """The ``whpk_`` public key of a ``whsk_`` private key."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = _private_key(private).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def is_private_key(secret: str) -> bool:
    return isinstance(secret, str) and secret.startswith(PRIVATE_KEY_PREFIX)


def secret_bytes(secret: str) -> bytes:
    """Return the HMAC key of ``secret``.

    ``whsec_…`` secrets are base64-decoded after the prefix (missing padding is tolerated);
    any other secret is used as its UTF-8 bytes. Raises ``ValueError`` for an empty secret or
    a ``whsec_`` secret that is not valid base64.
    """
    if not secret:
        raise ValueError("webhook secret must not be empty")
    if secret.startswith(SECRET_PREFIX):
        encoded = secret[len(SECRET_PREFIX) :]
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("whsec_ secret is not valid base64") from None
        if not key:
            raise ValueError("webhook secret must not be empty")
        return key
    return secret.encode("utf-8")


def _hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def sign_payload_hex(body: bytes, secret: str) -> str:
    """Hex HMAC-SHA256 of the raw body (the ``X-Webhook-Signature`` header), keyed with the secret string itself.

    The product docs' consumer does ``hmac.new(secret.encode(), body, sha256).hexdigest()`` with the secret it was
    given, so the key is the UTF-8 bytes of the secret as returned (``whsec_`` prefix and all), not its decoded
    bytes: that decoding is a Standard Webhooks convention and applies to ``webhook-signature`` only.
    """
    if not secret:
        raise ValueError("webhook secret must not be empty")
    return _hmac_sha256(secret.encode("utf-8"), body).hex()


def sign_standard(msg_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """Standard Webhooks signature ``v1,<base64>`` over ``"{msg_id}.{timestamp}.{body}"``.

    With a ``whsk_`` private key the entry is ``v1a,<base64 ed25519>`` instead (see :func:`sign_asymmetric`).
    """
    if is_private_key(secret):
        return sign_asymmetric(msg_id, timestamp, body, secret)
    to_sign = f"{msg_id}.{int(timestamp)}.".encode() + body
    return "v1," + base64.b64encode(_hmac_sha256(secret_bytes(secret), to_sign)).decode("ascii")


def sign_asymmetric(msg_id: str, timestamp: int, body: bytes, private_key: str) -> str:
    """Standard Webhooks asymmetric signature ``v1a,<base64 ed25519>`` over ``"{msg_id}.{timestamp}.{body}"``."""
    to_sign = f"{msg_id}.{int(timestamp)}.".encode() + body
    return "v1a," + base64.b64encode(_private_key(private_key).sign(to_sign)).decode("ascii")


def build_headers(
    *,
    msg_id: str,
    event: str,
    attempt: int,
    timestamp: int,
    body: bytes,
    secrets: Sequence[str],
    content_type: str = "application/json",
) -> dict[str, str]:
    """Return the HTTP headers of one delivery attempt.

    ``secrets`` are the endpoint's active secrets (or ``whsk_`` private keys), newest first (more
    than one during a rotation): the legacy hex header uses the newest secret (and is left out for
    an ed25519 subscription, which has no shared secret), ``webhook-signature`` lists all.
    """
    if isinstance(secrets, str) or not secrets:
        raise ValueError("secrets must be a non-empty sequence of secrets")
    ts = str(int(timestamp))
    legacy = {} if is_private_key(secrets[0]) else {"X-Webhook-Signature": sign_payload_hex(body, secrets[0])}
    return {
        "Content-Type": content_type,
        "User-Agent": USER_AGENT,
        **legacy,
        "X-Webhook-Event": event,
        "X-Webhook-Id": msg_id,
        "X-Webhook-Attempt": str(int(attempt)),
        "X-Webhook-Timestamp": ts,
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": " ".join(sign_standard(msg_id, int(timestamp), body, s) for s in secrets),
    }


def _check_timestamp(value: str, *, tolerance: int, now: int | None) -> None:
    try:
        ts = int(value.strip())
    except ValueError:
        raise WebhookVerificationError("invalid timestamp header") from None
    current = int(time.time()) if now is None else now
    if abs(current - ts) > tolerance:
        raise WebhookVerificationError("timestamp outside tolerance")


def verify(
    payload: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: int | None = None,
) -> None:
    """Verify a webhook delivery; raise :class:`WebhookVerificationError` if it is not authentic.

    ``payload`` must be the raw request body exactly as received (not re-serialized JSON).
    Header names are matched case-insensitively. When ``webhook-signature`` is present the
    Standard Webhooks headers are checked (any ``v1`` entry may match, so the old and new
    secret both work during a rotation; with a ``whpk_`` public key as ``secret``, any ``v1a``
    ed25519 entry); otherwise ``X-Webhook-Signature`` (hex HMAC of the body keyed with the
    secret string) is checked, together with ``X-Webhook-Timestamp`` when sent. Timestamps
    further than ``tolerance`` seconds from ``now`` (default: the current time) are refused.

    For ``v1`` and the hex header this module only needs the Python standard library:
    consumers may copy it into their project as ``webhooks/signing.py`` (``v1a`` needs the
    ``cryptography`` package). Any Standard Webhooks library also works with a ``whsec_`` secret.

    Django::

        import json

        from django.conf import settings
        from django.http import HttpResponse, HttpResponseBadRequest
        from django.views.decorators.csrf import csrf_exempt
        from django.views.decorators.http import require_POST

        from webhooks.signing import WebhookVerificationError, verify

        @csrf_exempt
        @require_POST
        def receive(request):
            try:
                verify(request.body, request.headers, settings.WEBHOOK_SECRET)
            except WebhookVerificationError:
                return HttpResponseBadRequest("invalid signature")
            event = json.loads(request.body)
            ...
            return HttpResponse(status=204)

    Flask::

        import os

        from flask import Flask, abort, request

        from webhooks.signing import WebhookVerificationError, verify

        app = Flask(__name__)

        @app.post("/webhooks")
        def receive():
            try:
                verify(request.get_data(), request.headers, os.environ["WEBHOOK_SECRET"])
            except WebhookVerificationError:
                abort(400)
            event = request.get_json()
            ...
            return "", 204

    Deduplicate on ``webhook-id`` (equal to ``X-Webhook-Id``): a retried delivery keeps its id.
    """
    body = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    lowered = {str(k).lower(): v for k, v in headers.items()}
    if isinstance(secret, str) and secret.startswith(PUBLIC_KEY_PREFIX):
        _verify_asymmetric(body, lowered, secret, tolerance=tolerance, now=now)
        return
    try:
        key = secret_bytes(secret)
    except ValueError as exc:
        raise WebhookVerificationError(str(exc)) from None

    standard_sig = lowered.get("webhook-signature")
    if standard_sig is not None:
        msg_id = lowered.get("webhook-id")
        ts = lowered.get("webhook-timestamp")
        if not msg_id:
            raise WebhookVerificationError("missing header webhook-id")
        if not ts:
            raise WebhookVerificationError("missing header webhook-timestamp")
        _check_timestamp(ts, tolerance=tolerance, now=now)
        expected = _hmac_sha256(key, f"{msg_id}.{ts.strip()}.".encode() + body)
        for entry in standard_sig.split():
            version, _, encoded = entry.partition(",")
            if version != "v1" or not encoded:
                continue
            try:
                candidate = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                continue
            if hmac.compare_digest(expected, candidate):
                return
        raise WebhookVerificationError("no matching signature")

    hex_sig = lowered.get("x-webhook-signature")
    if hex_sig is None:
        raise WebhookVerificationError("missing header webhook-signature or X-Webhook-Signature")
    ts = lowered.get("x-webhook-timestamp")
    if ts is not None:
        _check_timestamp(ts, tolerance=tolerance, now=now)
    expected_hex = _hmac_sha256(secret.encode("utf-8"), body).hex()
    candidate_hex = hex_sig.strip().lower()
    if candidate_hex.startswith("sha256="):
        candidate_hex = candidate_hex[len("sha256=") :]
    if not hmac.compare_digest(expected_hex.encode(), candidate_hex.encode("ascii", "replace")):
        raise WebhookVerificationError("no matching signature")


def _verify_asymmetric(body: bytes, lowered: Mapping[str, str], public: str, *, tolerance: int, now) -> None:
    """Check the ``v1a`` entries of ``webhook-signature`` with a ``whpk_`` public key (ed25519)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = Ed25519PublicKey.from_public_bytes(_decode_prefixed(public, PUBLIC_KEY_PREFIX))
    except ValueError as exc:
        raise WebhookVerificationError(str(exc)) from None
    signature = lowered.get("webhook-signature")
    msg_id = lowered.get("webhook-id")
    ts = lowered.get("webhook-timestamp")
    if not signature:
        raise WebhookVerificationError("missing header webhook-signature")
    if not msg_id:
        raise WebhookVerificationError("missing header webhook-id")
    if not ts:
        raise WebhookVerificationError("missing header webhook-timestamp")
    _check_timestamp(ts, tolerance=tolerance, now=now)
    signed = f"{msg_id}.{ts.strip()}.".encode() + body
    for entry in signature.split():
        version, _, encoded = entry.partition(",")
        if version != "v1a" or not encoded:
            continue
        try:
            key.verify(base64.b64decode(encoded, validate=True), signed)
            return
        except (binascii.Error, ValueError, InvalidSignature):
            continue
    raise WebhookVerificationError("no matching signature")
