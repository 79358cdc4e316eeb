"""CLI: light imports, validate, schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "faiss", "llama_cpp", "sentence_transformers")


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_help_imports_no_heavy_library() -> None:
    loaded = _modules_after(
        "from engine.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert "engine.cli" in loaded
    assert not [m for m in loaded if m.split(".")[0] in HEAVY]


def test_validate_imports_no_heavy_library(scripted_town: Path) -> None:
    loaded = _modules_after(
        f"from engine.cli import main\nmain(['validate', {str(scripted_town)!r}])"
    )
    assert "engine.scenario" in loaded
    assert not [m for m in loaded if m.split(".")[0] in HEAVY]


def test_bundled_scenarios_validate() -> None:
    root = Path(__file__).resolve().parent.parent / "scenarios"
    files = sorted(root.glob("*/*.yaml"))
    assert files
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "validate", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_schema_command_prints_json_schema() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "schema"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0
    assert json.loads(done.stdout)["title"] == "socium scenario"


def test_a_paper_scenario_runs_offline_with_one_override(tmp_path: Path) -> None:
    """The first thing a user tries: the server scenario, on the scripted backend."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "run",
            str(root / "scenarios/donor_game/paper.yaml"),
            "--set",
            "model.backend=scripted",
            "--set",
            "embedder.kind=hashing",
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        "note: model.base_url, model.api_key_env dropped: the scripted backend does not use them"
        in done.stderr
    )
    assert "run folder:" in done.stdout and "resources_mean" in done.stdout  # results on stdout
    card = json.loads((tmp_path / "run" / "run_card.json").read_text())
    # played, not the 7-day cap: 10 generations x (1 strategy step + 2 games x 12 rounds) x 60 s
    assert card["status"] == "finished" and card["simulated"] == "0d+04:10:00"


def test_a_key_only_another_backend_takes_is_named(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "validate",
            str(root / "scenarios/donor_game/quick.yaml"),
            "--set",
            "model.base_url=http://x",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "model.base_url: unknown key 'base_url'" in done.stderr


def test_tables_fit_80_columns_and_go_to_stdout_and_compare_explains_itself(
    write_scenario,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    """Analyze and compare in an 80-column terminal; a CSV population's per-persona rates."""
    import os

    (tmp_path / "people.csv").write_text(
        "name,description,activity.rate\n"
        + "".join(f"P{i},person {i},{0.5 + i}\n" for i in range(8))
    )
    path = write_scenario(
        """
        name: tables
        duration: 6h
        window: 30m
        model: {backend: scripted}
        embedder: {kind: hashing, dim: 16}
        population: {personas_file: people.csv}
        game: {type: social_media, null_samples: 20, bootstrap_samples: 20}
        """
    )
    env = {**os.environ, "COLUMNS": "80"}
    runs = []
    for seed in (1, 2):
        runs.append(str(tmp_path / f"run{seed}"))
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "engine.cli",
                "run",
                str(path),
                "--seed",
                str(seed),
                "--out",
                runs[-1],
                "--quiet",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "analyze", runs[0]],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0 and max(len(line) for line in done.stdout.splitlines()) <= 80
    for name in ("followers", "following", "activity", "influence", "hier. influential"):
        assert f" {name} " in done.stdout  # whole, in the table on stdout
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "compare", *runs],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0
    assert "C1  tables [scripted:scripted]  (2 runs)" in done.stdout  # the full condition label
    assert "run1" in done.stdout and "run2" in done.stdout  # one row per run
    assert "1 condition: a comparison needs at least 2" in done.stdout
    card = (tmp_path / "run1" / "run_card.md").read_text()
    assert "8 agents took part" in card
    assert (
        "per-persona rates from the persona data for 8 of 8 agents" in card
        and "range 0.5-7.5/h" in card
    )


def test_the_progress_bar_fills_against_the_games_own_end(tmp_path: Path) -> None:
    from engine.cli import _Progress
    from engine.scenario import load_scenario
    from engine.simulation import Simulation
    from tests.test_analysis import DONOR

    scenario = tmp_path / "donor.yaml"
    scenario.write_text(DONOR.format(seed=2), encoding="utf-8")
    simulation = Simulation(load_scenario(scenario), out=tmp_path / "run")
    progress = _Progress(simulation)
    (task,) = progress.bar.tasks
    horizon = simulation.game.horizon(simulation.loaded.game)
    assert task.total == horizon < simulation.scenario.duration  # the game's end, not the cap
    with progress:
        progress.loading()
        assert task.description == "loading the model"
        simulation.prepare()
        simulation.run()
    assert task.completed == task.total
    assert "generation 3/3, game 2" in task.description
    assert "malformed replies 0  fallbacks 0" in task.fields["stats"]
