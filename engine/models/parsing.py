"""Lenient parsing of model replies against a JSON Schema, and schema helpers.

``parse(text, schema)`` returns ``(value, outcome)`` with outcome ``ok`` (the reply was
exactly valid JSON) or ``repaired`` (the value was recovered: JSON inside prose, a bare
choice word, a number in a sentence), or raises ``ParseError`` with a reason the model
can be told on a retry.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


class ParseError(ValueError):
    """The reply does not satisfy the schema; ``str(err)`` says why."""


def choice_schema(options: Sequence[str]) -> dict[str, Any]:
    """Schema of ``{"answer": one of options}``."""
    return {
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": list(options)}},
        "required": ["answer"],
        "additionalProperties": False,
    }


def number_schema(low: float | None, high: float | None, integer: bool = False) -> dict[str, Any]:
    """Schema of ``{"answer": number in [low, high]}``."""
    answer: dict[str, Any] = {"type": "integer" if integer else "number"}
    if low is not None:
        answer["minimum"] = low
    if high is not None:
        answer["maximum"] = high
    return {
        "type": "object",
        "properties": {"answer": answer},
        "required": ["answer"],
        "additionalProperties": False,
    }


def parse(text: str, schema: Mapping[str, Any]) -> tuple[Any, str]:
    """Parse ``text`` as a JSON value valid under ``schema``; see the module docstring."""
    if not isinstance(text, str):
        raise ParseError(f"reply is a {type(text).__name__}, not text")
    stripped = text.strip()
    try:
        value = json.loads(stripped)
        return validate(value, schema), "ok"
    except (json.JSONDecodeError, ParseError, RecursionError):
        pass
    for candidate in _json_candidates(stripped):
        try:
            return validate(candidate, schema), "repaired"
        except (ParseError, RecursionError):
            continue
    recovered = _recover_scalar_answer(stripped, schema)
    if recovered is not None:
        return validate(recovered, schema), "repaired"
    raise ParseError(f"reply is not valid JSON matching the schema: {stripped[:120]!r}")


def _json_candidates(text: str) -> list[Any]:
    """JSON objects embedded in prose or code fences, outermost first."""
    found = []
    decoder = json.JSONDecoder()
    for start in [m.start() for m in re.finditer(r"[{\[]", text)][:20]:
        try:
            value, _ = decoder.raw_decode(text[start:])
        except (json.JSONDecodeError, RecursionError):
            continue
        found.append(value)
    return found


def _recover_scalar_answer(text: str, schema: Mapping[str, Any]) -> Any:
    """For ``{"answer": scalar}`` schemas: a bare option word or a number in prose."""
    answer = schema.get("properties", {}).get("answer")
    if schema.get("type") != "object" or answer is None or len(schema.get("properties", {})) != 1:
        return None
    if "enum" in answer:
        options = [str(o) for o in answer["enum"]]
        lowered = text.lower()
        exact = [o for o in options if o.lower() == lowered.strip(" .\"'`*")]
        if exact:
            return {"answer": exact[0]}
        mentioned = [o for o in options if re.search(rf"\b{re.escape(o.lower())}\b", lowered)]
        if len(mentioned) == 1:
            return {"answer": mentioned[0]}
        return None
    if answer.get("type") in ("number", "integer"):
        match = re.search(r"answer\s*[:=]\s*(" + _NUMBER.pattern + ")", text, re.IGNORECASE)
        numbers = [match.group(1)] if match else _NUMBER.findall(text)
        if len(numbers) >= 1:
            return {"answer": float(numbers[-1]) if match is None else float(numbers[0])}
    return None


def validate(value: Any, schema: Mapping[str, Any]) -> Any:
    """Check ``value`` against the subset of JSON Schema socium emits; return it.

    Integers are coerced where the schema says integer. Raises ``ParseError``.
    """
    if "anyOf" in schema:
        reasons = []
        for branch in schema["anyOf"]:
            try:
                return validate(value, branch)
            except ParseError as err:
                reasons.append(str(err))
        raise ParseError("; ".join(reasons[:3]))
    if "const" in schema:
        if value != schema["const"]:
            raise ParseError(f"expected {schema['const']!r}, got {value!r}")
        return value
    if "enum" in schema and value not in schema["enum"]:
        raise ParseError(f"{value!r} is not one of {list(schema['enum'])}")
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            raise ParseError(f"expected an object, got {type(value).__name__}")
        properties = schema.get("properties", {})
        missing = [k for k in schema.get("required", []) if k not in value]
        if missing:
            raise ParseError(f"missing field(s) {missing}")
        if schema.get("additionalProperties") is False:
            extra = [k for k in value if k not in properties]
            if extra:
                raise ParseError(f"unexpected field(s) {extra}")
        return {k: validate(v, properties[k]) if k in properties else v for k, v in value.items()}
    if kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
                value = float(value)
            else:
                raise ParseError(f"expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ParseError(f"expected a finite number, got {value!r}")
        if kind == "integer":
            if value != int(value):
                raise ParseError(f"expected an integer, got {value!r}")
            value = int(value)
        if "minimum" in schema and value < schema["minimum"]:
            raise ParseError(f"{value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise ParseError(f"{value} is above the maximum {schema['maximum']}")
        return value
    if kind == "string":
        if not isinstance(value, str):
            raise ParseError(f"expected a string, got {value!r}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return value[: schema["maxLength"]]
        return value
    if kind == "array":
        if not isinstance(value, list):
            raise ParseError(f"expected a list, got {type(value).__name__}")
        items = schema.get("items", {})
        return [validate(v, items) for v in value]
    if kind == "boolean" and not isinstance(value, bool):
        raise ParseError(f"expected true or false, got {value!r}")
    return value


def example_of(schema: Mapping[str, Any], pick: int = 0) -> Any:
    """A valid instance of ``schema``; ``pick`` selects among choices (scripted model)."""
    if "anyOf" in schema:
        branches = schema["anyOf"]
        return example_of(branches[pick % len(branches)], pick // len(branches))
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][pick % len(schema["enum"])]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {k: example_of(v, pick + i) for i, (k, v) in enumerate(properties.items())}
    if kind in ("number", "integer"):
        said = re.fullmatch(r"from (\S+) to (\S+)", str(schema.get("description", "")))
        low = schema.get("minimum", float(said.group(1)) if said else 0)
        high = schema.get("maximum", float(said.group(2)) if said else low + 10)
        value = low + (high - low) * ((pick * 37) % 101) / 100
        return int(value) if kind == "integer" else round(value, 2)
    if kind == "array":
        return [example_of(schema.get("items", {}), pick)]
    if kind == "boolean":
        return pick % 2 == 0
    words = ["hello", "neighbours", "the", "well", "needs", "fixing", "today", "let's", "talk"]
    text = " ".join(words[(pick + i) % len(words)] for i in range(3 + pick % 5))
    return text[: schema.get("maxLength", 500)]
