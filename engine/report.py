"""The HTML report of a run: one self-contained file, plots embedded as PNG data URIs.

Sections: the run card (scenario, versions, model, seed, window, calls, tokens, cost, and
an ODD description), model usage, the game's plots (social media: degree CCDFs, each
friendship-paradox statistic over time with its null-model band, activity against
followers, the follow network; donor game: resources and donation fractions per
generation, punishment, example strategies), and an event timeline. Everything is
recomputed from the stored events.
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from engine.analysis import Run, load_run
from engine.runcard import run_card_markdown

PARADOX_SERIES = (
    ("friends_by_follower_count", "friends have more followers"),
    ("friends_by_friend_count", "friends follow more accounts"),
    ("activity", "friends are more active"),
    ("influence", "friends are more influential"),
)


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _figure(width: float = 6.4, height: float = 3.6, columns: int = 1) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, columns, figsize=(width, height))


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


def social_plots(run: Run, stats: dict[str, Any]) -> list[tuple[str, str]]:
    """CCDFs, paradox statistics over time with null bands, activity vs followers, network."""
    import networkx as nx

    from engine.network import paradox
    from engine.network.social import graphs_at

    plots: list[tuple[str, str]] = []
    G = run.graph("follow")
    fig, ax = _figure()
    for kind, label in (("in", "in-degree (followers)"), ("out", "out-degree (following)")):
        k = np.array(sorted(d for _, d in (G.in_degree() if kind == "in" else G.out_degree())))
        k = k[k > 0]
        if len(k):
            ccdf = 1.0 - np.arange(len(k)) / len(k)
            ax.loglog(k, ccdf, marker=".", linestyle="none", label=label)
    ax.set_xlabel("degree k")
    ax.set_ylabel("P(K >= k)")
    ax.legend()
    ax.set_title("degree distributions (CCDF)")
    plots.append(("Degree distributions", _png(fig)))

    snapshots = stats.get("snapshots", [])
    if snapshots:
        events = run.event_list
        start = events[0].t if events else 0.0
        fig, ax = _figure(7.5, 4.0)
        times = [(s["t"] - start) / 3600 for s in snapshots]
        for key, label in PARADOX_SERIES:
            values = [_fraction(s, key) for s in snapshots]
            line = ax.plot(times, values, marker="o", label=label)[0]
            low, high = [], []
            for snapshot in snapshots:  # null band: degree-preserving rewiring of that snapshot
                graphs = graphs_at(events, snapshot["t"], run.store.agents())
                activity = graphs.activity(max(snapshot["t"] - start, 1.0))
                influence = graphs.influence_of()
                attribute: Any = {"activity": activity, "influence": influence}.get(
                    key, "in_degree" if key == "friends_by_follower_count" else "out_degree"
                )
                null = paradox.null_model(
                    graphs.follow, partial(_paradox_fraction, attribute=attribute), samples=5
                )["f"]
                mean, sd = null["null_mean"], null["null_sd"] or 0.0
                low.append(np.nan if mean is None else mean - 2 * sd)
                high.append(np.nan if mean is None else mean + 2 * sd)
            ax.fill_between(times, low, high, color=line.get_color(), alpha=0.15)
        ax.set_ylim(0, 1)
        ax.set_xlabel("simulated hours")
        ax.set_ylabel("share of nodes with the paradox")
        ax.legend(fontsize=7)
        ax.set_title("friendship paradox over time (bands: null model, mean +/- 2 SD)")
        plots.append(("Paradox over time", _png(fig)))

    graphs = graphs_at(run.event_list, agents=run.store.agents())
    elapsed = max(run.event_list[-1].t - run.event_list[0].t, 1.0) if run.event_list else 1.0
    activity = graphs.activity(elapsed)
    fig, ax = _figure()
    ax.scatter([activity[n] for n in G], [G.in_degree(n) for n in G], s=12, alpha=0.7)
    ax.set_xlabel("activity (content per simulated day)")
    ax.set_ylabel("followers")
    ax.set_title("activity against followers")
    plots.append(("Activity against followers", _png(fig)))

    if 0 < G.number_of_nodes() <= 500:
        fig, ax = _figure(6.5, 6.5)
        layout = nx.spring_layout(G, seed=1)
        sizes = [20 + 15 * G.in_degree(n) for n in G]
        nx.draw_networkx(
            G,
            layout,
            ax=ax,
            node_size=sizes,
            with_labels=False,
            arrowsize=5,
            width=0.4,
            node_color="#4c72b0",
            edge_color="#999999",
        )
        ax.set_title("follow network (size: followers)")
        ax.axis("off")
        plots.append(("Follow network", _png(fig)))
    return plots


def _paradox_fraction(G: Any, attribute: Any) -> dict[str, float | None]:
    from engine.network import paradox

    return {"f": paradox.individual_paradox(G, attribute, "out").fraction_mean}


def _fraction(snapshot: dict[str, Any], key: str) -> float:
    result = snapshot["individual"].get(key) or snapshot.get(key) or {}
    value = result.get("fraction_mean")
    return np.nan if value is None else float(value)


def donor_plots(stats: dict[str, Any]) -> list[tuple[str, str]]:
    """Resources and donation fraction per generation, punishment."""
    table = stats.get("per_generation", [])
    if not table:
        return []
    generations = [g["generation"] for g in table]
    plots = []
    fig, (left, right) = _figure(9, 3.6, columns=2)
    left.plot(generations, [g["resources_mean"] for g in table], marker="o")
    left.set_xlabel("generation")
    left.set_ylabel("mean final resources")
    right.plot(
        generations, [g["donation_fraction_mean"] for g in table], marker="o", color="#dd8452"
    )
    right.set_ylim(0, 1)
    right.set_xlabel("generation")
    right.set_ylabel("mean donation fraction")
    from matplotlib.ticker import MaxNLocator

    for axis in (left, right):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle("cooperation across generations")
    plots.append(("Resources and donations", _png(fig)))
    fig, ax = _figure()
    ax.bar(generations, [g["punishment_rate"] for g in table], color="#c44e52", label="punishment")
    ax.bar(
        generations,
        [g["invalid_rate"] for g in table],
        bottom=[g["punishment_rate"] for g in table],
        color="#8172b3",
        label="invalid",
    )
    ax.set_xlabel("generation")
    ax.set_ylabel("share of decisions")
    ax.legend()
    ax.set_title("punishment and invalid actions")
    plots.append(("Punishment", _png(fig)))
    return plots


def strategies_table(run: Run) -> str:
    """Up to three strategies per generation."""
    rows = []
    for event in run.event_list:
        if event.kind == "generation_end":
            strategies = [s for s in event.payload.get("strategies", {}).values() if s][:3]
            for text in strategies:
                rows.append(
                    f"<tr><td>{event.payload['generation']}</td><td>{html.escape(text)}</td></tr>"
                )
    if not rows:
        return ""
    return (
        "<h2>Example strategies</h2><table><tr><th>generation</th><th>strategy</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def write_report(path: str | Path, out: Path | None = None) -> Path:
    """Write ``report.html`` into the run folder (or ``out``) and return its path."""
    run = load_run(path)
    stats = run.stored_stats() or run.stats()
    sections: list[tuple[str, str]] = []
    usage = model_usage_plot(run)
    if usage:
        sections.append(("Model calls", usage))
    if run.game == "social_media":
        sections += social_plots(run, stats)
    elif run.game == "donor_game":
        sections += donor_plots(stats)
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
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>socium report: {html.escape(run.folder.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
pre {{ background: #f6f6f6; padding: 1em; white-space: pre-wrap; }}
</style></head>
<body>
<h1>{html.escape(run.info["scenario_name"])} &middot; {html.escape(run.folder.name)}</h1>
<p>game <b>{html.escape(run.game)}</b>, seed {run.info["seed"]}, status {html.escape(run.info["status"])},
simulated time {run.info["sim_time"]:.0f} s, {run.info["windows"]} windows.</p>
<h2>Model usage</h2><table>{usage_rows}</table>
{figures}
{strategies_table(run) if run.game == "donor_game" else ""}
<h2>Run card</h2><pre>{card}</pre>
<script>
window.addEventListener("load", function () {{
  var images = Array.prototype.slice.call(document.images);
  var ok = images.filter(function (img) {{ return img.complete && img.naturalWidth > 0; }}).length;
  document.body.setAttribute("data-images", ok + "/" + images.length);
}});
</script>
</body></html>
"""
    target = (out or run.folder) / "report.html"
    target.write_text(page, encoding="utf-8")
    return target
