"""400 bodies for bad input: one entry per field with the problem and what is allowed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from pydantic import BaseModel

_KINDS = {
    "missing": "a value (required)",
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "finite_number": "a finite number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text",
    "date_parsing": "a date YYYY-MM-DD",
    "date_from_datetime_parsing": "a date YYYY-MM-DD",
    "date_type": "a date YYYY-MM-DD",
    "datetime_parsing": "an ISO 8601 time, e.g. 2026-11-30T10:00:00Z",
    "datetime_from_date_parsing": "an ISO 8601 time, e.g. 2026-11-30T10:00:00Z",
    "datetime_type": "an ISO 8601 time, e.g. 2026-11-30T10:00:00Z",
    "timezone_aware": "a time with a zone, e.g. 2026-11-30T10:00:00Z",
    "json_invalid": "a JSON document",
    "model_type": "a JSON object",
    "model_attributes_type": "a JSON object",
    "dict_type": "a JSON object",
    "list_type": "a JSON array",
    "string_unicode": "UTF-8 text",
}


def _allowed(err: dict[str, Any], request: Request) -> str:
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    if kind in {"literal_error", "enum"}:
        expected = str(ctx.get("expected", ""))
        return "one of: " + ", ".join(re.findall(r"'([^']*)'", expected) or [expected])
    if kind == "string_pattern_mismatch":
        return f"text matching {ctx.get('pattern')}"
    if kind == "string_too_short":
        return f"text of at least {ctx.get('min_length')} character(s)"
    if kind == "string_too_long":
        return f"text of at most {ctx.get('max_length')} characters"
    if kind == "too_short":
        return f"at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"at most {ctx.get('max_length')} items"
    for name, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if kind.startswith(("greater_than", "less_than")) and name in ctx:
            return f"a number {sign} {ctx[name]}"
    if kind == "extra_forbidden":
        fields = _known_fields(request, err.get("loc", ()))
        return "known fields: " + ", ".join(fields) if fields else "no other fields"
    if kind == "value_error":
        return str(err.get("msg", "")).removeprefix("Value error, ").removeprefix("expected ")
    return _KINDS.get(kind, str(err.get("msg", "see the OpenAPI document")))


def _known_fields(request: Request, loc: Sequence[Any]) -> list[str]:
    """The field names of the body model that holds the unknown field at ``loc``."""
    route = request.scope.get("route")
    body_field = getattr(route, "body_field", None)
    info = getattr(body_field, "field_info", None)
    model: Any = _inner_model(getattr(info, "annotation", None))
    if model is None:
        return []
    path = list(loc[1:-1])  # drop "body" and the unknown name
    try:
        model = _walk(model, path)
    except (KeyError, TypeError, IndexError):
        return []
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _walk(model: Any, path: list[Any]) -> Any:
    for step in path:
        if isinstance(step, int):
            continue  # an item of a list: the list's model is already the item model
        ann = model.model_fields[step].annotation
        model = _inner_model(ann)
    return model


def _inner_model(ann: Any) -> Any:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _got(err: dict[str, Any]) -> str | None:
    if err.get("type") == "missing" or "input" not in err:
        return None
    text = repr(err["input"]) if not isinstance(err["input"], str) else err["input"]
    return text if len(text) <= 80 else text[:77] + "..."


def validation_body(request: Request, errors: Sequence[Any]) -> dict[str, Any]:
    """The 400 body for pydantic's errors of a request."""
    fields = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        fields.append(
            {
                "field": ".".join(loc) or "body",
                "problem": str(err.get("msg", "invalid")),
                "allowed": _allowed(err, request),
                "got": _got(err),
            }
        )
    return {"error": "invalid request", "fields": fields}
