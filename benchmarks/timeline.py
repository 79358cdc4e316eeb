"""Where a decision window's wall time goes, at 1,000 agents with 200 ms per request.

    python benchmarks/timeline.py [--runs 2] [--window 1h]

The critical-path configuration of ``benchmarks/scale.py`` (social media, 1,000 agents,
1/12 activation per agent-hour, hashing embedder, one simulated day) on the openai
backend, with every request handed to the backend and every reply stamped. Per window
(means over the windows after the first, in ms):

- head: window start to the first request handed to the backend;
- requests: first to last request handed over (the event loop's CPU per decision);
- to first reply: last request handed over to the first reply;
- replies: first to last reply;
- tail: last reply to the window's end (resolution, memory queuing, snapshot);
- window: start to the next window's start; ratio = latency / window.

Two modes, alternating run by run:

- ``http``: the HTTP client against ``benchmarks/fake_openai.py`` in its own process;
- ``no-http``: the same backend code (its arguments, JSON body, parsing) with the client and
  the server replaced by a 200 ms sleep and the reply the server would have given
  (``FakeOpenAIServer``'s own reply functions, on the same request). The difference is
  the cost of the HTTP exchange on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fake_openai import FakeOpenAIServer  # noqa: E402
from benchmarks.model_throughput import start_latency_server  # noqa: E402
from benchmarks.scale import SOCIAL  # noqa: E402
from engine.kernel import Kernel, Window  # noqa: E402
from engine.models import openai_backend  # noqa: E402
from engine.scenario import load_scenario  # noqa: E402
from engine.simulation import Simulation  # noqa: E402

LATENCY = 0.2
COLUMNS = ("head", "requests", "to first reply", "replies", "tail", "window")


def measure(http: bool, window: str) -> dict[str, float]:
    """One run; the per-window means of :data:`COLUMNS` and the ratio."""
    sent: list[float] = []
    replied: list[float] = []
    windows: list[tuple[float, float, int, int]] = []  # start, end, first and last request
    post = openai_backend.OpenAIBackend._post
    run_window = Kernel.run_window

    async def stamped(self: Any, endpoint: Any, arguments: dict[str, Any]) -> Any:
        sent.append(time.perf_counter())
        reply = await (post(self, endpoint, arguments) if http else _sleep_reply(arguments))
        replied.append(time.perf_counter())
        return reply

    async def timed(self: Kernel[Any], w: Window, decide: Any, resolve: Any, begin: Any) -> Any:
        start, first = time.perf_counter(), len(sent)
        events = await run_window(self, w, decide, resolve, begin)
        windows.append((start, time.perf_counter(), first, len(sent)))
        return events

    process = None
    url = "http://127.0.0.1:9/v1"  # never contacted without HTTP
    if http:
        process, url = start_latency_server(LATENCY)
    folder = Path(tempfile.mkdtemp())
    model = (
        f'{{backend: openai, base_url: "{url}", model: fake-model, max_concurrency: 256, '
        "timeout: 120s}"
    )
    (folder / "scenario.yaml").write_text(
        SOCIAL.format(agents=1000, model=model, rate=1 / 12, window=window)
    )
    openai_backend.OpenAIBackend._post = stamped  # type: ignore[method-assign]
    Kernel.run_window = timed  # type: ignore[method-assign,assignment]
    try:
        Simulation(load_scenario(folder / "scenario.yaml"), out=folder / "run").run()
    finally:
        openai_backend.OpenAIBackend._post = post  # type: ignore[method-assign]
        Kernel.run_window = run_window  # type: ignore[method-assign]
        if process is not None:
            process.terminate()
    rows = []
    for i, (start, end, first, last) in enumerate(windows[1:-1], start=1):
        if last == first:
            continue
        requests, replies = sent[first:last], sorted(replied[first:last])
        rows.append(
            {
                "head": requests[0] - start,
                "requests": requests[-1] - requests[0],
                "to first reply": replies[0] - requests[-1],
                "replies": replies[-1] - replies[0],
                "tail": end - replies[-1],
                "window": windows[i + 1][0] - start,
            }
        )
    means = {k: statistics.mean(r[k] for r in rows) * 1000 for k in COLUMNS}
    means["ratio"] = LATENCY * 1000 / means["window"]
    return means


_SERVER = FakeOpenAIServer(latency=LATENCY)  # never started: only its reply functions


async def _sleep_reply(arguments: Mapping[str, Any]) -> tuple[int, Mapping[str, str], bytes]:
    """What the latency server would answer, 200 ms later, without the HTTP exchange.

    The body is encoded as the backend encodes it before a send; the server's work on
    it (decoding, choosing the reply) then runs here, after the wait, on the replies'
    side, so it is counted against no-http, not for it.
    """
    body = openai_backend.request_body(arguments)
    await asyncio.sleep(LATENCY)
    request = json.loads(body)
    content = _SERVER._content(request, garbage=False)
    return 200, {}, json.dumps(_SERVER._completion(request, content)).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--window", default="1h")
    args = parser.parse_args()
    print(f"window {args.window}, 1,000 agents, {LATENCY * 1000:g} ms per request; ms per window")
    print("| mode | run | " + " | ".join(COLUMNS) + " | ratio |")
    print("|---|---:|" + "---:|" * (len(COLUMNS) + 1))
    for run in range(1, args.runs + 1):
        for http in (True, False):
            m = measure(http, args.window)
            cells = " | ".join(f"{m[k]:.1f}" for k in COLUMNS)
            mode = "http" if http else "no-http"
            print(f"| {mode} | {run} | {cells} | {m['ratio']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
