"""Parameter sweeps: every (seed, grid point) is one run folder under a sweep folder.

Executors: ``local`` (a process pool on this machine) or ``ray`` (Ray tasks on a
cluster, ``ray.init(address)``; the optional extra ``ray``). Each run is an ordinary
``socium run``; a sweep that is killed and started again skips the runs that finished
and redoes the others. At the end the runs are compared (means, standard errors and
Mann-Whitney tests per grid point, ``sweep_stats.json``).
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import re
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.store import STORE_FILE, RunStore
from engine.types import ScenarioError, SociumError


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its seed, its grid overrides and its folder."""

    seed: int
    overrides: tuple[str, ...]
    folder: str


def parse_seeds(text: str) -> list[int]:
    """``"0-9"``, ``"1,4,7"`` or ``"0-2,10"`` -> seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)-(\d+)", part)
        if match:
            low, high = int(match.group(1)), int(match.group(2))
            if high < low:
                raise ScenarioError(f"--seeds {text}: {part} runs backwards")
            seeds += range(low, high + 1)
        elif part.isdigit():
            seeds.append(int(part))
        else:
            raise ScenarioError(f"--seeds {text}: expected numbers and ranges like 0-9,12")
    return sorted(set(seeds))


def parse_grid(items: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``["game.trace_depth=1,3", "window=0,10m"]`` -> [(key, values), ...]."""
    grid = []
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise ScenarioError(f"--grid {item}: expected key=value1,value2")
        grid.append((key.strip(), [v.strip() for v in values.split(",")]))
    return grid


def plan(
    seeds: Sequence[int],
    grid: Sequence[tuple[str, list[str]]],
    folder: Path,
    base: Sequence[str] = (),
) -> list[SweepRun]:
    """Every (grid point, seed) pair with a stable folder name; ``base``: ``--set`` for all."""
    keys = [key for key, _ in grid]
    points = list(itertools.product(*[values for _, values in grid])) or [()]
    runs = []
    for point in points:
        overrides = tuple(f"{k}={v}" for k, v in zip(keys, point, strict=True))
        label = "-".join(re.sub(r"[^A-Za-z0-9_.]+", "_", o) for o in overrides) or "base"
        for seed in seeds:
            runs.append(SweepRun(seed, (*base, *overrides), str(folder / label / f"seed{seed}")))
    return runs


def finished(folder: Path) -> bool:
    """A run folder whose run ended with status ``finished``."""
    if not (folder / STORE_FILE).exists():
        return False
    try:
        store = RunStore(folder, read_only=True)
        status = store.run_info()["status"]
        store.close()
    except SociumError:
        return False
    return bool(status == "finished")


def run_one(scenario: str, run: SweepRun) -> dict[str, Any]:
    """Execute one run (in a worker process or a Ray task); a stale folder is redone."""
    from engine.scenario import load_scenario
    from engine.simulation import Simulation

    folder = Path(run.folder)
    if finished(folder):
        return {"folder": run.folder, "status": "finished", "skipped": True}
    if folder.exists():
        shutil.rmtree(folder)  # an interrupted attempt: start it again from scratch
    loaded = load_scenario(scenario, run.overrides)
    result = Simulation(loaded, seed=run.seed, out=folder, overrides=run.overrides).run()
    return {"folder": run.folder, "status": result.status, "skipped": False}


def execute(
    scenario: Path,
    runs: Sequence[SweepRun],
    *,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every not-yet-finished run on the chosen executor; results in plan order."""
    todo = [r for r in runs if not finished(Path(r.folder))]
    results = {
        r.folder: {"folder": r.folder, "status": "finished", "skipped": True}
        for r in runs
        if r not in todo
    }
    if executor == "ray":
        try:
            import ray
        except ImportError:
            raise ScenarioError(
                "--executor ray needs the 'ray' extra: pip install 'socium[ray]'"
            ) from None
        if not ray.is_initialized():
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        task = ray.remote(run_one)
        pending = {task.remote(str(scenario), r): r for r in todo}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                outcome = ray.get(ref)
                results[pending.pop(ref).folder] = outcome
                if on_done:
                    on_done(outcome)
    elif executor == "local":
        # spawn, never fork: a parent that has run torch (an embedder, a notebook) leaves
        # its thread pools locked in a forked child, which then hangs in its first encode.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(run_one, str(scenario), r) for r in todo]
            for future in futures:
                outcome = future.result()
                results[outcome["folder"]] = outcome
                if on_done:
                    on_done(outcome)
    else:
        raise ScenarioError(f"--executor {executor}: use local or ray")
    return [results[r.folder] for r in runs]


def sweep(
    scenario: Path,
    *,
    seeds: Sequence[int],
    grid: Sequence[tuple[str, list[str]]],
    folder: Path,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    on_done: Callable[[dict[str, Any]], None] | None = None,
    base: Sequence[str] = (),
) -> dict[str, Any]:
    """Plan, execute (skipping finished runs) and aggregate a sweep into ``folder``.

    ``base`` overrides (``socium sweep --set``) apply to every run, before the grid's.
    """
    from engine.analysis import compare
    from engine.scenario import load_scenario

    for point in itertools.product(*[values for _, values in grid]) or [()]:
        overrides = [*base, *(f"{k}={v}" for (k, _), v in zip(grid, point, strict=True))]
        load_scenario(scenario, overrides)  # fail fast, with file:line, before any run starts
    runs = plan(seeds, grid, folder, base)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {
        "scenario": str(scenario.resolve()),
        "seeds": list(seeds),
        "grid": grid,
        "set": list(base),
        "runs": [asdict(r) for r in runs],
    }
    (folder / "sweep.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    outcomes = execute(
        scenario, runs, executor=executor, workers=workers, address=address, on_done=on_done
    )
    aggregated = compare([Path(r.folder) for r in runs if finished(Path(r.folder))])
    aggregated["outcomes"] = outcomes
    (folder / "sweep_stats.json").write_text(
        json.dumps(aggregated, indent=2, default=str), encoding="utf-8"
    )
    return aggregated
