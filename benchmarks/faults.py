"""Fault injection at run level: faults of every kind, and zero events lost.

    python benchmarks/faults.py [--rate 0.2]

One narrative scenario (4 agents, 12 simulated hours, the openai backend against
benchmarks/fake_openai.py) runs four ways: clean; under transport faults (429 with
Retry-After, 500, connection resets, hangs past the timeout, truncated bodies), which
retries must make invisible (identical event log); under all faults including garbage
replies (re-asked, then fallbacks: the log may differ, but every activation is resolved,
windows are contiguous, no sequence number is missing); and with the server dying
mid-run and coming back (the run stops cleanly, ``socium resume`` completes it to the
clean log).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fake_openai import FakeOpenAIServer  # noqa: E402

SCENARIO = """
name: faults
seed: 11
duration: {duration}
window: 30m
model: {{backend: openai, base_url: "{url}", model: m, timeout: 0.5s, max_retries: 8, backoff: 0.01,
        max_backoff: 0.05, parse_retries: 2}}
embedder: {{kind: hashing, dim: 32}}
memory: {{k: 2}}
population:
  activity: {{schedule: poisson, rate: 2}}
  personas: [{{name: Ada, traits: {{coins: 10}}}}, {{name: Bo}}, {{name: Cy}}, {{name: Di, traits: {{coins: 20}}}}]
game: {{type: narrative, locations: [square, well], project: {{cost: 30}}}}
"""
TRANSPORT = ("429", "500", "reset", "hang", "truncated")


def _run(folder: Path, scenario: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *command, "--quiet"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )


def _events(folder: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(folder / "run.sqlite")
    rows = db.execute(
        "SELECT seq, t, actor, kind, target, payload FROM events ORDER BY seq"
    ).fetchall()
    db.close()
    return rows


def _integrity(folder: Path) -> dict[str, Any]:
    db = sqlite3.connect(folder / "run.sqlite")
    windows = [i for (i,) in db.execute("SELECT idx FROM windows ORDER BY idx")]
    seqs = [s for (s,) in db.execute("SELECT seq FROM events ORDER BY seq")]
    activations = db.execute("SELECT COALESCE(SUM(activations), 0) FROM windows").fetchone()[0]
    resolved = db.execute("SELECT COUNT(*) FROM events WHERE actor IS NOT NULL").fetchone()[0]
    summary = json.loads(db.execute("SELECT summary FROM run").fetchone()[0] or "{}")
    ok = db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    return {
        "store_ok": ok,
        "windows_contiguous": windows == list(range(len(windows))),
        "seq_contiguous": seqs == list(range(len(seqs))),
        "activations": activations,
        "actor_events": resolved,
        "summary": summary,
    }


def fault_suite(rate: float = 0.2, duration: str = "12h") -> dict[str, Any]:
    """Run the four variants; return counts and checks (used by tests/test_faults.py)."""
    work = Path(tempfile.mkdtemp())
    results: dict[str, Any] = {}

    def scenario_for(server: FakeOpenAIServer, name: str) -> Path:
        path = work / f"{name}.yaml"
        path.write_text(SCENARIO.format(url=server.base_url, duration=duration))
        return path

    with FakeOpenAIServer(retry_after=0.05) as server:
        done = _run(
            work / "clean",
            scenario_for(server, "clean"),
            "run",
            str(work / "clean.yaml"),
            "--out",
            str(work / "clean"),
        )
        assert done.returncode == 0, done.stderr
        results["clean"] = {"requests": server.counters.requests}
    clean = _events(work / "clean")

    transport = {kind: rate / len(TRANSPORT) for kind in TRANSPORT}
    with FakeOpenAIServer(retry_after=0.05, fault_rates=transport, seed=1) as server:
        done = _run(
            work / "transport",
            scenario_for(server, "transport"),
            "run",
            str(work / "transport.yaml"),
            "--out",
            str(work / "transport"),
        )
        results["transport"] = {
            "exit": done.returncode,
            "faults": dict(server.counters.faults),
            "requests": server.counters.requests,
            "identical_to_clean": _events(work / "transport") == clean,
            **_integrity(work / "transport"),
        }

    everything = {**transport, "garbage": rate / 2}
    with FakeOpenAIServer(retry_after=0.05, fault_rates=everything, seed=2) as server:
        done = _run(
            work / "all",
            scenario_for(server, "all"),
            "run",
            str(work / "all.yaml"),
            "--out",
            str(work / "all"),
        )
        results["all"] = {
            "exit": done.returncode,
            "faults": dict(server.counters.faults),
            "requests": server.counters.requests,
            **_integrity(work / "all"),
        }

    # 50 ms per reply (the replies, so the log, are unchanged): a window lasts at least
    # that long, so the run cannot finish between the fifth commit and the server's death.
    server = FakeOpenAIServer(retry_after=0.05, latency=0.05).start()
    path = scenario_for(server, "death")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "run",
            str(path),
            "--quiet",
            "--out",
            str(work / "death"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            db = sqlite3.connect(work / "death" / "run.sqlite", timeout=5)
            committed = db.execute("SELECT COUNT(*) FROM windows").fetchone()[0]
            db.close()
            if committed >= 5:
                break
        except sqlite3.OperationalError:
            pass
        time.sleep(0.02)
    server.stop()
    _, stderr = process.communicate(timeout=300)
    stopped = {
        "exit": process.returncode,
        "message": stderr.strip().splitlines()[-1] if stderr.strip() else "",
    }
    server.start()
    resumed = _run(work / "death", path, "resume", str(work / "death"))
    server.stop()
    results["server_death"] = {
        **stopped,
        "resume_exit": resumed.returncode,
        "identical_to_clean": _events(work / "death") == clean,
        **_integrity(work / "death"),
    }
    results["clean_events"] = len(clean)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--duration", default="2d")
    args = parser.parse_args()
    results = fault_suite(args.rate, args.duration)
    print(f"clean run: {results['clean_events']} events, {results['clean']['requests']} requests")
    for name in ("transport", "all"):
        r = results[name]
        lost = r["activations"] - r["actor_events"]
        print(
            f"{name}: exit {r['exit']}, {r['requests']} requests, faults injected {r['faults']}, "
            f"retries {r['summary'].get('retries')}, malformed {r['summary'].get('malformed_replies')}, "
            f"fallbacks {r['summary'].get('fallbacks')}; windows contiguous {r['windows_contiguous']}, "
            f"seq contiguous {r['seq_contiguous']}, activations without an event {max(lost, 0)}"
            + (f", identical to clean {r['identical_to_clean']}" if name == "transport" else "")
        )
    d = results["server_death"]
    print(
        f"server death: run exit {d['exit']} ({d['message']!r}); resume exit {d['resume_exit']}; "
        f"identical to clean {d['identical_to_clean']}; store ok {d['store_ok']}"
    )


if __name__ == "__main__":
    main()
