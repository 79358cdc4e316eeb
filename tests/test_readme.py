"""The README's commands and examples, run as written, so the README cannot drift from the code.

Every fenced block of README.md is either run or explicitly skipped:

- ```bash blocks: each line is a command, run in a fresh working folder (``scenarios/``
  linked in); ``socium run`` and ``socium sweep`` get ``--set model.backend=scripted
  --set embedder.kind=hashing`` so they run offline in seconds;
- ```python blocks: run in order, in one namespace, in that folder;
- a block after ``<!-- file: PATH -->`` is written to PATH (and validated if a scenario);
- a block after ``<!-- not run: REASON -->`` is skipped, for the reason given;
- ```text, ```yaml, ```json and ```csv blocks without a file line are documentation.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(
    r"(?:<!-- (?P<directive>file|not run): ?(?P<argument>[^>]*?) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)```",
    re.S,
)
OFFLINE = ["--set", "model.backend=scripted", "--set", "embedder.kind=hashing"]
SOCIUM = str(Path(sys.executable).parent / "socium")


def blocks() -> list[dict[str, str | int]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = []
    for match in BLOCK.finditer(text):
        found.append({**match.groupdict(), "line": text[: match.start()].count("\n") + 1})
    return found


def shell(command: str, folder: Path) -> None:
    words = shlex.split(command, comments=True)
    if not words:
        return
    assert words[0] == "socium", f"README command not covered by this test: {command}"
    words[0] = SOCIUM
    if words[1] in ("run", "sweep"):
        words += OFFLINE
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "100"}
    done = subprocess.run(words, cwd=folder, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr, done.stderr


def test_every_readme_block_runs_or_says_why_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    ran = {"bash": 0, "python": 0, "file": 0}
    for block in blocks():
        body, lang = str(block["body"]), block["lang"]
        if block["directive"] == "not run":
            assert block["argument"], f"README.md:{block['line']}: say why a block is not run"
            continue
        if block["directive"] == "file":
            path = tmp_path / str(block["argument"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body, encoding="utf-8")
            ran["file"] += 1
            if path.suffix == ".yaml":
                shell(f"socium validate {path.relative_to(tmp_path)}", tmp_path)
        elif lang == "bash":
            for line in body.splitlines():
                shell(line, tmp_path)
            ran["bash"] += 1
        elif lang == "python":
            exec(compile(body, f"README.md:{block['line']}", "exec"), namespace)
            ran["python"] += 1
    assert ran["bash"] >= 2 and ran["python"] >= 4 and ran["file"] >= 3, ran
    assert (tmp_path / "runs" / "study-1" / "report.html").exists()
    assert (tmp_path / "runs" / "study-1" / "export" / "follow_graph.graphml").exists()
