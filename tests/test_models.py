"""Model layer: parsing, structured helpers, retries and faults, concurrency, replay."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.fake_openai import FakeOpenAIServer
from engine.models import LanguageModel, Ledger
from engine.models.base import Request
from engine.models.openai_backend import OpenAIBackend, request_body
from engine.models.parsing import ParseError, choice_schema, number_schema, parse
from engine.models.scripted import ScriptedBackend
from engine.scenario import load_scenario
from engine.simulation import Simulation
from engine.types import ModelError
from tests.conftest import stored_events


def test_parse_exact_and_repaired() -> None:
    schema = choice_schema(["speak", "wait"])
    assert parse('{"answer": "wait"}', schema) == ({"answer": "wait"}, "ok")
    assert parse('Sure! {"answer": "speak"} is my pick', schema) == (
        {"answer": "speak"},
        "repaired",
    )
    assert parse("I will wait.", schema) == ({"answer": "wait"}, "repaired")
    with pytest.raises(ParseError):
        parse("either speak or wait", schema)  # ambiguous: both mentioned
    numbers = number_schema(0, 10)
    assert parse("Justification: fair.\nAnswer: 4.5", numbers) == ({"answer": 4.5}, "repaired")
    with pytest.raises(ParseError):
        parse('{"answer": 11}', numbers)  # out of range is not repaired by clamping


def _model(backend: object, retries: int = 2) -> LanguageModel:
    return LanguageModel(backend, ledger=Ledger(), parse_retries=retries)  # type: ignore[arg-type]


def test_scripted_backend_honours_contracts_and_is_deterministic() -> None:
    async def go() -> tuple[object, ...]:
        model = _model(ScriptedBackend())
        choice = await model.choose("pick", ["a", "b", "c"], seed=1)
        number = await model.number("how many", 2, 5, seed=1)
        again = await model.number("how many", 2, 5, seed=1)
        return choice.value, number.value, again.value, model.ledger.totals.calls

    choice, number, again, calls = asyncio.run(go())
    assert choice in ("a", "b", "c")
    assert 2 <= number <= 5 and number == again  # type: ignore[operator]
    assert calls == 3


def test_malformed_replies_are_reasked_then_fall_back() -> None:
    replies = iter(["nonsense", '{"answer": "b"}', "junk", "junk", "junk"])
    backend = ScriptedBackend(responder=lambda request: next(replies))

    async def go() -> tuple[object, ...]:
        model = _model(backend, retries=2)
        first = await model.choose("pick", ["a", "b"])
        second = await model.choose("pick", ["a", "b"], fallback="a")
        return first, second, model.ledger.drain()

    first, second, rows = asyncio.run(go())
    assert (first.value, first.outcome, first.calls) == ("b", "ok", 2)  # type: ignore[attr-defined]
    assert (second.value, second.outcome, second.calls) == ("a", "fallback", 3)  # type: ignore[attr-defined]
    assert sorted(r.outcome for r in rows) == [
        "fallback",
        "malformed",
        "malformed",
        "malformed",
        "ok",
    ]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(retry_after=1.5) as running:
        yield running


def _backend(server: FakeOpenAIServer, **options: object) -> OpenAIBackend:
    settings = {"max_retries": 4, "backoff": 0.01, "timeout": 5.0}
    settings.update(options)
    return OpenAIBackend(base_url=server.base_url, model="fake-model", **settings)  # type: ignore[arg-type]


def _generate(backend: OpenAIBackend) -> object:
    async def go() -> object:
        try:
            return await _model(backend).generate("hello")
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_429_is_retried_after_the_stated_delay(
    server: FakeOpenAIServer, sleeps: list[float]
) -> None:
    server.faults.extend(["429", "429"])
    generation = _generate(_backend(server))
    assert generation.retries == 2  # type: ignore[attr-defined]
    assert sleeps == [1.5, 1.5]
    assert server.counters.requests == 3


def test_500_and_connection_resets_are_retried(
    server: FakeOpenAIServer, sleeps: list[float]
) -> None:
    server.faults.extend(["500", "reset", "truncated"])
    generation = _generate(_backend(server))
    assert generation.retries == 3  # type: ignore[attr-defined]
    assert generation.text.startswith("A plain reply")  # type: ignore[attr-defined]
    assert len(sleeps) == 3 and all(0 <= s <= 0.08 for s in sleeps)  # backoff with jitter


def test_a_hang_past_the_timeout_is_retried(server: FakeOpenAIServer, sleeps: list[float]) -> None:
    server.faults.append("hang")
    generation = _generate(_backend(server, timeout=0.5))
    assert generation.retries == 1  # type: ignore[attr-defined]
    assert server.counters.faults == {"hang": 1}


def test_garbage_output_is_repaired_or_recorded_as_fallback(server: FakeOpenAIServer) -> None:
    async def go() -> tuple[object, object, Ledger]:
        model = _model(_backend(server), retries=1)
        server.faults.append("garbage")
        repaired = await model.choose("pick", ["x", "y"])
        server.faults.extend(["garbage", "garbage"])
        fallback = await model.choose("pick", ["x", "y"], fallback="y")
        await model.aclose()
        return repaired, fallback, model.ledger

    repaired, fallback, ledger = asyncio.run(go())
    assert repaired.outcome == "ok" and repaired.calls == 2  # type: ignore[attr-defined]
    assert (fallback.value, fallback.outcome) == ("y", "fallback")  # type: ignore[attr-defined]
    assert ledger.totals.fallbacks == 1 and ledger.totals.malformed == 3


def test_a_server_that_stays_down_raises_a_clear_model_error(sleeps: list[float]) -> None:
    server = FakeOpenAIServer().start()
    server.stop()  # nothing listens on the port now
    backend = _backend(server, max_retries=3)
    with pytest.raises(ModelError, match=r"no usable reply after 4 attempts.*server looks down"):
        _generate(backend)
    assert len(sleeps) == 3


def test_a_rejected_api_key_stops_at_once_with_the_server_message(
    server: FakeOpenAIServer, sleeps: list[float]
) -> None:
    server.faults.append("401")
    with pytest.raises(ModelError, match=r"HTTP 401 .*Incorrect API key provided.*api_key_env"):
        _generate(_backend(server))
    assert server.counters.requests == 1 and sleeps == []  # a 4xx is not retried


def test_constraint_forms_are_probed_once_per_server() -> None:
    with FakeOpenAIServer(styles=("guided",)) as vllm_like:
        backend = _backend(vllm_like)

        async def go() -> tuple[object, object]:
            model = _model(backend)
            first = await model.choose("pick", ["red", "blue"])
            second = await model.number("how many", 1, 9)
            await backend.aclose()
            return first, second

        first, second = asyncio.run(go())
        assert first.value in ("red", "blue") and first.outcome == "ok"  # type: ignore[attr-defined]
        assert 1 <= second.value <= 9  # type: ignore[attr-defined]
        assert backend.endpoints[0].style == "guided"
        # response_format and json_object were refused once, then guided_json is used directly
        assert vllm_like.counters.requests == 3 + 1


@pytest.mark.parametrize("bypass", [False, True])
def test_requests_go_through_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch, bypass: bool
) -> None:
    with FakeOpenAIServer() as target, FakeOpenAIServer() as proxy:
        for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        if bypass:
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        _generate(_backend(target))
        # The fake server answers proxied (absolute-form) requests itself, like a proxy would forward.
        assert (target.counters.requests, proxy.counters.requests) == ((1, 0) if bypass else (0, 1))


def test_peak_concurrency_reaches_max_concurrency() -> None:
    with FakeOpenAIServer(latency=0.2) as server:
        backend = _backend(server, max_concurrency=64)

        async def go() -> None:
            model = _model(backend)
            await asyncio.gather(*(model.generate(f"request {i}") for i in range(256)))
            await backend.aclose()

        asyncio.run(go())
        assert server.counters.requests == 256
        assert server.counters.peak_in_flight >= 60


def test_least_outstanding_routing_spreads_requests() -> None:
    with FakeOpenAIServer(latency=0.05) as one, FakeOpenAIServer(latency=0.05) as two:
        backend = OpenAIBackend(
            base_url=[one.base_url, two.base_url], model="m", max_concurrency=16
        )

        async def go() -> None:
            model = _model(backend)
            await asyncio.gather(*(model.generate(f"r{i}") for i in range(64)))
            await backend.aclose()

        asyncio.run(go())
        assert one.counters.requests + two.counters.requests == 64
        assert abs(one.counters.requests - two.counters.requests) <= 8


OPENAI_TOWN = """
name: replay_town
seed: 5
duration: 4h
window: 1h
model: {{backend: openai, base_url: "{url}", model: fake-model, replay: {mode}, replay_path: cache.sqlite,
         max_retries: 1, backoff: 0.01}}
embedder: {{kind: hashing, dim: 32}}
population:
  activity: {{schedule: poisson, rate: 2}}
  personas: [{{name: Ada}}, {{name: Bo}}, {{name: Cy}}]
game: {{type: narrative, locations: [square, well], project: {{cost: 10}}}}
"""


def test_record_then_replay_offline_gives_identical_events(tmp_path: Path, write_scenario) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAIServer() as server:
        url = server.base_url
        recorded_path = write_scenario(OPENAI_TOWN.format(url=url, mode="record"), "record.yaml")
        recorded = Simulation(load_scenario(recorded_path), out=tmp_path / "recorded").run()
        requests = server.counters.requests
    assert recorded.status == "finished" and requests > 5
    replay_path = write_scenario(OPENAI_TOWN.format(url=url, mode="replay"), "replay.yaml")
    replayed = Simulation(
        load_scenario(replay_path), out=tmp_path / "replayed"
    ).run()  # server is gone
    assert replayed.summary["cached_replies"] == replayed.summary["model_calls"] > 5
    assert stored_events(tmp_path / "recorded") == stored_events(tmp_path / "replayed")


def test_a_replay_miss_names_the_request(tmp_path: Path, write_scenario) -> None:  # type: ignore[no-untyped-def]
    path = write_scenario(OPENAI_TOWN.format(url="http://127.0.0.1:9/v1", mode="replay"))
    with pytest.raises(ModelError, match="has no reply for request"):
        Simulation(load_scenario(path), out=tmp_path / "run").run()
    db = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    status, summary = db.execute("SELECT status, summary FROM run").fetchone()
    assert status == "failed" and "has no reply for request" in summary


def test_a_dead_server_stops_the_run_cleanly(
    tmp_path: Path, write_scenario, sleeps: list[float]
) -> None:  # type: ignore[no-untyped-def]
    path = write_scenario(OPENAI_TOWN.format(url="http://127.0.0.1:9/v1", mode="off"))
    with pytest.raises(ModelError, match="server looks down"):
        Simulation(load_scenario(path), out=tmp_path / "run").run()
    db = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT status FROM run").fetchone()[0] == "failed"


def test_request_key_is_stable_and_sensitive() -> None:
    from engine.models.base import Message

    base = Request((Message("user", "hi"),), seed=1)
    assert base.key("openai", "m") == Request((Message("user", "hi"),), seed=1).key("openai", "m")
    assert base.key("openai", "m") != Request((Message("user", "hi"),), seed=2).key("openai", "m")
    assert base.key("openai", "m") != base.key("openai", "other")


def test_a_request_body_is_its_arguments_as_json_with_long_text_limits_dropped() -> None:
    schema = {
        "type": "object",
        "properties": {
            "short": {"type": "string", "maxLength": 280},
            "long": {"maxLength": 4000, "type": "string"},
        },
    }
    arguments = {
        "model": "m",
        "messages": [{"role": "user", "content": 'caf\u00e9 "quoted" \\ maxLength": 5000, \n'}],
        "seed": 7,
        "temperature": 0.7,
        "response_format": {"type": "json_schema", "json_schema": {"schema": schema}},
    }
    sent = json.loads(request_body(arguments))
    assert sent["messages"] == arguments["messages"]  # a text that only looks like a key
    assert sent["response_format"]["json_schema"]["schema"]["properties"] == {
        "short": {"type": "string", "maxLength": 280},
        "long": {"type": "string"},  # llama.cpp cannot compile a limit this long
    }
    for odd in ({"seed": 2**70}, {"content": "a lone \ud800 surrogate"}):  # odd, still JSON
        assert json.loads(request_body(odd)) == odd
