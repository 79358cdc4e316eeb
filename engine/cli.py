"""The ``socium`` command line (``socium --help`` lists its commands).

Heavy libraries (torch, faiss, llama.cpp) are imported only by ``run``; ``--help``,
``validate`` and ``schema`` stay light. Exit codes: 0 success, 1 run failure (model
server down, a damaged or busy run folder, ...), 2 bad input (scenario errors), 3 the run
finished but more than ``model.max_fallback_share`` of its decisions fell back (the model's
replies were unusable), 130 interrupted (resumable).
"""

from __future__ import annotations

import argparse
import errno
import json
import signal
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.types import ScenarioError, SociumError

EXIT_FAILURE, EXIT_USAGE, EXIT_DEGRADED, EXIT_INTERRUPTED = 1, 2, 3, 130


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
    _set_option(run, "override a scenario field, e.g. --set model.backend=scripted (repeatable)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    _serve_option(run)

    validate = commands.add_parser("validate", help="check scenario files; print file:line errors")
    validate.add_argument("scenarios", type=Path, nargs="+")
    _set_option(validate, None)

    commands.add_parser("schema", help="print the JSON Schema of scenario files (for editors)")

    analyze = commands.add_parser("analyze", help="recompute a run's statistics from its events")
    analyze.add_argument("run_dir", type=Path)
    analyze.add_argument("--json", action="store_true", help="print the statistics as JSON")
    analyze.add_argument(
        "--at", default=None, metavar="T", help="simulated time (e.g. 12h): graphs as then"
    )

    report = commands.add_parser("report", help="write a self-contained report.html for a run")
    report.add_argument("run_dir", type=Path)
    report.add_argument("--out", type=Path, default=None, help="folder (default: RUN_DIR)")

    compare = commands.add_parser("compare", help="statistics side by side across runs or a sweep")
    compare.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR|SWEEP_DIR")
    compare.add_argument("--json", action="store_true")

    sweep = commands.add_parser(
        "sweep",
        help="run a scenario over seeds and a parameter grid (or fork stored runs: --fork-at)",
    )
    sweep.add_argument("scenario", type=Path, metavar="SCENARIO|RUNS")
    sweep.add_argument(
        "--fork-at",
        default=None,
        metavar="T",
        help="fork every run in RUNS at T, once per grid point (= socium fork RUNS --at T)",
    )
    _intervention_option(sweep, "with --fork-at: interventions at T or later (repeatable)")
    sweep.add_argument("--seeds", default="0", help="e.g. 0-9 or 1,4,7 (default 0)")
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="a swept field (repeatable)",
    )
    _set_option(sweep, "override a scenario field for every run (repeatable)")
    sweep.add_argument("--executor", choices=["local", "ray"], default="local")
    sweep.add_argument("--address", default=None, help="Ray cluster address (ray.init(address))")
    sweep.add_argument("--workers", type=int, default=None, help="local processes (default: cores)")
    sweep.add_argument(
        "--out", type=Path, default=None, help="sweep folder (default: runs/<name>-sweep-<UTC>)"
    )

    resume = commands.add_parser("resume", help="continue an interrupted or killed run")
    resume.add_argument("run_dir", type=Path)
    resume.add_argument("--quiet", action="store_true", help="no progress bar")
    _serve_option(resume)

    fork = commands.add_parser(
        "fork", help="a counterfactual run: the parent's events up to T, then a change"
    )
    fork.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    fork.add_argument("--at", required=True, metavar="T", help="from the start, e.g. 2d or 36h")
    _set_option(fork, "a field that changes at T, e.g. game.recommender=random (repeatable)")
    _intervention_option(fork, "a YAML list of interventions at T or later (repeatable)")
    fork.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="fork once per value (changes at T; intervention=A.yaml,B.yaml: once per "
        "file; repeatable: every combination)",
    )
    fork.add_argument(
        "--out", type=Path, default=None, help="run folder, or folder of forks (default: beside)"
    )
    fork.add_argument("--quiet", action="store_true", help="no progress bar")
    _serve_option(fork)

    survey = commands.add_parser(
        "survey", help="ask a run's agents a question, from their memories as of T"
    )
    survey.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    survey.add_argument("--at", default=None, metavar="T", help="from the start (default: the end)")
    survey.add_argument("--question", required=True)
    survey.add_argument(
        "--scale", default=None, metavar="LOW,HIGH", help="each answer also rates, e.g. 0,10"
    )
    survey.add_argument(
        "--agents", nargs="+", default=None, metavar="NAME", help="default: every agent"
    )
    _set_option(survey, "override the run's model block, e.g. model.backend=scripted")

    watch = commands.add_parser(
        "watch", help="serve a live view of a run (running or finished) on 127.0.0.1"
    )
    watch.add_argument("run_dir", type=Path)
    watch.add_argument("--port", type=int, default=0, help="port (default: any free port)")

    export = commands.add_parser("export", help="export graphs or tables of a run")
    export.add_argument("run_dir", type=Path)
    export.add_argument("--format", required=True, choices=["graphml", "gexf", "csv", "parquet"])
    export.add_argument("--out", type=Path, default=None, help="folder (default: RUN_DIR/export)")
    return parser


def _set_option(command: argparse.ArgumentParser, text: str | None) -> None:
    command.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=text
    )


def _intervention_option(command: argparse.ArgumentParser, text: str) -> None:
    command.add_argument(
        "--intervention",
        dest="interventions",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help=text,
    )


def _serve_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--serve",
        type=int,
        nargs="?",
        const=0,
        default=None,
        metavar="PORT",
        help="serve a live view of the run on 127.0.0.1 (PORT; default: any free port)",
    )


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
        if args.command == "analyze":
            return _analyze(args)
        if args.command == "report":
            from engine.report import write_report

            print(f"report: {write_report(args.run_dir, args.out)}")
            return 0
        if args.command == "compare":
            return _compare(args)
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "resume":
            return _resume(args)
        if args.command == "watch":
            return _watch(args)
        if args.command == "fork":
            return _fork(args)
        if args.command == "survey":
            return _survey(args)
        if args.command == "export":
            from engine.analysis import load_run

            for path in load_run(args.run_dir).export(args.format, args.out):
                print(path)
            return 0
        return _run(args)
    except ScenarioError as err:
        print(err, file=sys.stderr)
        return EXIT_USAGE
    except SociumError as err:
        print(f"socium: {err}", file=sys.stderr)
        return EXIT_FAILURE
    except (sqlite3.DatabaseError, OSError) as err:
        print(f"socium: {_storage_problem(err, args)}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:  # a Ctrl-C outside a run's own handling (e.g. while printing)
        print("\nsocium: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _storage_problem(err: Exception, args: argparse.Namespace) -> str:
    """One line on a disk or store problem, and what to do about it."""
    folder = getattr(args, "run_dir", None) or getattr(args, "out", None) or "the run folder"
    text = str(err)
    if "full" in text or getattr(err, "errno", None) == errno.ENOSPC:
        return (
            f"the disk is full ({text}); {folder} holds every whole window: free space, or "
            "copy the folder to another disk, and socium resume it there"
        )
    if isinstance(err, PermissionError) or getattr(err, "errno", None) in (
        errno.EROFS,
        errno.EACCES,
    ):
        name = getattr(err, "filename", None) or folder
        reason = getattr(err, "strerror", None) or text
        return f"cannot write {name} ({reason}); write the output elsewhere with --out DIR"
    if isinstance(err, sqlite3.DatabaseError):
        return (
            f"{folder}: the run store is damaged or unreadable ({text}); analysis needs an "
            "intact store: restore it from a copy or re-run the scenario"
        )
    return f"{folder}: {text}"


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
        for note in loaded.notes:
            print(note, file=sys.stderr)
        print(f"{path}: ok ({loaded.game_type}, {loaded.scenario.name})")
    return EXIT_USAGE if failed else 0


def _analyze(args: argparse.Namespace) -> int:
    from engine.analysis import load_run
    from engine.simtime import parse_duration

    run = load_run(args.run_dir)
    try:
        at = None if args.at is None else parse_duration(args.at)
    except ValueError as err:
        raise ScenarioError(f"--at {args.at}: {err}") from None
    if at is not None:
        at += run.start  # --at counts from the scenario's start
    stats = run.stats(at)
    target = args.run_dir / ("stats.json" if at is None else f"stats_at_{int(at)}.json")
    problem = run.store.integrity()
    if problem:
        print(
            f"socium: warning: the run store fails SQLite's integrity check ({problem}); the "
            f"statistics below may be wrong and {target.name} is left as it was",
            file=sys.stderr,
        )
    else:
        try:
            target.write_text(json.dumps(stats, indent=2, default=str), encoding="utf-8")
        except OSError as err:  # a read-only run folder: the statistics are still printed
            print(f"socium: note: {target} not written ({err.strerror})", file=sys.stderr)
            target = Path("-")
    if args.json:
        print(json.dumps(stats, indent=2, default=str))
    else:
        table = run.plugin.summary_table(stats)
        if table is not None:
            _print_table(table)
    print(f"statistics: {target}", file=sys.stderr)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from engine.analysis import compare

    result = compare(args.runs)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console(markup=False, highlight=False)  # labels hold [brackets]: never markup
    codes = {label: f"C{i}" for i, label in enumerate(result["conditions"], start=1)}
    console.print(f"{len(result['runs'])} runs in {len(codes)} condition(s):")
    for label, code in codes.items():
        console.print(f"  {code}  {label}  ({result['conditions'][label]} runs)", soft_wrap=True)
    runs = Table(title="runs")
    measures = list(result["measures"])
    for column in ("run", "condition", "seed", *measures):
        runs.add_column(column, overflow="fold")
    for row in result["per_run"]:
        name = Path(row["run"]).name
        runs.add_row(
            name, codes[row["condition"]], str(row["seed"]), *(_num(row.get(m)) for m in measures)
        )
    console.print(runs)
    table = Table(title="conditions (Mann-Whitney U, two-sided; p Holm-adjusted over every test)")
    for column in ("measure", "condition", "n", "mean", "se", "p (Holm)"):
        table.add_column(column, overflow="fold")
    for measure, comparison in result["measures"].items():
        for condition, values in comparison["conditions"].items():
            table.add_row(
                measure,
                codes[condition],
                str(values["n"]),
                _num(values["mean"]),
                _num(values["se"]),
                "",
            )
        for test in comparison["mann_whitney"]:
            table.add_row(
                measure,
                f"{codes[test['a']]} vs {codes[test['b']]}",
                f"{test['n_a']}/{test['n_b']}",
                f"U={test['u']:.1f}",
                f"p={test['p']:.3g}",
                f"{test['p_holm']:.3g}",
            )
    console.print(table)
    pairs = [(m, t) for m, c in result["measures"].items() for t in c.get("paired", [])]
    if pairs:
        matched = Table(
            title="paired by seed (b - a; Wilcoxon signed-rank, two-sided; p Holm-adjusted)"
        )
        for column in (
            "measure",
            "a vs b",
            "n",
            "mean diff",
            "95% CI",
            "p",
            "p (Holm)",
        ):
            matched.add_column(column, overflow="fold")
        for measure, test in pairs:
            interval = test["ci95"]
            matched.add_row(
                measure,
                f"{codes[test['a']]} vs {codes[test['b']]}",
                str(test["n"]),
                _num(test["mean_diff"]),
                "-" if interval is None else f"{interval[0]:.3g} to {interval[1]:.3g}",
                f"{test['p']:.3g}",
                f"{test['p_holm']:.3g}",
            )
        console.print(matched)
        console.print("per-seed differences (b - a), seed: difference")
        for measure, test in pairs:
            diffs = "  ".join(f"{seed}: {_num(d)}" for seed, d in test["diffs"].items())
            console.print(f"  {measure} {codes[test['a']]} vs {codes[test['b']]}  {diffs}")
    if len(codes) < 2:
        console.print(
            "1 condition: a comparison needs at least 2 (runs that differ by more than the seed)"
        )
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from engine.scenario import load_scenario
    from engine.simulation import new_run_folder
    from engine.sweep import SweepInterrupted, parse_grid, parse_seeds, sweep

    if args.fork_at is not None:  # the stored runs' seeds, forked at T over the grid
        fork = argparse.Namespace(
            run_dir=args.scenario,
            at=args.fork_at,
            overrides=args.overrides,
            interventions=args.interventions,
            grid=args.grid,
            out=args.out,
            quiet=True,
            serve=None,
        )
        return _fork(fork)
    if args.interventions:
        raise ScenarioError("--intervention goes with --fork-at (a scenario lists its own)")

    loaded = load_scenario(args.scenario, args.overrides)
    for note in loaded.notes:
        print(note, file=sys.stderr)
    seeds, grid = parse_seeds(args.seeds), parse_grid(args.grid)
    folder = args.out or new_run_folder(
        Path(loaded.scenario.output.dir), f"{loaded.scenario.name}-sweep"
    )

    def done(outcome: dict[str, Any]) -> None:
        print(f"{outcome['status']:>11}  {outcome['folder']}", file=sys.stderr)

    try:
        result = sweep(
            args.scenario,
            seeds=seeds,
            grid=grid,
            folder=folder,
            executor=args.executor,
            workers=args.workers,
            address=args.address,
            on_done=done,
            base=args.overrides,
        )
    except SweepInterrupted as err:
        print(f"\nsocium: {err} (sweep folder {folder})", file=sys.stderr)
        return EXIT_INTERRUPTED
    skipped = sum(o["skipped"] for o in result["outcomes"])
    print(f"sweep folder: {folder} ({len(result['outcomes'])} runs, {skipped} already finished)")
    return 0 if all(o["status"] == "finished" for o in result["outcomes"]) else EXIT_FAILURE


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _run(args: argparse.Namespace) -> int:
    from engine.scenario import load_scenario

    loaded = load_scenario(args.scenario, args.overrides)
    for note in loaded.notes:
        print(note, file=sys.stderr)
    return _simulate(
        loaded, args.quiet, args.serve, seed=args.seed, out=args.out, overrides=args.overrides
    )


def _resume(args: argparse.Namespace) -> int:
    from engine.scenario import parse_scenario
    from engine.store import RunStore

    store = RunStore(args.run_dir, read_only=True)
    info = store.run_info()
    has_stats = bool(store.stored_stats())
    store.close()
    if info["status"] == "finished":
        if has_stats and "statistics_error" not in (info.get("summary") or {}):
            print(f"{args.run_dir}: the run already finished")
            return 0
        from engine.simulation import finish_statistics

        print(
            f"{args.run_dir}: the run finished without its statistics; computing them",
            file=sys.stderr,
        )
        finish_statistics(args.run_dir)
        print(f"statistics: {args.run_dir / 'stats.json'}")
        return 0
    loaded = parse_scenario(info["scenario_yaml"], Path(info["scenario_path"]))
    return _simulate(
        loaded,
        args.quiet,
        args.serve,
        seed=info["seed"],
        out=args.run_dir,
        overrides=info["overrides"],
        resume=True,
    )


def _fork(args: argparse.Namespace) -> int:
    """One fork, or (a sweep folder, or --grid) every run times every grid point."""
    import itertools

    from engine.analysis import run_folders
    from engine.fork import prepare, verify_prefix
    from engine.sweep import parse_grid

    parents = run_folders([args.run_dir])
    grid = parse_grid(args.grid)
    points = list(itertools.product(*[values for _, values in grid])) or [()]
    several = len(parents) * len(points) > 1
    base = args.out or args.run_dir.parent / f"{args.run_dir.name}-fork-{args.at}"
    worst = 0
    for parent, point in itertools.product(parents, points):
        chosen = list(zip((k for k, _ in grid), point, strict=True))
        sets = [*args.overrides, *(f"{k}={v}" for k, v in chosen if k != "intervention")]
        files = [*args.interventions, *(Path(v) for k, v in chosen if k == "intervention")]
        label = "-".join(_grid_label(k, v) for k, v in chosen) or "fork"
        out = base / f"{parent.name}-{label}" if several else args.out
        fork = prepare(parent, args.at, sets, files, out)
        print(f"forking {parent} at {args.at} into {fork.folder}", file=sys.stderr)
        code = _simulate(
            fork.loaded,
            args.quiet,
            args.serve,
            seed=fork.seed,
            out=fork.folder,
            overrides=fork.overrides,
            fork=fork.meta,
            replies=fork.replies,
        )
        if code in (0, EXIT_DEGRADED):
            print(verify_prefix(fork.folder), file=sys.stderr)
        worst = max(worst, code)
    return worst


def _grid_label(key: str, value: str) -> str:
    """A grid point's part of a folder name (an intervention file: its stem)."""
    return (Path(value).stem if key == "intervention" else value).replace("/", "_")


def _survey(args: argparse.Namespace) -> int:
    from engine.simtime import parse_duration
    from engine.surveys import survey

    try:
        at = None if args.at is None else parse_duration(args.at)
    except ValueError as err:
        raise ScenarioError(f"--at {args.at}: {err}") from None
    scale = None
    if args.scale is not None:
        try:
            low, high = (int(x) for x in args.scale.split(","))
        except ValueError:
            raise ScenarioError(f"--scale {args.scale}: two whole numbers, e.g. 0,10") from None
        scale = (low, high)
    answers = survey(
        args.run_dir,
        args.question,
        at=at,
        agents=args.agents,
        scale=scale,
        overrides=args.overrides,
    )
    for row in answers:
        rating = "" if row["rating"] is None else f"[{row['rating']}] "
        print(f"{row['agent']}: {rating}{row['answer']}")
    print(f"{len(answers)} answers stored in the surveys table of {args.run_dir}", file=sys.stderr)
    return 0


def _watch(args: argparse.Namespace) -> int:
    from engine.live import serve, url

    if not args.run_dir.is_dir():
        raise SociumError(f"{args.run_dir}: no such run folder")
    server = serve(args.run_dir, args.port)
    print(f"live view of {args.run_dir}: {url(server)} (Ctrl-C stops it)", file=sys.stderr)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()
    return 0


def _simulate(loaded: Any, quiet: bool, port: int | None, **options: Any) -> int:
    from engine.simulation import Simulation

    simulation = Simulation(loaded, **options)
    progress = None if quiet else _Progress(simulation)
    server = None
    if port is not None:
        from engine.live import serve, url

        server = serve(simulation.folder, port)
        print(f"live view: {url(server)}", file=sys.stderr, flush=True)
    try:
        return _drive(simulation, progress, loaded)
    finally:
        if server is not None:
            server.shutdown()
            print(
                f"live view stopped; socium watch {simulation.folder} shows the run again",
                file=sys.stderr,
            )


def _drive(simulation: Any, progress: _Progress | None, loaded: Any) -> int:
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
                progress.loading()
                simulation.prepare()
                result = simulation.run()
        else:
            result = simulation.run()
    except KeyboardInterrupt:
        print(
            f"\nsocium: aborted; {simulation.folder} holds every whole window: "
            f"socium resume {simulation.folder} continues it",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGINT, previous)
    _print_summary(result.summary, result.status)
    if "statistics_error" in result.summary:
        print(f"socium: warning: {result.summary['statistics_error']}", file=sys.stderr)
    table = simulation.game.summary_table(result.stats)
    if table is not None:
        _print_table(table)
    print(f"run folder: {result.folder}")
    if result.status == "interrupted":
        return EXIT_INTERRUPTED
    share, limit = (
        result.summary.get("fallback_share", 0.0),
        loaded.scenario.model.max_fallback_share,
    )
    if share > limit:
        print(
            f"socium: warning: {share:.0%} of decisions fell back to their default because the "
            f"model's replies were unusable (more than model.max_fallback_share = {limit:.0%}): "
            "the statistics describe the fallbacks, not the model (exit code 3)",
            file=sys.stderr,
        )
        return EXIT_DEGRADED
    return 0


def _print_summary(summary: dict[str, Any], status: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from engine.simtime import format_time

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
            value = summary[key]
            table.add_row(key, format_time(value) if key == "sim_time" else str(value))
    for key, value in summary.get("game", {}).items():
        table.add_row(
            f"game.{key}", json.dumps(value) if isinstance(value, dict | list) else str(value)
        )
    Console(stderr=True, markup=False, highlight=False).print(table)


def _print_table(table: Any) -> None:
    """A game's result table, on standard output (results there, diagnostics on stderr)."""
    from rich.console import Console
    from rich.table import Table

    rich_table = Table(title=table.title)
    for index, column in enumerate(table.columns):
        rich_table.add_column(column, justify="left" if index == 0 else "right", overflow="fold")
    for row in table.rows:
        rich_table.add_row(
            *("-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v) for v in row)
        )
    console = Console(markup=False, highlight=False)
    console.print(rich_table)
    if table.note:
        console.print(table.note, soft_wrap=False, highlight=False)


class _Progress:
    """The terminal's progress: a loading stage, then the clock against the game's own end.

    The bar fills against the game's horizon (a turn-based game's last turn) or the
    scenario's duration, labelled with the game's clock (generation, game, round) and an
    estimate of the time left; the counts use the summary's words.
    """

    def __init__(self, simulation: Any) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.simulation = simulation
        scenario = simulation.scenario
        horizon = simulation.game.horizon(simulation.loaded.game)
        self.start = scenario.start
        self.total = min(scenario.duration, horizon) if horizon else scenario.duration
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            TextColumn("elapsed,"),
            TimeRemainingColumn(),
            TextColumn("left  {task.fields[stats]}"),
            transient=False,
        )
        self.task = self.bar.add_task("starting", total=self.total, stats="")
        self.started = time.perf_counter()
        simulation.kernel.add_observer(self)

    def __enter__(self) -> _Progress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def loading(self) -> None:
        """The model-loading stage (weights and embedding model, before the clock starts)."""
        self.bar.update(self.task, description="loading the model", stats="")

    def on_window(self, window: Any, events: Sequence[Any]) -> None:
        from engine.simtime import format_time

        if self.bar.tasks[0].description == "loading the model":
            self.started = time.perf_counter()
            self.bar.reset(self.task, total=self.total)
        sim = self.simulation
        totals = sim.ledger.totals
        elapsed = window.end - self.start
        rate = sim.actions / max(time.perf_counter() - self.started, 1e-9)
        clock = sim.game.clock(sim.loaded.game, min(elapsed, self.total) - 1e-9) or ""
        stats = (
            f"{sim.actions} actions, {rate:.1f}/s  model calls {totals.calls}  tokens "
            f"{totals.prompt_tokens + totals.completion_tokens}  malformed replies "
            f"{totals.malformed}  fallbacks {totals.fallbacks}"
        )
        description = format_time(elapsed) + (f" {clock}" if clock else "")
        self.bar.update(
            self.task, completed=min(elapsed, self.total), description=description, stats=stats
        )


if __name__ == "__main__":
    sys.exit(main())
