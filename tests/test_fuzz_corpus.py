"""Every scenario `socium validate` accepts runs to the end: a fuzz corpus of mutations.

The corpus is each game's small bundled scenario (offline: scripted model, hashing
embedder) under single mutations of fields at their edges, then seeded random triples
of them. A variant is either a ``file:line`` error or a run that finishes; a traceback in
between (validate accepted what the run cannot do) fails the test.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from engine.scenario import load_scenario
from engine.simulation import Simulation
from engine.types import ScenarioError

ROOT = Path(__file__).resolve().parent.parent
OFFLINE = ["model.backend=scripted", "embedder.kind=hashing", "embedder.dim=16"]
COMMON = [
    "window=0",
    "window=1d",
    "start=23h",
    "duration=1s",
    "seed=0",
    "max_concurrency=1",
    "memory.k=0",
    "memory.enabled=false",
    "memory.capacity=1",
    "memory.reflection_every=1",
    "memory.importance=model",
    "memory.half_life=0",
    "memory.max_memory_chars=0",
    "population.count=1",
    "population.count=2",
    "population.count=13",
    "population.activity.rate=0",
    "population.activity.schedule=every",
    "population.activity.period=1s",
    "population.activity.period=0",
    "population.activity.rate_sigma=5",
    "population.activity.scale=0",
    "population.activity.schedule=turns",
    "population.activity.profile=[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1]",
    "model.malformed_rate=1",
    "model.parse_retries=0",
    "model.max_tokens=1",
    "population.personas=[{name: 'a b'}, {name: x}]",
]
GAMES = {
    "donor_game/quick.yaml": [
        "game.agents_per_generation=2",
        "game.rounds=2",
        "game.trace_depth=0",
        "game.trace_depth=20",
        "game.generations=1",
        "game.survivors=0.01",
        "game.survivors=0.99",
        "game.multiplier=0",
        "game.partner_choice=true",
        "game.punishment.enabled=true",
        "game.punishment.effect=0",
        "game.compat=notebook",
        "game.pairing=round_robin",
        "game.pairing=strict_alternation",
        "game.reasoning=true",
        "game.endowment=0.001",
        "game.show_scores=true",
        "game.round_length=0",
    ],
    "social_media/quick.yaml": [
        "game.feed_size=0",
        "game.actions=[do_nothing]",
        "game.actions=[unfollow]",
        "game.follow_step=false",
        "game.recommender=random",
        "game.recommender=preferential",
        "game.recommender=common_neighbors",
        "game.recommender=similarity",
        "game.suggestions=50",
        "game.iterations=1",
        "game.iterations=null",
        "game.recent_posts=10",
        "game.exploration=1",
        "game.feed=chronological",
        "game.feed=popularity",
        "game.feed=similarity",
        "game.follows_per_activation=20",
        "game.snapshot_every=10m",
        "game.null_samples=0",
        "game.bootstrap_samples=0",
        "game.mix.chronological=0",
    ],
    "town_square/scenario.yaml": [
        "game.locations=[x]",
        "game.project=null",
        "game.coins=0",
        "game.facts_shown=0",
        "game.actions=[wait]",
        "game.recent_events=0",
        "game.start_location=nowhere",
        "game.project.funded=1000",
        "game.facts=[]",
        "game.setting=''",
    ],
    "public_goods/quick.yaml": [
        "game.group_size=2",
        "game.rounds=1",
        "game.matching=stranger",
        "game.punishment.enabled=false",
        "game.punishment.from_round=6",
        "game.punishment.from_round=7",
        "game.multiplier=0",
        "game.endowment=0.5",
        "game.punishment.max_points=1",
    ],
}
SMALLER = {
    "donor_game/quick.yaml": ["game.generations=2"],
    "social_media/quick.yaml": ["game.null_samples=10", "game.bootstrap_samples=10"],
    "town_square/scenario.yaml": ["duration=2h"],
    "public_goods/quick.yaml": ["game.rounds=4", "game.punishment.from_round=3"],
}
LOCATED = re.compile(r"^\S+:\d+: \S+: .+", re.MULTILINE)


def corpus() -> list[tuple[str, tuple[str, ...]]]:
    variants = []
    for scenario, own in GAMES.items():
        mutations = COMMON + own
        variants += [(scenario, (m,)) for m in mutations]
        draw = random.Random(f"socium fuzz corpus {scenario}")
        variants += [(scenario, tuple(draw.sample(mutations, 3))) for _ in range(12)]
    return variants


@pytest.mark.parametrize(("scenario", "mutations"), corpus())
def test_a_valid_variant_runs_and_an_invalid_one_is_a_located_error(
    scenario: str, mutations: tuple[str, ...], tmp_path: Path
) -> None:
    overrides = OFFLINE + SMALLER[scenario] + list(mutations)
    try:
        loaded = load_scenario(ROOT / "scenarios" / scenario, overrides)
    except ScenarioError as err:
        assert LOCATED.match(str(err)), str(err)
        return
    result = Simulation(loaded, out=tmp_path / "run").run()
    assert result.status == "finished", result.summary
    assert "statistics_error" not in result.summary, result.summary["statistics_error"]
