"""Social media: platform rules, reproducibility, control runs with predicted outcomes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from agents.embedders import HashingEmbedder
from engine.models import LanguageModel, Ledger
from engine.models.scripted import ScriptedBackend
from engine.scenario import load_scenario
from engine.simulation import Simulation
from engine.types import Action, Persona
from gamemaster.social_media import SocialMediaGameMaster, SocialSection

CONTROL = """
name: control
seed: {seed}
duration: 2d
window: 30m
model: {{backend: scripted}}
embedder: {{kind: hashing, dim: 32}}
memory: {{enabled: false}}
population:
  count: 80
  activity: {{schedule: poisson, rate: 1, rate_sigma: {sigma}}}
  personas: [{{name: u}}]
game:
  type: social_media
  actions: [post, like, repost, do_nothing]
  recommender: {recommender}
  suggestions: 1
  feed_size: 3
  snapshot_every: 12h
  null_samples: 10
  bootstrap_samples: 100
"""


def _final(stats: dict) -> dict:  # type: ignore[type-arg]
    return stats["final"]


def _control(
    write_scenario: Callable[..., Path], tmp_path: Path, name: str, seed: int, **fields: object
) -> dict:  # type: ignore[type-arg]
    path = write_scenario(CONTROL.format(seed=seed, **fields), f"{name}.yaml")
    result = Simulation(load_scenario(path), out=tmp_path / name).run()
    assert result.status == "finished"
    return result.stats


@pytest.mark.parametrize("seed", [1, 2])
def test_preferential_following_and_heavy_tailed_activity_strengthen_the_paradox(
    write_scenario: Callable[..., Path], tmp_path: Path, seed: int
) -> None:
    uniform = _final(
        _control(write_scenario, tmp_path, "uniform", seed, sigma=0.0, recommender="random")
    )
    skewed = _final(
        _control(write_scenario, tmp_path, "skewed", seed, sigma=1.5, recommender="preferential")
    )
    key = "friends_by_follower_count"
    assert skewed["individual"][key]["fraction_mean"] > uniform["individual"][key]["fraction_mean"]
    assert skewed["activity"]["fraction_mean"] > uniform["activity"]["fraction_mean"]
    for stats in (uniform, skewed):
        for statistic in (key, "activity"):
            z = stats["null_model"][statistic]["z"]
            assert z is not None and np.isfinite(z)
        assert stats["follow_edges"] > 100


def test_same_seed_same_graph_and_statistics(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    first = _control(write_scenario, tmp_path, "a", 5, sigma=1.0, recommender="similarity")
    second = _control(write_scenario, tmp_path, "b", 5, sigma=1.0, recommender="similarity")
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    graph_a = nx.read_graphml(tmp_path / "a" / "follow_graph.graphml")
    graph_b = nx.read_graphml(tmp_path / "b" / "follow_graph.graphml")
    assert sorted(graph_a.edges) == sorted(graph_b.edges) and graph_a.number_of_edges() > 0
    assert (
        nx.read_gexf(tmp_path / "a" / "follow_graph.gexf").number_of_edges()
        == graph_a.number_of_edges()
    )
    db = sqlite3.connect(tmp_path / "a" / "run.sqlite")
    assert db.execute("SELECT COUNT(*) FROM stats").fetchone()[0] > 0
    assert len(first["snapshots"]) >= 4  # every 12 h over 2 days, plus the end


def _platform(**options: object) -> SocialMediaGameMaster:
    model = LanguageModel(ScriptedBackend(), ledger=Ledger())
    gm = SocialMediaGameMaster(
        SocialSection(**options),
        model=model,
        rng=np.random.default_rng(0),
        embedder=HashingEmbedder(32),
    )
    gm.setup([Persona("ann", "trains"), Persona("ben", "football"), Persona("cat", "cooking")])
    return gm


def test_platform_rules_hold_whatever_the_reply_says() -> None:
    gm = _platform(recommender="random")
    gm.observe("ann", 0.0, {})
    assert (
        gm.resolve("ann", Action("post", {"text": "Trains!", "follow": []}), 1.0, {})[0].kind
        == "post"
    )
    view = gm.observe("ben", 2.0, {})
    assert '[post 0] @ann posted "Trains!"' in view.text
    suggested = view.facts["suggested"]
    # liking your own post, following yourself, or someone not suggested: rejected
    assert gm.resolve("ann", Action("like", {"post_id": "0"}), 3.0, {})[0].kind == "invalid_action"
    follow_self = Action("do_nothing", {"follow": ["ben"]})
    assert gm.resolve("ben", follow_self, 3.0, {})[0].kind == "invalid_action"
    events = gm.resolve(
        "ben", Action("like", {"post_id": "0", "follow": list(suggested[:1])}), 4.0, {}
    )
    assert [e.kind for e in events] == ["like", "follow"]
    assert gm.posts[0].likes == 1 and suggested[0] in gm.following["ben"]


def test_follow_step_allows_at_most_n_new_follows() -> None:
    gm = _platform(recommender="random", suggestions=2, follows_per_activation=1)
    suggested = gm.observe("cat", 0.0, {}).facts["suggested"]
    too_many = Action("do_nothing", {"follow": list(suggested)})
    assert gm.resolve("cat", too_many, 1.0, {})[0].kind == "invalid_action"
    assert gm.following["cat"] == set()


def test_feeds_by_source() -> None:
    gm = _platform(feed="popularity", feed_size=2, recommender="random")
    for i, author in enumerate(["ann", "ben", "ann"]):
        gm.observe(author, float(i), {})
        gm.resolve(author, Action("post", {"text": f"post {i}", "follow": []}), float(i), {})
    gm.observe("cat", 5.0, {})
    gm.resolve("cat", Action("like", {"post_id": "1", "follow": []}), 5.0, {})
    assert gm.observe("cat", 6.0, {}).facts["feed"][0] == 1  # the liked post leads
    chronological = _platform(feed="chronological", feed_size=2, recommender="random")
    chronological.observe("ann", 0.0, {})
    chronological.resolve("ann", Action("post", {"text": "a", "follow": []}), 0.0, {})
    chronological.following["cat"].add("ann")
    assert chronological.observe("cat", 1.0, {}).facts["feed"] == (0,)


@pytest.mark.slow
def test_quick_social_media_runs_on_the_embedded_defaults(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    pytest.importorskip("sentence_transformers")
    root = Path(__file__).resolve().parent.parent
    loaded = load_scenario(
        root / "scenarios" / "social_media" / "quick.yaml",
        ["duration=2h", "population.activity.scale=0.15", "game.null_samples=5"],
    )
    result = Simulation(loaded, out=tmp_path / "run").run()
    assert result.status == "finished"
    assert (tmp_path / "run" / "stats.json").exists()
    assert (tmp_path / "run" / "follow_graph.graphml").exists() and (
        tmp_path / "run" / "follow_graph.gexf"
    ).exists()
