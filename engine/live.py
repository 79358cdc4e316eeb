"""The live view: a page on 127.0.0.1 that follows a run through its store.

``socium run ... --serve`` starts it beside the run; ``socium watch RUN_DIR`` follows a
run started elsewhere (or a finished one). The page polls ``/state`` once a second: the
simulated clock against the game's own end, windows, actions per kind, model calls,
tokens, cost, malformed replies and fallbacks, the game's headline figures over time
(``Game.headline``) and the latest transcript lines.

The view only reads: each poll opens the store read-only as a WAL reader, reads what was
committed since the last poll and closes it, so the run's events cannot depend on it. It
uses the standard library's HTTP server, bound to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from engine.games import Game, RunData, load_game
from engine.simtime import format_time, parse_duration
from engine.store import RunStore
from engine.transcript import latest
from engine.types import Event, SociumError

HEADLINE_EVERY = 1.0  # wall seconds between recomputations of the game's headline figures
HISTORY = 2000  # headline points kept (older ones thinned)
BACKFILL = 50  # points of history computed when the view joins a run late


class Follower:
    """Reads a run's store incrementally (read-only) and keeps the headline history."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lock = threading.Lock()
        self.seq = -1
        self.call_id = -1
        self.events: list[Event] = []
        self.kinds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.history: list[dict[str, float]] = []
        self.windows = 0
        self.computed = 0.0
        self.setup: dict[str, Any] | None = None

    def state(self) -> dict[str, Any]:
        """What the page shows, as JSON-ready data."""
        with self.lock:
            try:
                store = RunStore(self.folder, live=True)
            except SociumError as err:
                return {"status": "waiting", "message": str(err)}
            try:
                return self._read(store)
            except SociumError as err:  # the header is not written yet
                return {"status": "waiting", "message": str(err)}
            finally:
                store.close()

    def _read(self, store: RunStore) -> dict[str, Any]:
        info = store.run_info()
        setup = self.setup or self._setup(info, store)
        game: Game = setup["game"]
        windows, clock = store.db.execute(
            "SELECT COUNT(*), COALESCE(MAX(t_end), ?) FROM windows", (setup["start"],)
        ).fetchone()
        if info["status"] != "running":
            clock = max(float(clock), float(info["sim_time"] or clock))
        fresh = store.events_after(self.seq)
        for event, _ in fresh:
            self.events.append(event)
            self.kinds[event.kind] += 1
        if fresh:
            self.seq = fresh[-1][0].seq
        self._count_calls(store)
        elapsed = float(clock) - setup["start"]
        if not self.history and windows > 1:  # joined late: the history so far, sampled
            ends = [t for (t,) in store.db.execute("SELECT t_end FROM windows ORDER BY idx")]
            for t in ends[:: max(1, len(ends) // BACKFILL)][:-1]:
                self._headline(game, setup, info, float(t))
        if windows != self.windows and (
            time.monotonic() - self.computed >= HEADLINE_EVERY or info["status"] != "running"
        ):
            self.windows = windows
            self.computed = time.monotonic()
            self._headline(game, setup, info, float(clock))
        end = setup["end"]
        prices = setup["prices"]
        cost = (
            self.calls["prompt_tokens"] * prices.get("prompt", 0.0)
            + self.calls["completion_tokens"] * prices.get("completion", 0.0)
        ) / 1e6
        return {
            "status": info["status"],
            "run": self.folder.name,
            "scenario": info["scenario_name"],
            "game": info["game"],
            "clock": format_time(elapsed),
            "game_clock": game.clock(setup["section"], elapsed),
            "progress": min(elapsed / end, 1.0) if end > 0 else None,
            "until": format_time(end),
            "windows": int(windows),
            "actions": dict(self.kinds.most_common()),
            "model_calls": self.calls["calls"],
            "prompt_tokens": self.calls["prompt_tokens"],
            "completion_tokens": self.calls["completion_tokens"],
            "retries": self.calls["retries"],
            "malformed_replies": self.calls["malformed"],
            "fallbacks": self.calls["fallbacks"],
            "cost": round(cost, 6),
            "headline": self.history,
            "latest": [
                {**line, "clock": format_time(line["t"] - setup["start"])}
                for line in latest(self.events, 25)
            ],
        }

    def _headline(
        self, game: Game, setup: dict[str, Any], info: dict[str, Any], clock: float
    ) -> None:
        """Append the game's headline figures as they stood at simulated time ``clock``."""
        late = self.events and clock < self.events[-1].t
        events = [e for e in self.events if e.t <= clock] if late else self.events
        data = RunData(
            events,
            setup["agents"],
            setup["section"],
            start=setup["start"],
            end=clock,
            seed=int(info["seed"]),
        )
        figures = {k: round(float(v), 6) for k, v in game.headline(data).items()}
        self.history.append({"hours": round((clock - setup["start"]) / 3600, 4), **figures})
        if len(self.history) > HISTORY:
            self.history = self.history[::2]

    def _setup(self, info: dict[str, Any], store: RunStore) -> dict[str, Any]:
        """What never changes during a run: the game, its section, the clock's bounds."""
        import yaml

        scenario = yaml.safe_load(info["scenario_yaml"]) or {}
        game = load_game(info["game"])
        body = {k: v for k, v in (scenario.get("game") or {}).items() if k != "type"}
        section = game.section.model_validate(body)
        horizon = game.horizon(section)
        duration = parse_duration(scenario.get("duration", 0) or 0)
        self.setup = {
            "game": game,
            "section": section,
            "start": parse_duration(scenario.get("start", 0) or 0),
            "end": min(duration, horizon) if horizon else duration,
            "agents": store.agents(),
            "prices": (scenario.get("model") or {}).get("prices") or {},
        }
        return self.setup

    def _count_calls(self, store: RunStore) -> None:
        row = store.db.execute(
            "SELECT MAX(id), COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(retries), "
            "SUM(outcome IN ('malformed', 'fallback')), SUM(outcome = 'fallback') "
            "FROM model_calls WHERE id > ?",
            (self.call_id,),
        ).fetchone()
        if row[0] is None:
            return
        self.call_id = int(row[0])
        for key, value in zip(
            ("calls", "prompt_tokens", "completion_tokens", "retries", "malformed", "fallbacks"),
            row[1:],
            strict=True,
        ):
            self.calls[key] += int(value or 0)


def serve(folder: Path, port: int = 0) -> ThreadingHTTPServer:
    """Serve the live view of ``folder`` on 127.0.0.1 (``port`` 0: any free port).

    The server runs on a daemon thread; ``server.shutdown()`` stops it. Its address is
    ``server.server_address``.
    """
    follower = Follower(folder)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._send(PAGE.encode(), "text/html; charset=utf-8")
            elif path == "/state":
                self._send(json.dumps(follower.state()).encode(), "application/json")
            else:
                self.send_error(404)

        def _send(self, body: bytes, kind: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the terminal belongs to the run's progress."""

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="socium-live", daemon=True).start()
    return server


def url(server: ThreadingHTTPServer) -> str:
    """The page's address."""
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}/"


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>socium live</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: .5em 0; }
td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
progress { width: 100%; height: 1.2em; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.line { border-left: 3px solid #ccd; margin: .2em 0; padding: 0 .5em; white-space: pre-wrap; }
.muted { color: #666; }
svg { border: 1px solid #ddd; background: #fff; }
</style></head>
<body>
<h1 id="title">socium live</h1>
<p id="status" class="muted">connecting...</p>
<progress id="bar" max="1" value="0"></progress>
<p><b id="clock"></b> <span id="game-clock"></span></p>
<div class="grid">
<div><h2>Run</h2><table id="run"></table><h2>Actions per kind</h2><table id="kinds"></table></div>
<div><h2>Headline figures</h2><div id="headline" class="muted">after the first window</div></div>
</div>
<h2>Latest transcript lines</h2><div id="latest"></div>
<script>
(function () {
  function el(id) { return document.getElementById(id); }
  function rows(table, pairs) {
    table.textContent = "";
    pairs.forEach(function (pair) {
      var tr = table.insertRow();
      tr.insertCell().textContent = pair[0];
      tr.insertCell().textContent = pair[1];
    });
  }
  function chart(points, key) {
    var w = 440, h = 90, xs = points.map(function (p) { return p.hours; });
    var ys = points.map(function (p) { return p[key]; }).filter(function (y) { return y !== undefined; });
    if (!ys.length) return null;
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    var y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) { y1 = y0 + 1; y0 = y0 - 1; }
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("width", w); svg.setAttribute("height", h);
    var line = document.createElementNS(ns, "polyline");
    line.setAttribute("fill", "none"); line.setAttribute("stroke", "#4c72b0");
    line.setAttribute("points", points.filter(function (p) { return p[key] !== undefined; }).map(function (p) {
      return ((p.hours - x0) / (x1 - x0) * (w - 10) + 5).toFixed(1) + "," +
             (h - 5 - (p[key] - y0) / (y1 - y0) * (h - 10)).toFixed(1);
    }).join(" "));
    svg.appendChild(line);
    [[y1.toPrecision(3), 12], [y0.toPrecision(3), h - 4], ["hours " + x0 + " to " + x1, h - 4, w - 120]]
      .forEach(function (label) {
        var text = document.createElementNS(ns, "text");
        text.setAttribute("x", label[2] || 4); text.setAttribute("y", label[1]);
        text.setAttribute("font-size", "10"); text.setAttribute("fill", "#666");
        text.textContent = label[0];
        svg.appendChild(text);
      });
    return svg;
  }
  function render(s) {
    if (s.status === "waiting") { el("status").textContent = "waiting for the run: " + s.message; return; }
    el("title").textContent = s.scenario + " \\u00b7 " + s.run;
    el("status").textContent = "game " + s.game + ", status " + s.status +
      (s.status === "running" ? " (refreshes every second)" : "");
    if (s.progress !== null) el("bar").value = s.progress;
    el("clock").textContent = "simulated " + s.clock + " of " + s.until;
    el("game-clock").textContent = s.game_clock;
    rows(el("run"), [["windows", s.windows], ["model calls", s.model_calls],
      ["tokens (prompt + completion)", s.prompt_tokens + " + " + s.completion_tokens],
      ["cost", s.cost], ["retries", s.retries], ["malformed replies", s.malformed_replies],
      ["fallbacks", s.fallbacks]]);
    el("run").setAttribute("data-windows", s.windows);
    rows(el("kinds"), Object.keys(s.actions).map(function (k) { return [k, s.actions[k]]; }));
    var box = el("headline");
    if (s.headline.length) {
      box.textContent = ""; box.className = "";
      var last = s.headline[s.headline.length - 1];
      Object.keys(last).filter(function (k) { return k !== "hours"; }).forEach(function (key) {
        var div = document.createElement("div");
        var p = document.createElement("p");
        p.textContent = key + ": " + last[key];
        div.appendChild(p);
        var svg = chart(s.headline, key);
        if (svg) div.appendChild(svg);
        box.appendChild(div);
      });
    }
    var lines = el("latest");
    lines.textContent = "";
    s.latest.slice().reverse().forEach(function (line) {
      var div = document.createElement("div");
      div.className = "line";
      div.textContent = line.clock + "  " + line.agent + ": " + line.text;
      lines.appendChild(div);
    });
  }
  var finished = false;
  function poll() {
    fetch("/state", {cache: "no-store"}).then(function (r) { return r.json(); }).then(function (s) {
      render(s);
      finished = s.status !== "running" && s.status !== "waiting";
    }).catch(function () {
      el("status").textContent = finished ? "the run has ended; the server stopped" :
        "the server is not answering (the run may have ended)";
    }).then(function () { setTimeout(poll, 1000); });
  }
  poll();
})();
</script>
</body></html>
"""
