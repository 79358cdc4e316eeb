"""CPU per request of the openai backend's HTTP exchange.

    python benchmarks/http_client.py [--requests 3000] [--wave 75] [--repeats 4]

The backend (``OpenAIBackend.complete``: JSON body, HTTP exchange, reply parsing) sends
waves of ``--wave`` requests (a 1,000-agent decision window holds about 75) to
``benchmarks/fake_openai.py`` in its own process with no latency, so the client's CPU
is what is measured: this process's CPU time per request, for each repetition.
The prompt is the size of a social-media decision's (about 1.5 kB).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.model_throughput import start_latency_server  # noqa: E402
from engine.models.base import Message, Request  # noqa: E402
from engine.models.openai_backend import OpenAIBackend  # noqa: E402

SCHEMA = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": ["post", "reply", "like", "do_nothing"]},
        "text": {"type": "string", "maxLength": 280},
    },
    "required": ["action"],
}
MESSAGES = (
    Message("system", "You are user_1. A person on the platform. " * 3),
    Message("user", "Your feed:\n" + "- [post 7] @user_5 posted 'a post about things' \n" * 12),
)


async def measure(url: str, requests: int, wave: int, repeats: int) -> list[float]:
    """Client CPU ms per request, one figure per repetition (after a warm-up wave)."""
    backend = OpenAIBackend(base_url=url, model="fake-model", max_concurrency=wave)
    batch = [Request(MESSAGES, seed=i, constraint=SCHEMA) for i in range(requests)]
    await asyncio.gather(*(backend.complete(r) for r in batch[:wave]))
    figures = []
    for _ in range(repeats):
        started = time.process_time()
        for first in range(0, requests, wave):
            await asyncio.gather(*(backend.complete(r) for r in batch[first : first + wave]))
        figures.append((time.process_time() - started) / requests * 1000)
    await backend.aclose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--wave", type=int, default=75)
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    process, url = start_latency_server(0.0)
    try:
        figures = asyncio.run(measure(url, args.requests, args.wave, args.repeats))
    finally:
        process.terminate()
    cells = ", ".join(f"{f:.3f}" for f in figures)
    print(f"client CPU ms per request ({args.wave} at a time, 0 ms server): {cells}")
    print(f"median {statistics.median(figures):.3f}")


if __name__ == "__main__":
    main()
