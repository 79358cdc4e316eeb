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
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from engine.types import Persona, ScenarioError

if TYPE_CHECKING:
    from engine.scenario import PopulationConfig

MAX_PERSONA_FILE_BYTES = 50_000_000
MAX_PERSONAS = 1_000_000


def load_population(
    config: PopulationConfig, scenario_path: Path, lines: Mapping[tuple[Any, ...], int]
) -> list[Persona]:
    """The personas of a run: inline ones, then the file's, cycled to ``count``.

    Cycled copies get a suffix (``Ada~2``) so names stay unique.
    """
    from engine.scenario import PersonaConfig

    personas = [_persona(p) for p in config.personas]
    if config.personas_file:
        personas += read_persona_file(Path(config.personas_file), PersonaConfig)
    where = f"{scenario_path}:{lines.get(('population',), 1)}: population"
    if not personas:
        raise ScenarioError(f"{where}: no personas (give 'personas' or 'personas_file')")
    names = [p.name for p in personas]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ScenarioError(f"{where}: duplicate persona name {dup!r}")
    count = config.count or len(personas)
    if count <= len(personas):
        return personas[:count]
    cycled = list(personas)
    for i in range(len(personas), count):
        base = personas[i % len(personas)]
        copy_no = i // len(personas) + 1
        cycled.append(
            Persona(
                f"{base.name}~{copy_no}",
                base.description,
                base.traits,
                base.interests,
                base.activity,
            )
        )
    return cycled


def _persona(config: Any) -> Persona:
    return Persona(
        name=config.name,
        description=config.description,
        traits=dict(config.traits),
        interests=tuple(config.interests),
        activity=dict(config.activity),
    )


def read_persona_file(path: Path, schema: Any) -> list[Persona]:
    """Read a JSONL or CSV persona file; errors name the file and line."""
    size = path.stat().st_size
    if size > MAX_PERSONA_FILE_BYTES:
        raise ScenarioError(
            f"{path}:1: (file): {size} bytes, over the {MAX_PERSONA_FILE_BYTES} limit"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ScenarioError(f"{path}:1: (file): not UTF-8 text: {err}") from None
    rows = _csv_rows(text, path) if path.suffix.lower() == ".csv" else _jsonl_rows(text, path)
    personas: list[Persona] = []
    for line, row in rows:
        if len(personas) >= MAX_PERSONAS:
            raise ScenarioError(f"{path}:{line}: (file): more than {MAX_PERSONAS} personas")
        try:
            personas.append(_persona(schema.model_validate(row)))
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
