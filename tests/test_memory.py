"""Associative memory: scored retrieval, batching, persistence, bounded prompts."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import random
import re
from collections.abc import Sequence

import numpy as np

from agents.agent import Agent, AgentSettings
from agents.embedders import HashingEmbedder
from agents.memory import AssociativeMemory, MemoryBank, RetrievalWeights
from agents.prompts import Prompts
from engine.models import LanguageModel, Ledger, Request
from engine.models.scripted import ScriptedBackend
from engine.store import RunStore
from engine.types import ActionOption, ActionSpace, ArgSpec, Observation, Persona

DAY = 86400.0


def _unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def _stream(**options: object) -> AssociativeMemory:
    return AssociativeMemory(2, half_life=DAY, **options)  # type: ignore[arg-type]


def test_equal_relevance_more_recent_first() -> None:
    memory = _stream()
    memory.extend(
        np.stack([_unit(1, 0), _unit(1, 0)]), [(0.0, "event", 3, "old"), (DAY, "event", 3, "new")]
    )
    assert [m.text for m in memory.retrieve_vector(_unit(1, 0), 2 * DAY, 2)] == ["new", "old"]


def test_equal_recency_more_relevant_first() -> None:
    memory = _stream()
    memory.extend(
        np.stack([_unit(0, 1), _unit(1, 0.1)]),
        [(DAY, "event", 3, "far"), (DAY, "event", 3, "near")],
    )
    assert [m.text for m in memory.retrieve_vector(_unit(1, 0), DAY, 2)] == ["near", "far"]


def test_importance_shifts_ranking_as_weighted() -> None:
    rows = [(DAY, "event", 1, "relevant but trivial"), (DAY, "event", 10, "less relevant, vital")]
    vectors = np.stack([_unit(1, 0), _unit(1, 1)])
    query = _unit(1, 0)
    plain = _stream(weights=RetrievalWeights(importance=0.0))
    plain.extend(vectors, rows)
    weighted = _stream(weights=RetrievalWeights(importance=1.0))
    weighted.extend(vectors, rows)
    assert plain.retrieve_vector(query, DAY, 1)[0].text == "relevant but trivial"
    assert weighted.retrieve_vector(query, DAY, 1)[0].text == "less relevant, vital"
    # the score is the weighted sum of the three parts, each in [0, 1]
    top = weighted.retrieve_vector(query, DAY, 2)
    cosine = float(_unit(1, 1) @ query)
    expected = (cosine + 1) / 2 + 1.0 + 1.0
    assert abs(next(m for m in top if m.importance == 10).score - expected) < 1e-6


def test_retrieval_is_deterministic_with_ties() -> None:
    memory = _stream()
    memory.extend(np.stack([_unit(1, 0)] * 6), [(0.0, "event", 3, f"m{i}") for i in range(6)])
    first = [m.id for m in memory.retrieve_vector(_unit(1, 0), DAY, 4)]
    assert first == [0, 1, 2, 3]  # ties broken by id
    assert first == [m.id for m in memory.retrieve_vector(_unit(1, 0), DAY, 4)]


def test_retrieval_candidates_cover_recent_and_important_memories() -> None:
    rng = np.random.default_rng(0)
    memory = AssociativeMemory(32, half_life=3600)
    vectors = rng.normal(size=(5000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = [(float(i), "event", float(rng.integers(1, 10)), f"m{i}") for i in range(5000)]
    memory.extend(vectors, rows)
    query = vectors[17]
    got = [m.id for m in memory.retrieve_vector(query, 5000.0, 10)]
    # brute force over everything gives the same top 10
    cosine = vectors @ query
    recency = 0.5 ** ((5000.0 - np.arange(5000)) / 3600)
    importance = np.array([r[2] for r in rows]) / 10
    score = (cosine + 1) / 2 + recency + importance
    assert got == list(np.lexsort((np.arange(5000), -score))[:10])


def test_capacity_forgets_the_lowest_scored() -> None:
    memory = _stream(capacity=3)
    memory.extend(
        np.stack([_unit(1, 0)] * 5),
        [
            (0.0, "event", 1, "old trivial"),
            (0.0, "event", 10, "old vital"),
            (DAY, "event", 1, "a"),
            (DAY, "event", 1, "b"),
            (DAY, "event", 1, "c"),
        ],
    )
    assert len(memory) == 3
    assert "old trivial" not in memory.texts and "old vital" in memory.texts


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, counting texts per call."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__(dim)
        self.batches: list[int] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(len(texts))
        return super().embed(texts)


def test_a_window_of_100_agents_costs_one_embedding_call() -> None:
    embedder = CountingEmbedder()
    bank = MemoryBank(embedder)
    for i in range(100):
        bank.add(f"agent{i}", f"agent {i} saw the well", 10.0, "event")
    rows = bank.flush()
    assert embedder.batches == [100]
    assert len(rows) == 100 and len(bank.streams) == 100

    async def recall_all() -> list[list[object]]:
        return await asyncio.gather(
            *(bank.recall(f"agent{i}", "the well", 20.0, 3) for i in range(100))
        )

    results = asyncio.run(recall_all())
    assert embedder.batches == [100, 100]  # all 100 queries in one more call
    assert all(len(r) == 1 for r in results)


def test_a_text_many_agents_perceive_is_embedded_once() -> None:
    embedder = CountingEmbedder()
    bank = MemoryBank(embedder)
    for i in range(50):  # one post reaches 50 followers; each also saw something of its own
        bank.add(f"f{i}", "Ada posted: the well is dry", 10.0, "event")
        bank.add(f"f{i}", f"follower {i} fed the goats", 10.0, "event")
    rows = bank.flush()
    assert embedder.batches == [51] and len(rows) == 100
    for i in (0, 17, 49):  # each memory kept its own text's vector
        assert bank.retrieve(f"f{i}", "is the well dry", 11.0, 1)[0].text.startswith("Ada")
        goats = bank.retrieve(f"f{i}", f"follower {i} fed the goats", 11.0, 1)[0]
        assert goats.text == f"follower {i} fed the goats"


def test_a_sealed_window_filed_late_gives_what_filing_at_once_gives() -> None:
    """The engine files a window's memories behind the next window's requests: an agent
    that recalls first has its own filed with its query's batch, the rest come later."""
    embedder = CountingEmbedder()
    late, now = MemoryBank(embedder), MemoryBank(HashingEmbedder(64))
    for bank in (late, now):
        for i in range(6):
            bank.add(f"a{i % 3}", f"memory {i} of a{i % 3}: the well", float(i), "event")
    rows_now = now.flush()
    filing = late.seal()
    late.add("a0", "Reflection: after the window", 9.0, "reflection")  # the next window's

    async def recall(bank: MemoryBank) -> list[object]:
        return await asyncio.gather(*(bank.recall(a, "the well", 10.0, 5) for a in ("a0", "a1")))

    assert asyncio.run(recall(late)) == asyncio.run(recall(now))
    assert embedder.batches == [4, 2]  # a0's and a1's memories, then the two queries
    assert late.file(filing) == rows_now  # a2's filed now; every row, by agent and id
    assert embedder.batches == [4, 2, 2]
    assert [m.text for m in late.retrieve("a2", "the well", 10.0, 5)] == [
        m.text for m in now.retrieve("a2", "the well", 10.0, 5)
    ]
    assert [row.text for row in late.flush()] == ["Reflection: after the window"]


def test_prefetched_queries_are_answered_as_recall_would_in_one_embedding_call() -> None:
    """A window's queries, answered at its start: the answers a later recall would give,
    every asker's sealed memories filed and every query embedded in one call each."""
    embedder = CountingEmbedder()
    early, plain = MemoryBank(embedder), MemoryBank(HashingEmbedder(64))
    for bank in (early, plain):
        for i in range(12):
            bank.add(f"a{i % 4}", f"memory {i} of a{i % 4}: the well is low", float(i), "event")
    plain.flush()
    filing = early.seal()
    queries = [(f"a{i}", f"is the well dry, asks a{i}", 20.0, 3) for i in range(3)]
    early.prefetch([*queries, ("nobody", "no memories", 20.0, 3), ("a3", "k is 0", 20.0, 0)])
    assert embedder.batches == [9, 3]  # a0-a2's nine memories, then their three queries

    async def recall(bank: MemoryBank) -> list[object]:
        return await asyncio.gather(*(bank.recall(*query) for query in queries))

    assert asyncio.run(recall(early)) == asyncio.run(recall(plain))
    assert embedder.batches == [9, 3]  # the recalls were answered from the prefetch
    asyncio.run(early.recall("a1", "another question", 20.0, 3))
    assert embedder.batches == [9, 3, 1]  # a query not prefetched is embedded as before
    early.file(filing)  # a3's three memories, filed behind the requests
    early.prefetch([])  # the next window: the previous answers are gone
    asyncio.run(recall(early))
    assert embedder.batches == [9, 3, 1, 3, 3]


def test_the_store_holds_every_filed_memory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bank = MemoryBank(HashingEmbedder(64))
    for i in range(20):
        bank.add(
            "ada", f"memory number {i} about {'bread' if i % 2 else 'water'}", float(i), "event"
        )
    store = RunStore(tmp_path, create=True)
    store.commit_window(
        index=0, t_start=0, t_end=20, activations=0, events=[], memories=bank.flush()
    )
    columns, rows = store.table("memories")
    stored = [dict(zip(columns, row, strict=True)) for row in rows]
    stream = bank.stream("ada")
    assert [(r["id"], r["t"], r["text"]) for r in stored] == list(
        zip(stream.ids, stream.times.tolist(), stream.texts, strict=True)
    )


def test_a_prompt_stays_bounded_with_10k_memories() -> None:
    bank = MemoryBank(HashingEmbedder(64))
    long_text = "a very long memory about the town, the well and the money " * 20
    for i in range(10_000):
        bank.add("ada", f"{i}: {long_text}", float(i), "event")
    bank.flush()
    prompts: list[Request] = []

    def record(request: Request) -> None:
        prompts.append(request)

    model = LanguageModel(ScriptedBackend(responder=record), ledger=Ledger())
    agent = Agent(
        Persona("ada", "A baker."),
        model=model,
        memory=bank,
        prompts=Prompts(),
        settings=AgentSettings(k=50, max_memory_chars=1200),
    )
    space = ActionSpace(
        (
            ActionOption("speak", "Say something.", {"message": ArgSpec("text")}),
            ActionOption("wait", "Do nothing."),
        )
    )
    decision = asyncio.run(
        agent.decide(Observation(10_001.0, "The square is busy."), space, seed=1)
    )
    assert decision.calls == 1 and decision.action.name in ("speak", "wait")
    assert len(decision.memories) == 50
    text = "".join(m.content for m in prompts[0].messages)
    assert len(text) < 2500  # about 600 tokens: far below a 2,048-token context
    try:
        from engine.models.local import LocalBackend

        tokens = LocalBackend().llama.tokenize(text.encode())
        assert len(tokens) < 2048 - 192
    except Exception as err:  # the local extra is optional for this bound
        assert "local" in str(err) or "llama" in str(err).lower()


def test_model_rated_importance_is_one_call_per_memory_and_recorded(
    scripted_town, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    from engine.scenario import load_scenario
    from engine.simulation import Simulation

    loaded = load_scenario(scripted_town, ["memory.importance=model"])
    result = Simulation(loaded, out=tmp_path / "run").run()
    db = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    ratings = db.execute(
        "SELECT COUNT(*) FROM model_calls WHERE purpose = 'importance'"
    ).fetchone()[0]
    memories = db.execute("SELECT COUNT(*) FROM memories").fetchone()[0]
    assert ratings == memories > 0
    values = {v for (v,) in db.execute("SELECT DISTINCT importance FROM memories")}
    assert values <= set(range(1, 11)) and len(values) > 1  # the model's integer ratings
    assert result.summary["decision_calls_per_action"] <= 2


def test_openai_embedder_batches_one_request_per_call() -> None:
    from agents.embedders import OpenAIEmbedder
    from benchmarks.fake_openai import FakeOpenAIServer

    with FakeOpenAIServer() as server:
        embedder = OpenAIEmbedder(model="fake-embed", base_url=server.base_url, api_key_env=None)
        bank = MemoryBank(embedder)
        for i in range(30):
            bank.add(f"agent{i}", f"the well is broken {i}", 1.0, "event")
        bank.flush()
        assert embedder.dim == 16
        assert server.counters.embedding_requests == 2  # the dimension probe, then one batch of 30
        assert bank.retrieve("agent3", "broken well", 2.0, 1)[0].text == "the well is broken 3"


def test_reflection_adds_one_condensed_memory_every_n_activations(scripted_town, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    from engine.scenario import load_scenario
    from engine.simulation import Simulation

    result = Simulation(
        load_scenario(scripted_town, ["memory.reflection_every=2"]), out=tmp_path / "run"
    ).run()
    db = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    reflections = db.execute("SELECT COUNT(*) FROM memories WHERE kind = 'reflection'").fetchone()[
        0
    ]
    calls = db.execute("SELECT COUNT(*) FROM model_calls WHERE purpose = 'reflect'").fetchone()[0]
    activations = db.execute("SELECT SUM(activations) FROM windows").fetchone()[0]
    assert reflections == calls > 0
    assert calls <= activations // 2 + 4  # one per two activations of each agent
    assert result.summary["decision_calls_per_action"] > 1


def test_an_event_a_crowd_perceives_is_remembered_by_at_most_max_perceivers(
    scripted_town,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    """Everyone in one place hears everything: memory must not grow as events x crowd."""
    import sqlite3

    from engine.scenario import load_scenario
    from engine.simulation import Simulation, rememberers
    from engine.types import Event

    crowd = Event(0.0, "speak", "a", None, {}, tuple("abcdefgh"), seq=7)
    kept = rememberers(crowd, 3)
    assert (
        kept[0] == "a" and len(kept) == 3 and kept == rememberers(crowd, 3)
    )  # actor first; stable
    loaded = load_scenario(scripted_town, ["memory.max_perceivers=2", "game.locations=[square]"])
    Simulation(loaded, out=tmp_path / "run").run()
    db = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    speeches = db.execute("SELECT COUNT(*) FROM events WHERE kind = 'speak'").fetchone()[0]
    heard = db.execute("SELECT COUNT(*) FROM memories WHERE text LIKE '%said at the%'").fetchone()[
        0
    ]
    assert speeches > 0 and heard <= 2 * speeches  # 4 agents share the square, 2 remember


def hashed_by_hand(text: str, dim: int) -> np.ndarray:
    """The hashing embedder's definition: every lower-case word and adjacent word pair,
    blake2b-hashed to a signed bucket, counted, then scaled to unit length."""
    words = re.findall(r"[a-z0-9']+", text.lower())
    counts = np.zeros(dim)
    for token in words + [a + " " + b for a, b in itertools.pairwise(words)]:
        digest = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "big")
        counts[digest % dim] += 1 if (digest >> 32) & 1 else -1
    norm = np.linalg.norm(counts)
    return counts / (norm or 1.0)


def test_the_hashing_embedder_counts_every_word_and_pair_across_lines_and_repeats() -> None:
    draw = random.Random(3)
    pieces = ["hello", "the", "Well", "post 7", "it's", "@user~3", "\n", "\n\n", " ", ".", "é"]
    texts = [
        "".join(
            draw.choice(pieces) + draw.choice([" ", "", "\n"]) for _ in range(draw.randrange(30))
        )
        for _ in range(400)
    ]
    texts += ["a\nb", "a b", "\n\nx\n", "", "repeated line\nrepeated line"]
    embedder = HashingEmbedder(64)
    first = np.vstack([embedder.embed(texts[i : i + 25]) for i in range(0, len(texts), 25)])
    again = embedder.embed(texts)  # every line now known: the same vectors, bit for bit
    assert first.tobytes() == again.tobytes()
    expected = np.array([hashed_by_hand(text, 64) for text in texts])
    assert np.abs(first - expected).max() < 1e-6  # float32 against float64 arithmetic
    assert np.array_equal(first[-5], first[-4])  # "a\nb" has the pair "a b", like "a b"
