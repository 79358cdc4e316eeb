"""Analysis: recomputed statistics, load_run, versions, exports, compare, report, run card."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.analysis import compare, load_run
from engine.scenario import load_scenario
from engine.simulation import Simulation
from engine.types import SociumError

SOCIAL = """
name: social_small
seed: {seed}
duration: 12h
window: 30m
model: {{backend: scripted}}
embedder: {{kind: hashing, dim: 32}}
memory: {{k: 2}}
population:
  count: 25
  activity: {{schedule: poisson, rate: 1, rate_sigma: 1.0}}
  personas: [{{name: u, description: someone}}]
game: {{type: social_media, snapshot_every: 3h, null_samples: 5, bootstrap_samples: 50}}
"""
DONOR = """
name: donor_small
seed: {seed}
duration: 1d
window: 0
model: {{backend: scripted}}
memory: {{enabled: false}}
population: {{count: 6, personas: [{{name: "1_1"}}]}}
game: {{type: donor_game, agents_per_generation: 6, generations: 3, punishment: {{enabled: true}}}}
"""


@pytest.fixture
def social_run(write_scenario: Callable[..., Path], tmp_path: Path) -> Path:
    Simulation(
        load_scenario(write_scenario(SOCIAL.format(seed=1), "social.yaml")), out=tmp_path / "social"
    ).run()
    return tmp_path / "social"


@pytest.fixture
def donor_run(write_scenario: Callable[..., Path], tmp_path: Path) -> Path:
    Simulation(
        load_scenario(write_scenario(DONOR.format(seed=1), "donor.yaml")), out=tmp_path / "donor"
    ).run()
    return tmp_path / "donor"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_analyze_reproduces_the_stored_statistics(social_run: Path, donor_run: Path) -> None:
    for folder in (social_run, donor_run):
        stored = json.loads((folder / "stats.json").read_text())
        done = _cli("analyze", str(folder), "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == stored
        assert load_run(folder).stats() == load_run(folder).stored_stats() == stored


def test_analyze_at_a_time_uses_the_graph_as_it_stood(social_run: Path) -> None:
    run = load_run(social_run)
    early, final = run.graph("follow", at=2 * 3600), run.graph("follow")
    assert early.number_of_edges() < final.number_of_edges()
    done = _cli("analyze", str(social_run), "--at", "2h", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["final"]["follow_edges"] == early.number_of_edges()
    assert (social_run / "stats_at_7200.json").exists()


def test_load_run_gives_dataframes_and_graphs(social_run: Path, donor_run: Path) -> None:
    run = load_run(social_run)
    assert {"seq", "t", "actor", "kind", "payload"} <= set(run.events.columns)
    assert len(run.events) > 50 and len(run.model_calls) > 0
    assert isinstance(run.events.iloc[0]["payload"], dict)
    donations = load_run(donor_run).graph("donation")
    assert donations.number_of_edges() > 0
    with pytest.raises(
        SociumError, match=r"has no .friendship. graph .its graphs: follow, interaction"
    ):
        run.graph("friendship")


def test_load_run_names_the_schema_version_it_needs(social_run: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(social_run, old)
    db = sqlite3.connect(old / "run.sqlite")
    db.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(SociumError, match="schema version 0; this socium reads version 1"):
        load_run(old)
    with pytest.raises(SociumError, match=r"no run\.sqlite"):
        load_run(tmp_path)


def test_exports(social_run: Path) -> None:
    import networkx as nx
    import pandas as pd

    run = load_run(social_run)
    for fmt in ("graphml", "gexf", "csv", "parquet"):
        done = _cli("export", str(social_run), "--format", fmt)
        assert done.returncode == 0, done.stderr
    assert (
        nx.read_graphml(social_run / "export" / "follow_graph.graphml").number_of_edges()
        == run.graph("follow").number_of_edges()
    )
    assert len(pd.read_parquet(social_run / "export" / "events.parquet")) == len(run.events)
    assert len(pd.read_csv(social_run / "export" / "model_calls.csv")) == len(run.model_calls)


def test_compare_runs_of_two_conditions(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    sweep = tmp_path / "sweep"
    for seed in (1, 2, 3):
        for condition, extra in (("plain", []), ("punish", ["game.punishment.enabled=false"])):
            path = write_scenario(DONOR.format(seed=seed), f"d{seed}{condition}.yaml")
            Simulation(
                load_scenario(path, extra), out=sweep / f"{condition}-{seed}", overrides=extra
            ).run()
    result = compare([sweep])
    assert len(result["runs"]) == 6
    measure = result["measures"]["final_generation_resources_mean"]
    assert sorted(c["n"] for c in measure["conditions"].values()) == [3, 3]
    assert measure["mann_whitney"][0]["n_a"] == 3
    done = _cli("compare", str(sweep), "--json")
    assert (
        done.returncode == 0
        and json.loads(done.stdout)["measures"].keys() == result["measures"].keys()
    )
    assert _cli("compare", str(sweep)).returncode == 0


def test_two_models_from_one_scenario_file_are_two_conditions(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """The README's advice (one file, one model block per model) must not pool models."""
    from engine.models import LanguageModel, Ledger
    from engine.models.scripted import ScriptedBackend

    path = write_scenario(DONOR.format(seed=1), "donor.yaml")
    for model_id in ("model-a", "model-b"):
        for seed in (1, 2):
            model = LanguageModel(ScriptedBackend(model=model_id), ledger=Ledger())
            Simulation(
                load_scenario(path),
                out=tmp_path / "runs" / f"{model_id}-{seed}",
                model=model,
                seed=seed,
            ).run()
    result = compare([tmp_path / "runs"])
    assert result["conditions"] == {
        "donor_small [scripted:model-a]": 2,
        "donor_small [scripted:model-b]": 2,
    }
    assert len(result["per_run"]) == 4
    tests = [t for m in result["measures"].values() for t in m["mann_whitney"]]
    assert tests and all(t["p_holm"] >= t["p"] for t in tests)


def test_every_run_folder_has_a_run_card(social_run: Path) -> None:
    card = json.loads((social_run / "run_card.json").read_text())
    assert card["seed"] == 1 and card["decision_window_s"] == 1800
    assert card["model"]["backend"] == "scripted" and card["model"]["models"] == ["scripted"]
    assert set(card["odd"]) >= {
        "1 Purpose and patterns",
        "3 Process overview and scheduling",
        "7 Submodels",
    }
    assert "decide" in card["prompts"] and card["versions"]["socium"]
    assert "ODD description" in (social_run / "run_card.md").read_text()


def test_exported_graphml_equals_the_run_folders(social_run: Path, tmp_path: Path) -> None:
    import networkx as nx

    assert (
        _cli("export", str(social_run), "--format", "graphml", "--out", str(tmp_path)).returncode
        == 0
    )
    exported = nx.read_graphml(tmp_path / "follow_graph.graphml")
    written = nx.read_graphml(social_run / "follow_graph.graphml")
    assert sorted(exported.nodes(data=True)) == sorted(written.nodes(data=True))
    assert sorted(exported.edges(data=True)) == sorted(written.edges(data=True))
    assert {"activity", "influence", "followers", "following", "description"} <= set(
        next(iter(exported.nodes(data=True)))[1]
    )


def test_a_read_only_run_folder_is_analyzed_and_reports_need_out(
    social_run: Path, tmp_path: Path
) -> None:
    # a read-only copy: analyze works and says it did not write; report and export need --out
    readonly = tmp_path / "readonly"
    shutil.copytree(social_run, readonly)
    (readonly / "stats.json").unlink()
    for path in readonly.iterdir():
        path.chmod(0o444)
    readonly.chmod(0o555)
    try:
        if os.access(readonly, os.W_OK):  # root ignores permissions: nothing to test there
            pytest.skip("file permissions do not bind this user")
        done = _cli("analyze", str(readonly))
        assert done.returncode == 0 and "not written" in done.stderr and "followers" in done.stdout
        done = _cli("report", str(readonly))
        assert done.returncode == 1 and "write the output elsewhere with --out DIR" in done.stderr
        assert _cli("report", str(readonly), "--out", str(tmp_path / "out")).returncode == 0
    finally:
        readonly.chmod(0o755)
        for path in readonly.iterdir():
            path.chmod(0o644)


def test_damaged_run_folders_get_one_line_messages(social_run: Path, tmp_path: Path) -> None:
    cases = {}
    cases["a directory"] = tmp_path / "dir"
    (cases["a directory"] / "run.sqlite").mkdir(parents=True)
    cases["not a database"] = tmp_path / "text"
    cases["not a database"].mkdir()
    (cases["not a database"] / "run.sqlite").write_text("hello, I am not SQLite\n" * 100)
    cases["truncated"] = tmp_path / "truncated"
    shutil.copytree(social_run, cases["truncated"])
    store = cases["truncated"] / "run.sqlite"
    store.write_bytes(store.read_bytes()[:4096])
    cases["a missing table"] = tmp_path / "missing"
    shutil.copytree(social_run, cases["a missing table"])
    db = sqlite3.connect(cases["a missing table"] / "run.sqlite")
    db.execute("DROP TABLE events")
    db.commit()
    db.close()
    for case, folder in cases.items():
        commands = [["analyze", str(folder)], ["report", str(folder)]]
        if case != "a missing table":  # a finished run has nothing to resume, damaged or not
            commands.append(["resume", str(folder)])
        for command in commands:
            done = _cli(*command)
            assert done.returncode in (1, 2), (case, command, done.stderr)
            assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, (
                case,
                done.stderr,
            )


def test_csv_exports_defuse_spreadsheet_formulas(scripted_town: Path, tmp_path: Path) -> None:
    import pandas as pd

    Simulation(load_scenario(scripted_town), out=tmp_path / "run").run()
    db = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    db.execute('UPDATE events SET actor = \'=HYPERLINK("http://evil","x")\' WHERE seq = 0')
    db.execute("UPDATE agents SET id = '+1+cmd|calc' WHERE idx = 0")
    db.commit()
    db.close()
    assert _cli("export", str(tmp_path / "run"), "--format", "csv").returncode == 0
    events = pd.read_csv(tmp_path / "run" / "export" / "events.csv")
    agents = pd.read_csv(tmp_path / "run" / "export" / "agents.csv")
    assert events.loc[0, "actor"] == '\'=HYPERLINK("http://evil","x")'
    assert agents.loc[0, "id"] == "'+1+cmd|calc"
    assert events["t"].dtype.kind == "f"  # numbers stay numbers
