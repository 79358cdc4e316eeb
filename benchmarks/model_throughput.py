"""Model-layer throughput against the ideal, and SmolLM2's speed on this machine.

    python benchmarks/model_throughput.py [--latency 0.2] [--concurrency 64 256] [--requests 2048]

Part 1: a local OpenAI-compatible latency server (benchmarks/fake_openai.py, in its own
process) holds each request ``latency`` seconds. With ``max_concurrency`` C the ideal is
C / latency requests per second; we report achieved / ideal (target: at least 0.9 at
256 in flight).

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


async def throughput(url: str, concurrency: int, requests: int) -> float:
    backend = OpenAIBackend(
        base_url=url, model="fake-model", max_concurrency=concurrency, timeout=30
    )
    model = LanguageModel(backend, ledger=Ledger())
    await asyncio.gather(*(model.generate(f"warm {i}", max_tokens=8) for i in range(concurrency)))
    started = time.perf_counter()
    await asyncio.gather(*(model.generate(f"request {i}", max_tokens=8) for i in range(requests)))
    elapsed = time.perf_counter() - started
    await backend.aclose()
    return requests / elapsed


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
    parser.add_argument("--requests", type=int, default=2048)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    process, url = start_latency_server(args.latency)
    try:
        print(
            "| max_concurrency | latency s | requests | achieved req/s | ideal req/s | achieved/ideal |"
        )
        print("|---:|---:|---:|---:|---:|---:|")
        for concurrency in args.concurrency:
            rate = asyncio.run(throughput(url, concurrency, args.requests))
            ideal = concurrency / args.latency
            print(
                f"| {concurrency} | {args.latency} | {args.requests} | {rate:.1f} | {ideal:.1f} | "
                f"{rate / ideal:.3f} |"
            )
    finally:
        process.terminate()
    smollm2_speed()


if __name__ == "__main__":
    main()
