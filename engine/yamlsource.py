"""YAML text with line numbers: safe parsing, ``--set`` overrides, located errors.

Every problem becomes ``file:line: field: message``; unknown keys get a "did you mean".
Nothing here evaluates text: YAML is read with the safe loader only.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from engine.types import ScenarioError

MAX_NODES = 50_000  # values after expanding anchors: far beyond any real scenario
MAX_DEPTH = 64


def parse_yaml(text: str, path: Path) -> tuple[dict[tuple[Any, ...], int], Any]:
    """Parse safely; return the data and a map from key paths to 1-based line numbers.

    Anchors and aliases are expanded in a bounded walk first: a file whose aliases
    expand to more than ``MAX_NODES`` values ("billion laughs"), nests deeper than
    ``MAX_DEPTH`` or contains itself is a ``file:line`` error before anything else
    (validation, printing, the run) walks the tree.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        lines = _walk(root, path)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 1
        raise ScenarioError(f"{path}:{line}: (yaml): {one_line(err.problem or err)}") from None
    except yaml.reader.ReaderError as err:  # a character YAML does not allow
        line = text[: err.position].count("\n") + 1
        raise ScenarioError(
            f"{path}:{line}: (yaml): character {err.character!r} is not allowed"
        ) from None
    except yaml.YAMLError as err:
        raise ScenarioError(f"{path}:1: (yaml): {one_line(err)}") from None
    except RecursionError:
        raise ScenarioError(
            f"{path}:1: (yaml): nested too deeply (at most {MAX_DEPTH} levels)"
        ) from None
    return lines, data


def _walk(root: yaml.Node | None, path: Path) -> dict[tuple[Any, ...], int]:
    """Line numbers of every key path, in a walk bounded in size and depth."""
    lines: dict[tuple[Any, ...], int] = {}
    if root is None:
        return lines
    visits = 0
    stack: list[tuple[yaml.Node, tuple[Any, ...], frozenset[int]]] = [(root, (), frozenset())]
    while stack:
        node, at, ancestors = stack.pop()
        visits += 1
        line = node.start_mark.line + 1
        if visits > MAX_NODES:
            raise ScenarioError(
                f"{path}:{line}: (yaml): the file expands to more than {MAX_NODES:,} values "
                "through anchors and aliases; write the values out"
            )
        if len(at) > MAX_DEPTH:
            raise ScenarioError(f"{path}:{line}: (yaml): nested more than {MAX_DEPTH} levels deep")
        if id(node) in ancestors:
            raise ScenarioError(f"{path}:{line}: (yaml): an alias refers to its own anchor")
        lines.setdefault(at, line)
        inside = ancestors | {id(node)}
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in node.value:
                key = key_node.value
                if key in seen:
                    raise ScenarioError(
                        f"{path}:{key_node.start_mark.line + 1}: {dotted((*at, key))}: duplicate key"
                    )
                seen.add(key)
                lines.setdefault((*at, key), key_node.start_mark.line + 1)
                stack.append((value_node, (*at, key), inside))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines.setdefault((*at, index), item.start_mark.line + 1)
                stack.append((item, (*at, index), inside))
    return lines


def one_line(message: object) -> str:
    """A message on one line."""
    return " ".join(str(message).split())


def apply_override(data: dict[str, Any], override: str, path: Path) -> None:
    """Apply ``a.b=value`` (value parsed as YAML) to the raw scenario data."""
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ScenarioError(f"--set {override}: (override): expected key.path=value")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        raise ScenarioError(f"--set {override}: {key}: value is not valid YAML: {err}") from None
    parts = key.strip().split(".")
    node: Any = data
    for part in parts[:-1]:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            raise ScenarioError(f"--set {override}: {key}: cannot descend into {part!r}")
    last = parts[-1]
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ScenarioError(f"--set {override}: {key}: cannot set {last!r}")


def dotted(loc: Sequence[Any]) -> str:
    """A field path for messages; odd keys (spaces, control characters) are quoted."""
    parts = [str(p) if re.fullmatch(r"[\w-]+", str(p)) else json.dumps(str(p)) for p in loc]
    return ".".join(parts) or "(top level)"


def line_for(lines: Mapping[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int:
    """The line of the deepest existing prefix of ``loc`` (a missing key: its parent)."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


def format_errors(
    err: ValidationError,
    path: Path,
    lines: Mapping[tuple[Any, ...], int],
    model: type[BaseModel],
    prefix: tuple[Any, ...],
    union_tags: Mapping[tuple[Any, ...], Sequence[str]] | None = None,
) -> list[str]:
    """One ``file:line: field: message`` per validation error, with "did you mean"."""
    union_tags = union_tags or {}  # discriminated unions add their tag to loc; drop it
    out = []
    for error in err.errors():
        raw_loc = tuple(error["loc"])
        loc = tuple(p for i, p in enumerate(raw_loc) if p not in union_tags.get(raw_loc[:i], ()))
        full = (*prefix, *loc)
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = f"unknown key{did_you_mean(str(loc[-1]), fields_at(model, loc[:-1]))}"
        elif error["type"] == "missing":
            message = "required field is missing"
        elif "input" in error and error["type"] not in ("value_error",):
            message += f" (got {json.dumps(error['input'], default=str)[:80]})"
        out.append(f"{path}:{line_for(lines, full)}: {dotted(full)}: {printable(message)}")
    return out


def printable(text: str) -> str:
    r"""``text`` with control characters escaped: an echoed value stays on its error's line.

    Examples
    --------
    >>> printable("tag 'a\x1eb'")
    "tag 'a\\x1eb'"
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the (nested) model found at ``loc``, for "did you mean"."""
    candidates: list[type[BaseModel]] = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        following: list[type[BaseModel]] = []
        for current in candidates:
            field = current.model_fields.get(str(part))
            if field is not None:
                following += models_in(field.annotation)
        candidates = following
    names: list[str] = []
    for current in candidates:
        names += [n for n in current.model_fields if n not in names]
    return names


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models inside a type annotation (unions, Annotated, lists)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found += models_in(arg)
    metadata = getattr(annotation, "__metadata__", None)
    if metadata is not None:
        found += models_in(getattr(annotation, "__origin__", None))
    return found


def did_you_mean(word: str, options: Mapping[str, Any] | Sequence[str]) -> str:
    """``" 'word'; did you mean 'close'?"`` or the allowed options."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    if close:
        return f" {word!r}; did you mean {close[0]!r}?"
    return f" {word!r}; allowed: {', '.join(list(options)[:20])}" if options else f" {word!r}"
