"""Run folders for notebooks and the CLI: load, recompute statistics, build graphs, export.

Everything here is derived from the stored events, never from a simulation's memory:

>>> run = load_run("runs/<scenario>-<UTC timestamp>")         # doctest: +SKIP
>>> run.events.groupby("kind").size()                         # doctest: +SKIP
>>> G = run.graph(run.plugin.graph_kinds[0], at=12 * 3600)    # doctest: +SKIP
>>> run.stats()                                               # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import networkx as nx

from engine.games import Game, RunData, load_game
from engine.store import STORE_FILE, RunStore
from engine.types import Event, SociumError


def load_run(path: str | Path) -> Run:
    """Open a run folder (or its ``run.sqlite``) for analysis, read-only.

    Raises
    ------
    SociumError
        When the folder holds no store, a damaged one, or one of another schema version
        (the message names both versions).
    """
    folder = Path(path)
    if folder.name == STORE_FILE:
        folder = folder.parent
    return Run(folder)


def jsonable(stats: Any) -> Any:
    """Statistics as stored: JSON types only (string keys, lists)."""
    return json.loads(json.dumps(stats, default=str))


class Run:
    """One run folder: metadata, events, model calls, graphs and statistics.

    Attributes and methods (times are simulated seconds on the run's clock, which starts
    at the scenario's ``start``; ``socium analyze --at`` counts from the start instead):

    - ``info``: the run row (scenario, seed, status, summary, ...) as a dict;
    - ``agents``, ``events``, ``model_calls``: pandas DataFrames; ``event_list``: Event
      objects;
    - ``table(name)``: any store table (``agents``, ``memories``, ``windows``, ...);
    - ``scenario``: the scenario as the run used it (after ``--set``), a dict;
    - ``game``: the game's name; ``plugin``: its :class:`~engine.games.Game`;
    - ``section``: the game's typed section;
    - ``stats(at=None)``: statistics recomputed from the events (up to time ``at``);
      ``stored_stats()``: those written when the run ended; ``stats_frame()``: tidy rows;
    - ``graph(kind, at=None)``: a networkx graph the game provides (``graph_kinds``);
    - ``export(fmt, out)``: graph files or tables.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.store = RunStore(folder, read_only=True)
        self.info = self.store.run_info()

    @property
    def game(self) -> str:
        """The registered game's name."""
        return str(self.info["game"])

    @cached_property
    def plugin(self) -> Game:
        """The game plugin that wrote this run (a clear error if it is not installed)."""
        return load_game(self.game)

    @cached_property
    def scenario(self) -> dict[str, Any]:
        """The scenario as the run used it (overrides applied)."""
        import yaml

        data = yaml.safe_load(self.info["scenario_yaml"])
        return data if isinstance(data, dict) else {}

    @property
    def start(self) -> float:
        """The simulated clock at the run's start."""
        from engine.simtime import parse_duration

        return parse_duration(self.scenario.get("start", 0) or 0)

    @cached_property
    def event_list(self) -> list[Event]:
        """The events as ``Event`` objects, in sequence order."""
        return self.store.events()

    @cached_property
    def events(self) -> Any:
        """The events as a pandas DataFrame (payload and perceivers decoded)."""
        import pandas as pd

        columns, rows = self.store.table("events")
        frame = pd.DataFrame.from_records(rows, columns=columns)
        frame["payload"] = frame["payload"].map(json.loads)
        frame["perceivers"] = frame["perceivers"].map(json.loads)
        return frame

    @cached_property
    def agents(self) -> Any:
        """The agents as a pandas DataFrame: one row each, in the order they joined.

        Columns ``name``, ``description``, ``interests`` and one column per trait
        (``traits.<key>``) and activity setting (``activity.<key>``).
        """
        import pandas as pd

        return pd.json_normalize([dict(p, name=n) for n, p in self.store.agents().items()])

    @cached_property
    def model_calls(self) -> Any:
        """The model calls as a pandas DataFrame."""
        import pandas as pd

        columns, rows = self.store.table("model_calls")
        return pd.DataFrame.from_records(rows, columns=columns)

    @cached_property
    def surveys(self) -> Any:
        """Survey answers as a DataFrame: the run's survey events and ``socium survey``'s."""
        from engine.surveys import survey_frame

        return survey_frame(self.store, self.start)

    def models_served(self) -> list[str]:
        """The model ids the backend reported, sorted (no table load)."""
        return self.store.models_served()

    def model_label(self) -> str:
        """``backend:model`` of the run (the served ids when the backend reported them)."""
        model = self.scenario.get("model") or {}
        backend = str(model.get("backend", "local"))
        served = self.models_served()
        name = (
            "+".join(served)
            if served
            else str(model.get("model") or model.get("model_path") or "default")
        )
        return f"{backend}:{name}"

    def table(self, name: str) -> Any:
        """Any store table as a DataFrame (``agents``, ``memories``, ``windows``, ...)."""
        import pandas as pd

        columns, rows = self.store.table(name)
        return pd.DataFrame.from_records(rows, columns=columns)

    @cached_property
    def section(self) -> Any:
        """The game's typed section, as the run used it (defaults filled in)."""
        body = {k: v for k, v in (self.scenario.get("game") or {}).items() if k != "type"}
        return self.plugin.section.model_validate(body)

    def events_until(self, at: float | None) -> list[Event]:
        """Events up to simulated time ``at`` (None: all)."""
        if at is None:
            return self.event_list
        return [e for e in self.event_list if e.t <= at]

    def data(self, at: float | None = None) -> RunData:
        """What the game's statistics, graphs and plots are computed from (up to ``at``)."""
        from engine.simulation import statistics_embedder

        config = self.scenario.get("embedder") or {}
        embed, label = statistics_embedder(config)
        end = float(self.info["sim_time"]) if at is None else at
        return RunData(
            self.events_until(at),
            self.store.agents(),
            self.section,
            start=self.start,
            end=end,
            seed=int(self.info["seed"]),
            embed=embed,
            embedder=label,
        )

    def stats(self, at: float | None = None) -> dict[str, Any]:
        """Recompute the game's statistics from the stored events (up to ``at``)."""
        return jsonable(self.plugin.statistics(self.data(at)))

    def stored_stats(self) -> dict[str, Any]:
        """The statistics the run stored when it ended."""
        return self.store.stored_stats()

    def stats_frame(self, stats: dict[str, Any] | None = None) -> Any:
        """Tidy statistics: a DataFrame with columns run, t, name, value."""
        import pandas as pd

        stats = stats if stats is not None else (self.stored_stats() or self.stats())
        rows = [(self.folder.name, t, name, value) for t, name, value in self.plugin.rows(stats)]
        return pd.DataFrame(rows, columns=["run", "t", "name", "value"])

    def graph(self, kind: str, at: float | None = None) -> nx.DiGraph:
        """A networkx graph of the game's (``plugin.graph_kinds``) as it stood at ``at``."""
        if kind not in self.plugin.graph_kinds:
            kinds = ", ".join(self.plugin.graph_kinds) or "none"
            raise SociumError(f"the {self.game} game has no {kind!r} graph (its graphs: {kinds})")
        return self.plugin.graph(kind, self.data(at))

    def export(self, fmt: str, out: Path | None = None) -> list[Path]:
        """Write graphs (graphml, gexf) or tables (csv, parquet); return the paths."""
        out = out or self.folder / "export"
        if fmt in ("graphml", "gexf"):
            if not self.plugin.graph_kinds:
                raise SociumError(
                    f"the {self.game} game has no graphs to export; try csv or parquet"
                )
            out.mkdir(parents=True, exist_ok=True)
            written = []
            for kind in self.plugin.graph_kinds:
                path = out / f"{kind}_graph.{fmt}"
                (nx.write_graphml if fmt == "graphml" else nx.write_gexf)(self.graph(kind), path)
                written.append(path)
            return written
        if fmt not in ("csv", "parquet"):
            raise SociumError(f"export format {fmt!r}: use graphml, gexf, csv or parquet")
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name in ("events", "model_calls", "agents", "memories", "windows"):
            frame = self.table(name)
            path = out / f"{name}.{fmt}"
            if fmt == "csv":
                spreadsheet_safe(frame).to_csv(path, index=False)
            else:
                try:
                    frame.to_parquet(path, index=False)
                except ImportError as err:
                    raise SociumError(
                        f"parquet export needs pyarrow: pip install pyarrow ({err})"
                    ) from None
            written.append(path)
        return written


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(frame: Any) -> Any:
    """``frame`` with formula-like text cells defused, for CSV files.

    Text cells a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``...) get a
    leading apostrophe (OWASP's advice against CSV injection); numbers stay numbers.
    """
    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v
            )
    return out


def condition_label(run: Run) -> str:
    """What makes a condition: scenario name, model, and overrides other than the seed."""
    overrides = [o for o in run.info["overrides"] if o.split("=", 1)[0].strip() not in ("seed",)]
    return " ".join([run.info["scenario_name"], f"[{run.model_label()}]", *overrides])


def compare(folders: Sequence[Path]) -> dict[str, Any]:
    """The game's measures side by side across runs, grouped into conditions.

    A condition is the scenario name, the model (backend and model id: two models run
    from one file are two conditions) and the overrides other than the seed; runs that
    differ only by seed are its replicates. Per measure: mean, standard error and n per
    condition, two-sided Mann-Whitney U between each pair, and, where two conditions share
    seeds (a fork and its parent, two sweeps forked from the same seeds), per-seed paired
    differences with a Wilcoxon signed-rank test; Holm's correction over every test of the
    comparison; and one row per run.
    """
    from engine.network.compare import adjust, compare_runs, paired
    from engine.surveys import survey_measures

    runs = [load_run(folder) for folder in run_folders(folders)]
    if not runs:
        raise SociumError("no run folders found")
    conditions: dict[str, list[Run]] = {}
    for run in runs:
        conditions.setdefault(condition_label(run), []).append(run)
    measures: dict[str, dict[str, list[float | None]]] = {}
    by_seed: dict[str, dict[str, dict[int, float | None]]] = {}
    per_run = []
    for label, members in conditions.items():
        for run in members:
            values = {
                **run.plugin.measures(run.stored_stats() or run.stats()),
                **survey_measures(run.surveys),
            }
            seed = int(run.info["seed"])
            per_run.append({"run": str(run.folder), "condition": label, "seed": seed, **values})
            for name, value in values.items():
                measures.setdefault(name, {}).setdefault(label, []).append(value)
                by_seed.setdefault(name, {}).setdefault(label, {})[seed] = value
    comparisons = {name: compare_runs(by_condition) for name, by_condition in measures.items()}
    for name, comparison in comparisons.items():
        comparison["paired"] = paired(by_seed[name])
    adjust(comparisons)
    return {
        "runs": [str(run.folder) for run in runs],
        "conditions": {label: len(members) for label, members in conditions.items()},
        "per_run": per_run,
        "measures": comparisons,
    }


def run_folders(paths: Sequence[Path]) -> list[Path]:
    """Run folders among ``paths`` (a sweep folder stands for every run folder below it)."""
    found: list[Path] = []
    for path in paths:
        if (path / STORE_FILE).exists():
            found.append(path)
        else:  # a sweep folder: every run folder below it
            found += sorted(p.parent for p in path.rglob(STORE_FILE))
    return found
