"""Hostile model servers: odd replies are text or counted malformed; waits are capped; keys redacted."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.fake_openai import HOSTILE, FakeOpenAIServer
from engine.models import LanguageModel, Ledger
from engine.models.openai_backend import OpenAIBackend
from engine.scenario import load_scenario
from engine.simulation import Simulation
from engine.types import ModelError

TOWN = """
name: hostile_town
seed: 3
duration: 6h
window: 30m
model: {{backend: openai, base_url: "{url}", model: fake-model, max_concurrency: 4, parse_retries: 2, backoff: 0.01, max_retries: 3}}
embedder: {{kind: hashing, dim: 32}}
memory: {{k: 3}}
population:
  activity: {{schedule: poisson, rate: 2}}
  personas: [{{name: Ada}}, {{name: Bo}}, {{name: Cy}}, {{name: Di}}]
game: {{type: narrative, locations: [square, well], project: {{name: the fund, cost: 30}}}}
"""


def _choose(
    server: FakeOpenAIServer, faults: list[str], **options: object
) -> tuple[object, Ledger]:
    async def go() -> tuple[object, Ledger]:
        backend = OpenAIBackend(
            base_url=server.base_url, model="fake-model", backoff=0.01, **options
        )  # type: ignore[arg-type]
        model = LanguageModel(backend, ledger=Ledger(), parse_retries=1)
        server.faults.extend(faults)
        try:
            return await model.choose("pick", ["x", "y"], fallback="y"), model.ledger
        finally:
            await model.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("fault", HOSTILE)
def test_each_hostile_reply_is_text_or_a_counted_malformed_reply(fault: str) -> None:
    with FakeOpenAIServer() as server:
        answer, ledger = _choose(server, [fault])
    rows = ledger.drain()
    if fault in ("multipart", "infinite_usage", "huge_usage", "negative_usage", "huge_model"):
        assert answer.outcome == "ok" and len(rows) == 1  # type: ignore[attr-defined]
        assert 0 <= rows[0].prompt_tokens < 10**9 and 0 <= rows[0].completion_tokens < 10**9
        assert rows[0].model is not None and len(rows[0].model) <= 200
    else:  # numeric or nested content, nested or huge body: malformed, re-asked, then fine
        assert [r.outcome for r in rows] == ["malformed", "ok"], [r.error for r in rows]
        assert rows[0].error and len(rows[0].reply or "") <= 200_000


def test_a_run_against_a_hostile_server_finishes_with_a_bounded_store(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    with FakeOpenAIServer(fault_rates=dict.fromkeys(HOSTILE, 0.4 / len(HOSTILE)), seed=5) as server:
        path = write_scenario(TOWN.format(url=server.base_url))
        result = Simulation(load_scenario(path), out=tmp_path / "run").run()
        faults = dict(server.counters.faults)
    assert result.status == "finished"
    assert sum(faults.values()) >= 10 and set(faults) >= {"huge_body", "nested_body", "numeric"}
    db = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    outcomes = dict(
        db.execute("SELECT outcome, COUNT(*) FROM model_calls GROUP BY outcome").fetchall()
    )
    assert outcomes.get("malformed", 0) + outcomes.get("fallback", 0) > 0
    assert (
        db.execute("SELECT MAX(prompt_tokens), MIN(prompt_tokens) FROM model_calls").fetchone()[1]
        >= 0
    )
    assert (tmp_path / "run" / "run.sqlite").stat().st_size < 20_000_000  # no 8 MB body stored


@pytest.mark.parametrize("retry_after", ["86400", "inf", "nan", "1e308"])
def test_retry_after_is_capped_and_counts_as_an_attempt(
    retry_after: str, sleeps: list[float]
) -> None:
    with FakeOpenAIServer(retry_after=retry_after) as server:
        answer, _ = _choose(server, ["429", "429"], max_retry_after=60.0)
    assert sleeps == [60.0, 60.0] and answer.outcome == "ok"  # type: ignore[attr-defined]
    with (
        FakeOpenAIServer(retry_after=retry_after) as server,
        pytest.raises(ModelError, match="after 2 attempts"),
    ):
        _choose(server, ["429"] * 5, max_retries=1, max_retry_after=5.0)


def test_an_echoed_api_key_is_redacted_everywhere(
    write_scenario: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-SENTINEL-0123456789abcdef"
    monkeypatch.setenv("HOSTILE_KEY", key)
    with FakeOpenAIServer(echo_authorization=True) as server:
        server.faults.append("401")
        text = TOWN.format(url=server.base_url).replace(
            "model: fake-model,", "model: fake-model, api_key_env: HOSTILE_KEY,"
        )
        path = write_scenario(text)
        with pytest.raises(ModelError) as caught:
            Simulation(load_scenario(path), out=tmp_path / "run").run()
    assert "[redacted]" in str(caught.value) and key not in str(caught.value)
    for file in (tmp_path / "run").iterdir():
        assert key.encode() not in file.read_bytes(), file.name
    summary = json.loads(
        sqlite3.connect(tmp_path / "run" / "run.sqlite")
        .execute("SELECT summary FROM run")
        .fetchone()[0]
    )
    assert key not in json.dumps(summary) and os.environ["HOSTILE_KEY"] == key
