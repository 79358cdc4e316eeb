"""Write personas.jsonl: 100 synthetic personas for an election-like setting (no real data).

Deterministic: ``python scenarios/social_media/make_personas.py`` rewrites the same file.
Fields follow the documented persona schema (README, "Persona files").
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

FIRST = [
    "Alex",
    "Sam",
    "Jo",
    "Kim",
    "Lee",
    "Max",
    "Noa",
    "Ari",
    "Eli",
    "Rae",
    "Sky",
    "Ira",
    "Val",
    "Jan",
    "Ola",
    "Ren",
    "Tal",
    "Uma",
    "Vic",
    "Zoe",
]
LEANINGS = ["left", "centre-left", "centre", "centre-right", "right"]
TOPICS = [
    "climate",
    "taxes",
    "housing",
    "healthcare",
    "immigration",
    "jobs",
    "schools",
    "crime",
    "transport",
    "technology",
    "farming",
    "energy",
    "pensions",
    "culture",
    "sport",
]
STYLES = ["sarcastic", "earnest", "data-driven", "angry", "humorous", "polite", "blunt", "curious"]
JOBS = [
    "nurse",
    "teacher",
    "farmer",
    "software developer",
    "shop owner",
    "student",
    "retired engineer",
    "journalist",
    "electrician",
    "accountant",
    "bus driver",
    "researcher",
    "chef",
    "lawyer",
]


def main() -> None:
    """Write the file next to this script."""
    rng = np.random.default_rng(2025)
    rates = rng.lognormal(mean=np.log(0.6), sigma=1.0, size=100)  # heavy-tailed activity per hour
    lines = []
    for i in range(100):
        leaning = LEANINGS[int(rng.integers(0, len(LEANINGS)))]
        interests = [str(t) for t in rng.choice(TOPICS, size=3, replace=False)]
        style = STYLES[int(rng.integers(0, len(STYLES)))]
        job = JOBS[int(rng.integers(0, len(JOBS)))]
        age = int(rng.integers(19, 80))
        name = f"{FIRST[i % len(FIRST)]}{i:02d}"
        persona = {
            "name": name,
            "description": f"A {age}-year-old {job} with {leaning} views who writes in a {style} tone "
            f"about {interests[0]} and {interests[1]} ahead of the election.",
            "traits": {"leaning": leaning, "style": style, "age": age, "job": job},
            "interests": interests,
            "activity": {"rate": round(float(rates[i]), 3)},
        }
        lines.append(json.dumps(persona))
    Path(__file__).with_name("personas.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
