"""Event types as data: the catalog rows (built-in and custom), validation of an event's data against its schema,
and the AsyncAPI 3 document of the catalog.

* ``event_types_sync`` writes the built-in types of ``webhooks.events`` into the table after every migrate (and
  after a test flush): missing ones are created, a stored one is updated only when the code's ``version`` is newer,
  so what a super admin edited by hand stays.
* ``event_type_create`` / ``event_type_update`` are the super admin's writes: the name, the group, the JSON Schema
  (checked against the draft 2020-12 meta-schema, must describe an object) and the example (must satisfy it).
* ``event_data_validate`` is what ``trigger`` calls: one indexed read of the type, the compiled validator cached per
  process by (name, updated_at), so an edit takes effect at once everywhere.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from config.errors import Conflict, NotFound, ValidationFailed
from webhooks.events import CATALOG
from webhooks.models import EventType

__all__ = [
    "asyncapi_document",
    "event_data_validate",
    "event_type_create",
    "event_type_get",
    "event_type_list",
    "event_type_update",
    "event_types_sync",
    "known_event_names",
    "pattern_is_valid",
]

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,3}$")
GROUP_RE = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
MAX_ERRORS = 20

_validators: dict[tuple[str, str], Draft202012Validator] = {}
_validators_lock = threading.Lock()


# --------------------------------------------------------------------------- seed


def event_types_sync(**_kwargs) -> int:
    """Write the built-in types into the table (a post_migrate receiver); returns how many rows it wrote."""
    stored = dict(EventType.objects.filter(name__in=list(CATALOG)).values_list("name", "version"))
    written = 0
    for spec in CATALOG.values():
        fields = {
            "description": spec.description,
            "group": spec.group,
            "schema": spec.schema,
            "example": spec.example,
            "version": spec.version,
            "builtin": True,
        }
        if spec.name not in stored:
            EventType.objects.create(name=spec.name, **fields)
            written += 1
        elif stored[spec.name] < spec.version:
            EventType.objects.filter(name=spec.name).update(**fields)
            written += 1
    return written


# --------------------------------------------------------------------------- reads


def event_type_list(*, group: str | None = None) -> QuerySet[EventType]:
    qs = EventType.objects.all().order_by("group", "name")
    if group:
        qs = qs.filter(group=group)
    return qs


def event_type_get(*, name: str) -> EventType:
    try:
        return EventType.objects.get(name=name)
    except EventType.DoesNotExist:
        raise NotFound("event_type", "Event type not found.")


def known_event_names() -> set[str]:
    """Every event a subscription may name (the built-ins even before the table is seeded)."""
    return set(EventType.objects.values_list("name", flat=True)) | set(CATALOG)


def pattern_is_valid(pattern: Any, *, names: set[str] | None = None) -> bool:
    """``*``, a known event, or ``<group>.*`` where some known event's name starts with ``<group>.``."""
    if not isinstance(pattern, str):
        return False
    if pattern == "*" or pattern in CATALOG:
        return True
    if names is None and pattern.endswith(".*") and pattern[:-2] in {name.split(".", 1)[0] for name in CATALOG}:
        return True  # a built-in group: no query
    names = known_event_names() if names is None else names
    if pattern in names:
        return True
    if pattern.endswith(".*") and pattern.count("*") == 1:
        prefix = pattern[:-2]
        return bool(prefix) and any(name.split(".", 1)[0] == prefix for name in names)
    return False


# --------------------------------------------------------------------------- validation of event data


def _validator(name: str, schema: Mapping, stamp: str) -> Draft202012Validator:
    key = (name, stamp)
    validator = _validators.get(key)
    if validator is None:
        validator = Draft202012Validator(schema)
        with _validators_lock:
            if len(_validators) > 2000:
                _validators.clear()
            _validators[key] = validator
    return validator


def _errors(validator: Draft202012Validator, data: Any, *, root: str) -> dict[str, list[str]]:
    details: dict[str, list[str]] = {}
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))[:MAX_ERRORS]:
        path = ".".join([root, *(str(p) for p in error.absolute_path)])
        if error.validator == "required" and isinstance(error.validator_value, list):
            # name the missing property itself, not its parent
            missing = re.match(r"^'([^']+)' is a required property", error.message)
            if missing:
                path = f"{path}.{missing.group(1)}"
        details.setdefault(path, []).append(error.message[:300])
    return details


def event_data_validate(*, event: str, data: Mapping[str, Any]) -> None:
    """Raise ValidationFailed (details keyed ``event`` or ``data.<path>``) unless ``event`` is a known type and
    ``data`` satisfies its schema."""
    row = EventType.objects.filter(name=event).values_list("schema", "updated_at").first()
    if row is not None:
        schema, stamp = row[0], row[1].isoformat()
    elif event in CATALOG:  # the table is not seeded yet (a fresh database before its first migrate finished)
        schema, stamp = CATALOG[event].schema, f"builtin-{CATALOG[event].version}"
    else:
        raise ValidationFailed(
            f"Unknown event {event!r}.",
            details={"event": ["Unknown event."]},
        )
    details = _errors(_validator(event, schema, stamp), data, root="data")
    if details:
        raise ValidationFailed(f"The data of {event} does not match its schema.", details=details)


# --------------------------------------------------------------------------- super admin writes


def _clean_schema(schema: Any) -> dict[str, Any]:
    if not isinstance(schema, Mapping):
        raise ValidationFailed("schema: must be a JSON Schema object.", details={"schema": ["Must be an object."]})
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        path = ".".join(str(p) for p in exc.path)
        message = f"Not a valid JSON Schema{f' at {path}' if path else ''}: {exc.message[:200]}"
        raise ValidationFailed(f"schema: {message}", details={"schema": [message]})
    if schema.get("type") != "object":
        message = 'An event\'s data is a JSON object: the schema must say "type": "object".'
        raise ValidationFailed(f"schema: {message}", details={"schema": [message]})
    if "$ref" in repr(schema):
        # remote references would make trigger fetch URLs; local ones are not worth the risk either
        message = "$ref is not supported: write the schema inline."
        raise ValidationFailed(f"schema: {message}", details={"schema": [message]})
    return dict(schema)


def _clean_example(schema: Mapping, example: Any) -> dict[str, Any]:
    if not isinstance(example, Mapping):
        raise ValidationFailed("example: must be an object.", details={"example": ["Must be an object."]})
    details = _errors(Draft202012Validator(schema), example, root="example")
    if details:
        raise ValidationFailed("example: does not match the schema.", details=details)
    return dict(example)


def _clean_text(name: str, value: Any, *, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        message = f"Must be a non-empty string of at most {limit} characters."
        raise ValidationFailed(f"{name}: {message}", details={name: [message]})
    return value.strip()


def _clean_group(value: Any) -> str:
    if not isinstance(value, str) or not GROUP_RE.match(value):
        message = "Lower-case letters, digits and underscores, starting with a letter (at most 50)."
        raise ValidationFailed(f"group: {message}", details={"group": [message]})
    return value


@transaction.atomic
def event_type_create(
    *,
    name: str,
    description: str,
    schema: Mapping[str, Any],
    example: Mapping[str, Any] | None = None,
    group: str | None = None,
    deprecated: bool = False,
) -> EventType:
    """Add a custom, platform-wide event type (super admins). ``group`` defaults to the name's first segment."""
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > 100:
        message = "Two to four dot-separated lower-case segments, e.g. 'contract.signed'."
        raise ValidationFailed(f"name: {message}", details={"name": [message]})
    if EventType.objects.filter(name=name).exists() or name in CATALOG:
        raise Conflict(f"The event type {name} already exists.", code="EVENT_TYPE_EXISTS")
    clean_schema = _clean_schema(schema)
    return EventType.objects.create(
        name=name,
        description=_clean_text("description", description, limit=2000),
        group=_clean_group(group if group is not None else name.split(".", 1)[0]),
        schema=clean_schema,
        example=_clean_example(clean_schema, example if example is not None else {}),
        deprecated=bool(deprecated),
        builtin=False,
    )


@transaction.atomic
def event_type_update(*, event_type: EventType, data: Mapping[str, Any]) -> EventType:
    """Edit a type's description, group, schema, example or deprecation. A new schema bumps ``version``; the
    example (new or stored) must satisfy the schema (new or stored)."""
    row = EventType.objects.select_for_update().get(pk=event_type.pk)
    if "description" in data:
        row.description = _clean_text("description", data["description"], limit=2000)
    if "group" in data:
        row.group = _clean_group(data["group"])
    if "deprecated" in data:
        if not isinstance(data["deprecated"], bool):
            raise ValidationFailed("deprecated: must be a boolean.", details={"deprecated": ["Must be a boolean."]})
        row.deprecated = data["deprecated"]
    if "schema" in data:
        new_schema = _clean_schema(data["schema"])
        if new_schema != row.schema:
            row.schema = new_schema
            row.version += 1
    if "example" in data or "schema" in data:
        row.example = _clean_example(row.schema, data.get("example", row.example))
    row.save()
    return row


# --------------------------------------------------------------------------- AsyncAPI


def _component_key(name: str) -> str:
    return name.replace(".", "_")


def asyncapi_document(*, title: str = "Integration Framework outbound webhooks") -> dict[str, Any]:
    """An AsyncAPI 3.0.0 document of every event type: one channel, message and ``receive`` operation per type.

    The consumer's endpoint receives the messages (``action: receive``); each message is the delivered body
    ``{id, event, timestamp, tenantId, data}`` with the Standard Webhooks headers, ``data`` being the type's schema.
    """
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for row in event_type_list():
        key = _component_key(row.name)
        data_schema = copy.deepcopy(row.schema)
        data_schema.pop("$schema", None)
        message: dict[str, Any] = {
            "name": row.name,
            "title": row.name,
            "summary": row.description,
            "contentType": "application/json",
            "tags": [{"name": row.group}],
            "headers": {"$ref": "#/components/schemas/WebhookHeaders"},
            "payload": {
                "type": "object",
                "required": ["id", "event", "timestamp", "tenantId", "data"],
                "properties": {
                    "id": {"type": "string", "description": "The message id, equal to the webhook-id header."},
                    "event": {"type": "string", "const": row.name},
                    "timestamp": {"type": "string", "format": "date-time"},
                    "tenantId": {"type": "string"},
                    "data": data_schema,
                },
            },
            "examples": [
                {
                    "name": "example",
                    "payload": {
                        "id": "7f2c1a4e-0b9d-4c55-9b1e-3a2d4c5e6f70",
                        "event": row.name,
                        "timestamp": "2025-11-20T14:00:00.000Z",
                        "tenantId": "3e1d2c3b-4a59-4687-9a8b-7c6d5e4f3a21",
                        "data": row.example,
                    },
                }
            ],
            "x-version": row.version,
            "x-deprecated": row.deprecated,
        }
        messages[key] = message
        channels[key] = {
            "address": row.name,
            "title": row.name,
            "description": row.description,
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
        }
        operations[f"receive_{key}"] = {
            "action": "receive",
            "title": f"Receive {row.name}",
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": title,
            "version": "1.0.0",
            "description": (
                "Events POSTed to your webhook subscriptions. Each is signed per the Standard Webhooks spec "
                "(webhook-id, webhook-timestamp, webhook-signature: v1 HMAC-SHA256 or v1a ed25519); subscriptions "
                "with payloadFormat cloudevents receive the same data as a CloudEvents 1.0 structured JSON body."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": {
                "WebhookHeaders": {
                    "type": "object",
                    "properties": {
                        "webhook-id": {"type": "string"},
                        "webhook-timestamp": {"type": "string", "description": "Unix seconds."},
                        "webhook-signature": {
                            "type": "string",
                            "description": "Space-separated 'v1,<base64 HMAC>' or 'v1a,<base64 ed25519>' entries.",
                        },
                        "X-Webhook-Signature": {
                            "type": "string",
                            "description": "Hex HMAC-SHA256 of the body keyed with the secret (v1 only).",
                        },
                        "X-Webhook-Event": {"type": "string"},
                    },
                }
            },
        },
    }
