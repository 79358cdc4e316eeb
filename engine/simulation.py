"""The composition root: a validated scenario becomes a wired, runnable simulation.

Data flows one way: the kernel batches activations into windows; per activation the
game master shows the world and the action space, the agent decides (one model call),
the game master interprets; then actions are resolved in activation order into events,
which go (in one transaction per window) to the store together with the window's model
calls and new memories; the perceivers' memories receive the events.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from engine.games import RunData, load_game
from engine.interventions import Runner
from engine.kernel import Activation, Every, Kernel, Poisson, Schedule, Window, WindowObserver
from engine.models import LanguageModel, build_model
from engine.rng import RunSeeds, derive, derive_many
from engine.scenario import LoadedScenario
from engine.store import STORE_FILE, FolderLock, RunStore
from engine.types import (
    Action,
    ActionSpace,
    Event,
    MemoryRow,
    ModelError,
    Observation,
    Persona,
    ScenarioError,
    SociumError,
    quote,
)


@dataclass(frozen=True, slots=True)
class Step:
    """One activation's decision, carried from the concurrent phase to resolution."""

    observation: Observation
    space: ActionSpace
    action: Action
    calls: int


@dataclass
class RunResult:
    """What ``Simulation.run`` reports."""

    folder: Path
    status: str
    summary: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)


def package_versions() -> dict[str, str]:
    """Versions of socium and the packages that shape its results."""
    versions = {"python": sys.version.split()[0]}
    for name in (
        "socium",
        "numpy",
        "simpy",
        "networkx",
        "pydantic",
        "openai",
        "llama-cpp-python",
        "sentence-transformers",
        "faiss-cpu",
        "torch",
    ):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


def new_run_folder(base: Path, scenario_name: str) -> Path:
    """``<base>/<scenario>-<UTC timestamp>`` (suffixed if taken)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = base / f"{scenario_name}-{stamp}"
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = base / f"{scenario_name}-{stamp}-{suffix}"
    return folder


class Simulation:
    """A scenario wired to kernel, game master, agents, model, memory and store.

    Parameters
    ----------
    loaded : LoadedScenario
        From :func:`engine.scenario.load_scenario`.
    seed : int, optional
        Overrides the scenario's seed.
    out : Path, optional
        The run folder (default: ``<output.dir>/<scenario>-<UTC timestamp>``).
    model : LanguageModel, optional
        Inject a model (tests); default: the scenario's ``model:`` block.
    """

    def __init__(
        self,
        loaded: LoadedScenario,
        *,
        seed: int | None = None,
        out: Path | None = None,
        overrides: Sequence[str] = (),
        model: LanguageModel | None = None,
        observers: Sequence[WindowObserver] = (),
        snapshot_every: int = 10,
        resume: bool = False,
        fork: Mapping[str, Any] | None = None,
        replies: Mapping[str, tuple[str, int, int, str | None]] | None = None,
    ) -> None:
        from agents.agent import Agent, AgentSettings
        from agents.embedders import build_embedder
        from agents.memory import MemoryBank
        from agents.prompts import Prompts

        scenario = loaded.scenario
        self.loaded = loaded
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.seeds = RunSeeds(self.seed)
        self.personas = list(loaded.personas)
        self.game = load_game(loaded.game_type)
        output_dir = Path(scenario.output.dir)
        if not output_dir.is_absolute():
            output_dir = Path.cwd() / output_dir
        self.folder = Path(out) if out else new_run_folder(output_dir, scenario.name)
        self.lock = FolderLock(self.folder)  # two processes never write one run folder
        if not resume and _holds_a_run(self.folder):
            self.lock.release()
            raise ScenarioError(f"{self.folder}: already holds a run; choose another --out")
        self.model = model or build_model(
            scenario.model,
            base_dir=loaded.base,
            replay_dir=output_dir,
            seed=self.seeds.integer("model"),
        )
        self.ledger = self.model.ledger
        self.embedder = build_embedder(scenario.embedder)  # loads its model on first use
        self.memory: MemoryBank | None = None
        self.memory_rng = self.seeds.generator("memory")
        if scenario.memory.enabled:
            self.memory = MemoryBank.from_config(scenario.memory, self.embedder)
        self.gm = self.game.game_master(
            loaded.game,
            model=self.model,
            rng=self.seeds.generator("game_master"),
            embedder=self.embedder,
        )
        self.gm.setup(self.personas)
        prompts = Prompts(scenario.prompts.model_dump(exclude_none=True))
        self.prompt_templates = dict(prompts.templates)
        settings = AgentSettings.from_config(scenario.memory)

        def make_agent(persona: Persona) -> Agent:
            return Agent(
                persona, model=self.model, memory=self.memory, prompts=prompts, settings=settings
            )

        self._make_agent = make_agent
        self.agents = {p.name: make_agent(p) for p in self.personas}
        self.new_agents: list[Persona] = []
        self.kernel: Kernel[Step] = Kernel(
            window=scenario.window,
            rng=self.seeds.generator("kernel"),
            max_concurrency=scenario.max_concurrency or scenario.model.max_concurrency,
            start=scenario.start,
        )
        self._schedule_agents()
        self.interventions = Runner(self, loaded.interventions)
        self.interventions.schedule()  # after the agents: their simpy order is unchanged
        self.committed = 0  # windows already in the store (resume: re-executed and verified)
        from engine.models.replay import StoredReplies

        if resume:
            self.store = RunStore(self.folder)
            self.committed = self.store.count("windows")
            self.store.reopen()
            stored = dict(replies or {})
            fork = self.store.meta("fork")
            if fork and Path(fork["parent"]).is_dir():  # a resumed fork: its parent's too
                from engine.fork import parent_replies

                stored.update(parent_replies(Path(fork["parent"]), fork["t"]))
            stored.update(self.store.replies())
            self.model.backend = StoredReplies(self.model.backend, stored)
        else:
            self.store = RunStore(self.folder, create=True)
            self._start_store(loaded, overrides)
            if fork is not None:
                self.store.set_meta("fork", dict(fork))
            if replies:  # a fork: the parent's replies to the same requests
                self.model.backend = StoredReplies(self.model.backend, dict(replies))
        self.snapshot_every = snapshot_every
        self.kernel.add_observer(_Committer(self))
        for observer in observers:
            self.kernel.add_observer(observer)
        self.actions = 0  # of whole windows (a failed window's resolutions are not counted)
        self.decision_calls = 0
        self._resolved = [0, 0]  # the current window's actions and decision calls so far
        self.stop_requested = False
        # By activation: its view, and the seeds of its decision and interpretation.
        self._views: dict[int, tuple[Observation, ActionSpace, int, int]] = {}

    def _start_store(self, loaded: LoadedScenario, overrides: Sequence[str]) -> None:
        scenario = loaded.scenario
        self.store.start_run(
            scenario_name=scenario.name,
            scenario_path=str(loaded.path),
            scenario_yaml=loaded.effective_yaml(),
            overrides=list(overrides),
            seed=self.seed,
            game=loaded.game_type,
            window=scenario.window,
            versions=package_versions(),
            agents=[(p.name, p.as_dict()) for p in self.personas],
        )
        self.store.set_meta("prompts", self.prompt_templates)
        self.store.set_meta("determinism", determinism(scenario))

    def _schedule_agents(self) -> None:
        for process in self.gm.processes():
            self.kernel.add_turns(process)
        activity = self.scenario.population.activity
        driver = self.gm.turns()
        if driver is not None:
            self.kernel.add_turns(driver)
            return
        rates = np.full(len(self.personas), activity.rate)
        if activity.rate_sigma > 0:
            draws = self.seeds.generator("population").lognormal(
                0.0, activity.rate_sigma, len(rates)
            )
            rates = activity.rate * draws / np.exp(activity.rate_sigma**2 / 2)  # mean stays `rate`
        for i, persona in enumerate(self.personas):
            self._schedule(persona, float(rates[i]))

    def _schedule(self, persona: Persona, rate: float) -> None:
        """Activate ``persona`` on the population's schedule (its own settings first)."""
        activity = self.scenario.population.activity
        schedule: Schedule
        if activity.schedule == "every":
            period = persona.activity.get("period", activity.period or 3600.0)
            schedule = Every(float(period), float(persona.activity.get("offset", 0.0)))
        else:
            rate = float(persona.activity.get("rate", rate)) * activity.scale
            profile = tuple(activity.profile) if activity.profile else None
            schedule = Poisson(rate, profile)
        self.kernel.add_agent(
            persona.name, schedule, self.seeds.generator("schedule", persona.name)
        )

    def add_agents(self, personas: Sequence[Persona], t: float) -> None:
        """Newcomers join at ``t`` (an ``add_agents`` intervention): the game, then schedules."""
        self.gm.add_agents(personas, t)
        for persona in personas:
            self.agents[persona.name] = self._make_agent(persona)
            self.new_agents.append(persona)
            if self.gm.turns() is None and self.scenario.population.activity.schedule != "turns":
                self._schedule(persona, self.scenario.population.activity.rate)

    def register_accounts(self, personas: Sequence[Persona]) -> None:
        """Accounts a game created (an injected post's author): stored, never activated."""
        self.new_agents += personas

    # -- the two callables the kernel drives ------------------------------------------------
    def observe(self, window: Window) -> None:
        """The game master's view for every turn of ``window``, in activation order.

        Called by the kernel before any of the window's decisions starts. Every view is of
        the world as at the window's start, and nothing changes it before resolution, so
        observing all of them first gives the views that observing each at its decision's
        start would, with the game's draws in the same order. Their memory queries are
        then answered in one batch: nothing a decision does reaches memory before the window
        is written. One pass keeps the data in the cache (RESULTS.md).
        """
        turns = [a for a in window.activations if "survey" not in a.context]  # not a question
        self.gm.prepare_views([a.agent for a in turns], window.start)
        views = [self._view(window, activation) for activation in turns]
        # Each turn's model-call seeds, derived together (the same values as one by one).
        drawn = [a.seed for a in turns]
        seeds = zip(derive_many(drawn, "decide"), derive_many(drawn, "interpret"), strict=True)
        self._views = {
            id(a): (*view, *pair) for a, view, pair in zip(turns, views, seeds, strict=True)
        }
        if self.memory is not None:  # their memory queries, answered in one batch too
            asked = (self.agents[a.agent].query(v[0]) for a, v in zip(turns, views, strict=True))
            self.memory.prefetch([query for query in asked if query is not None])

    def _view(self, window: Window, activation: Activation) -> tuple[Observation, ActionSpace]:
        agent = self.agents.get(activation.agent) or self._spawn(activation.agent)
        observation = self.gm.observe(agent.name, window.start, activation.context)
        space = self.gm.action_space(agent.name, window.start, activation.context)
        if not space.options:
            raise SociumError(
                f"the {self.game.name} game offered {agent.name} no action at t={activation.t:g}: "
                "an ActionSpace needs at least one option (e.g. a 'wait' option)"
            )
        return observation, space

    async def decide(self, window: Window, activation: Activation) -> Step:
        """Decide on the view :meth:`observe` took, then interpret. Runs concurrently.

        Model calls are seeded from the activation's seed, so the order in which the
        concurrent decisions run never matters.
        """
        agent = self.agents.get(activation.agent) or self._spawn(activation.agent)
        context = activation.context
        if "survey" in context:  # a question, not a turn: the game master is not involved
            answer = await agent.answer(
                str(context["survey"]),
                activation.t,
                seed=derive(activation.seed, "survey"),
                scale=context.get("scale"),
            )
            observation = Observation(activation.t, str(context["survey"]))
            args: dict[str, Any] = {"text": answer.text, "parse": answer.parse}
            if answer.rating is not None:
                args["rating"] = answer.rating
            action = Action("answer", args)
            return Step(observation, ActionSpace(()), action, 1)
        observation, space, decide_seed, interpret_seed = self._views.pop(id(activation))
        decision = await agent.decide(observation, space, seed=decide_seed)
        action = await self.gm.interpret(
            agent.name, decision.action, space, activation.t, context, seed=interpret_seed
        )
        return Step(observation, space, action, decision.calls)

    def _spawn(self, name: str) -> Any:
        """Create an agent the game master introduced (e.g. a new generation's newcomer)."""
        persona = self.gm.persona(name)
        agent = self._make_agent(persona)
        self.agents[name] = agent
        self.new_agents.append(persona)
        return agent

    def resolve(self, window: Window, activation: Activation, step: Step) -> list[Event]:
        """Apply one decided action, in activation order (a survey answer changes nothing)."""
        if "survey" in activation.context:
            payload = {"question": step.observation.text, **step.action.args}
            payload["answer"] = payload.pop("text")
            return [Event(activation.t, "survey", activation.agent, None, payload, ())]
        self._resolved[0] += 1
        self._resolved[1] += step.calls
        return self.gm.resolve(activation.agent, step.action, activation.t, activation.context)

    def count_window(self) -> None:
        """The window is whole: its resolved actions count (a failed window's never do)."""
        self.actions += self._resolved[0]
        self.decision_calls += self._resolved[1]
        self._resolved = [0, 0]

    # -- running ----------------------------------------------------------------------
    def prepare(self) -> None:
        """Load the models the run will use (weights, embedding model, faiss) before the clock.

        Idempotent; :meth:`run_async` calls it. The CLI calls it first to show a loading
        stage. A backend that loads nothing (scripted, an HTTP server) costs nothing here.
        """
        backend: Any = self.model.backend
        while backend is not None:
            warm = getattr(backend, "warm_up", None)
            if warm is not None:
                warm()
            backend = getattr(backend, "inner", None)
        if self.memory is not None:
            self.embedder.dim  # noqa: B018 (loads the embedding model)
            self.memory.load()

    def request_stop(self) -> None:
        """Stop after the current window (Ctrl-C)."""
        self.stop_requested = True

    async def run_async(self) -> RunResult:
        """Run to the scenario's duration (or a stop request); close the store."""
        asyncio.get_running_loop().set_exception_handler(_quiet_about_aborts)
        self.prepare()
        started = time.perf_counter()
        until = self.scenario.start + self.scenario.duration
        horizon = self.game.horizon(self.loaded.game)
        played = until if horizon is None else min(until, self.scenario.start + horizon)
        end = self.kernel.env.now
        aborted = False
        status = "failed"
        error: str | None = None
        stats: dict[str, Any] = {}
        stats_error: str | None = None
        stats_started: float | None = None
        try:
            with rare_collections(), one_blas_thread():
                finished = await self.kernel.run(
                    until,
                    self.decide,
                    self.resolve,
                    should_stop=lambda: self.stop_requested,
                    begin=self.observe,
                )
            status = "finished" if finished else "interrupted"
            end = played if finished else self.kernel.env.now  # a game's last turn, not the cap
            if finished:
                self._commit_final(end)
            stats_started = time.perf_counter()
            try:
                stats = self.write_statistics(end)
            except KeyboardInterrupt:  # the events are complete: resume computes the rest
                stats_error = "statistics interrupted (Ctrl-C); socium resume computes them"
                aborted = True
            except Exception as err:  # the run itself is complete and stored; say so
                stats_error = (
                    f"statistics failed ({type(err).__name__}: {err}); the events are intact"
                )
        except ModelError as err:
            error = str(err)
            raise
        finally:
            end = max(end, self.kernel.env.now) if status == "failed" else end
            summary = self.summary(time.perf_counter() - started, end)
            if stats_started is not None:
                summary["statistics_seconds"] = round(time.perf_counter() - stats_started, 3)
            if error:
                summary["error"] = error
            if stats_error:
                summary["statistics_error"] = stats_error
            self.store.finish(status, summary, sim_time=end)
            self.store.close()
            self.lock.release()
            await self.model.aclose()
            self._write_run_card()
        if aborted:
            raise KeyboardInterrupt
        return RunResult(self.folder, status, summary, stats)

    def run(self) -> RunResult:
        """Synchronous :meth:`run_async`."""
        return asyncio.run(self.run_async())

    def _write_run_card(self) -> None:
        """run_card.md/json from the closed store (a card failure never fails the run)."""
        try:
            from engine.analysis import load_run
            from engine.runcard import write_run_card

            write_run_card(load_run(self.folder))
        except Exception as err:
            (self.folder / "run_card.md").write_text(
                f"run card unavailable: {err}\n", encoding="utf-8"
            )

    def write_statistics(self, end: float) -> dict[str, Any]:
        """Compute the game's statistics from the STORED events, as at simulated time ``end``.

        Writes ``stats.json`` in the run folder and the ``stats`` table, and the game's
        exports (graph files).
        """
        data = RunData(
            self.store.events(),
            self.store.agents(),
            self.loaded.game,
            start=self.scenario.start,
            end=end,
            seed=self.seed,
            embed=self.embedder.embed,
            embedder=embedder_label(self.scenario.embedder),
        )
        stats = json.loads(json.dumps(self.game.statistics(data), default=str))
        text = json.dumps(stats, indent=2, default=str)
        (self.folder / "stats.json").write_text(text, encoding="utf-8")
        self.store.write_stats([(name, None, value) for name, value in stats.items()])
        self.game.exports(data, self.folder)
        return stats

    def _commit_final(self, until: float) -> None:
        if self.kernel.windows_done < self.committed:
            return  # the killed run had already stored its final window
        events = []
        for event in self.gm.finish(until):
            events.append(
                Event(
                    event.t,
                    event.kind,
                    event.actor,
                    event.target,
                    event.payload,
                    event.perceivers,
                    self.kernel.seq,
                )
            )
            self.kernel.seq += 1
        self.store.commit_window(
            index=self.kernel.windows_done,
            t_start=until,
            t_end=until,
            activations=0,
            events=events,
            calls=self.ledger.drain(),
            snapshot=self.gm.snapshot(),
            sim_time=until,
        )

    def summary(self, wall: float, end: float) -> dict[str, Any]:
        """Counts for the run summary (also stored in the run row); ``end``: the clock."""
        totals = self.ledger.totals
        actions = max(self.actions, 1)
        return {
            "seed": self.seed,
            "sim_time": end,
            "windows": self.kernel.windows_done,
            "actions": self.actions,
            "events": self.kernel.seq,
            "model_calls": totals.calls,
            "model_calls_per_action": round(totals.calls / actions, 3),
            "decision_calls_per_action": round(self.decision_calls / actions, 3),
            "prompt_tokens": totals.prompt_tokens,
            "completion_tokens": totals.completion_tokens,
            "retries": totals.retries,
            "malformed_replies": totals.malformed,
            "repaired": totals.repaired,
            "fallbacks": totals.fallbacks,
            "fallback_share": round(totals.fallbacks / actions, 4) if self.actions else 0.0,
            "cached_replies": totals.cached,
            "cost": round(totals.cost, 6),
            "peak_decisions_in_flight": self.kernel.peak_in_flight,
            "model_idle_seconds": round(self.model.idle_seconds, 3),
            "wall_seconds": round(wall, 3),
            "game": self.gm.metrics(),
        }


def _quiet_about_aborts(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The loop's error report, except for tasks a Ctrl-C abort left holding its interrupt.

    A second Ctrl-C raises ``KeyboardInterrupt`` inside whichever task is running; asyncio
    would print that task's "exception was never retrieved" traceback after the CLI's
    "aborted" message. The abort is reported once, by the CLI.
    """
    if not isinstance(context.get("exception"), KeyboardInterrupt):
        loop.default_exception_handler(context)


@contextmanager
def rare_collections(threshold: int = 100_000) -> Iterator[None]:
    """Run the cyclic garbage collector every ``threshold`` net allocations, not 700.

    A run allocates millions of short-lived containers (prompts, requests, replies,
    events) that reference counting frees at once; with Python's default threshold the
    collector still ran about 600 times in a one-day, 1,000-agent run, each older-
    generation pass traversing every live object of the world: about 8 ms per 1h window,
    on the window's critical path (benchmarks/RESULTS.md). Cycles are still collected.
    The previous thresholds are restored on exit.
    """
    previous = gc.get_threshold()
    gc.set_threshold(threshold, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS (numpy's, faiss's) on one thread while windows run; as before on exit.

    A window's matrix products are small (a feed ranks a few hundred posts, a memory
    stream holds a few hundred vectors), above OpenBLAS's threading thresholds but far
    too small to gain from a second thread; and on a machine that also runs the model
    server, that thread waits for a core the server holds. Measured at 1,000 agents with
    a 200 ms server on 2 cores: parallelism ratio 0.81-0.82 with two BLAS threads,
    0.82-0.83 with one (benchmarks/RESULTS.md). Embedding models (torch) keep their own
    threads.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield


class _Committer:
    """Window observer that routes perceptions to memory and commits the window.

    What the next window's decisions read is done at once: the memories are queued and
    sealed, the world snapshot taken, the model-call ledger's calls taken. The store commit,
    with the memory filing and call numbering it carries, is written behind
    (``Kernel.write_behind``): while the next window waits on its model calls. A killed
    run therefore still leaves whole windows (the last one or two are re-run on resume).
    """

    def __init__(self, simulation: Simulation) -> None:
        self.sim = simulation

    async def on_window(self, window: Window, events: Sequence[Event]) -> None:
        sim = self.sim
        sim.count_window()
        memory = sim.memory
        file_memories: Callable[[], list[MemoryRow]] = list  # the window's rows, once filed
        if memory is not None:
            cap = sim.scenario.memory.max_perceivers
            for event in events:
                for agent in rememberers(event, cap):
                    text = (
                        f"News: {quote(str(event.payload.get('text', '')))}"
                        if event.kind == "broadcast"
                        else sim.gm.narrate(event, agent)
                    )
                    if text:
                        kind = "action" if agent == event.actor else "event"
                        if event.kind == "invalid_action":
                            kind = "invalid_action"
                        memory.add(agent, text, event.t, kind)
            if sim.scenario.memory.importance == "model":
                await memory.rate_pending(sim.model, sim.memory_rng)
            file_memories = functools.partial(memory.file, memory.seal())
        snapshot = sim.gm.snapshot() if (window.index + 1) % sim.snapshot_every == 0 else None
        new_agents, sim.new_agents = sim.new_agents, []
        calls = sim.ledger.take()  # numbered when written
        if window.index < sim.committed:  # resume: this window is stored; check, do not write
            sim.ledger.number(calls)
            file_memories()
            sim.store.verify_window(window.index, events)
            return

        def commit() -> None:
            sim.store.commit_window(
                index=window.index,
                agents=[(p.name, p.as_dict()) for p in new_agents],
                t_start=window.start,
                t_end=window.end,
                activations=len(window.activations),
                events=events,
                calls=sim.ledger.number(calls),
                memories=file_memories(),
                snapshot=snapshot,
            )

        sim.kernel.write_behind(commit)


def finish_statistics(folder: Path) -> dict[str, Any]:
    """Compute and store the statistics of a finished run whose statistics were cut short."""
    from engine.analysis import load_run

    run = load_run(folder)
    data = run.data()
    stats = json.loads(json.dumps(run.plugin.statistics(data), default=str))
    (folder / "stats.json").write_text(json.dumps(stats, indent=2, default=str), encoding="utf-8")
    store = RunStore(folder)
    store.write_stats([(name, None, value) for name, value in stats.items()])
    summary = {k: v for k, v in (run.info.get("summary") or {}).items() if k != "statistics_error"}
    store.finish("finished", summary)
    store.close()
    run.plugin.exports(data, folder)
    return stats


def determinism(scenario: Any) -> dict[str, Any]:
    """What the event log depends on beyond the seed and the model's replies (run card)."""
    embedder = scenario.embedder
    record: dict[str, Any] = {
        "seed_streams": "named (engine/rng.py); model calls seeded per activation",
        "embedder": embedder_label(embedder),
        "similarity_rounding": "scores rounded to 1e-6 before ranking, ties by order",
    }
    if embedder.kind in ("minilm", "sentence-transformers"):
        record["embedder_threads"] = embedder.threads
        record["torch"] = package_versions().get("torch", "?")
    return record


def statistics_embedder(block: Mapping[str, Any]) -> tuple[Any, str]:
    """The embedder of a stored scenario's ``embedder:`` block, for statistics of texts.

    Returns ``(embed, label)``; ``embed`` builds the embedder on its first call, so a
    game whose statistics embed nothing never loads a model.
    """
    from engine.scenario import EmbedderConfig

    config = EmbedderConfig.model_validate(block or {})
    built: list[Any] = []

    def embed(texts: Sequence[str]) -> Any:
        if not built:
            from agents.embedders import build_embedder

            built.append(build_embedder(config))
        return built[0].embed(texts)

    return embed, embedder_label(config)


def _holds_a_run(folder: Path) -> bool:
    """A store with a run header (a shell killed before its header holds nothing: reuse it)."""
    path = folder / STORE_FILE
    if not path.exists():
        return False
    try:
        store = RunStore(folder, read_only=True)
        store.run_info()
        store.close()
    except SociumError as err:
        if "run header is missing" in str(err) or "schema version None" in str(err):
            for suffix in ("", "-wal", "-shm"):
                (folder / f"{STORE_FILE}{suffix}").unlink(missing_ok=True)
            return False
        return True
    return True


def embedder_label(config: Any) -> str:
    """What an embedder block computes, for statistics labels."""
    if config.kind == "hashing":
        return f"hashing (lexical, {config.dim}-d)"
    name = config.name or "all-MiniLM-L6-v2"
    return f"{config.kind}:{name} (semantic)"


def rememberers(event: Event, cap: int) -> tuple[str, ...]:
    """The perceivers who file ``event`` into memory, at most ``cap``.

    All of them, or the actor and target and a deterministic share of the rest (by a hash
    of the event and the name) up to ``cap``.
    """
    if len(event.perceivers) <= cap:
        return event.perceivers
    first = [a for a in (event.actor, event.target) if a is not None and a in event.perceivers]
    rest = sorted(
        (a for a in event.perceivers if a not in first),
        key=lambda a: hashlib.blake2b(f"{event.seq}:{a}".encode(), digest_size=8).digest(),
    )
    return tuple(first + rest[: max(0, cap - len(first))])
