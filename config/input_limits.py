"""Input the API refuses before any view or database sees it, each with a 4xx in the error shape, never a 500.

* A JSON body over Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default) is a 413. DRF reads the request stream
  itself, so Django's own check on `request.body` never runs for API calls: the parser enforces the limit.
* Malformed JSON, JSON nested deeper than MAX_JSON_DEPTH, NaN/Infinity or numbers out of range are a 400 (the
  standard library would raise RecursionError on deep nesting, and PostgreSQL's jsonb refuses non-finite numbers).
* A NUL character (or a lone UTF-16 surrogate) in any string of the body, in the path or in a query parameter is
  a 400: PostgreSQL refuses NUL in text and jsonb, and a surrogate cannot be encoded to UTF-8.
"""

import json
import math

from django.conf import settings
from django.http import JsonResponse
from djangorestframework_camel_case.parser import CamelCaseJSONParser
from djangorestframework_camel_case.util import underscoreize
from rest_framework.exceptions import ParseError

from config.errors import DomainError

# Deeper than any real document (api.md's deepest bodies nest about 6 levels), shallow enough for recursive code.
MAX_JSON_DEPTH = 64
NUL_MESSAGE = "Text must not contain NUL characters (\\u0000)."


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    default_message = "The request body is too large."


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def _text_problem(value: str) -> str | None:
    if "\x00" in value:
        return NUL_MESSAGE
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "Text must be valid Unicode (no lone surrogates)."
    return None


def json_problem(data, *, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why a parsed JSON document cannot be accepted (too deep, a NUL or surrogate in a key or string), or None.

    Iterative, so a document of any shape is checked without recursion."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            problem = _text_problem(value)
            if problem:
                return problem
        elif isinstance(value, (dict, list)):
            if depth > max_depth:
                return f"JSON is nested more than {max_depth} levels deep."
            if isinstance(value, dict):
                for key, item in value.items():
                    problem = _text_problem(key)
                    if problem:
                        return problem
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)
    return None


class JSONParser(CamelCaseJSONParser):
    """The project's JSON parser: camelCase keys to snake_case, within the limits above."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = parser_context.get("request")
        if limit is not None and request is not None:
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0
            if declared > limit:
                raise PayloadTooLarge(f"The body exceeds the limit of {limit} bytes.")
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise PayloadTooLarge(f"The body exceeds the limit of {limit} bytes.")
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(raw.decode(encoding), parse_constant=_refuse_constant, parse_float=_finite_float)
        except RecursionError:
            raise ParseError(f"JSON is nested more than {MAX_JSON_DEPTH} levels deep.")
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
            raise ParseError(f"JSON parse error - {exc}")
        problem = json_problem(data)
        if problem:
            raise ParseError(problem)
        return underscoreize(data, **self.json_underscoreize)


class RejectNulMiddleware:
    """A NUL character in the path or a query parameter is a 400 (PostgreSQL would refuse it in a text column)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            from config.api import error_body

            where = "path" if "\x00" in request.path else "query"
            return JsonResponse(error_body("VALIDATION_ERROR", NUL_MESSAGE, {where: [NUL_MESSAGE]}), status=400)
        return self.get_response(request)
