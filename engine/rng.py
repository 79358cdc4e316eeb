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
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

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
    """A 31-bit seed derived from ``seed`` and a name (e.g. a turn's model-call seeds).

    The first word of ``numpy.random.SeedSequence(seed, spawn_key=<path's words>)``'s
    state, masked to 31 bits. It is computed here with plain integers: the same value
    (tests/test_rng.py checks it against numpy), at half the cost of building numpy's
    object, and every decision derives two seeds.
    """
    seed = int(seed)
    if seed < 0:
        raise ValueError("a seed cannot be negative")
    entropy = [seed & _MASK]  # numpy's words of the seed: 32 bits each, lowest first
    seed >>= 32
    while seed:
        entropy.append(seed & _MASK)
        seed >>= 32
    if path:  # the seed's words are padded to the pool's size before the spawn key
        entropy += [0] * (_POOL - len(entropy))
        entropy += _words(path)
    return _first_state_word(entropy) & 0x7FFFFFFF


def derive_many(seeds: Sequence[int], *path: Key) -> list[int]:
    """``[derive(seed, *path) for seed in seeds]``, computed together on numpy arrays.

    The same integer steps run elementwise on 32-bit words (they wrap as the masks do);
    a seed past 32 bits, which has more words, goes through :func:`derive`.
    """
    if not seeds or min(seeds) < 0 or max(seeds) > _MASK:
        return [derive(seed, *path) for seed in seeds]
    words = np.asarray(seeds, dtype=np.uint32)
    # Every word an array (a zero pads the pool as a missing word would), so no step
    # mixes a Python integer's full product into the arrays.
    entropy = [words] + [np.full_like(words, w) for w in [0] * (_POOL - 1) + [*_words(path)]]
    return list((_first_state_word(entropy) & 0x7FFFFFFF).tolist())


# SeedSequence's constants (after O'Neill's seed_seq_fe): a pool of four 32-bit words.
_MASK = 0xFFFFFFFF
_POOL = 4
_MULT_A, _INIT_B, _MULT_B = 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_HASH = [0x43B0D7E5]  # the successive values of the mixing hash constant


@lru_cache(maxsize=1024)
def _words(path: tuple[Key, ...]) -> tuple[int, ...]:
    return tuple(_word(p) for p in path)


def _first_state_word(entropy: list[Any]) -> Any:
    """SeedSequence's pool mixed from ``entropy`` (32-bit words); its first state word.

    A word may be a numpy ``uint32`` array: the result is then one word per element.
    """
    h = _HASH
    while len(h) < 17 + 4 * max(0, len(entropy) - _POOL):  # the constants this mixing uses
        h.append(h[-1] * _MULT_A & _MASK)
    k = 0
    pool = []
    for i in range(_POOL):  # hash the first words (or 0) into the pool
        v = ((entropy[i] if i < len(entropy) else 0) ^ h[k]) * h[k + 1] & _MASK
        k += 1
        pool.append(v ^ (v >> 16))
    for source in range(_POOL):  # every pool word into every other
        for dst in range(_POOL):
            if source != dst:
                pool[dst] = _mix(pool[dst], pool[source], h[k], h[k + 1])
                k += 1
    for word in entropy[_POOL:]:  # then the words past the pool into each
        for dst in range(_POOL):
            pool[dst] = _mix(pool[dst], word, h[k], h[k + 1])
            k += 1
    v = (pool[0] ^ _INIT_B) * (_INIT_B * _MULT_B & _MASK) & _MASK
    return v ^ (v >> 16)


def _mix(into: Any, word: Any, hash_const: int, next_const: int) -> Any:
    """SeedSequence's ``mix(into, hashmix(word))`` at one step of the hash constant."""
    v = (word ^ hash_const) * next_const & _MASK
    r = (_MIX_L * into - _MIX_R * (v ^ (v >> 16))) & _MASK
    return r ^ (r >> 16)
