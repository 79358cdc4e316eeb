"""Field types shared by every part of a scenario file (engine sections and games alike).

``Strict`` rejects unknown keys, ``Duration`` reads ``90s``/``30m``/``2h``/``7d``,
``DataPath`` keeps data files inside the scenario's folder, ``Name`` is an agent name
that cannot smuggle a line break into a prompt or an XML export.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
    WithJsonSchema,
)

from engine.simtime import parse_duration


class Strict(BaseModel):
    """Base of every scenario section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\d+(\.\d+)?[smhdw]?$"},
            ]
        }
    ),
]


def _within(value: str, info: ValidationInfo) -> Path | None:
    """``value`` resolved against the scenario's folder, which it may not leave.

    None when validated without a folder (the scenario's text alone).
    """
    base = (info.context or {}).get("base")
    if base is None:
        return None
    base_dir = Path(base).resolve()
    target = (base_dir / value).resolve()
    if Path(value).is_absolute() or not target.is_relative_to(base_dir):
        raise ValueError(f"path {value!r} leaves the scenario folder {base_dir}")
    return target


def _confined(value: str, info: ValidationInfo) -> str:
    """Data paths are relative to the scenario file and may not leave its folder."""
    target = _within(value, info)
    if target is None:
        return value
    if not target.is_file():
        raise ValueError(
            f"file {value!r} not found next to the scenario file (or not a regular file)"
        )
    return str(target)


DataPath = Annotated[str, AfterValidator(_confined)]


def _inside(value: str, info: ValidationInfo) -> str:
    """A file the run may create: relative to the scenario file, inside its folder."""
    target = _within(value, info)
    if target is not None and target.exists() and not target.is_file():
        raise ValueError(f"{value!r} exists and is not a regular file")
    return value


OutputPath = Annotated[str, AfterValidator(_inside)]


def _name(value: str) -> str:
    """Agent names reach other agents' prompts and XML exports: no control characters."""
    bad = [c for c in value if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]
    if bad:
        raise ValueError(f"control character {bad[0]!r} in a name (names are one printable line)")
    if value != value.strip():
        raise ValueError("a name cannot start or end with whitespace")
    return value


Name = Annotated[str, AfterValidator(_name)]
