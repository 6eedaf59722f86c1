"""API conventions of api.md, written once: request ids, the error shape, pagination, sorting and rate limits."""

import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Mapping
from functools import lru_cache

import orjson
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from djangorestframework_camel_case.util import camelize, camelize_re, underscore_to_camel
from rest_framework import exceptions
from rest_framework.metadata import SimpleMetadata
from rest_framework.pagination import BasePagination
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.utils.encoders import JSONEncoder as DRFJSONEncoder

from config.errors import DomainError
from config.logging import request_id_var

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "HTTP_X_REQUEST_ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


# --- Request id --------------------------------------------------------------------------------------------------
class RequestIdMiddleware:
    """Gives every request an id (the caller's, when it is a sane token), logs carry it, every response echoes it.

    Also copies the rate-limit figures a throttle left on the request into X-RateLimit-* headers.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get(REQUEST_ID_HEADER, "")
        request.request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-Id"] = request.request_id
        rate = getattr(request, "rate_limit", None)
        if rate is not None:
            response["X-RateLimit-Limit"] = str(rate.limit)
            response["X-RateLimit-Remaining"] = str(rate.remaining)
            response["X-RateLimit-Reset"] = str(rate.reset)
        return response


def current_request_id() -> str:
    return request_id_var.get() or ""


# --- Errors ------------------------------------------------------------------------------------------------------
def error_body(code: str, message: str, details: Mapping | None = None, **extra) -> dict:
    body = {"code": code, "message": message, "details": dict(details or {}), "requestId": current_request_id()}
    body.update(extra)
    return {"error": body}


def _validation_details(detail) -> dict:
    if isinstance(detail, dict):
        return camelize(detail)
    return {"nonFieldErrors": detail if isinstance(detail, list) else [detail]}


def _first_message(details: dict) -> str:
    for field, errors in details.items():
        first = errors[0] if isinstance(errors, list) and errors else errors
        if isinstance(first, dict):
            return _first_message(first)
        return f"{field}: {first}" if field != "nonFieldErrors" else str(first)
    return "Invalid input."


def exception_handler(exc, context):
    """The one place an exception becomes a response: api.md's error shape for every status."""
    view = context.get("view")
    headers = {}
    extra = {}
    if isinstance(exc, DomainError):
        status_code, code, message, details = exc.status_code, exc.code, exc.message, exc.details
        if getattr(exc, "retry_after", None):  # e.g. a provider's rate budget is spent (providers.budget)
            headers["Retry-After"] = str(int(exc.retry_after))
            extra["retryAfter"] = int(exc.retry_after)
    elif isinstance(exc, RequestDataTooBig):  # Django's own DATA_UPLOAD_MAX_MEMORY_SIZE check on request.body
        status_code, code, details = 413, "PAYLOAD_TOO_LARGE", {}
        message = f"The body exceeds the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
    elif isinstance(exc, exceptions.ValidationError):
        details = _validation_details(exc.detail)
        status_code, code, message = 400, "VALIDATION_ERROR", _first_message(details)
    elif isinstance(exc, exceptions.ParseError):
        status_code, code, message, details = 400, "VALIDATION_ERROR", str(exc.detail), {}
    elif isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        status_code, code, details = 401, "AUTHENTICATION_REQUIRED", {}
        message = _auth_message(exc)
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    elif isinstance(exc, (exceptions.PermissionDenied, DjangoPermissionDenied)):
        status_code, code, details = 403, "PERMISSION_DENIED", {}
        message = str(getattr(exc, "detail", "") or exc) or "You do not have permission to perform this action."
    elif isinstance(exc, (exceptions.NotFound, Http404)):
        status_code, details = 404, {}
        code = getattr(view, "not_found_code", "NOT_FOUND")
        message = getattr(view, "not_found_message", "Not found.")
    elif isinstance(exc, exceptions.MethodNotAllowed):
        status_code, code, message, details = 405, "METHOD_NOT_ALLOWED", str(exc.detail), {}
    elif isinstance(exc, exceptions.NotAcceptable):
        status_code, code, message, details = 406, "NOT_ACCEPTABLE", str(exc.detail), {}
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        status_code, code, message, details = 415, "UNSUPPORTED_MEDIA_TYPE", str(exc.detail), {}
    elif isinstance(exc, exceptions.Throttled):
        retry_after = max(1, int(exc.wait or 1))
        status_code, code, details = 429, "RATE_LIMIT_EXCEEDED", {}
        message = "Rate limit exceeded. Please try again later."
        headers["Retry-After"] = str(retry_after)
        extra["retryAfter"] = retry_after
    elif isinstance(exc, exceptions.APIException):
        status_code, code, message, details = exc.status_code, "ERROR", str(exc.detail), {}
    else:
        logger.exception("api.unhandled_exception", extra={"view": type(view).__name__ if view else None})
        status_code, code, message, details = 500, "INTERNAL_ERROR", "An internal error occurred.", {}
    from rest_framework.views import set_rollback  # here: rest_framework.views imports this module's throttle

    set_rollback()
    return Response(error_body(code, message, details, **extra), status=status_code, headers=headers)


def _auth_message(exc) -> str:
    if isinstance(exc, exceptions.NotAuthenticated):
        return "Authentication credentials were not provided."
    detail = exc.detail
    if isinstance(detail, dict):  # simplejwt's InvalidToken carries a dict
        detail = detail.get("detail", "Invalid or expired token.")
    return str(detail)


def django_error_view(status_code: int, code: str, message: str):
    """Django-level handlers (no DRF view involved: unknown URL, bad host, CSRF, crash) in the same shape."""

    def view(request, exception=None):
        return JsonResponse(error_body(code, message), status=status_code)

    return view


# --- Pagination ---------------------------------------------------------------------------------------------------
class Pagination(BasePagination):
    """`limit`/`offset` (or `page`), default 50, max 100: `{items, total, limit, offset, hasMore, nextOffset}`."""

    default_limit = 50
    max_limit = 100

    def paginate_queryset(self, queryset, request, view=None):
        self.limit, self.offset = parse_page_params(request.query_params, self.default_limit, self.max_limit)
        self.total = queryset.count()
        return list(queryset[self.offset : self.offset + self.limit])

    def get_paginated_response(self, data):
        return Response(page_body(data, total=self.total, limit=self.limit, offset=self.offset))

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["items", "total", "limit", "offset", "hasMore"],
            "properties": {
                "items": schema,
                "total": {"type": "integer"},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
                "hasMore": {"type": "boolean"},
                "nextOffset": {"type": "integer", "nullable": True},
            },
        }

    def get_schema_operation_parameters(self, view):
        bounds = (("limit", 1, self.max_limit), ("offset", 0, MAX_OFFSET), ("page", 1, MAX_OFFSET // self.max_limit))
        return [
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": low, "maximum": high},
            }
            for name, low, high in bounds
        ]


MAX_OFFSET = 1_000_000_000  # far past any real list, and inside every database's integer range


def parse_page_params(params, default_limit: int = 50, max_limit: int = 100) -> tuple[int, int]:
    errors = {}
    limit = _int_param(params, "limit", default_limit, 1, max_limit, errors)
    offset = _int_param(params, "offset", 0, 0, MAX_OFFSET, errors)
    page = _int_param(params, "page", None, 1, MAX_OFFSET // max_limit, errors)
    if errors:
        raise exceptions.ValidationError(errors)
    if page is not None and "offset" not in params:
        offset = (page - 1) * limit
    return limit, offset


def _int_param(params, name, default, minimum, maximum, errors):
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        errors[name] = ["Must be an integer."]
        return default
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        errors[name] = [f"Must be {bound}."]
    return value


def page_body(items: list, *, total: int, limit: int, offset: int) -> dict:
    has_more = offset + len(items) < total
    return {
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
        "hasMore": has_more,
        "nextOffset": offset + limit if has_more else None,
    }


def sort_spec(params, *, allowed: Mapping[str, str], default: str) -> str:
    """`sortBy` (one of `allowed`'s API names) and `sortOrder` (`asc`|`desc`) as one order_by term (`-field` for
    descending); anything else is a 400."""
    sort_by = params.get("sortBy") or params.get("sort_by")
    order = (params.get("sortOrder") or params.get("sort_order") or "asc").lower()
    if order not in ("asc", "desc"):
        raise exceptions.ValidationError({"sortOrder": ["Must be 'asc' or 'desc'."]})
    if not sort_by:
        return default
    if sort_by not in allowed:
        raise exceptions.ValidationError({"sortBy": [f"Must be one of: {', '.join(sorted(allowed))}."]})
    field = allowed[sort_by]
    return f"-{field}" if order == "desc" else field


def sort_queryset(queryset, params, *, allowed: Mapping[str, str], default: str):
    """`queryset` in `sort_spec`'s order, then by primary key."""
    return queryset.order_by(sort_spec(params, allowed=allowed, default=default), "pk")


# --- Rate limits --------------------------------------------------------------------------------------------------
_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class RateLimit:
    __slots__ = ("count", "limit", "reset")

    def __init__(self, limit: int, count: int, reset: int):
        self.limit, self.count, self.reset = limit, count, reset

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit


def parse_rate(rate: str) -> tuple[int, int]:
    """ "100/minute" -> (100, 60). Periods: second, minute, hour, day (a trailing "s" is fine)."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip().removesuffix("s")]


def hit_rate_limit(group: str, ident: str) -> RateLimit:
    """Fixed-window counter in the shared cache (Redis in production), so every web process spends one budget."""
    limit, period = parse_rate(settings.RATE_LIMITS[group])
    window = int(time.time() // period)
    key = f"rl:{group}:{ident}:{window}"
    cache.add(key, 0, timeout=period + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add and incr
        cache.add(key, 1, timeout=period + 5)
        count = 1
    return RateLimit(limit, count, (window + 1) * period)


def peek_rate_limit(group: str, ident: str) -> RateLimit:
    """The current window's count of a budget without spending any of it (charged later by hit_rate_limit)."""
    limit, period = parse_rate(settings.RATE_LIMITS[group])
    window = int(time.time() // period)
    count = cache.get(f"rl:{group}:{ident}:{window}") or 0
    return RateLimit(limit, int(count), (window + 1) * period)


# --- Client identity ----------------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _proxy_networks(cidrs: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


def _parse_ip(value: str):
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    return address.ipv4_mapped if address.version == 6 and address.ipv4_mapped else address


def _trusted(address, networks) -> bool:
    return address is not None and any(address in network for network in networks)


def client_ip(request) -> str:
    """The address a request comes from, as far as the operator's proxies vouch for it.

    `REMOTE_ADDR` (the TCP peer) unless that peer is one of TRUSTED_PROXIES; then `X-Forwarded-For` is read from the
    right (each trusted proxy appends the address it saw) and the first entry that is not itself a trusted proxy is
    the client. Anything a client writes into the header left of that is ignored, so a made-up value per request
    changes nothing. Rate limits, login lockouts and logs key on this. See docs/security.md.
    """
    meta = getattr(request, "META", {})
    remote = meta.get("REMOTE_ADDR", "") or ""
    networks = _proxy_networks(tuple(settings.TRUSTED_PROXIES))
    peer = _parse_ip(remote)
    if not networks or not _trusted(peer, networks):
        return str(peer) if peer is not None else remote
    hops = [h for h in (meta.get("HTTP_X_FORWARDED_FOR", "") or "").split(",") if h.strip()]
    for hop in reversed(hops):
        address = _parse_ip(hop)
        if address is None:  # garbage where an address should be: stop trusting the chain there
            return str(peer)
        if not _trusted(address, networks):
            return str(address)
    return str(peer)  # every hop was one of our proxies: the last one is as close to the client as we get


class GroupRateThrottle(BaseThrottle):
    """Per user (or client address when anonymous) and endpoint group; a view names its group in `rate_limit_group`.

    A view may define `rate_limit_ident(request)` to count by something else (the inbound receiver: its own throttle).
    """

    def allow_request(self, request, view):
        if not settings.RATE_LIMIT_ENABLED:
            return True
        group = getattr(view, "rate_limit_group", "default")
        ident_fn = getattr(view, "rate_limit_ident", None)
        if ident_fn is not None:
            ident = ident_fn(request)
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{client_ip(request)}"
        rate = hit_rate_limit(group, ident)
        request._request.rate_limit = rate
        if rate.exceeded:
            self.wait_seconds = max(1, rate.reset - int(time.time()))
            return False
        return True

    def wait(self):
        return getattr(self, "wait_seconds", None)


class RateLimitFirstMixin:
    """Counts the call before permission checks, so 401 and 403 answers carry X-RateLimit-* headers too."""

    def initial(self, request, *args, **kwargs):
        self.format_kwarg = self.get_format_suffix(**kwargs)
        neg = self.perform_content_negotiation(request)
        request.accepted_renderer, request.accepted_media_type = neg
        version, scheme = self.determine_version(request, *args, **kwargs)
        request.version, request.versioning_scheme = version, scheme
        try:
            self.perform_authentication(request)
        finally:
            self.check_throttles(request)
        self.check_permissions(request)


# --- camelCase output ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def camel_key(key: str) -> str:
    """A snake_case name as the API spells it (``retry_attempts`` -> ``retryAttempts``): the one conversion."""
    return camelize_re.sub(underscore_to_camel, key) if "_" in key else key


def camelize_fast(data, opaque: frozenset):
    """djangorestframework-camel-case's `camelize` with converted keys memoised (it is most of a list's rendering);
    the values of `opaque` fields (user data: config, payload, …) are left as they are."""
    if isinstance(data, dict):
        return {
            (camel_key(k) if isinstance(k, str) else k): (v if k in opaque else camelize_fast(v, opaque))
            for k, v in data.items()
        }
    if isinstance(data, (list, tuple)):
        return [camelize_fast(item, opaque) for item in data]
    return data


class CamelCased(dict):
    """Response data whose keys are already the API's (a fast list path built them): the renderer does not walk it."""

    __slots__ = ()


_drf_encoder = DRFJSONEncoder()
_LINE_SEPARATORS = (b"\xe2\x80\xa8", b"\xe2\x80\xa9")  # U+2028/U+2029, escaped by DRF's renderer too


class CamelCaseJSONRenderer(JSONRenderer):
    """camelCase keys (unless the data is `CamelCased`) dumped by orjson: what DRF's JSONRenderer writes for the
    same data (compact, UTF-8, datetimes as ISO 8601 with `Z`, U+2028/U+2029 escaped), byte for byte except that a
    float in exponent form is spelt `1e-7`, not `1e-07`; whatever orjson cannot write (an integer past 64 bits, a
    non-string key, an indented answer asked for in Accept) goes through DRF's renderer."""

    opaque = frozenset(settings.CAMELCASE_OPAQUE_FIELDS)

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if not isinstance(data, CamelCased):
            data = camelize_fast(data, self.opaque)
        if accepted_media_type and "indent" in accepted_media_type:
            return super().render(data, accepted_media_type, renderer_context)
        try:
            body = orjson.dumps(data, default=_drf_encoder.default, option=orjson.OPT_UTC_Z)
        except TypeError:  # orjson.JSONEncodeError: a type or value only the standard encoder handles
            return super().render(data, accepted_media_type, renderer_context)
        if b"\xe2\x80" in body:
            body = body.replace(_LINE_SEPARATORS[0], b"\\u2028").replace(_LINE_SEPARATORS[1], b"\\u2029")
        return body


class Metadata(SimpleMetadata):
    """OPTIONS answers name, description, renders and parses; the OpenAPI schema documents the fields, so no
    serializer is introspected here (viewsets whose actions have no serializer_class would fail)."""

    def determine_actions(self, request, view):
        return {}
