"""The discrete-event kernel: simulated time, activation schedules and decision windows.

Agents' activation schedules (and game-master turn drivers) are simpy processes. The
kernel steps simpy through one *decision window* at a time: every activation in
``[t0, t0 + window)`` (``window == 0``: only the instant ``t0``) joins one batch. The
batch's decisions run concurrently through an async callable, bounded by
``max_concurrency``, after an optional ``begin`` callable has seen the whole batch (the
simulation observes the world for all of them there, in one pass); their actions are
resolved one at a time in activation-time order, ties broken by the run's seed, never
by which decision finished first. Without ``begin`` a decision may observe the world at
its start, so resolution waits for the whole batch; with it, the views are taken, and
each action is resolved as soon as it and every action before it are decided, while
later replies are still coming in. The events go to the observers, in registration
order, once per window.

Work that the next window's decisions do not depend on (the store commit of window k,
and the memory filing it carries) is handed to :meth:`Kernel.write_behind`: it runs
while window k+1's requests are out and the event loop would otherwise idle, so it is
off the critical path between two windows; it still runs in window order, before window
k+1's observers, and before a failure or the end of the run propagates.

The kernel knows nothing of agents, game masters, models or stores: it schedules
callables and hands events on.
"""

from __future__ import annotations

import asyncio
import bisect
import inspect
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import simpy

from engine.types import Event

T = TypeVar("T")
HOUR = 3600.0
LAUNCH_CHUNK = 32  # decisions started per event-loop turn (their memory queries share a batch)


@dataclass(frozen=True, slots=True)
class Activation:
    """One agent due to decide at simulated time ``t``; ``context`` comes from its scheduler.

    ``seed`` is drawn from the kernel's stream in (time, agent) order when the window is
    formed: every model call made for this activation is seeded from it, whatever order
    the concurrent decisions happen to run in.
    """

    t: float
    agent: str
    order: float = 0.0
    context: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0


@dataclass(frozen=True, slots=True)
class Window:
    """A batch of activations that observe the world as it stood at ``start``."""

    index: int
    start: float
    end: float
    activations: tuple[Activation, ...]


class Schedule(Protocol):
    """When an agent is next due: an absolute simulated time after ``now``."""

    def next_time(self, now: float, rng: np.random.Generator, *, first: bool = False) -> float:
        """The next activation time after ``now`` (``first``: at or after ``now``)."""
        ...


@dataclass(frozen=True, slots=True)
class Poisson:
    """Poisson activations at ``rate`` per simulated hour, optionally shaped by hour of day.

    ``profile`` holds 24 non-negative multipliers (hour 0..23 of each simulated day);
    the process is sampled exactly by thinning against the profile's maximum.
    """

    rate: float
    profile: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise ValueError("a Poisson rate cannot be negative")
        if self.profile is not None and (
            len(self.profile) != 24 or min(self.profile) < 0 or max(self.profile) <= 0
        ):
            raise ValueError("an hourly profile has 24 non-negative values, not all 0")

    def next_time(self, now: float, rng: np.random.Generator, *, first: bool = False) -> float:
        """Next event time by thinning a homogeneous process at the peak rate."""
        if self.rate == 0:
            return math.inf
        peak = max(self.profile) if self.profile else 1.0
        t = now
        while True:
            t += rng.exponential(HOUR / (self.rate * peak))
            if self.profile is None:
                return t
            hour = int(t // HOUR) % 24
            if rng.random() * peak < self.profile[hour]:
                return t


@dataclass(frozen=True, slots=True)
class Every:
    """Fixed-period activations, the first at ``offset``."""

    period: float
    offset: float = 0.0

    def __post_init__(self) -> None:
        if self.period <= 0:
            raise ValueError("a period must be positive")

    def next_time(self, now: float, rng: np.random.Generator, *, first: bool = False) -> float:
        """The next ``offset + k * period`` after ``now`` (at or after it when ``first``)."""
        if now <= self.offset:
            return self.offset if (first or now < self.offset) else self.offset + self.period
        steps = (now - self.offset) / self.period
        k = math.ceil(steps) if first else math.floor(steps) + 1
        return self.offset + k * self.period


class WindowObserver(Protocol):
    """Receives every committed window with its events (store, network layer, progress)."""

    def on_window(self, window: Window, events: Sequence[Event]) -> Awaitable[None] | None:
        """Called once per window, after all its actions are resolved (may be async)."""
        ...


Decide = Callable[[Window, Activation], Awaitable[T]]
Begin = Callable[[Window], None]
Resolve = Callable[[Window, Activation, T], Sequence[Event]]
TurnDriver = Callable[["Kernel"], Generator[simpy.Event, Any, None]]
Probe = Callable[[], Sequence[tuple[str, Mapping[str, Any]]]]


class Kernel(Generic[T]):
    """Advances simulated time window by window; see the module docstring.

    Parameters
    ----------
    window : float
        Decision window in simulated seconds (0: same instant only).
    rng : numpy.random.Generator
        The kernel's stream; breaks ties between activations at the same time.
    max_concurrency : int
        Bound on decisions in flight at once.
    """

    def __init__(
        self,
        *,
        window: float,
        rng: np.random.Generator,
        max_concurrency: int = 64,
        start: float = 0.0,
    ) -> None:
        if window < 0:
            raise ValueError("the decision window cannot be negative")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.window = float(window)
        self.rng = rng
        self.max_concurrency = max_concurrency
        self.env = simpy.Environment(initial_time=start)
        self.observers: list[WindowObserver] = []
        self.seq = 0
        self.windows_done = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self._due: list[tuple[float, str, Mapping[str, Any]]] = []
        self.barriers: list[float] = []  # times no window spans (interventions)
        self.removed: set[str] = set()  # agents no longer activated
        self._emitted: list[Event] = []
        self._probes: list[tuple[float, Probe]] = []  # (t, take), by time then registration
        self._behind: list[Callable[[], None]] = []  # write-behind jobs, oldest first

    # -- scheduling -------------------------------------------------------------------
    def add_agent(self, agent: str, schedule: Schedule, rng: np.random.Generator) -> None:
        """Activate ``agent`` on ``schedule``, drawing its times from ``rng``."""

        def life() -> Generator[simpy.Event, Any, None]:
            first = True
            while True:
                at = schedule.next_time(self.env.now, rng, first=first)
                first = False
                if math.isinf(at):
                    return
                yield self.env.timeout(at - self.env.now)
                self.activate(agent)

        self.env.process(life())

    def add_turns(self, driver: TurnDriver) -> None:
        """Run a game master's turn driver.

        The driver is a generator that yields simpy timeouts (``kernel.env.timeout(d)``)
        and calls :meth:`activate` for whoever's turn it is.
        """
        self.env.process(driver(self))

    def activate(self, agent: str, context: Mapping[str, Any] | None = None) -> None:
        """Make ``agent`` due now (called from schedules and turn drivers).

        A ``context`` with a ``seed`` brings the activation's seed with it (it then draws
        nothing from the kernel's stream, and goes first among activations at its time).
        """
        self._due.append((self.env.now, agent, context or {}))

    def add_barrier(self, t: float) -> None:
        """Never let a window span ``t``: what happens at ``t`` starts a window."""
        bisect.insort(self.barriers, float(t))

    def add_probe(self, t: float, take: Probe) -> None:
        """At ``t``, ``take()``'s activations join the window that covers ``t``.

        A probe (a survey) never moves a window's bounds: its activations join the
        window whose span covers ``t``, or, when no window does (nobody acts then), a
        window of their own, of zero length at ``t``. Each brings its own ``seed`` in its
        context, so it draws nothing from the kernel's stream either: the run around a
        probe is the run without it.
        """
        bisect.insort(self._probes, (float(t), take), key=lambda probe: probe[0])

    def remove_agent(self, agent: str) -> None:
        """Stop activating ``agent`` (its schedule runs on; its activations are dropped)."""
        self.removed.add(agent)

    def emit(self, event: Event) -> None:
        """Record an event a turn driver produced (committed first in the next window)."""
        self._emitted.append(event)

    def write_behind(self, job: Callable[[], None]) -> None:
        """Run ``job`` while the next window's decisions wait on their model calls.

        For work the next window's decisions do not read (an observer's store commit).
        Jobs run in the order given, each once: when the event loop first falls idle in
        the next window (every decision waiting on its reply), and in any case before
        that window's observers, before a failed window's error propagates, and before
        :meth:`run` returns.
        """
        self._behind.append(job)

    def _catch_up(self) -> None:
        """Run every write-behind job still waiting, in order."""
        while self._behind:
            self._behind.pop(0)()

    async def _catch_up_when_idle(self) -> None:
        await _idle()
        self._catch_up()

    def add_observer(self, observer: WindowObserver) -> None:
        """Hand every window's events to ``observer`` (called in registration order)."""
        self.observers.append(observer)

    # -- running ----------------------------------------------------------------------
    def next_window(self, until: float) -> Window | None:
        """Step simpy through the next window and return its batch (None: run is over)."""
        env = self.env
        start = end = env.now
        while not self._due and not self._emitted:
            upcoming = env.peek()
            if self._probes and self._probes[0][0] < min(upcoming, until):
                start = end = self._probes[0][0]  # a probe while nobody acts: its own window
                break
            start = upcoming
            if start >= until:
                return None
            end = start + self.window
            cut = bisect.bisect_right(self.barriers, start)
            if cut < len(self.barriers):  # a window never spans an intervention's time
                end = min(end, self.barriers[cut])
            while env.peek() < until and (
                env.peek() < end or (self.window == 0 and env.peek() == start)
            ):
                env.step()
        while self._probes and (self._probes[0][0] < end or self._probes[0][0] <= start):
            t, take = self._probes.pop(0)
            self._due += [(t, agent, context) for agent, context in take()]
        due, self._due = self._due, []
        due = [item for item in due if item[1] not in self.removed]
        # Order by time, then by a seeded draw; drawn in (time, agent) order so the
        # result never depends on the order simpy happened to process the processes. One
        # (order, seed) pair per activation, in that order: the draws of the activations
        # before a time never depend on how many come after it in the window (a fork cut
        # at that time reproduces them). Activations that carry their own seed (a survey)
        # draw nothing: they never shift anyone else's.
        due.sort(key=lambda item: (item[0], item[1]))
        drawing = [item for item in due if "seed" not in item[2]]
        pairs = iter(self.rng.integers(0, 2**31 - 1, size=(len(drawing), 2)).tolist())
        activations = []
        for t, agent, context in due:
            if "seed" in context:
                activations.append(Activation(t, agent, -1.0, context, int(context["seed"])))
            else:
                order, seed = next(pairs)
                activations.append(Activation(t, agent, float(order), context, seed))
        activations.sort(key=lambda a: (a.t, a.order))
        return Window(self.windows_done, start, min(end, until), tuple(activations))

    async def run_window(
        self, window: Window, decide: Decide[T], resolve: Resolve[T], begin: Begin | None = None
    ) -> list[Event]:
        """Begin, decide concurrently, resolve in order, stamp sequence numbers, notify observers.

        ``begin(window)``, if given, runs before any of the window's decisions starts and
        takes their views: a decision then never reads the world, and each is resolved as
        soon as it and every decision before it are in. Without ``begin``, resolution waits
        for the whole window. On a failure nothing of the window is numbered or observed.
        """
        if begin is not None:
            begin(window)
        semaphore = asyncio.Semaphore(self.max_concurrency)

        async def bounded(activation: Activation) -> T:
            async with semaphore:
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                try:
                    return await decide(window, activation)
                finally:
                    self.in_flight -= 1

        tasks: list[asyncio.Future[T]] = []
        behind = asyncio.ensure_future(self._catch_up_when_idle()) if self._behind else None
        first_seq, emitted = self.seq, list[Event]()
        try:
            for number, activation in enumerate(window.activations, start=1):
                tasks.append(asyncio.ensure_future(bounded(activation)))
                if number % LAUNCH_CHUNK == 0 and number < len(window.activations):
                    # Let the loop run before starting more: the first decisions' requests
                    # leave while later prompts are built. Each decision's synchronous
                    # start (its observation) still runs in activation order.
                    await asyncio.sleep(0)
            if begin is None:
                await asyncio.gather(*tasks)
            emitted, self._emitted = self._emitted, []
            events = [self._numbered(event) for event in emitted]
            async for activation, decision in _in_order(window.activations, tasks):
                for event in resolve(window, activation, decision):
                    events.append(self._numbered(event))
            if behind is not None:
                await behind
        except BaseException:
            # One decision failed (a server past its retry budget): stop the others now
            # rather than let them retry against it while the run shuts down; the
            # windows before this one are still written whole.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if behind is not None:
                behind.cancel()
                await asyncio.gather(behind, return_exceptions=True)
            self._catch_up()
            self.seq, self._emitted = first_seq, emitted + self._emitted  # as it was
            raise
        for observer in self.observers:
            result = observer.on_window(window, events)
            if inspect.isawaitable(result):  # e.g. memory importance rated by the model
                await result
        self.windows_done += 1
        return events

    def _numbered(self, e: Event) -> Event:
        """``e`` with the next sequence number (built directly: the kernel's hot path)."""
        self.seq += 1
        return Event(e.t, e.kind, e.actor, e.target, e.payload, e.perceivers, self.seq - 1)

    async def run(
        self,
        until: float,
        decide: Decide[T],
        resolve: Resolve[T],
        should_stop: Callable[[], bool] = lambda: False,
        begin: Begin | None = None,
    ) -> bool:
        """Run windows until simulated time ``until``; False if stopped early."""
        try:
            while True:
                if should_stop():
                    return False
                window = self.next_window(until)
                if window is None:
                    return True
                await self.run_window(window, decide, resolve, begin)
        finally:
            self._catch_up()


async def _in_order(
    activations: Sequence[Activation], tasks: Sequence[asyncio.Future[T]]
) -> AsyncIterator[tuple[Activation, T]]:
    """Each decision with its activation, in activation order, once it and those before are in.

    The first failure (in time, as with ``asyncio.gather``) raises at once.
    """
    arrived = asyncio.Event()
    failures: list[BaseException] = []

    def done(task: asyncio.Future[T]) -> None:
        if not task.cancelled() and task.exception() is not None:
            failures.append(task.exception())  # type: ignore[arg-type]
        arrived.set()

    for task in tasks:
        task.add_done_callback(done)
    for activation, task in zip(activations, tasks, strict=True):
        while not task.done():
            if failures:
                raise failures[0]
            arrived.clear()
            await arrived.wait()
        yield activation, task.result()


async def _idle(turns: int = 10_000) -> None:
    """Return once nothing else on the event loop is ready to run (or after ``turns`` turns).

    Reads asyncio's run queue (``loop._ready``, stable since Python 3.4); on a loop
    without one it yields a fixed 64 turns, enough for a window's requests to leave.
    """
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)
    for _ in range(turns if ready is not None else 64):
        await asyncio.sleep(0)
        if ready is not None and not ready:
            return
