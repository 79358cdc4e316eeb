"""The openai backend against a REAL OpenAI-compatible server: llama_cpp.server + SmolLM2."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

pytest.importorskip("llama_cpp.server", reason="needs the 'local' extra")

from engine.models import LanguageModel, Ledger
from engine.models.local import default_model_path
from engine.models.openai_backend import OpenAIBackend

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    log = log_path.open("w")  # a file, not a pipe: the server logs every request
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(default_model_path()),
            "--model_alias",
            "smollm2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--n_threads",
            "2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=2).read()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                error = log_path.read_text()[-2000:]
                raise RuntimeError(f"llama_cpp.server did not start: {error}") from None
            time.sleep(0.5)
    yield url
    process.terminate()
    process.wait(30)
    log.close()


def test_structured_answers_from_a_real_server(llama_server: str) -> None:
    backend = OpenAIBackend(base_url=llama_server, model="smollm2", max_concurrency=2, timeout=120)

    async def go() -> tuple[object, ...]:
        model = LanguageModel(backend, ledger=Ledger(), parse_retries=2)
        choice = await model.choose(
            "You are hungry. Which do you do? Options: eat, sleep, run.",
            ["eat", "sleep", "run"],
            seed=1,
        )
        number = await model.number("How many legs does a cat have?", 0, 10, seed=2)
        schema = {
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 20},
                "age": {"type": "integer", "minimum": 0, "maximum": 120},
            },
            "required": ["name", "age"],
            "additionalProperties": False,
        }
        person = await model.json("Invent a person. Give name and age as JSON.", schema, seed=3)
        # A long limit (a survey answer) is left out of the server's grammar: compiled,
        # llama.cpp would refuse it and the server would die (a segmentation fault).
        story = {"type": "object", "properties": {"story": {"type": "string", "maxLength": 2000}}}
        told = await model.json("Tell a one-line story as JSON.", story, seed=4)
        await backend.aclose()
        return choice, number, person, told, model.ledger.totals, backend.endpoints[0].style

    choice, number, person, told, totals, style = asyncio.run(go())
    assert isinstance(told.value["story"], str)  # type: ignore[attr-defined]
    assert choice.value in ("eat", "sleep", "run") and choice.outcome in ("ok", "repaired")  # type: ignore[attr-defined]
    assert 0 <= number.value <= 10 and number.outcome in ("ok", "repaired")  # type: ignore[attr-defined]
    assert isinstance(person.value["name"], str) and 0 <= person.value["age"] <= 120  # type: ignore[attr-defined]
    assert style in ("response_format", "json_object")  # the server took a constraint
    assert totals.fallbacks == 0  # type: ignore[attr-defined]
    assert totals.prompt_tokens > 0 and totals.completion_tokens > 0  # type: ignore[attr-defined]
