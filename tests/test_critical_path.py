"""The window's critical path: requests leave early, one concurrency knob.

Counts only (benchmarks/scale.py measures the times).
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmarks.fake_openai import FakeOpenAIServer
from engine.models.scripted import ScriptedBackend
from engine.scenario import load_scenario
from engine.simulation import Simulation

ROOT = Path(__file__).resolve().parent.parent


def _recording(
    monkeypatch: pytest.MonkeyPatch,
    owner: object,
    name: str,
    log: list[Any],
    entry: Callable[..., object],
) -> None:
    """Wrap ``owner.name``: each call appends ``entry(*its arguments)`` to ``log``, then runs."""
    original = getattr(owner, name)

    def recorded(*args: Any, **kwargs: Any) -> Any:
        log.append(entry(*args))
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, recorded)


CROWD = """
name: crowd
seed: 4
duration: 30m
window: 1h
model: {model}
embedder: {{kind: hashing, dim: 32}}
memory: {{enabled: false}}
population:
  count: {count}
  activity: {{schedule: every, period: 1h}}
  personas: [{{name: u, description: someone}}]
game: {{type: social_media, null_samples: 0, bootstrap_samples: 0}}
"""


def test_model_max_concurrency_alone_puts_that_many_requests_in_flight(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    with FakeOpenAIServer(latency=0.5) as server:
        model = (
            f"{{backend: openai, base_url: '{server.base_url}', model: m, max_concurrency: 256}}"
        )
        loaded = load_scenario(write_scenario(CROWD.format(model=model, count=300)))
        assert loaded.scenario.max_concurrency is None and not loaded.notes
        result = Simulation(loaded, out=tmp_path / "run").run()
    assert result.summary["actions"] == 300  # one window of 300 decisions
    assert result.summary["peak_decisions_in_flight"] == 256
    assert server.counters.peak_in_flight == 256


def test_a_smaller_decision_bound_that_hides_the_models_is_a_validate_note(
    write_scenario: Callable[..., Path],
) -> None:
    model = "{backend: scripted, max_concurrency: 256}"
    text = CROWD.format(model=model, count=4).replace(
        "window: 1h", "window: 1h\nmax_concurrency: 64"
    )
    (note,) = load_scenario(write_scenario(text)).notes
    assert "scenario.yaml:5: note: max_concurrency: 64 caps decisions in flight" in note
    assert "at most 64 of model.max_concurrency: 256" in note


def test_the_first_request_leaves_before_the_last_prompt_of_the_window_is_built(
    write_scenario: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents.agent import Agent

    order: list[str] = []
    send = ScriptedBackend.complete

    async def complete(self: ScriptedBackend, request: object) -> object:
        # As if the request's bytes left only on the loop's next turn (aiohttp's did:
        # it wrote each request from a new task): "sent" once the loop has run.
        await asyncio.sleep(0)
        order.append("request")
        return await send(self, request)  # type: ignore[arg-type]

    _recording(monkeypatch, Agent, "messages", order, lambda *_: "prompt")
    monkeypatch.setattr(ScriptedBackend, "complete", complete)
    model = "{backend: scripted, max_concurrency: 256}"  # every decision may start at once
    loaded = load_scenario(write_scenario(CROWD.format(model=model, count=100)))
    Simulation(loaded, out=tmp_path / "run").run()
    assert order.count("prompt") == order.count("request") == 100  # one window, one call each
    last_prompt = len(order) - 1 - order[::-1].index("prompt")
    assert order.index("request") < last_prompt


def test_a_window_is_observed_whole_before_its_first_prompt_in_activation_order(
    write_scenario: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents.agent import Agent
    from gamemaster.social_media.platform import SocialMediaGameMaster

    order: list[str] = []
    _recording(
        monkeypatch, SocialMediaGameMaster, "observe", order, lambda _, a, *__: f"observe {a}"
    )
    _recording(monkeypatch, Agent, "messages", order, lambda agent, *_: f"prompt {agent.name}")
    model = "{backend: scripted, max_concurrency: 256}"
    loaded = load_scenario(write_scenario(CROWD.format(model=model, count=40)))
    simulation = Simulation(loaded, out=tmp_path / "run")
    windows: list[list[str]] = []
    run_window = simulation.kernel.run_window

    async def recorded(window: object, *args: object) -> object:
        windows.append([a.agent for a in window.activations])  # type: ignore[attr-defined]
        return await run_window(window, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(simulation.kernel, "run_window", recorded)
    simulation.run()
    (agents,) = windows  # one window of 40 turns
    assert order[:40] == [f"observe {agent}" for agent in agents]
    assert sorted(order[40:]) == sorted(f"prompt {agent}" for agent in agents)


def test_a_turns_options_are_built_once_for_its_decision_and_its_resolution(
    write_scenario: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gamemaster.social_media.platform import SocialMediaGameMaster

    built: list[tuple[object, ...]] = []
    _recording(monkeypatch, SocialMediaGameMaster, "_options", built, lambda _, *key: key)
    model = "{backend: scripted, max_concurrency: 256}"
    text = CROWD.format(model=model, count=40).replace("duration: 30m", "duration: 3h")
    result = Simulation(load_scenario(write_scenario(text)), out=tmp_path / "run").run()
    assert result.summary["actions"] == 120  # three windows, each agent once in each
    assert len(set(built)) > 40  # the views differ once there are posts to show
    assert len(built) == len(set(built))  # no turn's options were built a second time


def test_a_calls_request_hash_is_computed_when_its_window_is_written_not_on_its_reply(
    write_scenario: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.models.base import Request

    order: list[str] = []
    _recording(monkeypatch, Request, "key", order, lambda *_: "hash")
    _recording(monkeypatch, Simulation, "resolve", order, lambda *_: "resolve")
    with FakeOpenAIServer() as server:
        model = f"{{backend: openai, base_url: '{server.base_url}', model: m}}"
        loaded = load_scenario(write_scenario(CROWD.format(model=model, count=20)))
        result = Simulation(loaded, out=tmp_path / "run").run()
    assert result.summary["model_calls"] == 20  # one window
    assert order == ["resolve"] * 20 + ["hash"] * 20  # every reply was in before any hash


def test_the_http_clients_tls_set_up_happens_before_the_clock_starts(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    from engine.models.openai_backend import OpenAIBackend

    model = "{backend: openai, base_url: 'https://127.0.0.1:9/v1', model: m}"
    simulation = Simulation(
        load_scenario(write_scenario(CROWD.format(model=model, count=2))), out=tmp_path / "run"
    )
    backend = simulation.model.backend
    assert isinstance(backend, OpenAIBackend) and backend.tls is None
    simulation.prepare()  # what the CLI's loading stage runs
    assert backend.tls is not None  # the CA bundle is loaded: the first window does not pay


NO_IMPORTS_ON_THE_CLOCK = """
import sys
from engine.scenario import load_scenario
from engine.simulation import Simulation

simulation = Simulation(load_scenario(sys.argv[1]), out=sys.argv[2])
simulation.prepare()  # the CLI's loading stage
loaded = set(sys.modules)
seen = []

class Watch:
    def on_window(self, window, events):
        seen.append(sorted(set(sys.modules) - loaded))

simulation.kernel.add_observer(Watch())
simulation.run()
print(len(seen), seen[-1])
"""


def test_no_module_is_imported_once_the_clock_starts(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    # e.g. faiss (about 50 ms) in the first window, numpy.ma behind np.unique in a later one
    text = CROWD.format(model="{backend: scripted}", count=20).replace("30m", "3h")
    path = write_scenario(text.replace("memory: {enabled: false}", "memory: {k: 3}"))
    done = subprocess.run(
        [sys.executable, "-c", NO_IMPORTS_ON_THE_CLOCK, str(path), str(tmp_path / "run")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["3", "[]"]  # three windows, nothing imported in them


def test_a_windows_commit_is_written_while_the_next_windows_requests_are_out(
    write_scenario: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.store import RunStore as Store

    backends: list[ScriptedBackend] = []
    build, commit = ScriptedBackend.__init__, Store.commit_window
    written: list[tuple[int, int, int]] = []  # (window, requests sent so far, memory rows)

    def init(self: ScriptedBackend, **options: object) -> None:
        build(self, **options)  # type: ignore[arg-type]
        backends.append(self)

    def commit_window(self: Store, **fields: object) -> None:
        memories = fields.get("memories") or []
        written.append((fields["index"], backends[0].calls, len(memories)))  # type: ignore[arg-type]
        commit(self, **fields)  # type: ignore[arg-type]

    monkeypatch.setattr(ScriptedBackend, "__init__", init)
    monkeypatch.setattr(Store, "commit_window", commit_window)
    model = "{backend: scripted, delay: 0.05, max_concurrency: 64}"
    text = (
        CROWD.format(model=model, count=30)
        .replace("duration: 30m", "duration: 4h")
        .replace("memory: {enabled: false}", "memory: {k: 3}")
    )
    result = Simulation(load_scenario(write_scenario(text)), out=tmp_path / "run").run()
    assert result.summary["actions"] == 120  # 4 windows of 30 decisions, one call each
    windows = [w for w in written if w[0] < 4]
    assert [w[0] for w in windows] == [0, 1, 2, 3]  # each window once, in order
    # Windows 0-2 are written after all 30 requests of the next window were sent (and
    # before any reply: the model holds each 50 ms): off the path between two windows.
    assert [w[1] for w in windows[:3]] == [60, 90, 120]
    assert all(rows > 0 for _, _, rows in windows)  # with the memories filed for them
    stored = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    (count,) = stored.execute("SELECT count(*) FROM memories").fetchone()
    assert count == sum(rows for _, _, rows in written)


def test_the_collector_runs_rarely_during_a_run_and_as_before_after_it(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    import gc

    before = gc.get_threshold()
    model = "{backend: scripted}"
    simulation = Simulation(
        load_scenario(write_scenario(CROWD.format(model=model, count=3))), out=tmp_path / "run"
    )
    seen: list[tuple[int, ...]] = []

    class Watch:
        def on_window(self, window: object, events: object) -> None:
            seen.append(gc.get_threshold())

    simulation.kernel.add_observer(Watch())
    simulation.run()
    assert seen and all(t[0] == 100_000 for t in seen)  # every 100,000 allocations, not 700
    assert gc.get_threshold() == before


def test_blas_runs_on_one_thread_during_a_run_and_as_before_after_it(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = blas_threads()
    model = "{backend: scripted}"
    simulation = Simulation(
        load_scenario(write_scenario(CROWD.format(model=model, count=3))), out=tmp_path / "run"
    )
    seen: list[list[int]] = []

    class Watch:
        def on_window(self, window: object, events: object) -> None:
            seen.append(blas_threads())

    simulation.kernel.add_observer(Watch())
    simulation.run()
    assert seen and all(threads and set(threads) == {1} for threads in seen)
    assert blas_threads() == before


def test_a_windows_feeds_and_suggestions_are_ranked_in_one_batch(
    write_scenario: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gamemaster.social_media.platform import SocialMediaGameMaster

    ranked: list[tuple[str, int]] = []
    for name in ("_rank_similar", "_rank_paper"):
        _recording(
            monkeypatch,
            SocialMediaGameMaster,
            name,
            ranked,
            lambda _, agents, name=name: (name, len(agents)),
        )
    model = "{backend: scripted, max_concurrency: 256}"
    text = CROWD.format(model=model, count=40).replace("duration: 30m", "duration: 3h")
    result = Simulation(load_scenario(write_scenario(text)), out=tmp_path / "run").run()
    assert result.summary["actions"] == 120  # three windows, each agent once in each
    # once per window for all 40 agents; the first window has no post for a feed to rank
    paper, similar = ("_rank_paper", 40), ("_rank_similar", 40)
    assert ranked == [paper, similar, paper, similar, paper]


def test_a_window_that_fails_after_resolving_some_turns_counts_none_of_them(
    write_scenario: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.types import ModelError

    calls = 0

    def failing(request: object) -> str | None:
        nonlocal calls
        calls += 1
        if calls == 75:  # late in the second window of 40 turns
            raise ModelError("the server stayed down")
        return None  # the scripted reply

    original = ScriptedBackend.__init__

    def with_responder(self: ScriptedBackend, **options: object) -> None:
        original(self, **{**options, "responder": failing})  # type: ignore[arg-type]

    monkeypatch.setattr(ScriptedBackend, "__init__", with_responder)
    text = CROWD.format(model="{backend: scripted}", count=40).replace("30m", "3h")
    simulation = Simulation(load_scenario(write_scenario(text)), out=tmp_path / "run")
    resolved: list[str] = []
    _recording(monkeypatch, simulation.gm, "resolve", resolved, lambda agent, *_: agent)
    with pytest.raises(ModelError, match="stayed down"):
        simulation.run()
    assert len(resolved) > 40  # some turns of the failed window were resolved
    with sqlite3.connect(tmp_path / "run" / "run.sqlite") as db:
        (stored,) = db.execute("SELECT COUNT(*) FROM events").fetchone()
        (summary,) = db.execute("SELECT summary FROM run").fetchone()
    assert simulation.actions == 40 and simulation.kernel.seq == stored  # window 1 only
    assert '"actions": 40' in summary
