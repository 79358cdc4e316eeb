"""Parameter sweeps: every (seed, grid point) is one run folder under a sweep folder.

Executors: ``local`` (a process pool on this machine) or ``ray`` (Ray tasks on a
cluster, ``ray.init(address)``; the optional extra ``ray``). Each run is an ordinary
``socium run``; a sweep that is killed and started again skips the runs that finished
and redoes the others. At the end the runs are compared (means, standard errors and
Mann-Whitney tests per grid point, ``sweep_stats.json``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import multiprocessing
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.store import STORE_FILE, RunStore
from engine.types import ScenarioError, SociumError


class SweepInterrupted(SociumError):
    """Ctrl-C stopped a sweep: some runs finished, the others stopped or never started."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__(
            f"sweep interrupted: {done} of {total} runs ended (finished or stopped after their "
            "window); run the same sweep command again to resume the rest"
        )


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
        unique = list(dict.fromkeys(v.strip() for v in values.split(",")))  # one folder each
        grid.append((key.strip(), unique))
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


def _status(folder: Path) -> str | None:
    """The status of the run stored in ``folder`` (None: no readable run there)."""
    if not (folder / STORE_FILE).exists():
        return None
    try:
        store = RunStore(folder, read_only=True)
        status = store.run_info()["status"]
        store.close()
    except SociumError:
        return None
    return str(status)


def finished(folder: Path) -> bool:
    """A run folder whose run ended with status ``finished``."""
    return _status(folder) == "finished"


def run_one(scenario: str, run: SweepRun) -> dict[str, Any]:
    """Execute one run (in a worker process or a Ray task).

    An interrupted or killed attempt is resumed (runs are deterministic: the same log);
    a folder that holds no run is started afresh. While it runs, SIGINT asks it to stop
    after its current window, marked ``interrupted``.
    """
    from engine.scenario import load_scenario, parse_scenario
    from engine.simulation import Simulation

    folder = Path(run.folder)
    if finished(folder):
        return {"folder": run.folder, "status": "finished", "skipped": True}
    resume = _resumable(folder)
    if not resume and folder.exists():
        shutil.rmtree(folder)
    if resume:
        store = RunStore(folder, read_only=True)
        info = store.run_info()
        store.close()
        loaded = parse_scenario(info["scenario_yaml"], Path(info["scenario_path"]))
    else:
        loaded = load_scenario(scenario, run.overrides)
    simulation = Simulation(
        loaded, seed=run.seed, out=folder, overrides=run.overrides, resume=resume
    )
    previous = signal.signal(signal.SIGINT, lambda *_: simulation.request_stop())
    try:
        result = simulation.run()
    finally:
        signal.signal(signal.SIGINT, previous)
    return {"folder": run.folder, "status": result.status, "skipped": False}


def _resumable(folder: Path) -> bool:
    """A run folder with a started, unfinished run (interrupted, failed or killed)."""
    return _status(folder) in ("interrupted", "failed", "running")


def _worker_start(parent: int) -> None:
    """Initializer of a local worker: ignore Ctrl-C while idle; die with the parent.

    The run in progress installs its own SIGINT handler (stop after the window). A
    watchdog thread notices the parent is gone (re-parented) and ends the worker: its run
    keeps whole windows and resumes with the sweep.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


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
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_worker_start,
            initargs=(os.getpid(),),
        )
        futures = [pool.submit(run_one, str(scenario), r) for r in todo]
        try:
            for future in futures:
                outcome = future.result()
                results[outcome["folder"]] = outcome
                if on_done:
                    on_done(outcome)
        except KeyboardInterrupt:
            # Ctrl-C: queued runs never start; running ones stop after their current
            # window, marked interrupted (the sweep's next start resumes them).
            for future in futures:
                future.cancel()
            for child in multiprocessing.active_children():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGINT)  # type: ignore[arg-type]
            pool.shutdown(wait=True, cancel_futures=True)
            raise SweepInterrupted(
                sum(f.done() and not f.cancelled() for f in futures), len(futures)
            ) from None
        pool.shutdown(wait=True)
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
