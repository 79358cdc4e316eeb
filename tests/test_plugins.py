"""A game plugin from outside socium: report plots, compare measures, export; and after uninstalling."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import pytest

from engine.analysis import compare, load_run
from engine.report import write_report
from engine.scenario import load_scenario
from engine.simulation import Simulation

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = '''
"""Guess a number: the smallest game a plugin can be, built only on gamemaster.api."""
from pathlib import Path

import networkx as nx
from pydantic import Field

from gamemaster.api import (
    ActionOption, ActionSpace, ArgSpec, Description, Event, Game, GameMaster, Observation,
    Plot, Strict, Table, check_args, figure, invalid, png,
)


class GuessSection(Strict):
    high: int = Field(10, ge=1)


class GuessMaster(GameMaster):
    name = "guess"

    def observe(self, agent, t, context):
        return Observation(t, f"Guess a number from 0 to {self.section.high}.")

    def action_space(self, agent, t, context):
        number = ArgSpec("integer", low=0, high=self.section.high)
        return ActionSpace((ActionOption("guess", "Say a number.", {"number": number}),))

    def processes(self):
        def announce(kernel):
            yield kernel.env.timeout(5400)
            kernel.emit(Event(kernel.env.now, "announcement", None, None, {"text": "halfway"}, ()))
        return [announce]

    def resolve(self, agent, action, t, context):
        reason = check_args(action, self.action_space(agent, t, context))
        if reason:
            return [invalid(agent, action, t, reason)]
        return [Event(t, "guess", agent, None, {"number": action.args["number"]}, (agent,))]


class GuessGame(Game):
    name = "guess"
    section = GuessSection
    master = GuessMaster
    title = "Guess a number"
    graph_kinds = ("sequence",)

    def statistics(self, data):
        numbers = [e.payload["number"] for e in data.events if e.kind == "guess"]
        return {"guesses": len(numbers), "mean_guess": sum(numbers) / len(numbers)}

    def summary_table(self, stats):
        return Table("statistics", ("guesses", "mean"), ((stats["guesses"], stats["mean_guess"]),))

    def measures(self, stats):
        return {"mean_guess": stats["mean_guess"]}

    def graph(self, kind, data):
        guessers = [e.actor for e in data.events if e.kind == "guess"]
        return nx.DiGraph(list(zip(guessers, guessers[1:])))

    def plots(self, data, stats):
        fig, ax = figure()
        ax.hist([e.payload["number"] for e in data.events if e.kind == "guess"])
        return [Plot("Guesses of the plugin", png(fig))]

    def exports(self, data, folder):
        path = Path(folder) / "guesses.txt"
        path.write_text(str(self.statistics(data)["guesses"]))
        return [path]

    def describe(self, section):
        return Description("A plugin test.", f"Everyone guesses a number up to {section.high}.")


GAME = GuessGame()
'''
SCENARIO = """
name: guessing
seed: {seed}
duration: 3h
window: 1h
model: {{backend: scripted}}
embedder: {{kind: hashing, dim: 16}}
memory: {{enabled: false}}
population:
  count: 6
  personas: [{{name: g}}]
game: {{type: guess, high: 9}}
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The plugin 'installed' from a temporary folder: a package and its dist-info on sys.path."""
    site = tmp_path / "site"
    (site / "guessgame").mkdir(parents=True)
    (site / "guessgame" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "guessgame-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: guessgame\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[socium.games]\nguess = guessgame:GAME\n")
    monkeypatch.syspath_prepend(str(site))
    return site


def _cli(*args: str, pythonpath: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )


def test_a_plugin_gets_plots_measures_and_exports_without_editing_socium(
    plugin: Path, write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    for seed in (1, 2):
        path = write_scenario(SCENARIO.format(seed=seed), f"guess{seed}.yaml")
        Simulation(load_scenario(path), out=tmp_path / "runs" / f"s{seed}").run()
    run_dir = tmp_path / "runs" / "s1"
    announcements = [e for e in load_run(run_dir).event_list if e.kind == "announcement"]
    assert [(e.t, e.payload["text"]) for e in announcements] == [
        (5400.0, "halfway")
    ]  # its process ran
    assert (run_dir / "guesses.txt").read_text() == str(load_run(run_dir).stats()["guesses"])
    assert "Guesses of the plugin" in write_report(run_dir).read_text()
    result = compare([tmp_path / "runs"])
    assert result["measures"]["mean_guess"]["conditions"]["guessing [scripted:scripted]"]["n"] == 2
    exported = load_run(run_dir).export("graphml", tmp_path / "export")
    assert [p.name for p in exported] == ["sequence_graph.graphml"]
    assert nx.read_graphml(exported[0]).number_of_edges() > 0
    card = (run_dir / "run_card.md").read_text()
    assert "Everyone guesses a number up to 9." in card and "unavailable" not in card

    # the same run, with the plugin uninstalled: clear messages naming the missing game
    for command in (
        ["analyze", str(run_dir)],
        ["report", str(run_dir)],
        ["export", str(run_dir), "--format", "graphml"],
    ):
        done = _cli(*command)
        assert done.returncode == 1, done.stderr
        assert "game 'guess' is not installed" in done.stderr and "Traceback" not in done.stderr
    assert (
        _cli("export", str(run_dir), "--format", "csv").returncode == 0
    )  # raw tables need no plugin
    done = _cli("analyze", str(run_dir), pythonpath=str(plugin))
    assert done.returncode == 0 and "guesses" in done.stdout


def test_exporting_a_graph_a_game_does_not_have_says_so(
    scripted_town: Path, tmp_path: Path
) -> None:
    Simulation(load_scenario(scripted_town), out=tmp_path / "town").run()
    done = _cli("export", str(tmp_path / "town"), "--format", "graphml")
    assert done.returncode == 1
    assert "the narrative game has no graphs to export; try csv or parquet" in done.stderr
