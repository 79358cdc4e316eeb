"""Model-layer throughput against the ideal, and SmolLM2's speed on this machine.

    python benchmarks/model_throughput.py [--latency 0.2] [--concurrency 64 256]
                                          [--batch 2048] [--rounds 40]

Part 1: a local OpenAI-compatible latency server (benchmarks/fake_openai.py, in its own
process) holds each request ``latency`` seconds. With ``max_concurrency`` C the ideal is
C / latency requests per second; we report achieved / ideal (target: at least 0.9 at
256 in flight). Two runs per C, both one ``asyncio.gather`` through ``LanguageModel``:
``batch`` (2048 requests, rate over the whole wall time, so ramp-up and drain count) and
``steady`` (C x 40 requests, rate while C requests are in flight). Client and server
CPU per request show which side is the limit.

Part 2: the embedded default (llama.cpp, SmolLM2-135M-Instruct Q4_1): prompt
processing and generation tokens per second, free and JSON-schema constrained.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.models import LanguageModel, Ledger  # noqa: E402
from engine.models.openai_backend import OpenAIBackend  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_latency_server(latency: float) -> tuple[subprocess.Popen[bytes], str]:
    """The fake server in a separate process (so it does not share our GIL)."""
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.fake_openai",
            "--port",
            str(port),
            "--latency",
            str(latency),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/models", timeout=1).read()
            return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("latency server did not start")


@dataclass
class Throughput:
    """One measurement: whole batch, steady state, and CPU per request."""

    batch: float  # requests / wall time for the whole batch (ramp-up and drain included)
    steady: float  # requests/s while ``concurrency`` requests are in flight
    client_cpu_ms: float  # this process's CPU per request
    server_cpu_ms: float  # the latency server's CPU per request


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def throughput(
    url: str, concurrency: int, requests: int, latency: float, server_pid: int
) -> Throughput:
    """Send ``requests`` generate calls at once through the model layer.

    The steady-state rate counts completions from 5 latencies after the start (the
    first waves arrive in lock-step bursts) to 2 latencies before the end (the last
    wave has fewer than ``concurrency`` in flight).
    """
    backend = OpenAIBackend(
        base_url=url, model="fake-model", max_concurrency=concurrency, timeout=30
    )
    model = LanguageModel(backend, ledger=Ledger())
    await asyncio.gather(*(model.generate(f"warm {i}", max_tokens=8) for i in range(concurrency)))
    finished: list[float] = []

    async def one(i: int) -> None:
        await model.generate(f"request {i}", max_tokens=8)
        finished.append(time.perf_counter())

    cpu, server_cpu = time.process_time(), _cpu_seconds(server_pid)
    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(requests)))
    ended = time.perf_counter()
    cpu, server_cpu = time.process_time() - cpu, _cpu_seconds(server_pid) - server_cpu
    await backend.aclose()
    low, high = started + 5 * latency, ended - 2 * latency
    steady = sum(low <= t < high for t in finished) / (high - low) if high > low else 0.0
    return Throughput(
        requests / (ended - started), steady, cpu / requests * 1000, server_cpu / requests * 1000
    )


def smollm2_speed() -> None:
    try:
        from llama_cpp import Llama

        from engine.models.local import default_model_path
    except Exception as err:
        print(f"SmolLM2: skipped ({err})")
        return
    llm = Llama(model_path=str(default_model_path()), n_ctx=2048, n_threads=2, verbose=False)
    prompt = [{"role": "user", "content": "word " * 500}]
    started = time.perf_counter()
    out = llm.create_chat_completion(prompt, max_tokens=1)
    prefill = out["usage"]["prompt_tokens"] / (time.perf_counter() - started)
    story = [{"role": "user", "content": "Tell a long story about a village well."}]
    llm.create_chat_completion(story, max_tokens=4)  # the prompt is now cached
    started = time.perf_counter()
    out = llm.create_chat_completion(story, max_tokens=128, temperature=0.7, seed=1)
    decode = out["usage"]["completion_tokens"] / (time.perf_counter() - started)
    schema = {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": ["speak", "wait"]},
            "message": {"type": "string", "maxLength": 400},
        },
        "required": ["action", "message"],
    }
    started = time.perf_counter()
    out = llm.create_chat_completion(
        story,
        max_tokens=128,
        temperature=0.7,
        seed=1,
        response_format={"type": "json_object", "schema": schema},
    )
    constrained = out["usage"]["completion_tokens"] / (time.perf_counter() - started)
    print(
        f"SmolLM2-135M-Instruct Q4_1, llama.cpp, 2 threads: prompt {prefill:.0f} tokens/s, "
        f"generation {decode:.0f} tokens/s, JSON-schema constrained generation {constrained:.0f} tokens/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--batch", type=int, default=2048, help="requests in the batch run")
    parser.add_argument(
        "--rounds", type=int, default=40, help="steady run: concurrency x rounds requests"
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    process, url = start_latency_server(args.latency)
    try:
        print(
            "| max_concurrency | latency s | run | requests | achieved req/s | ideal req/s "
            "| achieved/ideal | client CPU ms/req | server CPU ms/req |"
        )
        print("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
        for concurrency in args.concurrency:
            ideal = concurrency / args.latency
            for run, requests in (("batch", args.batch), ("steady", concurrency * args.rounds)):
                result = asyncio.run(
                    throughput(url, concurrency, requests, args.latency, process.pid)
                )
                rate = result.batch if run == "batch" else result.steady
                print(
                    f"| {concurrency} | {args.latency:g} | {run} | {requests} | {rate:.1f} "
                    f"| {ideal:.1f} | {rate / ideal:.3f} | {result.client_cpu_ms:.2f} "
                    f"| {result.server_cpu_ms:.2f} |"
                )
    finally:
        process.terminate()
    smollm2_speed()


if __name__ == "__main__":
    main()
