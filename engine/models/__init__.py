"""Language models: the ``model:`` block of a scenario becomes a ``LanguageModel``.

Backends: ``local`` (llama.cpp, the embedded default), ``openai`` (any
OpenAI-compatible server), ``scripted`` (a deterministic test double); ``replay:``
wraps any of them with a record/replay cache. Heavy imports happen inside the
backends, on first use.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from engine.models.base import Answer, Backend, Generation, Message, Request
from engine.models.language_model import LanguageModel, Ledger, Totals

__all__ = [
    "Answer",
    "Backend",
    "Generation",
    "LanguageModel",
    "Ledger",
    "Message",
    "Request",
    "Totals",
    "build_backend",
    "build_model",
]


def build_backend(config: Any, *, base_dir: Path, replay_dir: Path, seed: int = 0) -> Backend:
    """The backend a scenario's ``model:`` block describes (wrapped for replay if asked).

    A relative ``replay_path`` is relative to ``base_dir`` (the scenario's folder); the
    default cache is ``replay_dir/replay.sqlite``.
    """
    backend: Backend
    if config.backend == "scripted":
        from engine.models.scripted import ScriptedBackend

        backend = ScriptedBackend(
            model=config.model or "scripted",
            malformed_rate=config.malformed_rate,
            delay=config.delay,
            max_concurrency=config.max_concurrency,
        )
    elif config.backend == "openai":
        from engine.models.openai_backend import OpenAIBackend

        backend = OpenAIBackend(
            base_url=config.base_url,
            model=config.model,
            api_key_env=config.api_key_env,
            max_concurrency=config.max_concurrency,
            timeout=config.timeout,
            max_retries=config.max_retries,
            backoff=config.backoff,
            max_backoff=config.max_backoff,
            constrained=config.constrained,
            rng=random.Random(seed),
            max_reply_bytes=config.max_reply_bytes,
            max_retry_after=config.max_retry_after,
        )
    else:
        from engine.models.local import LocalBackend

        backend = LocalBackend(
            model_path=config.model_path,
            n_ctx=config.n_ctx,
            n_threads=config.n_threads,
            model=config.model,
        )
    if config.replay != "off":
        from engine.models.replay import ReplayBackend

        path = base_dir / config.replay_path if config.replay_path else replay_dir / "replay.sqlite"
        backend = ReplayBackend(backend, path, config.replay)
    return backend


def build_model(config: Any, *, base_dir: Path, replay_dir: Path, seed: int = 0) -> LanguageModel:
    """A ``LanguageModel`` for a scenario's ``model:`` block."""
    prices = config.prices
    ledger = Ledger(
        record_prompts=config.record_prompts,
        price_prompt=prices.prompt if prices else 0.0,
        price_completion=prices.completion if prices else 0.0,
    )
    return LanguageModel(
        build_backend(config, base_dir=base_dir, replay_dir=replay_dir, seed=seed),
        ledger=ledger,
        parse_retries=config.parse_retries,
        max_tokens=config.max_tokens,
        temperature=config.temperature,
    )
