"""One seed per run, spawned into independent random streams addressed by name.

A stream is named by a path of strings or integers (``"kernel"``, ``("schedule",
"Ada")``, ``("statistics", "null_model")``); each part is hashed to a 32-bit word of the
``SeedSequence`` spawn key. Streams therefore never depend on spawn order: adding an
agent, a game master call or a statistic never shifts another stream, and an agent's
streams follow its name wherever it appears (newcomers included).

Streams of a run (see DESIGN.md, decision 9):

- ``kernel``: tie-breaks and the per-activation seeds of every window;
- ``("schedule", agent)``: the agent's activation times;
- ``population``: per-agent activity rates;
- ``game_master``: the game master's own draws (feeds, shuffles, selection);
- ``model``: the model client's retry jitter;
- ``memory``: seeds of importance ratings;
- ``("statistics", name)``: null models, bootstraps and other statistics.

Model calls are seeded from the seed of the activation they serve (drawn by the kernel
in activation order), so concurrency never changes which seed a call gets.
"""

from __future__ import annotations

import hashlib

import numpy as np

Key = str | int


def _word(part: Key) -> int:
    text = f"{type(part).__name__}:{part}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")


class RunSeeds:
    """The root seed of a run and its named child streams.

    Examples
    --------
    >>> seeds = RunSeeds(7)
    >>> a = seeds.generator("schedule", "Ada").random()
    >>> a == RunSeeds(7).generator("schedule", "Ada").random()
    True
    >>> a == RunSeeds(7).generator("schedule", "Bo").random()
    False
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def sequence(self, *path: Key) -> np.random.SeedSequence:
        """The child sequence named ``path``."""
        return np.random.SeedSequence(self.seed, spawn_key=tuple(_word(p) for p in path))

    def generator(self, *path: Key) -> np.random.Generator:
        """A fresh ``numpy.random.Generator`` on the stream named ``path``."""
        return np.random.Generator(np.random.PCG64(self.sequence(*path)))

    def integer(self, *path: Key) -> int:
        """One 63-bit integer from the stream named ``path`` (to seed other libraries)."""
        return int(self.generator(*path).integers(0, 2**63 - 1))


def derive(seed: int, *path: Key) -> int:
    """A 31-bit seed derived from ``seed`` and a name (e.g. a turn's model-call seeds)."""
    sequence = np.random.SeedSequence(int(seed), spawn_key=tuple(_word(p) for p in path))
    return int(sequence.generate_state(1)[0] & 0x7FFFFFFF)
