"""Transcripts in the report: threads, justifications, the fragment filter, the size bound.

The report is rendered in headless Chromium; the assertions read the DOM it dumps (after
the filter script ran), parsed into a tree of transcript rows.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest

from engine.report import write_report
from engine.scenario import load_scenario
from engine.simulation import Simulation
from tests.test_analysis import DONOR, SOCIAL
from tests.test_report import CHROMIUM, _chromium

VOID = {"input", "br", "img", "meta", "link", "hr", "source", "wbr"}
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is installed by `make test` (scripts/install.sh)"
)


@dataclass
class DomRow:
    """A transcript row of the dumped DOM: attributes, its own text, nested rows."""

    agent: str
    kind: str
    hidden: bool
    text: list[str] = field(default_factory=list)
    children: list[DomRow] = field(default_factory=list)

    @property
    def own(self) -> str:
        return " ".join(self.text)

    def walk(self) -> list[DomRow]:
        return [self] + [row for child in self.children for row in child.walk()]


class RowTree(HTMLParser):
    """Builds DomRows from HTML: a row's own text leaves out its head and its thread."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str, DomRow | None]] = []  # (tag, class, row)
        self.roots: list[DomRow] = []

    def _row(self) -> DomRow | None:
        return next((row for _, _, row in reversed(self.stack) if row is not None), None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        values = dict(attrs)
        css = values.get("class") or ""
        row = None
        if tag == "div" and css == "row":
            row = DomRow(
                values.get("data-agent") or "", values.get("data-kind") or "", "hidden" in values
            )
            parent = self._row()
            (parent.children if parent else self.roots).append(row)
        self.stack.append((tag, css, row))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        row = self._row()
        if row is None:
            return
        classes = [
            css
            for _, css, r in self.stack[
                self.stack.index(next(s for s in self.stack if s[2] is row)) :
            ]
        ]
        if "head" in classes or "thread" in classes:
            return
        row.text.append(data)


def rows_of(dom: str) -> list[DomRow]:
    tree = RowTree()
    tree.feed(dom)
    return tree.roots


def _run(write_scenario: Callable[..., Path], tmp_path: Path, text: str, name: str) -> Path:
    folder = tmp_path / name
    Simulation(load_scenario(write_scenario(text.format(seed=3), f"{name}.yaml")), out=folder).run()
    return folder


def _dom(report: Path, profile: Path, fragment: str = "") -> tuple[list[DomRow], str]:
    shown = _chromium(
        report.as_uri() + fragment, profile, "--virtual-time-budget=5000", "--dump-dom"
    )
    console = [
        line for line in shown.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line
    ]
    assert console == []
    return rows_of(shown.stdout), shown.stdout


def _events(folder: Path, *kinds: str) -> list[tuple[int, str, str | None, dict[str, object]]]:
    db = sqlite3.connect(folder / "run.sqlite")
    marks = ",".join("?" * len(kinds))
    rows = db.execute(
        f"SELECT seq, actor, target, payload FROM events WHERE kind IN ({marks}) ORDER BY seq",
        kinds,
    ).fetchall()
    db.close()
    return [(seq, actor, target, json.loads(payload)) for seq, actor, target, payload in rows]


@needs_chromium
def test_social_report_threads_replies_and_filters_from_the_fragment(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    folder = _run(write_scenario, tmp_path, SOCIAL, "social")
    report = write_report(folder)
    posts = {p["post_id"]: (actor, p) for _, actor, _, p in _events(folder, "post", "reply")}
    replies = [(actor, p) for actor, p in posts.values() if p["parent"] in posts]
    assert replies, "the scripted run should have replies"
    reply_author, reply = replies[0]
    parent_author, parent = posts[reply["parent"]]

    roots, _ = _dom(report, tmp_path / "profile")
    every = [row for root in roots for row in root.walk()]
    assert every and not any(row.hidden for row in every)  # no filter: everything shows
    (post_row,) = [
        r for r in every if r.kind == "post" and f"#{parent['post_id']}" in r.own.split()
    ]
    assert post_row.agent == parent_author and parent["text"] in post_row.own
    (reply_row,) = [r for r in post_row.children if f"#{reply['post_id']}" in r.own.split()]
    assert reply_row.kind == "reply" and reply_row.agent == reply_author
    assert reply["text"] in reply_row.own
    # the same reply in the author's timeline, with the prompt the agent saw
    timeline = [
        r for r in every if r.agent == reply_author and r.kind == "reply" and not r.children
    ]
    assert any(reply["text"] in r.own and "What the agent saw" in r.own for r in timeline)

    word = "fixing today let"
    roots, dom = _dom(report, tmp_path / "profile-filtered", "#q=" + quote(word))
    every = [row for root in roots for row in root.walk()]
    visible = [r for r in every if not r.hidden]
    assert visible and len(visible) < len(every)
    for row in every:
        matches = word in row.own.lower()
        shown_child = any(not c.hidden for c in row.children)
        assert row.hidden != (matches or shown_child), row.own[:200]
    assert f"{len(visible)} of {len(every)} rows shown" in dom


@needs_chromium
def test_donor_report_shows_justifications_traces_and_survivors(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    text = DONOR.replace("generations: 3", "generations: 3, reasoning: true")
    folder = _run(write_scenario, tmp_path, text, "donor")
    report = write_report(folder)
    donations = [
        (actor, target, p)
        for _, actor, target, p in _events(folder, "donation")
        if p["reasoning"] and p["shown"]
    ]
    assert donations
    donor, recipient, known = donations[-1]
    ends = [p for _, _, _, p in _events(folder, "generation_end")]

    roots, _ = _dom(report, tmp_path / "profile")
    generations = [r for r in roots if r.kind == "generation"]
    assert len(generations) == len(ends) == 3
    for row, end in zip(generations, ends, strict=True):
        marked = {s.agent for s in row.children if s.kind == "strategy" and "[survived]" in s.own}
        assert marked == set(end["survivors"])
    gifts = [
        r
        for g in generations
        for r in g.walk()
        if r.kind == "donation" and r.agent == donor and str(known["reasoning"]) in r.own
    ]
    assert gifts, "the donation's justification is in the generation view"
    assert any(f"What the donor was shown of {recipient}" in r.own for r in gifts)
    assert any(f"round {known['round']}" in r.own for r in gifts)


def test_a_ten_thousand_agent_report_stays_under_twenty_megabytes(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    scenario = textwrap.dedent(
        """
        name: big_social
        seed: 1
        duration: 2h
        window: 1h
        model: {backend: scripted, max_concurrency: 256}
        embedder: {kind: hashing, dim: 32}
        memory: {enabled: false}
        population:
          count: 10000
          activity: {schedule: poisson, rate: 0.5}
          personas: [{name: u, description: someone}]
        game: {type: social_media, null_samples: 0, bootstrap_samples: 0}
        """
    )
    folder = tmp_path / "big"
    Simulation(load_scenario(write_scenario(scenario, "big.yaml")), out=folder).run()
    html = write_report(folder).read_text()
    assert len(html.encode()) < 20_000_000
    assert "Timelines of " in html and "agents are embedded" in html
    pages = folder / "transcript"
    actors = {actor for _, actor, _, _ in _events(folder, "post", "reply", "follow", "like")}
    assert len(list(pages.glob("agent-*.html"))) >= len(actors)
    assert (pages / "index.html").is_file() and (pages / "view-0.html").is_file()
