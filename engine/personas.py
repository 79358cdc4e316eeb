"""Persona files (JSONL or CSV) and the population a scenario asks for.

Persona file schema, one persona per JSONL line (CSV: one per row, same column names)::

    {"name": "Ada", "description": "A retired engineer.", "traits": {"leaning": "left"},
     "interests": ["trains", "chess"], "activity": {"rate": 2.5}}

- ``name`` (required, unique, 1-100 characters); ``description`` (up to 4,000);
- ``traits``: any flat mapping (CSV: columns named ``traits.<key>``);
- ``interests``: a list of strings (CSV: one column, ``;``-separated);
- ``activity``: numbers overriding the scenario's activity, e.g. ``rate`` per hour
  (CSV: columns named ``activity.<key>``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from engine.fields import DataPath, Duration, Name, Strict
from engine.types import Persona, ScenarioError

MAX_PERSONA_FILE_BYTES = 50_000_000
MAX_PERSONAS = 1_000_000
MAX_RATE = 3600.0  # activations per simulated hour: one a second


class ActivityConfig(Strict):
    """When agents act: Poisson (rate per simulated hour), every period, or game turns."""

    schedule: Literal["poisson", "every", "turns"] = "poisson"
    rate: float = Field(
        1.0, ge=0, le=MAX_RATE, description="Mean activations per simulated hour (poisson)."
    )
    profile: list[float] | None = Field(None, min_length=24, max_length=24)
    period: Duration | None = Field(None, description="Period of 'every' schedules.")
    rate_sigma: float = Field(
        0.0, ge=0, le=5, description="Lognormal sigma of per-agent rates (0: all equal)."
    )
    scale: float = Field(
        1.0,
        ge=0,
        le=1e6,
        description="Factor on every agent's rate (persona files' rates included).",
    )

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and (
            any(not math.isfinite(v) or v < 0 for v in value) or max(value) <= 0
        ):
            raise ValueError("an hourly profile has 24 finite values >= 0, not all 0")
        return value

    @field_validator("period")
    @classmethod
    def _period(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("a period must be longer than 0")
        return value


class PersonaConfig(Strict):
    """An inline persona (the same fields as a persona file row)."""

    name: Name = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=4000)
    traits: dict[str, Any] = Field(default_factory=dict)
    interests: list[str] = Field(default_factory=list, max_length=50)
    activity: dict[str, float] = Field(default_factory=dict)

    @field_validator("activity")
    @classmethod
    def _activity(cls, value: dict[str, float]) -> dict[str, float]:
        for key, number in value.items():
            if not math.isfinite(number) or number < 0:
                raise ValueError(f"activity.{key} must be a finite number >= 0, not {number!r}")
            if key == "rate" and number > MAX_RATE:
                raise ValueError(f"activity.rate {number:g} is above {MAX_RATE:g} per hour")
            if key == "period" and number <= 0:
                raise ValueError("activity.period must be longer than 0")
        return value


class PopulationConfig(Strict):
    """Who takes part: inline personas and/or a JSONL/CSV persona file."""

    personas: list[PersonaConfig] = Field(default_factory=list)
    personas_file: DataPath | None = None
    count: int | None = Field(
        None, ge=1, le=MAX_PERSONAS, description="Cycle personas to this size."
    )
    activity: ActivityConfig = ActivityConfig()


def load_population(
    config: PopulationConfig, scenario_path: Path, lines: Mapping[tuple[Any, ...], int]
) -> list[Persona]:
    """The personas of a run: inline ones, then the file's, cycled to ``count``.

    Cycled copies get a suffix (``Ada~2``) that no other persona's name takes.
    """
    personas = [persona_from_config(p) for p in config.personas]
    if config.personas_file:
        personas += read_persona_file(Path(config.personas_file))
    where = f"{scenario_path}:{lines.get(('population',), 1)}: population"
    if not personas:
        raise ScenarioError(f"{where}: no personas (give 'personas' or 'personas_file')")
    names = [p.name for p in personas]
    if len(set(names)) != len(names):
        dup = next(name for name, n in Counter(names).items() if n > 1)
        raise ScenarioError(f"{where}: duplicate persona name {dup!r}")
    count = config.count or len(personas)
    if count <= len(personas):
        return personas[:count]
    taken = set(names)
    cycled = list(personas)
    for i in range(len(personas), count):
        base = personas[i % len(personas)]
        copy_no = i // len(personas) + 1
        name = f"{base.name}~{copy_no}"
        while name in taken:
            name += "'"
        taken.add(name)
        cycled.append(Persona(name, base.description, base.traits, base.interests, base.activity))
    return cycled


def persona_from_config(config: Any) -> Persona:
    """The persona a ``PersonaConfig`` (a scenario's or a file's entry) describes."""
    return Persona(
        name=config.name,
        description=config.description,
        traits=dict(config.traits),
        interests=tuple(config.interests),
        activity=dict(config.activity),
    )


def read_persona_file(path: Path) -> list[Persona]:
    """Read a JSONL or CSV persona file; errors name the file and line."""
    size = path.stat().st_size
    if size > MAX_PERSONA_FILE_BYTES:
        raise ScenarioError(
            f"{path}:1: (file): {size} bytes, over the {MAX_PERSONA_FILE_BYTES} limit"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM (spreadsheet exports) is dropped
    except UnicodeDecodeError as err:
        raise ScenarioError(f"{path}:1: (file): not UTF-8 text: {err}") from None
    rows = _csv_rows(text, path) if path.suffix.lower() == ".csv" else _jsonl_rows(text, path)
    personas: list[Persona] = []
    for line, row in rows:
        if len(personas) >= MAX_PERSONAS:
            raise ScenarioError(f"{path}:{line}: (file): more than {MAX_PERSONAS} personas")
        try:
            personas.append(persona_from_config(PersonaConfig.model_validate(row)))
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "(row)"
            message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
            raise ScenarioError(f"{path}:{line}: {field}: {message}") from None
    return personas


def _jsonl_rows(text: str, path: Path) -> list[tuple[int, Any]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ScenarioError(
                f"{path}:{number}: (json): {err.msg} at column {err.colno}"
            ) from None
        if not isinstance(row, dict):
            raise ScenarioError(f"{path}:{number}: (row): each line is a JSON object")
        rows.append((number, row))
    return rows


def _csv_rows(text: str, path: Path) -> list[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    try:
        for record in reader:
            row: dict[str, Any] = {"traits": {}, "activity": {}}
            for column, value in record.items():
                if column is None:
                    raise ScenarioError(f"{path}:{reader.line_num}: (row): more cells than columns")
                if column.startswith("traits."):
                    row["traits"][column[7:]] = value
                elif column.startswith("activity."):
                    try:
                        row["activity"][column[9:]] = float(value)
                    except (TypeError, ValueError):
                        raise ScenarioError(
                            f"{path}:{reader.line_num}: {column}: not a number: {value!r}"
                        ) from None
                elif column == "interests":
                    row["interests"] = [s.strip() for s in (value or "").split(";") if s.strip()]
                else:
                    row[column] = value
            rows.append((reader.line_num, row))
    except csv.Error as err:
        raise ScenarioError(f"{path}:{reader.line_num}: (csv): {err}") from None
    return rows
