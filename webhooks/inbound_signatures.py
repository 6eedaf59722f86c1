"""Verification of the webhooks we receive from providers.

A registry of signature schemes keyed by name (:data:`SCHEMES`). :func:`verify_signature`
raises :class:`SignatureError` for a request that is not authentic; :func:`provider_event_id`
returns the provider's id of the event, used as the deduplication key of retried deliveries.

Everything here works on the raw request body exactly as received: re-serialized JSON or
re-encoded form data does not verify. The URL given for Twilio must be the public URL Twilio
called (scheme, host, path and query), not the one seen behind a TLS-terminating proxy.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets as _secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from .signing import secret_bytes as _standard_secret_bytes

__all__ = [
    "BODY_HASH_PREFIX",
    "DEFAULT_SIGNATURE_HEADERS",
    "DEFAULT_TOLERANCE",
    "HMAC_TIMESTAMP_HEADER",
    "SCHEMES",
    "InboundRequest",
    "SignatureError",
    "provider_event_id",
    "sign_for_test",
    "twilio_json_url",
    "verify_signature",
]

DEFAULT_TOLERANCE = 300

SCHEMES: tuple[str, ...] = ("hmac_sha256", "stripe", "github", "slack", "standard_webhooks", "twilio")

DEFAULT_SIGNATURE_HEADERS: dict[str, str] = {
    "hmac_sha256": "X-Signature",
    "stripe": "Stripe-Signature",
    "github": "X-Hub-Signature-256",
    "slack": "X-Slack-Signature",
    "standard_webhooks": "webhook-signature",
    "twilio": "X-Twilio-Signature",
}

_SLACK_TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
# The deduplication key of an event whose provider names no id in what it signs: this prefix + sha256 of the body.
BODY_HASH_PREFIX = "sha256:"
# hmac_sha256 endpoints created with requireTimestamp: the signed Unix timestamp of the request.
HMAC_TIMESTAMP_HEADER = "X-Webhook-Timestamp"
_FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class SignatureError(Exception):
    """The request is not authentic. The message is safe to log: it never holds a secret or signature."""


class _Headers(Mapping[str, str]):
    """Read-only header mapping with case-insensitive lookup (last value wins on duplicates)."""

    __slots__ = ("_items",)

    def __init__(self, headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
        self._items: dict[str, tuple[str, str]] = {str(k).lower(): (str(k), str(v)) for k, v in pairs}

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()][1]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"_Headers({dict(self.items())!r})"


@dataclass(frozen=True)
class InboundRequest:
    """A received webhook request.

    ``body`` is the raw body as received; ``headers`` may be any mapping (it is wrapped for
    case-insensitive lookup); ``url`` is the full URL the provider called (Twilio signs it);
    ``form`` holds the parsed ``application/x-www-form-urlencoded`` parameters, every value a
    list (Django: ``dict(request.POST.lists())``). When ``form`` is None, Twilio verification
    parses a form-encoded body itself.
    """

    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    url: str = ""
    form: Mapping[str, list[str]] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.body, bytes):
            object.__setattr__(self, "body", bytes(self.body))
        if not isinstance(self.headers, _Headers):
            object.__setattr__(self, "headers", _Headers(self.headers))


# --------------------------------------------------------------------------- helpers


def _hmac_hex(key: bytes, data: bytes, digest: Callable[..., object] = hashlib.sha256) -> str:
    return hmac.new(key, data, digest).hexdigest()


def _equal(expected: str, received: str) -> bool:
    """Constant-time comparison of two ASCII signature strings."""
    return hmac.compare_digest(expected.encode("ascii"), received.encode("ascii", "replace"))


def _header(request: InboundRequest, name: str) -> str:
    value = request.headers.get(name)
    if value is None or not value.strip():
        raise SignatureError(f"missing signature header {name}")
    return value.strip()


def _timestamp(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise SignatureError("malformed signature header") from None


def _check_tolerance(ts: int, *, tolerance: int, now: int | None) -> None:
    current = int(time.time()) if now is None else now
    if abs(current - ts) > tolerance:
        raise SignatureError("timestamp outside tolerance")


def _require_secret(secret: str) -> bytes:
    if not secret:
        raise ValueError("webhook secret must not be empty")
    return secret.encode("utf-8")


def _is_hex(value: str) -> bool:
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return bool(value)


# --------------------------------------------------------------------------- schemes


def _verify_hmac_sha256(
    request: InboundRequest,
    secret: str,
    header: str,
    tolerance: int,
    now: int | None,
    *,
    require_timestamp: bool = False,
) -> None:
    """A hex HMAC-SHA256 of the body; with ``require_timestamp``, of ``{timestamp}.{body}`` (X-Webhook-Timestamp),
    and the timestamp must be within ``tolerance``: without it a captured request verifies forever."""
    received = _header(request, header).lower()
    if received.startswith("sha256="):
        received = received[len("sha256=") :]
    signed = request.body
    ts = None
    if require_timestamp:
        raw_ts = _header(request, HMAC_TIMESTAMP_HEADER)
        ts = _timestamp(raw_ts)
        signed = f"{ts}.".encode() + request.body
    if not _is_hex(received):
        raise SignatureError("malformed signature header")
    if not _equal(_hmac_hex(_require_secret(secret), signed), received):
        raise SignatureError("signature mismatch")
    if ts is not None:
        _check_tolerance(ts, tolerance=tolerance, now=now)


def _verify_stripe(request: InboundRequest, secret: str, header: str, tolerance: int, now: int | None) -> None:
    value = _header(request, header)
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in value.split(","):
        key, sep, val = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamps.append(val)
        elif key == "v1":
            signatures.append(val.strip().lower())
    if len(timestamps) != 1 or not signatures:
        raise SignatureError("malformed signature header")
    ts = _timestamp(timestamps[0])
    expected = _hmac_hex(_require_secret(secret), f"{ts}.".encode() + request.body)
    if not any(_equal(expected, sig) for sig in signatures):
        raise SignatureError("signature mismatch")
    _check_tolerance(ts, tolerance=tolerance, now=now)


def _verify_github(request: InboundRequest, secret: str, header: str, tolerance: int, now: int | None) -> None:
    value = _header(request, header)
    prefix, sep, received = value.partition("=")
    if not sep or prefix.strip().lower() != "sha256" or not _is_hex(received.strip()):
        raise SignatureError("malformed signature header")
    if not _equal(_hmac_hex(_require_secret(secret), request.body), received.strip().lower()):
        raise SignatureError("signature mismatch")


def _verify_slack(request: InboundRequest, secret: str, header: str, tolerance: int, now: int | None) -> None:
    value = _header(request, header)
    raw_ts = _header(request, _SLACK_TIMESTAMP_HEADER)
    version, sep, received = value.partition("=")
    if not sep or version.strip() != "v0" or not _is_hex(received.strip()):
        raise SignatureError("malformed signature header")
    ts = _timestamp(raw_ts)
    base = b"v0:" + raw_ts.encode("ascii", "replace") + b":" + request.body
    if not _equal(_hmac_hex(_require_secret(secret), base), received.strip().lower()):
        raise SignatureError("signature mismatch")
    _check_tolerance(ts, tolerance=tolerance, now=now)


def _verify_standard_webhooks(
    request: InboundRequest, secret: str, header: str | None, tolerance: int, now: int | None
) -> None:
    headers = request.headers
    if header is not None:
        prefix = "svix-" if "svix-id" in headers and "webhook-id" not in headers else "webhook-"
        sig_header = header
    elif "webhook-signature" in headers or "svix-signature" not in headers:
        prefix, sig_header = "webhook-", "webhook-signature"
    else:
        prefix, sig_header = "svix-", "svix-signature"
    value = _header(request, sig_header)
    msg_id = _header(request, prefix + "id")
    raw_ts = _header(request, prefix + "timestamp")
    ts = _timestamp(raw_ts)
    candidates: list[bytes] = []
    for entry in value.split():
        version, sep, encoded = entry.partition(",")
        if not sep:
            raise SignatureError("malformed signature header")
        if version != "v1":
            continue
        try:
            candidates.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            raise SignatureError("malformed signature header") from None
    if not candidates:
        raise SignatureError("malformed signature header")
    try:
        key = _standard_secret_bytes(secret)
    except ValueError:
        raise ValueError("webhook secret is empty or not valid whsec_ base64") from None
    expected = hmac.new(key, f"{msg_id}.{raw_ts}.".encode() + request.body, hashlib.sha256).digest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureError("signature mismatch")
    _check_tolerance(ts, tolerance=tolerance, now=now)


def _form_params(request: InboundRequest) -> dict[str, list[str]]:
    if request.form is not None:
        return {str(k): [v] if isinstance(v, str) else [str(x) for x in v] for k, v in request.form.items()}
    content_type = request.headers.get("Content-Type", "")
    if request.body and content_type.split(";")[0].strip().lower() == _FORM_CONTENT_TYPE:
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise SignatureError("malformed form body") from None
        return parse_qs(text, keep_blank_values=True)
    return {}


def _twilio_signature(token: bytes, url: str, params: Mapping[str, list[str]]) -> str:
    """Twilio's algorithm: URL + each param name and value, names sorted, each name's values sorted."""
    data = url + "".join(name + value for name in sorted(params) for value in sorted(params[name]))
    return base64.b64encode(hmac.new(token, data.encode("utf-8"), hashlib.sha1).digest()).decode("ascii")


def _twilio_url_variants(url: str) -> list[str]:
    """The URL as given, without its port and with the default port (Twilio is inconsistent here)."""
    parts = urlsplit(url)
    variants = [url]
    try:
        port = parts.port
    except ValueError:
        return variants
    host = parts.netloc.rpartition("@")[2]
    userinfo = parts.netloc[: len(parts.netloc) - len(host)]
    if port is not None:
        bare = host[: host.rfind(":")]
        variants.append(urlunsplit(parts._replace(netloc=userinfo + bare)))
    elif parts.scheme in ("http", "https") and host:
        default = 443 if parts.scheme == "https" else 80
        variants.append(urlunsplit(parts._replace(netloc=f"{userinfo}{host}:{default}")))
    return variants


def _verify_twilio(request: InboundRequest, secret: str, header: str, tolerance: int, now: int | None) -> None:
    received = _header(request, header)
    if not request.url:
        raise ValueError("twilio verification needs the request URL")
    token = _require_secret(secret)
    query = parse_qs(urlsplit(request.url).query, keep_blank_values=True)
    body_hashes = query.get("bodySHA256")
    params = {} if body_hashes else _form_params(request)
    url_ok = any(_equal(_twilio_signature(token, u, params), received) for u in _twilio_url_variants(request.url))
    body_ok = True
    if body_hashes:
        body_ok = _equal(hashlib.sha256(request.body).hexdigest(), body_hashes[0].strip().lower())
    if not (url_ok and body_ok):
        raise SignatureError("signature mismatch")


_VERIFIERS: dict[str, Callable[[InboundRequest, str, str, int, int | None], None]] = {
    "hmac_sha256": _verify_hmac_sha256,
    "stripe": _verify_stripe,
    "github": _verify_github,
    "slack": _verify_slack,
    "twilio": _verify_twilio,
}


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown signature scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")


def verify_signature(
    scheme: str,
    request: InboundRequest,
    secret: str,
    *,
    signature_header: str | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
    now: int | None = None,
    require_timestamp: bool = False,
) -> None:
    """Verify ``request`` under ``scheme``; raise :class:`SignatureError` when it is not authentic.

    ``signature_header`` overrides the scheme's header holding the signature
    (:data:`DEFAULT_SIGNATURE_HEADERS`). Timestamped schemes (stripe, slack,
    standard_webhooks, and hmac_sha256 with ``require_timestamp``) refuse timestamps more
    than ``tolerance`` seconds from ``now`` (default: the current time). Raises
    ``ValueError`` for an unknown scheme, an empty secret, or a Twilio request without a
    URL -- configuration errors, not forgeries.
    """
    _check_scheme(scheme)
    if scheme == "standard_webhooks":
        _verify_standard_webhooks(request, secret, signature_header, tolerance, now)
        return
    header = signature_header or DEFAULT_SIGNATURE_HEADERS[scheme]
    if scheme == "hmac_sha256":
        _verify_hmac_sha256(request, secret, header, tolerance, now, require_timestamp=require_timestamp)
        return
    _VERIFIERS[scheme](request, secret, header, tolerance, now)


# --------------------------------------------------------------------------- event ids


def _json_body(request: InboundRequest, parsed_json: object | None) -> object | None:
    if parsed_json is not None:
        return parsed_json
    if not request.body.lstrip().startswith(b"{"):
        return None
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return None


def _json_str(data: object | None, key: str, *, allow_int: bool = False) -> str | None:
    if not isinstance(data, Mapping):
        return None
    value = data.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip():
        return value.strip()
    if allow_int and isinstance(value, int):
        return str(value)
    return None


def _first_header(request: InboundRequest, *names: str) -> str | None:
    for name in names:
        value = request.headers.get(name)
        if value and value.strip():
            return value.strip()
    return None


def _first_form_value(params: Mapping[str, list[str]], *names: str) -> str | None:
    for name in names:
        values = params.get(name)
        if values and values[0].strip():
            return values[0].strip()
    return None


def _body_hash(request: InboundRequest, *, timestamp: str | None = None) -> str:
    """The key of a request whose provider names no id in what it signs: a hash of the signed content."""
    signed = f"{timestamp}.".encode() + request.body if timestamp is not None else request.body
    return BODY_HASH_PREFIX + hashlib.sha256(signed).hexdigest()


def _twilio_event_id(request: InboundRequest) -> str:
    """Twilio signs the URL and the form parameters: the sid (and status) of a status callback, else the body."""
    try:
        params = _form_params(request)
    except SignatureError:
        params = {}
    for sid_name, status_names in (
        ("MessageSid", ("MessageStatus", "SmsStatus")),
        ("CallSid", ("CallStatus",)),
        ("SmsSid", ("SmsStatus",)),
    ):
        sid = _first_form_value(params, sid_name)
        if sid:
            status = _first_form_value(params, *status_names)
            return f"{sid}:{status}" if status else sid
    return _body_hash(request)


def provider_event_id(
    scheme: str, request: InboundRequest, parsed_json: object | None = None, *, require_timestamp: bool = False
) -> str | None:
    """Return the deduplication key of this event: the provider's id of it, taken only from what is signed.

    A key read from an unsigned header would let a captured request be replayed under a new header value, so the
    body-only schemes never use one. stripe: JSON ``id``; standard_webhooks: ``webhook-id`` (or ``svix-id``, both
    signed); slack: JSON ``event_id`` (Events API only; its requests are timestamped); twilio:
    ``MessageSid``/``CallSid``/``SmsSid`` suffixed with ``:<status>`` when the callback carries one, else a hash of
    the body; github: a hash of the body (``X-GitHub-Delivery`` is not signed); hmac_sha256: JSON ``id`` (str or
    int), else a hash of the body, or of ``{timestamp}.{body}`` with ``require_timestamp``. When ``parsed_json`` is
    None a JSON body is parsed.
    """
    _check_scheme(scheme)
    if scheme == "stripe":
        return _json_str(_json_body(request, parsed_json), "id")
    if scheme == "github":
        return _body_hash(request)
    if scheme == "standard_webhooks":
        return _first_header(request, "webhook-id", "svix-id")
    if scheme == "slack":
        return _json_str(_json_body(request, parsed_json), "event_id")
    if scheme == "twilio":
        return _twilio_event_id(request)
    found = _json_str(_json_body(request, parsed_json), "id", allow_int=True)
    if found:
        return found
    timestamp = None
    if require_timestamp:  # the normalised value the MAC covers: "0123" and "123" sign the same request
        raw = _first_header(request, HMAC_TIMESTAMP_HEADER)
        timestamp = str(_timestamp(raw)) if raw else None
    return _body_hash(request, timestamp=timestamp)


# --------------------------------------------------------------------------- signing (tests and docs)


def twilio_json_url(url: str, body: bytes) -> str:
    """Return ``url`` with the ``bodySHA256`` query parameter Twilio adds for JSON bodies."""
    parts = urlsplit(url)
    extra = urlencode({"bodySHA256": hashlib.sha256(body).hexdigest()})
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))


def sign_for_test(
    scheme: str,
    body: bytes,
    secret: str,
    *,
    timestamp: int | None = None,
    url: str | None = None,
    form: Mapping[str, list[str]] | None = None,
    require_timestamp: bool = False,
) -> dict[str, str]:
    """Return the signature headers the provider would send for ``body``.

    For twilio pass the exact ``url`` (for a JSON body build it with :func:`twilio_json_url`)
    and ``form`` (else a form-encoded ``body`` is parsed, unless the URL has ``bodySHA256``).
    For hmac_sha256 with ``require_timestamp`` the MAC covers ``{timestamp}.{body}``.
    """
    _check_scheme(scheme)
    ts = int(time.time()) if timestamp is None else int(timestamp)
    if scheme == "hmac_sha256":
        if require_timestamp:
            signature = _hmac_hex(_require_secret(secret), f"{ts}.".encode() + body)
            return {DEFAULT_SIGNATURE_HEADERS[scheme]: signature, HMAC_TIMESTAMP_HEADER: str(ts)}
        return {DEFAULT_SIGNATURE_HEADERS[scheme]: _hmac_hex(_require_secret(secret), body)}
    if scheme == "stripe":
        signature = _hmac_hex(_require_secret(secret), f"{ts}.".encode() + body)
        return {"Stripe-Signature": f"t={ts},v1={signature}"}
    if scheme == "github":
        return {"X-Hub-Signature-256": "sha256=" + _hmac_hex(_require_secret(secret), body)}
    if scheme == "slack":
        signature = _hmac_hex(_require_secret(secret), f"v0:{ts}:".encode() + body)
        return {_SLACK_TIMESTAMP_HEADER: str(ts), "X-Slack-Signature": "v0=" + signature}
    if scheme == "standard_webhooks":
        msg_id = "msg_" + _secrets.token_hex(12)
        digest = hmac.new(_standard_secret_bytes(secret), f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": "v1," + base64.b64encode(digest).decode("ascii"),
        }
    # twilio
    if not url:
        raise ValueError("twilio signing needs the request URL")
    if "bodySHA256" in parse_qs(urlsplit(url).query):
        params: Mapping[str, list[str]] = {}
    else:
        headers = {"Content-Type": _FORM_CONTENT_TYPE}
        params = _form_params(InboundRequest(body=body, headers=headers, url=url, form=form))
    return {"X-Twilio-Signature": _twilio_signature(_require_secret(secret), url, params)}
