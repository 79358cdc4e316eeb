"""The generative agent: a persona plus associative memory, deciding in one model call.

``decide`` builds one prompt (persona, the top-k memories relevant to the observation,
the observation, the allowed actions) and makes ONE constrained model call whose answer
is an action of the action space. The prompt stays within a character budget however
many memories the agent holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.memory import Memory, MemoryBank, Query
from agents.prompts import Prompts
from engine.models import LanguageModel, Message
from engine.rng import derive
from engine.simtime import format_time
from engine.types import Action, ActionSpace, Observation, Persona, quote

QUERY_CHARS = 400


def survey_schema(scale: tuple[int, int] | None = None) -> dict[str, Any]:
    """A survey reply: the answer, then (on a scale) a whole-number rating within it."""
    properties: dict[str, Any] = {"answer": {"type": "string", "maxLength": 2000}}
    if scale is not None:
        properties["rating"] = {"type": "integer", "minimum": scale[0], "maximum": scale[1]}
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def survey_format(scale: tuple[int, int] | None = None) -> str:
    """The reply format a survey prompt asks for (its ``$format``)."""
    if scale is None:
        return 'Reply with JSON like {"answer": "<your answer>"}.'
    return (
        'Reply with JSON like {"answer": "<your answer>", "rating": <a whole number from '
        f"{scale[0]} to {scale[1]}>}}."
    )


@dataclass(frozen=True, slots=True)
class Answer:
    """A survey answer and how its reply parsed (ok, repaired, fallback)."""

    text: str
    parse: str
    rating: int | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """An agent's action with what it cost."""

    action: Action
    calls: int
    memories: tuple[Memory, ...] = ()


@dataclass
class AgentSettings:
    """Per-run agent options (from the scenario's ``memory:`` block)."""

    k: int = 5
    max_memory_chars: int = 1200
    reflection_every: int | None = None
    fallback_action: str | None = None

    @classmethod
    def from_config(cls, memory: Any) -> AgentSettings:
        """The settings a scenario's ``memory:`` section gives (k is 0 with memory off)."""
        return cls(
            k=memory.k if memory.enabled else 0,
            max_memory_chars=memory.max_memory_chars,
            reflection_every=memory.reflection_every,
        )


class Agent:
    """One simulated person."""

    def __init__(
        self,
        persona: Persona,
        *,
        model: LanguageModel,
        memory: MemoryBank | None,
        prompts: Prompts,
        settings: AgentSettings | None = None,
    ) -> None:
        self.persona = persona
        self.name = persona.name
        self.model = model
        self.memory = memory
        self.prompts = prompts
        self.settings = settings or AgentSettings()
        self.activations = 0
        self._persona = persona.render()  # the same in every prompt (a Persona is frozen)
        self._system = Message("system", prompts.render("system", persona=self._persona))

    async def decide(self, observation: Observation, space: ActionSpace, *, seed: int) -> Decision:
        """Choose an action of ``space`` for ``observation`` (one model call, seeded ``seed``)."""
        self.activations += 1
        query = self.query(observation)
        memories = [] if query is None else await self.recall(query[1], query[2])
        messages = self.messages(observation, space, memories)
        fallback_name = self.settings.fallback_action or space.names[-1]
        answer = await self.model.json(
            messages,
            space.json_schema(),
            fallback={"action": fallback_name},
            seed=seed,
            agent=self.name,
            t=observation.t,
            purpose="decide",
        )
        value = dict(answer.value)
        name = str(value.pop("action", fallback_name))
        action = Action(name, value, answer.text, answer.outcome)  # type: ignore[arg-type]
        calls = answer.calls
        if (
            self.settings.reflection_every
            and self.activations % self.settings.reflection_every == 0
        ):
            calls += await self.reflect(observation.t, seed=derive(seed, "reflect"))
        return Decision(action, calls, tuple(memories))

    async def answer(
        self, question: str, t: float, *, seed: int, scale: tuple[int, int] | None = None
    ) -> Answer:
        """Answer a survey ``question`` from the memories as of ``t`` (one model call).

        On a ``scale`` (low, high) the reply also carries a whole-number rating in range
        (kept there by the constrained output; a fallback has none). Nothing is remembered
        of it: a survey measures, it does not change the agent.
        """
        memories = await self.recall(question[:QUERY_CHARS], t)
        user = self.prompts.render(
            "survey",
            persona=self._persona,
            memories=self.remembered(memories),
            question=quote(question),
            time=format_time(t),
            format=survey_format(scale),
        )
        reply = await self.model.json(
            [self._system, Message("user", user)],
            survey_schema(scale),
            fallback={"answer": ""},
            seed=seed,
            agent=self.name,
            t=t,
            purpose="survey",
        )
        rating = reply.value.get("rating") if reply.outcome != "fallback" else None
        return Answer(
            str(reply.value.get("answer", ""))[:2000],
            reply.outcome,
            rating if isinstance(rating, int) and not isinstance(rating, bool) else None,
        )

    def query(self, observation: Observation) -> Query | None:
        """The memory query a decision on ``observation`` makes (None: it makes none).

        The start of the observation: what is most salient, and a bounded cost (MiniLM
        reads 256 tokens at most anyway). The simulation prefetches a window's queries.
        """
        if self.memory is None or self.settings.k <= 0:
            return None
        return (self.name, observation.text[:QUERY_CHARS], observation.t, self.settings.k)

    async def recall(self, query: str, t: float) -> list[Memory]:
        """The top-k memories for ``query`` (batched with the window's other queries)."""
        if self.memory is None or self.settings.k <= 0:
            return []
        return await self.memory.recall(self.name, query, t, self.settings.k)

    def messages(
        self, observation: Observation, space: ActionSpace, memories: list[Memory]
    ) -> list[Message]:
        """The prompt: system (persona first) and user (memories, observation, actions)."""
        user = self.prompts.render(
            "decide",
            persona=self._persona,
            memories=self.remembered(memories),
            observation=observation.text,
            actions=space.describe(),
            time=format_time(observation.t),
        )
        return [self._system, Message("user", user)]

    def remembered(self, memories: list[Memory]) -> str:
        """The prompts' ``$memories``: "What you remember:", the lines, a blank line (or '')."""
        if not memories:
            return ""
        return f"What you remember:\n{self.render_memories(memories)}\n\n"

    def render_memories(self, memories: list[Memory]) -> str:
        """Memories newest first, cut to the character budget."""
        lines: list[str] = []
        used = 0
        for memory in sorted(memories, key=lambda m: (-m.t, m.id)):
            line = f"- [{format_time(memory.t)}] {memory.text}"
            if used + len(line) > self.settings.max_memory_chars:
                room = self.settings.max_memory_chars - used
                if room > 40:
                    lines.append(line[: room - 3] + "...")
                break
            lines.append(line)
            used += len(line) + 1
        return "\n".join(lines) or "- (nothing yet)"

    async def reflect(self, t: float, *, seed: int) -> int:
        """Condense recent memories into one higher-level memory (one model call)."""
        if self.memory is None:
            return 0
        memories = await self.recall("what matters most to me right now", t)
        prompt = self.prompts.render(
            "reflect", persona=self._persona, memories=self.render_memories(memories)
        )
        generation = await self.model.generate(
            prompt, seed=seed, max_tokens=96, agent=self.name, t=t, purpose="reflect"
        )
        text = generation.text.strip()
        if text:
            self.memory.add(self.name, f"Reflection: {text[:400]}", t, "reflection")
        return 1
