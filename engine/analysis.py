"""Run folders for notebooks and the CLI: load, recompute statistics, build graphs, export.

Everything here is derived from the stored events, never from a simulation's memory:

>>> run = load_run("runs/social_quick-20261128T004000Z")      # doctest: +SKIP
>>> run.events.groupby("kind").size()                         # doctest: +SKIP
>>> G = run.graph("follow", at=12 * 3600)                     # doctest: +SKIP
>>> run.stats()["final"]["individual"]                        # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import json
import sqlite3
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import networkx as nx

from engine.store import SCHEMA_VERSION, STORE_FILE, RunStore
from engine.types import Event, SociumError

GRAPH_KINDS = ("follow", "interaction", "donation")


def load_run(path: str | Path) -> Run:
    """Open a run folder (or its ``run.sqlite``) for analysis.

    Raises
    ------
    SociumError
        When the folder holds no store, or a store of another schema version (the
        message names both versions).
    """
    folder = Path(path)
    if folder.name == STORE_FILE:
        folder = folder.parent
    if not (folder / STORE_FILE).exists():
        raise SociumError(f"{folder}: no {STORE_FILE} here; is this a run folder?")
    version = store_version(folder / STORE_FILE)
    if version != SCHEMA_VERSION:
        raise SociumError(
            f"{folder}: run store schema version {version}; this socium reads version "
            f"{SCHEMA_VERSION}. Open it with the socium release that wrote it "
            f"(see the run's versions), or re-run the scenario."
        )
    return Run(folder)


def jsonable(stats: Any) -> Any:
    """Statistics as stored: JSON types only (string keys, lists)."""
    return json.loads(json.dumps(stats, default=str))


def store_version(path: Path) -> int | None:
    """The schema version recorded in a store, without opening it for writing."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError:
        return None
    finally:
        db.close()
    return int(row[0]) if row else None


class Run:
    """One run folder: metadata, events, model calls, graphs and statistics."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.store = RunStore(folder)
        self.info = self.store.run_info()

    @property
    def game(self) -> str:
        """The registered game master's name."""
        return str(self.info["game"])

    @cached_property
    def event_list(self) -> list[Event]:
        """The events as ``Event`` objects, in sequence order."""
        return self.store.events()

    @cached_property
    def events(self) -> Any:
        """The events as a pandas DataFrame (payload and perceivers decoded)."""
        import pandas as pd

        frame = pd.read_sql("SELECT * FROM events ORDER BY seq", self.store.db)
        frame["payload"] = frame["payload"].map(json.loads)
        frame["perceivers"] = frame["perceivers"].map(json.loads)
        return frame

    @cached_property
    def model_calls(self) -> Any:
        """The model calls as a pandas DataFrame."""
        import pandas as pd

        return pd.read_sql("SELECT * FROM model_calls ORDER BY id", self.store.db)

    def models_served(self) -> list[str]:
        """The model ids the backend reported, sorted (no table load)."""
        rows = self.store.db.execute(
            "SELECT DISTINCT model FROM model_calls WHERE model IS NOT NULL ORDER BY model"
        )
        return [str(row[0]) for row in rows]

    def table(self, name: str) -> Any:
        """Any store table as a DataFrame (``agents``, ``memories``, ``windows``, ...)."""
        import pandas as pd

        if name not in (
            "agents",
            "memories",
            "windows",
            "snapshots",
            "stats",
            "events",
            "model_calls",
            "run",
        ):
            raise SociumError(f"no table {name!r}")
        return pd.read_sql(f"SELECT * FROM {name}", self.store.db)

    def section(self) -> dict[str, Any]:
        """The game's section of the scenario, as the run used it."""
        import yaml

        from engine.scenario import game_spec

        data = yaml.safe_load(self.info["scenario_yaml"])
        body = {k: v for k, v in data["game"].items() if k != "type"}
        return game_spec(self.game).section.model_validate(body).model_dump()

    def events_until(self, at: float | None) -> list[Event]:
        """Events up to simulated time ``at`` (None: all)."""
        if at is None:
            return self.event_list
        return [e for e in self.event_list if e.t <= at]

    def stats(self, at: float | None = None) -> dict[str, Any]:
        """Recompute the game's statistics from the stored events (up to ``at``)."""
        from engine.scenario import game_spec

        spec = game_spec(self.game)
        if spec.statistics is None:
            return {}
        module, _, name = spec.statistics.partition(":")
        compute = getattr(importlib.import_module(module), name)
        return jsonable(compute(self.events_until(at), self.section(), self.store.agents()))

    def stored_stats(self) -> dict[str, Any]:
        """The statistics the run stored when it ended."""
        rows = self.store.db.execute("SELECT name, value FROM stats WHERE t IS NULL").fetchall()
        return {name: json.loads(value) for name, value in rows}

    def graph(self, kind: str = "follow", at: float | None = None) -> nx.DiGraph:
        """A networkx graph as it stood at simulated time ``at``.

        ``follow`` (u -> v: u follows v, edge ``created``), ``interaction`` (weighted by
        likes, dislikes, reposts and replies) or ``donation`` (weighted by units given).
        """
        events = self.events_until(at)
        if kind in ("follow", "interaction"):
            from engine.network.social import graphs_at

            graphs = graphs_at(events, agents=self.store.agents())
            return graphs.follow if kind == "follow" else graphs.interactions
        if kind == "donation":
            from engine.network.cooperation import donation_graph

            return donation_graph(events)
        raise SociumError(f"graph kind {kind!r}: use one of {', '.join(GRAPH_KINDS)}")

    def export(self, fmt: str, out: Path | None = None) -> list[Path]:
        """Write graphs (graphml, gexf) or tables (csv, parquet) next to the run."""
        out = out or self.folder / "export"
        out.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        if fmt in ("graphml", "gexf"):
            kinds = ("donation",) if self.game == "donor_game" else ("follow", "interaction")
            for kind in kinds:
                path = out / f"{kind}_graph.{fmt}"
                (nx.write_graphml if fmt == "graphml" else nx.write_gexf)(self.graph(kind), path)
                written.append(path)
            return written
        if fmt not in ("csv", "parquet"):
            raise SociumError(f"export format {fmt!r}: use graphml, gexf, csv or parquet")
        for name in ("events", "model_calls", "agents", "memories", "windows"):
            frame = self.table(name)
            for column in ("payload", "perceivers", "persona"):
                if column in frame and name != "events":
                    frame[column] = frame[column].astype(str)
            path = out / f"{name}.{fmt}"
            if fmt == "csv":
                frame.to_csv(path, index=False)
            else:
                try:
                    frame.to_parquet(path, index=False)
                except ImportError as err:
                    raise SociumError(
                        f"parquet export needs pyarrow: pip install pyarrow ({err})"
                    ) from None
            written.append(path)
        return written


def compare(folders: Sequence[Path]) -> dict[str, Any]:
    """The same statistics side by side across runs, grouped by scenario name and overrides.

    Donor game: final-generation mean resources, area under the curve and generation-1
    donation fraction per condition, with means, standard errors and Mann-Whitney tests.
    Social media: the paradox fractions per condition.
    """
    from engine.network.cooperation import compare_runs

    runs = [load_run(folder) for folder in _run_folders(folders)]
    if not runs:
        raise SociumError("no run folders found")
    conditions: dict[str, list[Run]] = {}
    for run in runs:
        label = run.info["scenario_name"] + "".join(
            f" {o}" for o in run.info["overrides"] if not o.startswith("seed")
        )
        conditions.setdefault(label, []).append(run)
    measures: dict[str, dict[str, list[float]]] = {}
    for label, members in conditions.items():
        for run in members:
            stats = run.stored_stats() or run.stats()
            for name, value in _measures(stats).items():
                measures.setdefault(name, {}).setdefault(label, []).append(value)
    return {
        "runs": [str(run.folder) for run in runs],
        "measures": {name: compare_runs(by_condition) for name, by_condition in measures.items()},
    }


def _measures(stats: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    if stats.get("game") == "donor_game":
        for key in (
            "final_generation_resources_mean",
            "resources_auc",
            "generation1_donation_fraction",
        ):
            if stats.get(key) is not None:
                out[key] = float(stats[key])
    elif stats.get("game") == "social_media":
        final = stats["final"]
        for key, result in final["individual"].items():
            if result["fraction_mean"] is not None:
                out[f"paradox_{key}"] = float(result["fraction_mean"])
        for key in ("activity", "influence"):
            if final[key]["fraction_mean"] is not None:
                out[f"paradox_{key}"] = float(final[key]["fraction_mean"])
    return out


def _run_folders(paths: Sequence[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if (path / STORE_FILE).exists():
            found.append(path)
        else:  # a sweep folder: every run folder below it
            found += sorted(p.parent for p in path.rglob(STORE_FILE))
    return found
