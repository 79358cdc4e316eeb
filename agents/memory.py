"""Associative memory: per-agent memory streams with scored retrieval over faiss.

Score (Park et al. 2023, "Generative Agents: Interactive Simulacra of Human Behavior",
UIST) = w_rel * relevance + w_rec * recency + w_imp * importance, each in [0, 1]:
relevance = (cosine + 1) / 2, recency = 0.5 ** (age / half_life) in simulated time,
importance = rating / 10; ties by id. With the flat index (the default) every memory is
scored exactly by one matrix-vector product over faiss's vector storage; above
``HNSW_THRESHOLD`` an HNSW index narrows the candidates. No query loops in Python.

Texts added during one decision window, across ALL agents, are sealed when the window
closes (:meth:`MemoryBank.seal`) and filed (embedded, added to the streams) in batches:
the memories of agents that recall before the window is written are filed with their
queries' batch, the rest at once when the window is written (:meth:`MemoryBank.file`),
which the engine does while the next window waits on its model calls. Either way an
agent's memories are filed before its next query, in the order they were added, so the
streams do not depend on when the filing ran. Queries of one window are embedded in one
batch too: all of them at the window's start (:meth:`MemoryBank.prefetch`), or those of
one event-loop turn (:meth:`MemoryBank.recall`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.embedders import Embedder
from engine.types import MemoryRow

IMPORTANCE_BY_KIND: Mapping[str, float] = {
    "observation": 2.0,
    "action": 3.0,
    "event": 4.0,
    "message": 5.0,
    "outcome": 5.0,
    "invalid_action": 6.0,
    "reflection": 8.0,
}
SCORE_DECIMALS = 6  # retrieval scores are compared at this precision (determinism)
HNSW_THRESHOLD = 200_000  # exact below; HNSW recall of the combined score is low (RESULTS.md)


@dataclass(frozen=True, slots=True)
class Memory:
    """One retrieved memory with its score parts."""

    id: int
    t: float
    kind: str
    importance: float
    text: str
    score: float


@dataclass(frozen=True, slots=True)
class RetrievalWeights:
    """Scenario weights of relevance, recency and importance."""

    relevance: float = 1.0
    recency: float = 1.0
    importance: float = 1.0


class AssociativeMemory:
    """The memory stream of one agent: metadata arrays plus a faiss index of vectors."""

    def __init__(
        self,
        dim: int,
        *,
        half_life: float = 86400.0,
        weights: RetrievalWeights | None = None,
        capacity: int | None = None,
        index: str = "auto",
    ) -> None:
        self.dim = dim
        self.half_life = half_life
        self.weights = weights or RetrievalWeights()
        self.capacity = capacity
        self.index_kind = index
        self.ids: list[int] = []
        self._times = np.zeros(16, dtype=np.float64)  # grown by doubling; first len(self) used
        self._importance = np.zeros(16, dtype=np.float32)
        self.kinds: list[str] = []
        self.texts: list[str] = []
        self._next_id = 0
        self._index: Any = None
        self._kind_built = ""

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def times(self) -> np.ndarray:
        """Simulated times of the memories, in id order."""
        return self._times[: len(self.texts)]

    @property
    def importance(self) -> np.ndarray:
        """Importance ratings (0-10) of the memories, in id order."""
        return self._importance[: len(self.texts)]

    def extend(
        self, vectors: np.ndarray, rows: Sequence[tuple[float, str, float, str]]
    ) -> list[int]:
        """Append memories (t, kind, importance, text) with their unit vectors."""
        if not rows:
            return []
        new_ids = list(range(self._next_id, self._next_id + len(rows)))
        self._next_id += len(rows)
        self.ids += new_ids
        n, total = len(self.texts), len(self.texts) + len(rows)
        if total > len(self._times):
            size = max(total, 2 * len(self._times))
            self._times = np.resize(self._times, size)
            self._importance = np.resize(self._importance, size)
        self._times[n:total] = [r[0] for r in rows]
        self._importance[n:total] = [r[2] for r in rows]
        self.kinds += [r[1] for r in rows]
        self.texts += [r[3] for r in rows]
        self._add_vectors(np.ascontiguousarray(vectors, dtype=np.float32))
        if self.capacity is not None and len(self.texts) > self.capacity:
            self._forget(float(self.times.max()))
        return new_ids

    def retrieve_vector(self, query: np.ndarray, t: float, k: int) -> list[Memory]:
        """Top-``k`` memories for a unit query vector at simulated time ``t``.

        Flat index (the default below ``HNSW_THRESHOLD``): exact; one matrix-vector
        product over faiss's own vector storage scores every memory. HNSW/IVF: faiss's
        most relevant hits plus the memories with the best recency + importance are
        scored exactly (approximate, as those indexes are).
        """
        n = len(self.texts)
        if n == 0 or k <= 0:
            return []
        w = self.weights
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        rest = w.recency * self._recency(t) + np.float32(w.importance / 10.0) * self.importance
        if self._kind_built == "flat":
            positions = None  # every memory, in order
            cosine = self._flat_vectors() @ query
        else:
            depth = min(n, max(4 * k, 64))
            _, hits = self._index.search(query.reshape(1, -1), depth)
            best_rest = np.argpartition(-rest, depth - 1)[:depth] if depth < n else np.arange(n)
            positions = np.unique(np.concatenate([hits[0][hits[0] >= 0], best_rest]))
            cosine = self._vectors(positions.astype(np.int64)) @ query
            rest = rest[positions]
        # Rounded, so that last-bit differences between machines never reorder memories;
        # equal scores then go to the earlier memory.
        combined = np.round(w.relevance * _relevance(cosine) + rest, SCORE_DECIMALS)
        if len(combined) > k:  # keep every tie at the k-th score, then order exactly
            kth = np.partition(combined, len(combined) - k)[len(combined) - k]
            chosen = np.nonzero(combined >= kth)[0]
        else:
            chosen = np.arange(len(combined))
        at = chosen if positions is None else positions[chosen]
        order = np.lexsort((at, -combined[chosen]))[:k].tolist()
        scores = combined[chosen].tolist()
        times, importance = self._times, self._importance
        memories = []
        for i in order:
            p = int(at[i])
            memories.append(
                Memory(
                    self.ids[p],
                    float(times[p]),
                    self.kinds[p],
                    float(importance[p]),
                    self.texts[p],
                    scores[i],
                )
            )
        return memories

    def _recency(self, t: float) -> np.ndarray:
        if self.half_life <= 0:
            return np.ones(len(self.times), dtype=np.float32)
        exponent = (np.minimum(self.times, t) - t) * (1.0 / self.half_life)
        return np.exp2(exponent.astype(np.float32))

    def _score(self, positions: np.ndarray, cosine: np.ndarray, t: float) -> np.ndarray:
        w = self.weights
        rest = (
            w.recency * self._recency(t)[positions]
            + w.importance * self.importance[positions] / 10.0
        )
        return w.relevance * _relevance(cosine) + rest

    def _flat_vectors(self) -> np.ndarray:
        """A zero-copy view of the flat index's vectors."""
        import faiss

        n = self._index.ntotal
        return faiss.rev_swig_ptr(self._index.get_xb(), n * self.dim).reshape(n, self.dim)

    # -- index ------------------------------------------------------------------------
    def _wanted_kind(self, n: int) -> str:
        if self.index_kind != "auto":
            return self.index_kind
        return "hnsw" if n >= HNSW_THRESHOLD else "flat"

    def _add_vectors(self, vectors: np.ndarray) -> None:
        import faiss

        n = len(self.texts)
        wanted = self._wanted_kind(n)
        if self._index is None or wanted != self._kind_built:
            previous = (
                self._vectors(np.arange(n - len(vectors), dtype=np.int64))
                if self._index is not None
                else None
            )
            everything = vectors if previous is None else np.vstack([previous, vectors])
            self._index = _build_index(faiss, self.dim, wanted, everything)
            self._kind_built = wanted
            return
        self._index.add(vectors)

    def _vectors(self, positions: np.ndarray) -> np.ndarray:
        if len(positions) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._index.reconstruct_batch(positions), dtype=np.float32)

    def _forget(self, t: float) -> None:
        """Drop the lowest-scored memories (recency + importance) beyond capacity."""
        import faiss

        assert self.capacity is not None
        n = len(self.texts)
        positions = np.arange(n)
        keep_score = self._score(positions, np.zeros(n), t)
        keep = np.sort(np.lexsort((-positions, -keep_score))[: self.capacity])
        vectors = self._vectors(keep.astype(np.int64))
        self.ids = [self.ids[i] for i in keep]
        self._times = self._times[keep]
        self._importance = self._importance[keep]
        self.kinds = [self.kinds[i] for i in keep]
        self.texts = [self.texts[i] for i in keep]
        self._index = _build_index(faiss, self.dim, self._kind_built, vectors)


def _relevance(cosine: np.ndarray) -> np.ndarray:
    """Cosine similarity scaled to [0, 1]."""
    return (np.minimum(np.maximum(cosine, -1.0), 1.0) + 1.0) / 2.0  # np.clip, cheaper


def _build_index(faiss: Any, dim: int, kind: str, vectors: np.ndarray) -> Any:
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 128
    elif kind == "ivf" and len(vectors) >= 1024:
        nlist = int(np.sqrt(len(vectors)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = max(8, nlist // 8)
        index.make_direct_map()
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(vectors)
    return index


Item = tuple[str, float, str, float, str]  # agent, t, kind, importance, text
Query = tuple[str, str, float, int]  # agent, text, t, k


class Filing:
    """One window's sealed memories, by agent, and the rows of those already filed."""

    def __init__(self, items: Sequence[Item]) -> None:
        self.waiting: dict[str, list[Item]] = {}
        for item in items:
            self.waiting.setdefault(item[0], []).append(item)
        self.rows: list[MemoryRow] = []


class MemoryBank:
    """The memories of every agent: one embedder call per window for additions, one for queries."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        half_life: float = 86400.0,
        weights: RetrievalWeights | None = None,
        capacity: int | None = None,
        index: str = "auto",
    ) -> None:
        self.embedder = embedder
        self.options = {
            "half_life": half_life,
            "weights": weights,
            "capacity": capacity,
            "index": index,
        }
        self.streams: dict[str, AssociativeMemory] = {}
        self._pending: list[Item] = []
        self._filings: list[Filing] = []  # sealed, not yet wholly filed (oldest first)
        self._queries: list[tuple[str, str, float, int, asyncio.Future[list[Memory]]]] = []
        self._flush_scheduled = False
        self._answers: dict[Query, list[Memory]] = {}  # the current window's, prefetched

    @classmethod
    def from_config(cls, config: Any, embedder: Embedder) -> MemoryBank:
        """The bank a scenario's ``memory:`` section describes."""
        return cls(
            embedder,
            half_life=config.half_life,
            weights=RetrievalWeights(**config.weights.model_dump()),
            capacity=config.capacity,
            index=config.index,
        )

    def load(self) -> None:
        """Import faiss now (about 50 ms here): before a run's clock starts, not in its first window."""
        import faiss  # noqa: F401

    def stream(self, agent: str) -> AssociativeMemory:
        """The memory stream of ``agent`` (created empty on first use)."""
        if agent not in self.streams:
            self.streams[agent] = AssociativeMemory(self.embedder.dim, **self.options)  # type: ignore[arg-type]
        return self.streams[agent]

    def add(
        self, agent: str, text: str, t: float, kind: str, importance: float | None = None
    ) -> None:
        """Queue a memory; it becomes retrievable when the window is flushed."""
        rating = IMPORTANCE_BY_KIND.get(kind, 3.0) if importance is None else float(importance)
        self._pending.append((agent, t, kind, min(10.0, max(0.0, rating)), text))

    async def rate_pending(self, model: Any, rng: np.random.Generator) -> int:
        """Have the model rate every queued memory's importance (Park et al. 2023).

        One ``number`` call per memory, concurrently; returns the number of calls.
        """
        seeds = [int(s) for s in rng.integers(0, 2**31 - 1, len(self._pending))]

        async def rate(item: tuple[str, float, str, float, str], seed: int) -> float:
            agent, t, _, heuristic, text = item
            answer = await model.number(
                "On a scale of 1 to 10, where 1 is an everyday routine (making coffee, a "
                "greeting) and 10 is life-changing (losing a home, a new alliance), how "
                f"important is this memory to {agent}? Memory: {json.dumps(text)}\n"
                'Answer with JSON {"answer": <1-10>}.',
                1,
                10,
                fallback=heuristic,
                integer=True,
                seed=seed,
                agent=agent,
                t=t,
                purpose="importance",
            )
            return float(answer.value)

        ratings = await asyncio.gather(
            *(rate(p, s) for p, s in zip(self._pending, seeds, strict=True))
        )
        self._pending = [
            (a, t, k, r, x) for (a, t, k, _, x), r in zip(self._pending, ratings, strict=True)
        ]
        return len(ratings)

    def seal(self) -> Filing:
        """The memories queued so far, as one window's filing (filed by :meth:`file`)."""
        filing = Filing(self._pending)
        self._pending = []
        if filing.waiting:
            self._filings.append(filing)
        return filing

    def file(self, filing: Filing) -> list[MemoryRow]:
        """File what ``filing`` still holds; all its rows (also those filed earlier)."""
        self._file(filing, list(filing.waiting))
        if filing in self._filings:
            self._filings.remove(filing)
        return sorted(filing.rows, key=lambda row: (row.agent, row.id))

    def flush(self) -> list[MemoryRow]:
        """Seal and file every queued memory now; rows for the store."""
        return self.file(self.seal())

    def _file(self, filing: Filing, agents: Sequence[str]) -> None:
        """Embed the waiting memories of ``agents`` in ONE call and add them to their streams.

        Each distinct text is embedded once: a post seen by 200 followers becomes 200
        memories but one embedding.
        """
        items = {agent: filing.waiting.pop(agent) for agent in sorted(agents)}
        if not items:
            return
        position: dict[str, int] = {}
        for entries in items.values():
            for item in entries:
                position.setdefault(item[4], len(position))
        vectors = self.embedder.embed(list(position))
        for agent, entries in items.items():
            rows = [(item[1], item[2], item[3], item[4]) for item in entries]
            ids = self.stream(agent).extend(vectors[[position[item[4]] for item in entries]], rows)
            filing.rows += [
                MemoryRow(agent, mid, r[0], r[1], r[2], r[3])
                for mid, r in zip(ids, rows, strict=True)
            ]

    def _file_for(self, agents: Sequence[str]) -> None:
        """File the sealed memories of ``agents`` now (they are about to be queried)."""
        distinct = set(agents)
        for filing in self._filings:
            wanted = [agent for agent in distinct if agent in filing.waiting]
            if wanted:
                self._file(filing, wanted)

    def _has_memories(self, agent: str) -> bool:
        stream = self.streams.get(agent)
        return (stream is not None and len(stream) > 0) or any(
            agent in filing.waiting for filing in self._filings
        )

    def retrieve(self, agent: str, query: str, t: float, k: int) -> list[Memory]:
        """Top-``k`` memories of ``agent`` for ``query`` (embeds the query alone)."""
        if k <= 0 or not self._has_memories(agent):
            return []
        self._file_for((agent,))
        return self.streams[agent].retrieve_vector(self.embedder.embed([query])[0], t, k)

    def prefetch(self, queries: Sequence[Query]) -> None:
        """Answer a window's queries (agent, text, t, k) now, in one batch, for :meth:`recall`.

        The answers are those :meth:`recall` would give at any later point of the window:
        nothing a window's decisions do reaches a stream before the window is written.
        The previous window's answers are dropped.
        """
        wanted = [q for q in dict.fromkeys(queries) if q[3] > 0 and self._has_memories(q[0])]
        self._answers = dict(zip(wanted, self._answer(wanted), strict=True)) if wanted else {}

    async def recall(self, agent: str, query: str, t: float, k: int) -> list[Memory]:
        """Like :meth:`retrieve`, batched: queries of one event-loop turn share one embedding call.

        A query :meth:`prefetch` answered is answered at once.
        """
        if k <= 0 or not self._has_memories(agent):
            return []
        known = self._answers.get((agent, query, t, k))
        if known is not None:
            return list(known)
        future: asyncio.Future[list[Memory]] = asyncio.get_running_loop().create_future()
        self._queries.append((agent, query, t, k, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._answer_queries)
        return await future

    def _answer_queries(self) -> None:
        queries, self._queries = self._queries, []
        self._flush_scheduled = False
        try:
            answers = self._answer([q[:4] for q in queries])
        except Exception as err:  # hand the failure to every waiting decision
            for *_, future in queries:
                future.set_exception(err)
            return
        for (*_, future), memories in zip(queries, answers, strict=True):
            future.set_result(memories)

    def _answer(self, queries: Sequence[Query]) -> list[list[Memory]]:
        """The top memories for each query: the askers' memories filed, one embedding call."""
        if self._filings:
            self._file_for([q[0] for q in queries])
        vectors = self.embedder.embed([q[1] for q in queries])
        return [
            self.streams[agent].retrieve_vector(vector, t, k)
            for (agent, _, t, k), vector in zip(queries, vectors, strict=True)
        ]
