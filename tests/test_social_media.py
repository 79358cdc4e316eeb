"""Social media: platform rules, reproducibility, control runs with predicted outcomes."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
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
from gamemaster.social_media.platform import SocialMediaGameMaster, top_rows
from gamemaster.social_media.section import SocialSection

ROOT = Path(__file__).resolve().parent.parent

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
            null = stats["null_model"][f"{statistic}.mean"]
            assert 0 < null["p_greater"] <= 1 and null["samples"] == 10
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


def _platform(
    embedder: object = None, people: tuple[str, ...] = ("ann", "ben", "cat"), **options: object
) -> SocialMediaGameMaster:
    model = LanguageModel(ScriptedBackend(), ledger=Ledger())
    gm = SocialMediaGameMaster(
        SocialSection(**options),  # type: ignore[arg-type]
        model=model,
        rng=np.random.default_rng(0),
        embedder=embedder or HashingEmbedder(32),
    )
    topics = {
        "ann": "trains",
        "ben": "football",
        "cat": "cooking",
        "dan": "trains",
        "eve": "trains",
    }
    gm.setup([Persona(name, topics[name]) for name in people])
    return gm


class Topics:
    """A test double embedder: one axis per topic word, so cosines are hand-computable."""

    dim = 3
    calls = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = np.array(
            [
                [
                    float("trains" in t),
                    float("football" in t),
                    float("trains" not in t and "football" not in t),
                ]
                for t in texts
            ],
            dtype=np.float32,
        )
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_the_paper_recommender_offers_posters_ranked_by_mean_post_similarity() -> None:
    gm = _platform(
        Topics(), ("ann", "ben", "cat", "dan", "eve"), recommender="paper", suggestions=3
    )
    for t, (author, text) in enumerate(
        [
            ("ann", "trains are great"),
            ("ben", "football tonight"),
            ("dan", "trains"),
            ("dan", "football"),
        ]
    ):
        gm.observe(author, float(t), {})
        gm.resolve(author, Action("post", {"text": text, "follow": []}), float(t), {})
    # eve has not posted: her persona ("trains") is the reference. Mean cosines of each
    # poster's posts: ann 1, dan (1 + 0) / 2 = 0.5, ben 0; cat never posted: not offered
    assert gm.observe("eve", 10.0, {}).facts["suggested"] == ("ann", "dan", "ben")
    gm.resolve("eve", Action("post", {"text": "football is life", "follow": []}), 10.0, {})
    # now her own post is the reference: ben 1, dan 0.5; she is never suggested to herself
    assert gm.observe("eve", 11.0, {}).facts["suggested"] == ("ben", "dan", "ann")
    fresh = _platform(Topics(), ("ann", "ben", "cat"), recommender="paper")
    assert fresh.observe("ann", 0.0, {}).facts["suggested"] == ()  # nobody has posted yet


def test_the_paper_loop_activates_everyone_once_per_iteration(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_scenario(
        CONTROL.format(seed=1, sigma=0.0, recommender="paper")
        .replace(
            "  activity: {schedule: poisson, rate: 1, rate_sigma: 0.0}",
            "  activity: {schedule: turns}",
        )
        .replace("duration: 2d", "duration: 4h")
        .replace("window: 30m", "window: 0")
        .replace(
            "  recommender: paper", "  recommender: paper\n  iterations: 4\n  iteration_length: 1h"
        )
    )
    result = Simulation(load_scenario(path), out=tmp_path / "run").run()
    db = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    rows = db.execute("SELECT t, actor, kind FROM events ORDER BY seq").fetchall()
    acting = [(t, actor) for t, actor, kind in rows if kind != "follow"]
    for iteration in range(4):
        actors = [a for t, a in acting if iteration * 3600 <= t < (iteration + 1) * 3600]
        assert sorted(actors) == sorted({f"u~{i}" for i in range(2, 81)} | {"u"})  # each once
    follows = Counter((actor, int(t // 3600)) for t, actor, kind in rows if kind == "follow")
    assert follows and max(follows.values()) == 1  # at most one follow per agent and iteration
    assert result.summary["windows"] == 4 * 80  # sequential: one agent per window


def test_the_control_pair_orders_as_predicted(tmp_path: Path) -> None:
    """README, "Activity as an input": uneven activity strengthens the activity paradox.

    Both arms of the shipped control pair, scripted, shrunk to 40 agents and 12 hours.
    """
    shrink = [
        "model.backend=scripted",
        "embedder.kind=hashing",
        "population.count=40",
        "duration=12h",
    ]
    shrink += ["game.null_samples=0", "game.bootstrap_samples=0"]
    for seed in range(5):
        shares = {}
        for arm, extra in (("homogeneous", ["game.iterations=12"]), ("heterogeneous", [])):
            loaded = load_scenario(
                ROOT / "scenarios" / "social_media" / f"control_{arm}.yaml", shrink + extra
            )
            stats = Simulation(loaded, out=tmp_path / f"{arm}{seed}", seed=seed).run().stats
            shares[arm] = stats["final"]["activity"]["fraction_mean"]
        assert shares["heterogeneous"] > shares["homogeneous"], (seed, shares)


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
    kinds = [e.kind for e in gm.resolve("ben", follow_self, 3.0, {})]
    assert kinds == ["do_nothing", "invalid_action"]  # the action stands, the follow is refused
    assert "ben" not in gm.following["ben"]
    suggested = gm.observe("ben", 4.0, {}).facts["suggested"]  # each activation observes first
    events = gm.resolve(
        "ben", Action("like", {"post_id": "0", "follow": list(suggested[:1])}), 4.0, {}
    )
    assert [e.kind for e in events] == ["like", "follow"]
    assert gm.posts[0].likes == 1 and suggested[0] in gm.following["ben"]


def test_follow_step_allows_at_most_n_new_follows() -> None:
    gm = _platform(recommender="random", suggestions=2, follows_per_activation=1)
    suggested = gm.observe("cat", 0.0, {}).facts["suggested"]
    too_many = Action("post", {"text": "hello", "follow": list(suggested)})
    events = gm.resolve("cat", too_many, 1.0, {})
    assert [e.kind for e in events] == ["post", "invalid_action"]  # still posted
    assert "at most 1 account(s) per turn" in events[1].payload["reason"]
    assert gm.following["cat"] == set()
    gm.observe("cat", 2.0, {})
    stranger = Action("post", {"text": "again", "follow": ["Ben01"]})
    events = gm.resolve("cat", stranger, 2.0, {})
    assert [e.kind for e in events][:2] == ["post", "invalid_action"]
    assert "Ben01 not among the accounts suggested to you" in events[1].payload["reason"]


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
        ["duration=1h", "game.iterations=1", "population.count=6", "game.null_samples=50"],
    )
    result = Simulation(loaded, out=tmp_path / "run").run()
    assert result.status == "finished"
    assert (tmp_path / "run" / "stats.json").exists()
    assert (tmp_path / "run" / "follow_graph.graphml").exists() and (
        tmp_path / "run" / "follow_graph.gexf"
    ).exists()


def test_top_rows_ranks_by_score_at_six_decimals_then_column() -> None:
    rng = np.random.default_rng(3)
    scores = np.round(rng.integers(-3, 4, (40, 25)) / 7, 3) + rng.normal(0, 1e-8, (40, 25))
    scores[rng.random((40, 25)) < 0.1] = -np.inf  # excluded
    for n in (1, 5, 25, 30):
        for ties_to_last in (False, True):
            ranked = top_rows(scores, n, ties_to_last=ties_to_last)
            for row, got in zip(scores, ranked.tolist(), strict=True):
                side = -1 if ties_to_last else 1
                order = sorted(range(len(row)), key=lambda c: (-round(row[c], 6), side * c))
                assert got == order[:n]


def _posted(gm: SocialMediaGameMaster, posts: list[tuple[str, str]]) -> None:
    for t, (author, text) in enumerate(posts):
        gm.observe(author, float(t), {})
        gm.resolve(author, Action("post", {"text": text, "follow": []}), float(t), {})


def test_a_windows_views_ranked_together_equal_each_ranked_alone() -> None:
    people = ("ann", "ben", "cat", "dan", "eve")
    words = ["trains", "football", "cooking", "rain", "maps", "jazz"]
    posts = [(people[i % 5], f"{words[i % 6]} {words[i % 4]} {i % 3}") for i in range(60)]
    options = {"recommender": "paper", "feed": "mixture", "feed_size": 4, "suggestions": 3}
    together, alone = (_platform(HashingEmbedder(32), people, **options) for _ in range(2))
    for gm in (together, alone):
        _posted(gm, posts)
    window = ["cat", "ann", "eve", "cat", "ben"]  # cat acts twice
    together.prepare_views(window, 100.0)
    for agent in window:
        views = [gm.observe(agent, 100.0, {}) for gm in (together, alone)]
        assert views[0] == views[1] and views[0].facts["suggested"]
    assert len({together.observe(a, 100.0, {}).facts["feed"] for a in people}) > 1


PLANTED = {  # by a text's first word; "You" starts every persona
    "You": (0.222, 0.175, 0.222),
    "first": (0.515, 0.714, 0.304),
    "second": (0.304, 0.714, 0.515),
}


class Planted:
    """A test double embedder: the hand-picked vectors of :data:`PLANTED`."""

    dim = 3

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.array([PLANTED[t.split()[0]] for t in texts], dtype=np.float32)


def test_equal_similarities_tie_and_the_more_recent_post_ranks_first() -> None:
    # By hand, cat's similarity to both posts is (0.515*0.222 + 0.714*0.175 + 0.304*0.222)
    # / |persona|, about 0.8534745: a tie, which must rank as documented, not by the last
    # bits of a float32 sum (those put "first" ahead at 6 decimals).
    gm = _platform(Planted(), feed="similarity", feed_size=2)
    _posted(gm, [("ann", "first post"), ("ben", "second post")])
    assert gm.observe("cat", 10.0, {}).facts["feed"] == (1, 0)
