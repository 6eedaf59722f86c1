"""Subscription filters: route on the event's data, not only its type.

A filter is an object whose keys are dotted paths inside ``data`` and whose values are conditions, all ANDed::

    {"toStage": {"in": ["interview", "offer"]}, "job.remote": true, "reason": {"exists": false}}

* a literal (string, number, boolean, null, array): the value at the path equals it (``true`` never equals ``1``);
* ``{"in": [literal, ...]}``: the value equals one of them;
* ``{"exists": true | false}``: the path is present (a null value is present) or absent.

``filter_validate`` is called when a subscription is created or updated (an invalid filter is a 400 naming
``filter``); ``filter_matches`` is called by ``trigger`` for each subscription whose patterns match: a filtered-out
message creates no delivery.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from config.errors import ValidationFailed

__all__ = ["MAX_CONDITIONS", "filter_matches", "filter_validate"]

MAX_CONDITIONS = 20
MAX_IN_VALUES = 100
_PATH = re.compile(r"^[A-Za-z0-9_\-]{1,100}(\.[A-Za-z0-9_\-]{1,100}){0,9}$")
_OPERATORS = {"in", "exists"}
_MISSING = object()


def _fail(message: str):
    raise ValidationFailed(f"filter: {message}", details={"filter": [message]})


def _is_literal(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list):
        return all(_is_literal(v) for v in value)
    return False


def filter_validate(value: Any) -> dict[str, Any]:
    """Return the filter (``{}`` for none); raise ValidationFailed naming ``filter`` when it is not one."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        _fail("Must be an object of {dotted.path: condition}.")
    if len(value) > MAX_CONDITIONS:
        _fail(f"At most {MAX_CONDITIONS} conditions.")
    for path, condition in value.items():
        if not isinstance(path, str) or not _PATH.match(path):
            _fail(f"{path!r} is not a dotted path (letters, digits, '_' and '-' separated by dots).")
        if isinstance(condition, Mapping):
            if len(condition) != 1 or next(iter(condition)) not in _OPERATORS:
                ops = ", ".join(sorted(map(str, condition))) or "none"
                _fail(f"{path}: an operator object holds exactly one of 'in', 'exists' (got: {ops}).")
            ((operator, operand),) = condition.items()
            if operator == "in":
                if not isinstance(operand, list) or not operand or len(operand) > MAX_IN_VALUES:
                    _fail(f"{path}: 'in' takes a non-empty list of at most {MAX_IN_VALUES} values.")
                if not all(_is_literal(v) for v in operand):
                    _fail(f"{path}: 'in' values must be strings, numbers, booleans or null.")
            elif not isinstance(operand, bool):
                _fail(f"{path}: 'exists' takes true or false.")
        elif not _is_literal(condition):
            _fail(f"{path}: a condition is a literal, {{'in': [...]}} or {{'exists': true|false}}.")
    return dict(value)


def _lookup(data: Any, path: str) -> Any:
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _equal(left: Any, right: Any) -> bool:
    """JSON equality: booleans are not numbers (Python's True == 1 is not what a JSON filter means)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    return type(left) is type(right) and left == right


def filter_matches(conditions: Mapping[str, Any] | None, data: Mapping[str, Any]) -> bool:
    """True when ``data`` satisfies every condition (an empty or missing filter matches everything)."""
    if not conditions:
        return True
    for path, condition in conditions.items():
        value = _lookup(data, path)
        if isinstance(condition, Mapping):
            ((operator, operand),) = condition.items()
            if operator == "exists":
                if (value is not _MISSING) is not operand:
                    return False
            elif value is _MISSING or not any(_equal(value, candidate) for candidate in operand):
                return False
        elif value is _MISSING or not _equal(value, condition):
            return False
    return True
