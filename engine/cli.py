"""The ``socium`` command line: run, validate, schema.

Heavy libraries (torch, faiss, llama.cpp) are imported only by ``run``; ``--help``,
``validate`` and ``schema`` stay light. Exit codes: 0 success, 1 run failure (model
server down, ...), 2 bad input (scenario errors), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.types import ScenarioError, SociumError

EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also documents the CLI in ``socium --help``)."""
    parser = argparse.ArgumentParser(
        prog="socium",
        description="Generative agent-based social simulation: run scenario files, "
        "validate them, export their schema.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a scenario and write a run folder")
    run.add_argument("scenario", type=Path, help="scenario YAML file")
    run.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    run.add_argument(
        "--out", type=Path, default=None, help="run folder (default: runs/<name>-<UTC>)"
    )
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario field, e.g. --set model.backend=scripted (repeatable)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")

    validate = commands.add_parser("validate", help="check scenario files; print file:line errors")
    validate.add_argument("scenarios", type=Path, nargs="+")
    validate.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE"
    )

    commands.add_parser("schema", help="print the JSON Schema of scenario files (for editors)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``socium`` command."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args.scenarios, args.overrides)
        if args.command == "schema":
            from engine.scenario import json_schema

            print(json.dumps(json_schema(), indent=2))
            return 0
        return _run(args)
    except ScenarioError as err:
        print(err, file=sys.stderr)
        return EXIT_USAGE
    except SociumError as err:
        print(f"socium: {err}", file=sys.stderr)
        return EXIT_FAILURE


def _validate(paths: Sequence[Path], overrides: Sequence[str]) -> int:
    from engine.scenario import load_scenario

    failed = False
    for path in paths:
        try:
            loaded = load_scenario(path, overrides)
        except ScenarioError as err:
            print(err, file=sys.stderr)
            failed = True
            continue
        print(f"{path}: ok ({loaded.game_type}, {loaded.scenario.name})")
    return EXIT_USAGE if failed else 0


def _run(args: argparse.Namespace) -> int:
    from engine.scenario import load_scenario

    loaded = load_scenario(args.scenario, args.overrides)
    from engine.simulation import Simulation

    progress = None if args.quiet else _Progress(loaded.scenario.start + loaded.scenario.duration)
    simulation = Simulation(
        loaded,
        seed=args.seed,
        out=args.out,
        overrides=args.overrides,
        observers=[progress] if progress else [],
    )
    if progress:
        progress.attach(simulation)
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum: int, frame: Any) -> None:
        if simulation.stop_requested:  # a second Ctrl-C stops at once
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        print("\nstopping after the current window (Ctrl-C again to abort)...", file=sys.stderr)
        simulation.request_stop()

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        if progress:
            with progress:
                result = simulation.run()
        else:
            result = simulation.run()
    finally:
        signal.signal(signal.SIGINT, previous)
    _print_summary(result.summary, result.status)
    if "statistics_error" in result.summary:
        print(f"socium: warning: {result.summary['statistics_error']}", file=sys.stderr)
    table = result.stats.get("summary_table")
    if table:
        _print_table(table)
    print(f"run folder: {result.folder}")
    return EXIT_INTERRUPTED if result.status == "interrupted" else 0


def _print_summary(summary: dict[str, Any], status: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"run {status}", show_header=False)
    for key in (
        "sim_time",
        "windows",
        "actions",
        "events",
        "model_calls",
        "model_calls_per_action",
        "prompt_tokens",
        "completion_tokens",
        "retries",
        "malformed_replies",
        "fallbacks",
        "cached_replies",
        "cost",
        "wall_seconds",
    ):
        if key in summary:
            table.add_row(key, str(summary[key]))
    for key, value in summary.get("game", {}).items():
        table.add_row(
            f"game.{key}", json.dumps(value) if isinstance(value, dict | list) else str(value)
        )
    Console(stderr=True).print(table)


def _print_table(table: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    rich_table = Table(title="statistics")
    for column in table["columns"]:
        rich_table.add_column(column, justify="right")
    for row in table["rows"]:
        rich_table.add_row(
            *("-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v) for v in row)
        )
    Console(stderr=True).print(rich_table)


class _Progress:
    """Progress bar observer: simulated time, actions, actions/s, model calls, tokens."""

    def __init__(self, until: float) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.until = until
        self.bar = Progress(
            TextColumn("[bold]{task.fields[clock]}"),
            BarColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            transient=False,
        )
        self.task = self.bar.add_task("run", total=until, clock="", stats="")
        self.started = time.perf_counter()
        self.simulation: Any = None

    def attach(self, simulation: Any) -> None:
        self.simulation = simulation

    def __enter__(self) -> _Progress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def on_window(self, window: Any, events: Sequence[Any]) -> None:
        from engine.simtime import format_time

        sim = self.simulation
        totals = sim.ledger.totals
        rate = sim.actions / max(time.perf_counter() - self.started, 1e-9)
        stats = (
            f"acted {sim.actions}  {rate:.1f} actions/s  calls {totals.calls}  "
            f"tokens {totals.prompt_tokens + totals.completion_tokens}  "
            f"parse failures {totals.malformed}"
        )
        self.bar.update(self.task, completed=window.end, clock=format_time(window.end), stats=stats)


if __name__ == "__main__":
    sys.exit(main())
