"""Counterfactual forks: a run that equals its parent up to a time ``T``, then differs.

A fork is its parent's scenario and seed plus changes that start at ``T`` (``--set``
becomes a ``set`` intervention at ``T``; intervention files add their own, at ``T`` or
later). The fork runs from the start, but every model request before ``T`` is the
parent's request (same seed, same world), so its reply comes from the parent's store by
request hash: the prefix costs engine time only, no model calls. No window spans ``T``
(interventions cut windows), and the kernel draws one (order, seed) pair per activation
in time order, so even the parent's window that straddled ``T`` is reproduced up to
``T``. After the run, the fork's events before ``T`` are compared with the parent's, and
the outcome is stored with the fork (its run card names the parent, ``T`` and the
changes).

Forks of forks and ``socium resume`` of a fork work the same way (a resumed fork reads
its parent's replies again).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.scenario import LoadedScenario, parse_scenario
from engine.simtime import format_time, parse_duration
from engine.store import RunStore
from engine.types import ScenarioError, SociumError
from engine.yamlsource import line_for, parse_yaml


@dataclass
class Fork:
    """What a fork runs with: scenario, seed, folder, the parent's replies before ``T``."""

    loaded: LoadedScenario
    folder: Path
    seed: int
    overrides: list[str]
    meta: dict[str, Any]
    replies: dict[str, tuple[str, int, int, str | None]] = field(default_factory=dict)


def prepare(
    parent: Path,
    at: str,
    sets: Sequence[str] = (),
    files: Sequence[Path] = (),
    out: Path | None = None,
) -> Fork:
    """The fork of ``parent`` at ``at`` (a duration from the start, as ``--at`` reads)."""
    store = RunStore(parent, read_only=True)
    info = store.run_info()
    store.close()
    try:
        offset = parse_duration(at)
    except ValueError as err:
        raise ScenarioError(f"--at {at}: {err}") from None
    data = yaml.safe_load(info["scenario_yaml"]) or {}
    start = parse_duration(data.get("start", 0) or 0)
    t = start + offset
    if float(info["sim_time"] or 0.0) < t:
        raise SociumError(
            f"{parent}: the run reached {format_time(float(info['sim_time']) - start)}; it "
            f"cannot be forked at {format_time(offset)} (resume it first)"
        )
    added: list[Any] = []
    sources: list[str] = []  # where each added intervention comes from, for errors
    for setting in sets:
        key, sep, value = setting.partition("=")
        if not sep:
            raise ScenarioError(f"--set {setting}: use key.path=value")
        added.append(
            {"at": offset, "kind": "set", "field": key.strip(), "value": yaml.safe_load(value)}
        )
        sources.append(f"--set {setting}")
    for path in files:
        items, lines = _intervention_file(path)
        added += items
        sources += [f"{path}:{line}: interventions.{i}" for i, line in enumerate(lines)]
    if not added:
        raise ScenarioError("a fork needs a change: --set key=value or --intervention FILE")
    first_new = len(data.get("interventions") or [])
    data["interventions"] = list(data.get("interventions") or []) + added
    scenario_path = Path(info["scenario_path"])
    try:
        loaded = parse_scenario(
            yaml.safe_dump(data, sort_keys=False, allow_unicode=True), scenario_path
        )
    except ScenarioError as err:  # point at the --set or the file the change came from
        raise ScenarioError(_blame(str(err), scenario_path, first_new, sources)) from None
    from engine.interventions import times

    for number, item in enumerate(loaded.interventions[first_new:]):
        when = times(item, _game(loaded), loaded.game, loaded.scenario)
        if min(when) < t:
            raise ScenarioError(
                f"{sources[number]}: {item.kind} at {format_time(min(when) - start)} "
                f"is before the fork's time {format_time(offset)}: a fork changes nothing earlier"
            )
    changes = [*(f"set {s}" for s in sets), *(f"interventions {p}" for p in files)]
    folder = out or parent.parent / f"{parent.name}-fork-{_slug(at, changes)}"
    meta = {
        "parent": str(parent.resolve()),
        "parent_run": info["id"],
        "at": offset,
        "t": t,
        "changes": changes,
    }
    overrides = [*info["overrides"], f"fork@{format_time(offset)}", *changes]
    return Fork(loaded, folder, int(info["seed"]), overrides, meta, parent_replies(parent, t))


def parent_replies(parent: Path, t: float) -> dict[str, tuple[str, int, int, str | None]]:
    """The parent's stored replies to requests made before simulated time ``t``."""
    store = RunStore(parent, read_only=True)
    try:
        return store.replies(before=t)
    finally:
        store.close()


def verify_prefix(folder: Path) -> str:
    """Compare the fork's events before ``T`` with its parent's; record and describe it."""
    fork = RunStore(folder)
    meta = fork.meta("fork")
    if not meta:
        fork.close()
        raise SociumError(f"{folder}: not a fork")
    parent = RunStore(Path(meta["parent"]), read_only=True)
    try:
        mine = _prefix(fork, meta["t"])
        theirs = _prefix(parent, meta["t"])
    finally:
        parent.close()
    same = mine == theirs
    record = {**meta, "prefix_events": len(mine), "prefix_identical": same}
    fork.set_meta("fork", record)
    fork.close()
    from engine.analysis import load_run
    from engine.runcard import write_run_card

    write_run_card(load_run(folder))  # the card names the parent, T, the changes, the check
    if same:
        return f"prefix: the {len(mine):,} events before the fork equal the parent's"
    return (
        f"warning: the fork's events before {format_time(meta['at'])} differ from the parent's "
        f"({len(mine):,} vs {len(theirs):,} events): the code, the embedder's arithmetic or a "
        "model reply not in the parent's store differed (see the run cards' determinism)"
    )


def _prefix(store: RunStore, t: float) -> list[str]:
    """Digests of the events before ``t`` (sequence numbers included)."""
    rows = store.db.execute(
        "SELECT seq, t, actor, kind, target, payload, perceivers FROM events WHERE t < ? "
        "ORDER BY seq",
        (t,),
    )
    return [hashlib.sha256(json.dumps(row).encode()).hexdigest() for row in rows]


def _intervention_file(path: Path) -> tuple[list[Any], list[int]]:
    """A YAML list of interventions (or a mapping with ``interventions:``), with lines."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ScenarioError(f"{path}:1: (file): cannot read: {err}") from None
    lines, data = parse_yaml(text, path)
    prefix: tuple[Any, ...] = ()
    if isinstance(data, dict):
        data, prefix = data.get("interventions"), ("interventions",)
    if not isinstance(data, list):
        raise ScenarioError(f"{path}:1: (file): a list of interventions (or interventions: [...])")
    return data, [line_for(lines, (*prefix, i)) for i in range(len(data))]


def _blame(message: str, scenario: Path, first_new: int, sources: Sequence[str]) -> str:
    """Errors about the fork's added interventions, named by where each came from."""
    pattern = re.compile(rf"^{re.escape(str(scenario))}:\d+: interventions\.(\d+)([\w.]*)", re.M)

    def source(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if number < first_new:
            return match.group(0)
        origin = sources[number - first_new]
        return origin if origin.startswith("--set") else origin + match.group(2)

    return pattern.sub(source, message)


def _game(loaded: LoadedScenario) -> Any:
    from engine.games import load_game

    return load_game(loaded.game_type)


def _slug(at: str, changes: Sequence[str]) -> str:
    digest = hashlib.sha256(json.dumps(changes).encode()).hexdigest()[:6]
    return f"{at}-{digest}".replace("/", "_")
