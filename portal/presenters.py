"""Presentation helpers (no rules): form fields from a provider's JSON schema, a response-time sparkline, version
diffs and masked attempt headers. Validation of what a form sends stays with the services."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from webhooks.delivery import mask_headers

_SECRETISH = re.compile(r"(key|secret|token|passw|signature|credential|auth)", re.IGNORECASE)
MASK = "••••••••"


@dataclass
class SchemaField:
    name: str
    label: str
    kind: str  # text | password | number | checkbox | select | email | url
    required: bool = False
    help: str = ""
    choices: list[str] = field(default_factory=list)
    value: Any = ""


def _label(name: str) -> str:
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", name).replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def schema_fields(schema: dict | None, *, values: dict | None = None, secret: bool = False) -> list[SchemaField]:
    """One input per property of an object schema (strings, numbers, booleans, enums); `secret` forms use
    password inputs for secret-looking names and never pre-fill them."""
    schema = schema or {}
    required = set(schema.get("required") or [])
    values = values or {}
    fields = []
    for name, spec in (schema.get("properties") or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        kind = "text"
        choices = [str(c) for c in spec.get("enum") or []]
        if choices:
            kind = "select"
        elif spec.get("type") in ("integer", "number"):
            kind = "number"
        elif spec.get("type") == "boolean":
            kind = "checkbox"
        elif spec.get("format") == "email":
            kind = "email"
        elif secret and _SECRETISH.search(name):
            kind = "password"
        elif spec.get("type") not in (None, "string"):
            continue  # objects and arrays have no portal form: the API takes them
        default = "" if secret else values.get(name, spec.get("default", ""))
        help_text = spec.get("description") or ""
        fields.append(
            SchemaField(name, spec.get("title") or _label(name), kind, name in required, help_text, choices, default)
        )
    return fields


def values_from_form(schema: dict | None, data, *, prefix: str = "") -> dict[str, Any]:
    """The submitted values of `schema_fields`: empty inputs left out, numbers and booleans converted when they
    parse (what does not parse is passed on as typed, for the service's schema check to name)."""
    out: dict[str, Any] = {}
    for name, spec in ((schema or {}).get("properties") or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        key = f"{prefix}{name}"
        if spec.get("type") == "boolean":
            if key in data:
                out[name] = data.get(key) in ("on", "true", "1")
            continue
        raw = (data.get(key) or "").strip()
        if raw == "":
            continue
        if spec.get("type") == "integer":
            try:
                out[name] = int(raw)
                continue
            except ValueError:
                pass
        if spec.get("type") == "number":
            try:
                out[name] = float(raw)
                continue
            except ValueError:
                pass
        out[name] = raw
    return out


def sparkline(values: list[int | None], *, width: int = 560, height: int = 120, pad: int = 8) -> dict[str, Any]:
    """Points of an SVG polyline for response times (oldest first); gaps (no time) are skipped."""
    known = [v for v in values if v is not None]
    if not known:
        return {"points": "", "max": 0, "min": 0, "width": width, "height": height, "dots": []}
    top = max(known) or 1
    step = (width - 2 * pad) / max(1, len(values) - 1)
    dots = []
    for i, value in enumerate(values):
        if value is None:
            continue
        x = pad + i * step
        y = height - pad - (value / top) * (height - 2 * pad)
        dots.append({"x": round(x, 1), "y": round(y, 1), "value": value})
    points = " ".join(f"{d['x']},{d['y']}" for d in dots)
    return {"points": points, "max": top, "min": min(known), "width": width, "height": height, "dots": dots}


def version_diff(current: dict, previous: dict | None) -> list[dict[str, str]]:
    """What changed from `previous` to `current` snapshot: one row per config/settings key, plus credentials."""
    rows = []
    previous = previous or {}
    for section in ("config", "settings"):
        new, old = current.get(section) or {}, previous.get(section) or {}
        for key in sorted(set(new) | set(old)):
            if new.get(key) != old.get(key):
                rows.append(
                    {
                        "field": f"{section}.{key}",
                        "old": _show(old[key]) if key in old else "—",
                        "new": _show(new[key]) if key in new else "—",
                    }
                )
    return rows


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 200 else text[:199] + "…"


def masked_headers(headers: dict | None) -> list[tuple[str, str]]:
    """Attempt request headers for display, as rows: masked by the one rule every read uses (webhooks.delivery)."""
    return list(mask_headers(headers).items())


def excerpt(text: str | None, limit: int = 2000) -> str:
    text = text or ""
    return text if len(text) <= limit else text[:limit] + "\n… (truncated)"


def pretty_json(text: str | None, limit: int = 4000) -> str:
    try:
        return excerpt(json.dumps(json.loads(text or ""), indent=2, sort_keys=True), limit)
    except (TypeError, ValueError):
        return excerpt(text, limit)
