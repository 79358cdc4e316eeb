"""A committed corpus of hostile scenario files: each a located error or a valid, runnable scenario.

Every file in ``tests/hostile/`` goes through ``socium validate`` in its own process,
under a 4 GiB address-space limit and a timeout; files it accepts then run (offline). No
file may hang, exhaust memory or end in a traceback.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HOSTILE = Path(__file__).resolve().parent / "hostile"
LOCATED = re.compile(r"^\S+:\d+: \S.*: .+$")
EXPECTED_VALID = {"bom.yaml", "format_tricks.yaml", "cycled_name_collision.yaml", "crowded.yaml"}


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def _socium(*args: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        preexec_fn=_limited,
        env={**env, "PYTHONPATH": str(HOSTILE.parent.parent)},
    )


@pytest.mark.parametrize("name", sorted(p.name for p in HOSTILE.glob("*.yaml")))
def test_a_hostile_file_is_a_located_error_or_a_valid_scenario_that_runs(
    name: str, tmp_path: Path
) -> None:
    folder = tmp_path / "scenario"
    shutil.copytree(HOSTILE, folder)
    done = _socium("validate", name, cwd=folder, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    if name not in EXPECTED_VALID:
        assert done.returncode == 2, (name, done.stdout, done.stderr)
        assert all(LOCATED.match(line) for line in done.stderr.strip().splitlines()), done.stderr
        return
    assert done.returncode == 0, done.stderr
    ran = _socium("run", name, "--out", str(tmp_path / "run"), "--quiet", cwd=folder, timeout=300)
    assert ran.returncode == 0 and "Traceback" not in ran.stderr, ran.stderr[-3000:]


def test_a_fifo_or_a_device_is_not_read_as_a_scenario(tmp_path: Path) -> None:
    fifo = tmp_path / "scenario.yaml"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        done = _socium("validate", str(path), cwd=tmp_path, timeout=30)
        assert done.returncode == 2 and "not a regular file" in done.stderr, done.stderr
