"""Transcripts: what the agents said and did, as filterable rows in the report.

Every run gets per-agent timelines built from the stored events: each action with its
full text and, one click away, what the agent saw and the memories it retrieved (the
prompt of the decision) and the model's raw reply (from ``model_calls``). Games add
their own views through the contract (``Game.views``: threads, generations). Rows render
as plain HTML with a small inline script: a filter box (text, agent, kind, time range)
that also reads the page's fragment (``report.html#q=well&agent=Ada``).

Size discipline: the report embeds game views up to ``VIEW_BUDGET`` bytes and whole agent
timelines up to ``AGENT_BUDGET`` bytes (so a report stays under 20 MB however large the
run). When a run has more, the report says what it shows, and ``transcript/`` beside it
holds every agent's full timeline (one page each) and every view in full, linked from the
report.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.games import Row, View
from engine.simtime import format_time
from engine.types import Event

VIEW_BUDGET = 4_000_000  # bytes of game views embedded in report.html
AGENT_BUDGET = 8_000_000  # bytes of agent timelines embedded in report.html
DETAIL_CHARS = 6000  # of one prompt or reply shown in a row's details
TEXT_KEYS = (
    "text",
    "message",
    "strategy",
    "attempt",
    "outcome",
    "reasoning",
    "reason",
    "fact",
    "question",
    "answer",
)

STYLE = """
.filters { position: sticky; top: 0; background: #fff; padding: .5em 0; z-index: 1;
  border-bottom: 1px solid #ddd; }
.filters input, .filters select { margin-right: .5em; }
.row { border-left: 3px solid #ccd; margin: .3em 0; padding: .1em .5em; }
.row .head { color: #555; font-size: .9em; }
.row .text { white-space: pre-wrap; }
.thread { margin-left: 1.5em; }
details pre { background: #f6f6f6; max-height: 30em; overflow: auto; white-space: pre-wrap; }
.shown-count { color: #555; }
"""

SCRIPT = r"""
(function () {
  var fields = ["q", "agent", "kind", "from", "to"];
  function input(name) { return document.getElementById("filter-" + name); }
  function read() {
    var values = {};
    fields.forEach(function (name) {
      values[name] = input(name) ? input(name).value.trim().toLowerCase() : "";
    });
    return values;
  }
  function own(row) {  // the row's own text, not its replies'
    if (row.socium === undefined) {
      var parts = [row.getAttribute("data-agent") || "", row.getAttribute("data-kind") || ""];
      Array.prototype.forEach.call(row.children, function (child) {
        if (child.className !== "thread" && child.className !== "head") parts.push(child.textContent);
      });
      row.socium = parts.join(" ").toLowerCase();
    }
    return row.socium;
  }
  function matches(row, f) {
    var t = parseFloat(row.getAttribute("data-hours"));
    if (f.q && own(row).indexOf(f.q) < 0) return false;
    if (f.agent && (row.getAttribute("data-agent") || "").toLowerCase() !== f.agent) return false;
    if (f.kind && row.getAttribute("data-kind").toLowerCase() !== f.kind) return false;
    if (f.from !== "" && !(t >= parseFloat(f.from))) return false;
    if (f.to !== "" && !(t <= parseFloat(f.to))) return false;
    return true;
  }
  function apply() {
    var f = read(), shown = 0;
    var rows = Array.prototype.slice.call(document.querySelectorAll(".row")).reverse();
    rows.forEach(function (row) {  // replies first: a thread shows when one reply matches
      var visible = matches(row, f) || row.querySelector(":scope > .thread > .row:not([hidden])") !== null;
      if (visible) { row.removeAttribute("hidden"); shown++; } else { row.setAttribute("hidden", ""); }
    });
    var count = document.getElementById("shown-count");
    if (count) count.textContent = shown + " of " + rows.length + " rows shown";
    var parts = [];
    fields.forEach(function (name) {
      if (input(name) && input(name).value) parts.push(name + "=" + encodeURIComponent(input(name).value));
    });
    history.replaceState(null, "", parts.length ? "#" + parts.join("&") : location.pathname);
  }
  function fromFragment() {
    location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
      var kv = pair.split("=");
      if (kv.length === 2 && input(kv[0])) input(kv[0]).value = decodeURIComponent(kv[1]);
    });
    apply();
  }
  function filtered() { return location.hash.indexOf("=") > 0; }
  window.addEventListener("load", function () {
    fields.forEach(function (name) { if (input(name)) input(name).addEventListener("input", apply); });
    document.body.addEventListener("click", function (event) {
      var link = event.target, agent = link.getAttribute && link.getAttribute("data-filter-agent");
      if (!agent) return;
      if (event.altKey && input("agent")) {
        event.preventDefault(); input("agent").value = agent; apply(); return;
      }
      var id = link.getAttribute("href").slice(1);
      if (!document.getElementById(id)) {  // not embedded: its page in the companion folder
        event.preventDefault();
        location.href = (document.body.getAttribute("data-pages") || "") + id + ".html";
      }
    });
    if (filtered()) fromFragment(); else apply();
  });
  window.addEventListener("hashchange", function () { if (filtered()) fromFragment(); });
})();
"""


def describe(event: Event) -> str:
    """An event as one line of text: kind, target and its text fields."""
    parts = [event.kind.replace("_", " ")]
    if event.target:
        parts.append(f"-> {event.target}")
    payload = event.payload
    for key in TEXT_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and value:
            parts.append(f"{key}: {value}")
    for key in ("amount", "points", "place", "to", "rating"):
        value = payload.get(key)
        if isinstance(value, int | float | str) and not isinstance(value, bool) and value != "":
            parts.append(f"{key}: {value:g}" if isinstance(value, float) else f"{key}: {value}")
    return "; ".join(parts)


Decision = tuple[int, str, str, "str | None", "str | None"]


def timelines(
    events: Iterable[tuple[Event, int]], decisions: Iterable[Decision]
) -> dict[str, list[Row]]:
    """Per agent, its events as rows; a decision's prompt and raw reply under its first event.

    ``events`` come with their window index and ``decisions`` are the ``decide`` model
    calls as ``(window, agent, outcome, prompt, reply)`` (:meth:`RunStore.decisions`): a
    decision and the events it caused share the agent and the window. An agent activated
    twice in one window (its events at two times) gets one decision per activation, in
    order; otherwise every call of the window (re-asks too) goes under its first event.
    """
    decided: dict[tuple[int, str], list[str]] = defaultdict(list)
    for window, agent, outcome, prompt, reply in decisions:
        decided[(window, agent)].append(
            "What the agent saw (its prompt, memories included):\n"
            f"{_cut(prompt or '(not recorded: model.record_prompts is off)')}\n\n"
            f"The model's raw reply ({outcome}):\n{_cut(reply or '')}"
        )
    listed = [(event, window, str(event.actor)) for event, window in events if event.actor]
    times: dict[tuple[int, str], list[float]] = defaultdict(list)
    for event, window, actor in listed:
        if event.t not in times[(window, actor)]:
            times[(window, actor)].append(event.t)
    details: dict[tuple[int, str, float], str] = {}
    for (window, actor), calls in decided.items():
        starts = times.get((window, actor), [])
        if len(calls) == len(starts) > 1:  # activated twice in the window: a decision each
            details.update({(window, actor, t): c for t, c in zip(starts, calls, strict=True)})
        elif starts:  # one activation (its re-asks included): under its first event
            details[(window, actor, starts[0])] = "\n\n".join(calls)
    rows: dict[str, list[Row]] = defaultdict(list)
    for event, window, actor in listed:
        detail = details.pop((window, actor, event.t), "")
        rows[actor].append(Row(event.t, actor, event.kind, describe(event), detail))
    return dict(rows)


def _cut(text: str) -> str:
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + " [...]"


def anchor(name: str | None) -> str:
    """A stable, HTML-safe id for an agent's timeline (``agent-<hash>``)."""
    return "agent-" + hashlib.blake2b((name or "").encode(), digest_size=6).hexdigest()


def agent_link(name: str) -> str:
    """A link to an agent's timeline (Alt-click filters the transcripts to the agent)."""
    escaped = html.escape(name)
    return f'<a href="#{anchor(name)}" data-filter-agent="{escaped}">{escaped}</a>'


def row_html(row: Row, start: float) -> str:
    """One row (and its children) as escaped HTML with the filter's data attributes."""
    agent = html.escape(row.agent or "")
    kind = html.escape(row.kind)
    head = (
        f'<div class="head">{format_time(row.t - start)} '
        + (agent_link(row.agent) + " " if row.agent else "")
        + f"<b>{kind}</b></div>"
    )
    detail = (
        f"<details><summary>details</summary><pre>{html.escape(row.detail)}</pre></details>"
        if row.detail
        else ""
    )
    children = (
        '<div class="thread">' + "".join(row_html(c, start) for c in row.children) + "</div>"
        if row.children
        else ""
    )
    return (
        f'<div class="row" data-agent="{agent}" data-kind="{kind}" '
        f'data-hours="{(row.t - start) / 3600:.4f}">{head}'
        f'<div class="text">{html.escape(row.text)}</div>{detail}{children}</div>'
    )


def filters(kinds: Iterable[str]) -> str:
    """The filter box: text, agent, kind, hours since the start."""
    options = "".join(
        f'<option value="{html.escape(k)}">{html.escape(k)}</option>' for k in sorted(set(kinds))
    )
    return (
        '<div class="filters">filter: <input id="filter-q" placeholder="text" size="18"> '
        '<input id="filter-agent" placeholder="agent" size="10"> '
        f'<select id="filter-kind"><option value="">any kind</option>{options}</select> '
        'hours <input id="filter-from" size="4" placeholder="from"> to '
        '<input id="filter-to" size="4" placeholder="to"> '
        '<span id="shown-count" class="shown-count"></span></div>'
    )


def _kinds(rows: Iterable[Row]) -> Iterable[str]:
    for row in rows:
        yield row.kind
        yield from _kinds(row.children)


def section(
    views: Sequence[View], agents: Mapping[str, list[Row]], start: float, folder: Path
) -> str:
    """The report's transcripts: filters, the game's views, then every agent's timeline.

    Views are embedded up to ``VIEW_BUDGET`` bytes and whole agent timelines up to
    ``AGENT_BUDGET``; when something is left out, ``folder/transcript/`` gets everything
    (a page per agent and per view) and the report says so and links there.
    """
    parts: list[str] = []
    complete = True
    kinds = set(_kinds(row for rows in agents.values() for row in rows))
    used = 0
    for number, view in enumerate(views):
        kinds.update(_kinds(view.rows))
        note = f"<p>{html.escape(view.note)}</p>" if view.note else ""
        body, shown = [], 0
        for row in view.rows:
            rendered = row_html(row, start)
            size = len(rendered.encode())
            if used + size > VIEW_BUDGET:
                break
            used += size
            body.append(rendered)
            shown += 1
        if shown < len(view.rows):
            complete = False
            note += (
                f"<p><b>{shown:,} of {len(view.rows):,} shown here</b>; "
                f'<a href="transcript/view-{number}.html">all of them</a>.</p>'
            )
        parts.append(f"<h3>{html.escape(view.title)}</h3>{note}{''.join(body)}")
    parts.append("<h3>Every agent's timeline</h3>")
    used, left_out = 0, []
    for name, rows in agents.items():
        rendered = "".join(row_html(row, start) for row in rows) if used <= AGENT_BUDGET else ""
        size = len(rendered.encode())
        if not rendered or used + size > AGENT_BUDGET:
            used = AGENT_BUDGET + 1  # keep agents whole and in order: the rest go to pages
            left_out.append(name)
            continue
        used += size
        parts.append(
            f'<section class="agent" id="{anchor(name)}"><h4>{html.escape(name)}</h4>{rendered}</section>'
        )
    if left_out:
        complete = False
        parts.append(
            f"<p><b>Timelines of {len(agents) - len(left_out):,} of {len(agents):,} agents are "
            "embedded</b>; an agent's name opens its timeline from the companion folder.</p>"
        )
    if not complete:
        write_pages(views, agents, start, folder)
        parts.insert(
            0,
            "<p>This report embeds part of the transcripts (a size bound of about 12 MB); "
            '<a href="transcript/index.html">every view and every agent\'s timeline</a> is in '
            "the companion folder <code>transcript/</code> beside it.</p>",
        )
    return f'<h2 id="transcripts">Transcripts</h2>{filters(kinds)}' + "".join(parts)


def page(title: str, body: str) -> str:
    """A self-contained HTML page with the transcript style and the filter script."""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        "<style>body { font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; }"
        f"{STYLE}</style>"
        f"</head><body><h1>{html.escape(title)}</h1>{body}<script>{SCRIPT}</script></body></html>"
    )


def write_pages(
    views: Sequence[View], agents: Mapping[str, list[Row]], start: float, folder: Path
) -> Path:
    """``transcript/``: a page per view and per agent, and an index; returns the index."""
    target = folder / "transcript"
    target.mkdir(parents=True, exist_ok=True)
    links = []
    for number, view in enumerate(views):
        body = filters(_kinds(view.rows)) + "".join(row_html(row, start) for row in view.rows)
        (target / f"view-{number}.html").write_text(page(view.title, body), encoding="utf-8")
        links.append(f'<li><a href="view-{number}.html">{html.escape(view.title)}</a></li>')
    for name, rows in agents.items():
        body = filters(_kinds(rows)) + "".join(row_html(row, start) for row in rows)
        (target / f"{anchor(name)}.html").write_text(
            page(f"{name}: timeline", body), encoding="utf-8"
        )
        links.append(
            f'<li><a href="{anchor(name)}.html">{html.escape(name)}</a> ({len(rows)} rows)</li>'
        )
    index = target / "index.html"
    index.write_text(page("Transcripts", "<ul>" + "".join(links) + "</ul>"), encoding="utf-8")
    return index


def engine_view(events: Iterable[Event]) -> list[View]:
    """Interventions, broadcasts and survey answers of a run, in time order."""
    rows = tuple(
        Row(e.t, e.actor, e.kind, describe(e) if e.kind != "intervention" else _intervention(e))
        for e in events
        if e.kind in ("intervention", "broadcast", "survey")
    )
    note = "Scheduled changes (engine/interventions.py) and survey answers, which nobody perceives."
    return [View("Interventions and surveys", rows, note)] if rows else []


def _intervention(event: Event) -> str:
    payload = dict(event.payload)
    kind = payload.pop("kind", "?")
    return f"{kind}: " + ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in payload.items())


def latest(events: Sequence[Event], limit: int) -> list[dict[str, Any]]:
    """The latest ``limit`` agents' events as JSON-ready lines (the live view's transcript)."""
    rows = [e for e in events[-20 * limit :] if e.actor is not None][-limit:]
    return [{"t": e.t, "agent": e.actor, "kind": e.kind, "text": describe(e)[:400]} for e in rows]


def dumps(value: Any) -> str:
    """JSON for embedding in a script element (no closing tag can leak)."""
    return json.dumps(value).replace("</", "<\\/")
