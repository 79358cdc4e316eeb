"""The HTML report of a run: one self-contained file, plots embedded as PNG data URIs.

Sections: the run card (scenario, versions, model, seed, window, calls, tokens, cost, and
an ODD description), model usage, the game's own figures and tables (from the game
plugin), an event timeline, and the transcripts (:mod:`engine.transcript`): the game's
views and every agent's timeline, filterable, with what each agent saw and the model's
raw reply one click away. Everything is recomputed from the stored events.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Collection
from pathlib import Path

import numpy as np

from engine.analysis import Run, load_run
from engine.games import Table
from engine.plotting import figure as _figure
from engine.plotting import png as _png
from engine.runcard import run_card_markdown
from engine.simtime import format_time
from engine.transcript import SCRIPT, STYLE, agent_link, engine_view, section, timelines


def model_usage_plot(run: Run) -> str | None:
    """Histogram of model-call latency."""
    calls = run.model_calls
    if calls.empty:
        return None
    fig, ax = _figure()
    ax.hist(calls["latency_ms"] / 1000, bins=40, color="#4c72b0")
    ax.set_xlabel("latency per call (s)")
    ax.set_ylabel("calls")
    ax.set_title("model-call latency")
    return _png(fig)


def timeline_plot(run: Run) -> str | None:
    """Events per kind over simulated time."""
    events = run.events
    if events.empty:
        return None
    fig, ax = _figure(7.5, 3.6)
    hours = (events["t"] - events["t"].min()) / 3600
    kinds = [k for k, _ in Counter(events["kind"]).most_common(8)]
    bins = np.linspace(0, max(float(hours.max()), 1e-6), 40)
    ax.hist([hours[events["kind"] == k] for k in kinds], bins=bins, stacked=True, label=kinds)
    ax.set_xlabel("simulated hours since start")
    ax.set_ylabel("events")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("event timeline")
    return _png(fig)


def table_html(table: Table, agents: Collection[str] = ()) -> str:
    """A game's table as escaped HTML; agents' names link to their timelines."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{agent_link(cell) if isinstance(cell, str) and cell in agents else html.escape(str(cell))}</td>"
            for cell in row
        )
        + "</tr>"
        for row in table.rows
    )
    return f"<h2>{html.escape(table.title)}</h2><table><tr>{head}</tr>{body}</table>"


def write_report(path: str | Path, out: Path | None = None) -> Path:
    """Write ``report.html`` into the run folder (or ``out``) and return its path."""
    run = load_run(path)
    stats = run.stored_stats() or run.stats()
    data = run.data()
    sections: list[tuple[str, str]] = []
    usage = model_usage_plot(run)
    if usage:
        sections.append(("Model calls", usage))
    sections += [(plot.title, plot.image) for plot in run.plugin.plots(data, stats)]
    agents = timelines(run.store.events_after(-1), run.store.decisions())
    tables = "".join(table_html(table, agents) for table in run.plugin.tables(data, stats))
    timeline = timeline_plot(run)
    if timeline:
        sections.append(("Event timeline", timeline))
    summary = run.info.get("summary") or {}
    usage_rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(summary.get(k)))}</td></tr>"
        for k in (
            "model_calls",
            "model_calls_per_action",
            "prompt_tokens",
            "completion_tokens",
            "retries",
            "malformed_replies",
            "fallbacks",
            "cost",
        )
        if k in summary
    )
    figures = "".join(
        f'<section><h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" src="{src}"></section>'
        for title, src in sections
    )
    card = html.escape(run_card_markdown(run))
    folder = out or run.folder
    folder.mkdir(parents=True, exist_ok=True)
    views = engine_view(data.events) + run.plugin.views(data)
    transcripts = section(views, agents, run.start, folder)
    played = format_time(float(run.info["sim_time"]) - run.start)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>socium report: {html.escape(run.folder.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
pre {{ background: #f6f6f6; padding: 1em; white-space: pre-wrap; }}
{STYLE}
</style></head>
<body data-pages="transcript/">
<h1>{html.escape(run.info["scenario_name"])} &middot; {html.escape(run.folder.name)}</h1>
<p>game <b>{html.escape(run.game)}</b>, seed {run.info["seed"]}, status {html.escape(run.info["status"])},
simulated {played} from {format_time(run.start)}, {run.info["windows"]} windows.
<a href="#transcripts">Transcripts</a>: what the agents said and did.</p>
<h2>Model usage</h2><table>{usage_rows}</table>
{figures}
{tables}
{transcripts}
<h2>Run card</h2><pre>{card}</pre>
<script>{SCRIPT}</script>
<script>
window.addEventListener("load", function () {{
  var images = Array.prototype.slice.call(document.images);
  var ok = images.filter(function (img) {{ return img.complete && img.naturalWidth > 0; }}).length;
  document.body.setAttribute("data-images", ok + "/" + images.length);
}});
</script>
</body></html>
"""
    target = folder / "report.html"
    target.write_text(page, encoding="utf-8")
    return target
