"""One seed per run, spawned into independent random streams for every consumer.

Streams are addressed by a stable key (``"kernel"``, ``("agent", 3)``) rather than by
spawn order, so adding an agent or a consumer never shifts another stream.
"""

from __future__ import annotations

import hashlib

import numpy as np

_BRANCHES = {"kernel": 0, "game_master": 1, "model": 2, "agent": 3, "population": 4, "memory": 5}


class RunSeeds:
    """The root ``SeedSequence`` of a run and its named children.

    Examples
    --------
    >>> seeds = RunSeeds(7)
    >>> a = seeds.generator("agent", 0).random()
    >>> a == RunSeeds(7).generator("agent", 0).random()
    True
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def sequence(self, branch: str, index: int = 0) -> np.random.SeedSequence:
        """The child sequence for ``branch`` (and ``index`` within it)."""
        return np.random.SeedSequence(self.seed, spawn_key=(_BRANCHES[branch], index))

    def generator(self, branch: str, index: int = 0) -> np.random.Generator:
        """A fresh ``numpy.random.Generator`` on the child stream."""
        return np.random.Generator(np.random.PCG64(self.sequence(branch, index)))


def stable_index(name: str) -> int:
    """A stable non-negative integer for a string (agent names to stream indexes)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big")
