"""Seeds derived for model calls equal numpy's SeedSequence, which defines them."""

from __future__ import annotations

import random

import numpy as np
import pytest

from engine.rng import _word, derive, derive_many


def numpy_derive(seed: int, *path: str | int) -> int:
    """The definition: SeedSequence(seed, spawn_key=path's words), first state word, 31 bits."""
    sequence = np.random.SeedSequence(seed, spawn_key=tuple(_word(p) for p in path))
    return int(sequence.generate_state(1)[0] & 0x7FFFFFFF)


def test_derive_equals_numpys_seed_sequence_on_many_seeds_and_paths() -> None:
    draw = random.Random(11)
    parts: list[str | int] = ["decide", "interpret", "survey", "reflect", 0, 7, 2**40, "x" * 60]
    cases = [(0, ()), (2**32 - 1, ("decide",)), (2**32, ("decide",)), (5, ())]
    for _ in range(20_000):
        seed = draw.choice(
            [draw.randrange(2**31), draw.randrange(2**64), draw.randrange(2**200), 0]
        )
        cases.append((seed, tuple(draw.choice(parts) for _ in range(draw.randrange(6)))))
    for seed, path in cases:
        assert derive(seed, *path) == numpy_derive(seed, *path), (seed, path)


def test_a_negative_seed_is_refused_as_numpy_refuses_it() -> None:
    with pytest.raises(ValueError):
        np.random.SeedSequence(-1)
    with pytest.raises(ValueError):
        derive(-1, "decide")


def test_seeds_derived_together_equal_seeds_derived_one_by_one() -> None:
    draw = random.Random(12)
    seeds = [draw.randrange(2**31) for _ in range(3_000)] + [0, 2**31 - 1, 2**32 - 1]
    for path in [(), ("decide",), ("interpret",), ("survey", 3, "x")]:
        together = derive_many(seeds, *path)
        assert together == [numpy_derive(seed, *path) for seed in seeds[:200]] + [
            derive(seed, *path) for seed in seeds[200:]
        ]
    assert derive_many([2**40, 5], "decide") == [derive(2**40, "decide"), derive(5, "decide")]
    assert derive_many([], "decide") == []
