"""CLI: light imports, validate, schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "faiss", "llama_cpp", "sentence_transformers")


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_help_imports_no_heavy_library() -> None:
    loaded = _modules_after(
        "from engine.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert "engine.cli" in loaded
    assert not [m for m in loaded if m.split(".")[0] in HEAVY]


def test_validate_imports_no_heavy_library(scripted_town: Path) -> None:
    loaded = _modules_after(
        f"from engine.cli import main\nmain(['validate', {str(scripted_town)!r}])"
    )
    assert "engine.scenario" in loaded
    assert not [m for m in loaded if m.split(".")[0] in HEAVY]


def test_bundled_scenarios_validate() -> None:
    root = Path(__file__).resolve().parent.parent / "scenarios"
    files = sorted(root.glob("*/*.yaml"))
    assert files
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "validate", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_schema_command_prints_json_schema() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "schema"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0
    assert json.loads(done.stdout)["title"] == "socium scenario"
