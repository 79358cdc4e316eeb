"""The embedded default, for real: SmolLM2 in-process through llama.cpp grammars."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp", reason="needs the 'local' extra")

from engine.models.base import GRAMMAR_MAX_LENGTH, grammar_schema, grammar_text

pytestmark = pytest.mark.slow

SURVEYED = """
name: local_survey
seed: 1
duration: 2h
window: 1h
model: {backend: local, max_tokens: 48}
embedder: {kind: hashing, dim: 64}
memory: {k: 2, half_life: 6h}
population:
  count: 2
  activity: {schedule: every, period: 1h}
  personas: [{name: Ada, description: A retired teacher.}, {name: Bo, description: A nurse.}]
interventions:
  - {at: 1h, kind: survey, question: "Is the tap water safe? Rate it.", scale: [0, 10]}
game: {type: social_media, actions: [post, like, do_nothing], post_max_chars: 2000,
       feed_size: 3, null_samples: 5, bootstrap_samples: 10}
"""


def test_long_string_limits_are_left_out_of_the_grammar() -> None:
    schema = {
        "type": "object",
        "properties": {
            "answer": {"type": "string", "maxLength": 2000},
            "text": {"type": "string", "maxLength": 280},
            "either": {"anyOf": [{"type": "string", "maxLength": 5000}, {"type": "integer"}]},
        },
    }
    compiled = grammar_schema(schema)
    assert "maxLength" not in compiled["properties"]["answer"]
    assert compiled["properties"]["text"]["maxLength"] == 280 <= GRAMMAR_MAX_LENGTH
    assert "maxLength" not in compiled["properties"]["either"]["anyOf"][0]
    assert schema["properties"]["answer"]["maxLength"] == 2000  # the request keeps its own
    # the openai backend does the same on the JSON body it sends, strings left alone
    body = {"messages": [{"content": 'a "maxLength": 5000, quoted'}], "schema": schema}
    sent = json.loads(grammar_text(json.dumps(body)))
    assert sent == {**body, "schema": compiled}
    first = {"maxLength": 3000, "type": "string"}
    assert (
        json.loads(grammar_text(json.dumps(first))) == grammar_schema(first) == {"type": "string"}
    )


def test_a_survey_and_long_posts_on_the_embedded_model(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    # Before: a 2,000-character survey answer (or post_max_chars: 2000) became a grammar
    # llama.cpp refused, and the process died with a segmentation fault. A subprocess,
    # so that a crash fails this test rather than the suite.
    path = write_scenario(SURVEYED)
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", str(path), "--quiet", "--out", "run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    db = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    answers = [
        json.loads(p) for (p,) in db.execute("SELECT payload FROM events WHERE kind = 'survey'")
    ]
    assert len(answers) == 2
    for answer in answers:  # in range, or a recorded fallback without a rating
        assert (
            0 <= answer["rating"] <= 10 if answer["parse"] != "fallback" else "rating" not in answer
        )
    decided = db.execute("SELECT COUNT(*) FROM model_calls WHERE purpose = 'decide'").fetchone()[0]
    assert decided == 4
