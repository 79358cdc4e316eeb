"""The report of a 10,000-agent social-media run: size, companion pages, time to write.

    python benchmarks/report_size.py [--agents 10000] [--out /tmp/socium-report-bench]

Runs a scripted social-media scenario (each agent acts about once an hour for two
simulated hours; no model, no memory, so the run itself is quick), then times
``write_report`` and prints the report's size, the companion folder's size and page
count, and whether the report keeps the 20 MB bound the README states.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.report import write_report  # noqa: E402
from engine.scenario import load_scenario  # noqa: E402
from engine.simulation import Simulation  # noqa: E402

SCENARIO = """
name: report_bench
seed: 1
duration: 2h
window: 1h
model: {{backend: scripted, max_concurrency: 256}}
embedder: {{kind: hashing, dim: 32}}
memory: {{enabled: false}}
population:
  count: {agents}
  activity: {{schedule: poisson, rate: 0.5}}
  personas: [{{name: u, description: someone}}]
game: {{type: social_media, null_samples: 0, bootstrap_samples: 0}}
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/socium-report-bench"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    scenario = args.out / "scenario.yaml"
    scenario.write_text(textwrap.dedent(SCENARIO.format(agents=args.agents)), encoding="utf-8")
    started = time.perf_counter()
    result = Simulation(load_scenario(scenario), out=args.out / "run").run()
    ran = time.perf_counter() - started
    started = time.perf_counter()
    report = write_report(result.folder)
    wrote = time.perf_counter() - started
    pages = list((result.folder / "transcript").glob("*.html"))
    companion = sum(p.stat().st_size for p in pages)
    size = report.stat().st_size
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        "| agents | actions | run s | report s | report MB | companion pages | companion MB | under 20 MB |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    print(
        f"| {args.agents:,} | {result.summary['actions']:,} | {ran:.1f} | {wrote:.1f} | "
        f"{size / 1e6:.1f} | {len(pages):,} | {companion / 1e6:.0f} | {size < 20e6} |"
    )


if __name__ == "__main__":
    main()
