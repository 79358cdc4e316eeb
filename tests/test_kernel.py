"""Kernel: schedules, decision windows, concurrency bound, ordering by seed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import pytest

from engine.kernel import Activation, Every, Kernel, Poisson, Window
from engine.simtime import format_time, parse_duration
from engine.types import Event


def test_durations_have_units() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("30m") == 1800
    assert parse_duration("2h") == 7200
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration(0) == 0
    assert format_time(86400 + 3661) == "1d+01:01:01"
    for bad in ("ten minutes", "-5s", "5x", True):
        with pytest.raises(ValueError):
            parse_duration(bad)  # type: ignore[arg-type]


def test_every_schedule_is_periodic() -> None:
    schedule = Every(600, offset=60)
    rng = np.random.default_rng(0)
    times = [0.0]
    for _ in range(4):
        times.append(schedule.next_time(times[-1], rng))
    assert times[1:] == [60, 660, 1260, 1860]


def test_poisson_rate_and_hourly_profile() -> None:
    rng = np.random.default_rng(1)
    profile = tuple([0.0] * 12 + [1.0] * 12)  # active only in the afternoon
    schedule = Poisson(rate=6, profile=profile)
    t, times = 0.0, []
    while t < 50 * 86400:
        t = schedule.next_time(t, rng)
        times.append(t)
    hours = (np.array(times) // 3600) % 24
    assert (hours >= 12).all()
    per_day = len(times) / 50
    assert 6 * 12 * 0.85 < per_day < 6 * 12 * 1.15  # 72 expected per day
    with pytest.raises(ValueError):
        Poisson(rate=1, profile=(1.0,) * 23)


class _Counter:
    """A world whose only state is a counter every action increments."""

    def __init__(self) -> None:
        self.count = 0
        self.seen: list[tuple[int, float, int]] = []  # (window, t, count seen)
        self.in_flight = 0
        self.peak = 0

    async def decide(self, window: Window, activation: Activation) -> int:
        seen = self.count  # observed before any action of this window is resolved
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        self.seen.append((window.index, activation.t, seen))
        return seen

    def resolve(self, window: Window, activation: Activation, seen: int) -> Sequence[Event]:
        self.count += 1
        return [Event(activation.t, "tick", activation.agent, payload={"seen": seen})]


def _kernel(window: float, bound: int = 8, seed: int = 0) -> Kernel[int]:
    return Kernel(window=window, rng=np.random.default_rng(seed), max_concurrency=bound)


def test_fifty_agents_in_one_window_reach_the_concurrency_bound() -> None:
    kernel = _kernel(window=600, bound=8)
    world = _Counter()
    for i in range(50):
        kernel.add_agent(f"a{i:02d}", Every(3600, offset=10 + i), np.random.default_rng(i))
    asyncio.run(kernel.run(3000, world.decide, world.resolve))
    assert kernel.windows_done == 1
    assert world.peak == 8  # counted, never exceeded
    assert kernel.peak_in_flight == 8


def test_later_activations_in_a_window_do_not_see_earlier_actions() -> None:
    kernel = _kernel(window=600)
    world = _Counter()
    for i in range(10):
        # a-agents due in [0, 600), b-agents in [600, 1200): two windows
        kernel.add_agent(f"a{i}", Every(7200, offset=i * 50), np.random.default_rng(i))
        kernel.add_agent(f"b{i}", Every(7200, offset=600 + i * 50), np.random.default_rng(100 + i))
    events: list[Event] = []

    class Sink:
        def on_window(self, window: Window, batch: Sequence[Event]) -> None:
            events.extend(batch)

    kernel.add_observer(Sink())
    asyncio.run(kernel.run(1200, world.decide, world.resolve))
    assert kernel.windows_done == 2
    first = [e for e in events if e.actor.startswith("a")]
    second = [e for e in events if e.actor.startswith("b")]
    assert [e.payload["seen"] for e in first] == [0] * 10
    assert [e.payload["seen"] for e in second] == [10] * 10
    # resolved in activation-time order, each event keeps its own time; seq is global
    assert [e.t for e in events] == sorted(e.t for e in events)
    assert [e.seq for e in events] == list(range(20))


def test_a_failed_decision_stops_the_rest_of_its_window() -> None:
    kernel = _kernel(window=600, bound=4)
    for i in range(12):
        kernel.add_agent(f"a{i:02d}", Every(3600, offset=10 + i), np.random.default_rng(i))
    started: list[str] = []
    cancelled: list[str] = []

    async def decide(window: Window, activation: Activation) -> int:
        started.append(activation.agent)
        if activation.agent == "a00":
            raise RuntimeError("the server stayed down")
        try:
            await asyncio.sleep(3600)  # a decision still retrying against the dead server
        except asyncio.CancelledError:
            cancelled.append(activation.agent)
            raise
        return 0

    async def go() -> None:
        before = asyncio.all_tasks()
        with pytest.raises(RuntimeError, match="stayed down"):
            await kernel.run(3000, decide, _Counter().resolve)
        assert asyncio.all_tasks() == before  # no decision is left running

    asyncio.run(asyncio.wait_for(go(), 10))
    assert kernel.windows_done == 0
    assert sorted(cancelled) == sorted(a for a in started if a != "a00")
    assert len(started) < 12  # the queued ones never started


def test_zero_window_batches_only_the_same_instant() -> None:
    kernel = _kernel(window=0)
    world = _Counter()
    for i in range(6):
        kernel.add_agent(f"x{i}", Every(100, offset=(i % 2) * 10), np.random.default_rng(i))
    asyncio.run(kernel.run(100, world.decide, world.resolve))
    assert kernel.windows_done == 2  # t=0 (3 agents) and t=10 (3 agents)
    assert [s for _, _, s in sorted(world.seen)] == [0, 0, 0, 3, 3, 3]


def test_ties_are_broken_by_the_seed_not_by_completion_order() -> None:
    def order(seed: int) -> list[str]:
        kernel = _kernel(window=0, seed=seed)
        world = _Counter()
        for i in range(12):
            kernel.add_agent(f"t{i:02d}", Every(1000, offset=5), np.random.default_rng(i))
        events: list[Event] = []

        class Sink:
            def on_window(self, window: Window, batch: Sequence[Event]) -> None:
                events.extend(batch)

        kernel.add_observer(Sink())
        asyncio.run(kernel.run(10, world.decide, world.resolve))
        return [e.actor for e in events]

    assert order(1) == order(1)
    assert order(1) != order(2)
    assert sorted(order(1)) == [f"t{i:02d}" for i in range(12)]


def test_with_the_views_taken_first_each_action_is_resolved_as_its_reply_comes_in() -> None:
    kernel = _kernel(window=600, bound=8)
    for i in range(6):
        kernel.add_agent(f"a{i}", Every(3600, offset=10 + i), np.random.default_rng(i))
    first_resolved = asyncio.Event()
    resolved: list[str] = []
    viewed: list[str] = []

    async def decide(window: Window, activation: Activation) -> int:
        if activation is not window.activations[0]:
            await first_resolved.wait()  # never set if resolution waited for the window
        return 0

    def resolve(window: Window, activation: Activation, decision: int) -> Sequence[Event]:
        resolved.append(activation.agent)
        first_resolved.set()
        return [Event(activation.t, "tick", activation.agent)]

    def begin(window: Window) -> None:
        viewed.extend(a.agent for a in window.activations)

    asyncio.run(asyncio.wait_for(kernel.run(3000, decide, resolve, begin=begin), 10))
    assert resolved == viewed == [f"a{i}" for i in range(6)]  # still in activation order
    assert kernel.seq == 6


def test_a_failed_window_numbers_nothing_even_after_resolving_its_first_turns() -> None:
    kernel = _kernel(window=600, bound=8)
    for i in range(4):
        kernel.add_agent(f"a{i}", Every(3600, offset=10 + i), np.random.default_rng(i))
    resolved: list[str] = []

    async def decide(window: Window, activation: Activation) -> int:
        if activation.agent == "a3":
            await asyncio.sleep(0.05)  # after the others are resolved
            raise RuntimeError("the server stayed down")
        return 0

    def resolve(window: Window, activation: Activation, decision: int) -> Sequence[Event]:
        resolved.append(activation.agent)
        return [Event(activation.t, "tick", activation.agent)]

    with pytest.raises(RuntimeError, match="stayed down"):
        asyncio.run(kernel.run(3000, decide, resolve, begin=lambda window: None))
    assert resolved == ["a0", "a1", "a2"]
    assert kernel.seq == 0 and kernel.windows_done == 0
