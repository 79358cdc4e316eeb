"""The run store: one SQLite file (WAL) per run folder, append-only events.

Everything a decision window produced (events, model calls, memories, an optional
game-master snapshot, the window row itself) is written in ONE transaction, so a run
killed at any moment leaves only whole windows. The tables are plain SQLite, readable
with ``sqlite3``, pandas (``pd.read_sql``) or DuckDB; the schema is in the README.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.types import CallRow, Event, MemoryRow, SociumError

SCHEMA_VERSION = 1
STORE_FILE = "run.sqlite"
TABLES = (
    "run",
    "agents",
    "windows",
    "events",
    "model_calls",
    "memories",
    "snapshots",
    "stats",
    "meta",
)

SURVEYS = """
CREATE TABLE IF NOT EXISTS surveys (
    run TEXT NOT NULL, t REAL NOT NULL, agent TEXT NOT NULL, question TEXT NOT NULL,
    answer TEXT NOT NULL, rating INTEGER, parse TEXT NOT NULL, model TEXT, asked_at TEXT NOT NULL
);
"""

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS run (
    id TEXT PRIMARY KEY, scenario_name TEXT NOT NULL, scenario_path TEXT,
    scenario_yaml TEXT NOT NULL, overrides TEXT NOT NULL, seed INTEGER NOT NULL,
    game TEXT NOT NULL, window REAL NOT NULL, versions TEXT NOT NULL, status TEXT NOT NULL,
    started_at TEXT NOT NULL, ended_at TEXT, sim_time REAL NOT NULL DEFAULT 0,
    windows INTEGER NOT NULL DEFAULT 0, summary TEXT
);
CREATE TABLE IF NOT EXISTS agents (
    run TEXT NOT NULL, id TEXT NOT NULL, idx INTEGER NOT NULL, persona TEXT NOT NULL,
    PRIMARY KEY (run, id)
);
CREATE TABLE IF NOT EXISTS windows (
    run TEXT NOT NULL, idx INTEGER NOT NULL, t_start REAL NOT NULL, t_end REAL NOT NULL,
    activations INTEGER NOT NULL, events INTEGER NOT NULL, committed_at TEXT NOT NULL,
    PRIMARY KEY (run, idx)
);
CREATE TABLE IF NOT EXISTS events (
    run TEXT NOT NULL, seq INTEGER NOT NULL, t REAL NOT NULL, actor TEXT, kind TEXT NOT NULL,
    target TEXT, payload TEXT NOT NULL, perceivers TEXT NOT NULL, window INTEGER NOT NULL,
    PRIMARY KEY (run, seq)
);
CREATE TABLE IF NOT EXISTS model_calls (
    run TEXT NOT NULL, id INTEGER NOT NULL, window INTEGER NOT NULL, t REAL, agent TEXT,
    purpose TEXT, backend TEXT NOT NULL, model TEXT, prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL, latency_ms REAL NOT NULL, retries INTEGER NOT NULL,
    outcome TEXT NOT NULL, cached INTEGER NOT NULL, request_hash TEXT, prompt TEXT, reply TEXT,
    error TEXT, PRIMARY KEY (run, id)
);
CREATE TABLE IF NOT EXISTS memories (
    run TEXT NOT NULL, agent TEXT NOT NULL, id INTEGER NOT NULL, t REAL NOT NULL,
    kind TEXT NOT NULL, importance REAL NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (run, agent, id)
);
CREATE TABLE IF NOT EXISTS snapshots (
    run TEXT NOT NULL, window INTEGER NOT NULL, t REAL NOT NULL, state TEXT NOT NULL,
    PRIMARY KEY (run, window)
);
CREATE TABLE IF NOT EXISTS stats (
    run TEXT NOT NULL, name TEXT NOT NULL, t REAL, value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_kind ON events (run, kind);
"""
    + SURVEYS
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str)


def _json(value: Any) -> str:
    """Stored JSON: sorted keys, text as is (one encoder, built once: a hot path)."""
    return _ENCODER.encode(value)


def _event_row(e: Event) -> tuple[Any, ...]:
    """An event as stored: (seq, t, actor, kind, target, payload JSON, perceivers JSON)."""
    return (
        e.seq,
        e.t,
        e.actor,
        e.kind,
        e.target,
        _json(dict(e.payload)),
        _json(list(e.perceivers)),
    )


class RunStore:
    """Read and append to ``run.sqlite`` of one run folder."""

    def __init__(
        self,
        folder: str | Path,
        *,
        create: bool = False,
        read_only: bool = False,
        live: bool = False,
    ) -> None:
        """Open (or ``create``) the store; ``live``: a read-only reader of a running store."""
        self.folder = Path(folder)
        self.path = self.folder / STORE_FILE
        if not create and not self.path.is_file():
            raise SociumError(f"{self.folder}: no {STORE_FILE} here; is this a run folder?")
        try:
            if live:  # a WAL reader beside the writer: never the immutable fallback
                self.db = sqlite3.connect(
                    f"file:{self.path}?mode=ro", uri=True, timeout=10, check_same_thread=False
                )
            elif read_only:
                self.db = _read_only(self.path)
            else:
                self.folder.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
            if create:
                self.db.executescript(SCHEMA)
                self.db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            version = self.schema_version()
            row = self.db.execute("SELECT id FROM run").fetchone() if version else None
        except sqlite3.DatabaseError as err:
            raise SociumError(
                f"{self.path}: cannot read this run store ({err}): it is damaged or not a "
                "socium store; `socium resume` cannot repair it, re-run the scenario"
            ) from None
        if version != SCHEMA_VERSION:
            raise SociumError(
                f"{self.folder}: run store schema version {version}; this socium reads version "
                f"{SCHEMA_VERSION}. Open it with the socium release that wrote it (see the "
                "run's versions), or re-run the scenario."
            )
        self.run_id: str = row[0] if row else self.folder.name

    def table(self, name: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """A whole table: its column names and rows (``run`` and ``events`` ordered)."""
        if name not in TABLES:
            raise SociumError(f"no table {name!r}; tables: {', '.join(TABLES)}")
        order = {
            "events": " ORDER BY seq",
            "model_calls": " ORDER BY id",
            "windows": " ORDER BY idx",
        }
        cursor = self.db.execute(f"SELECT * FROM {name}{order.get(name, '')}")
        return [c[0] for c in cursor.description], cursor.fetchall()

    def models_served(self) -> list[str]:
        """The model ids the backend reported, sorted."""
        rows = self.db.execute(
            "SELECT DISTINCT model FROM model_calls WHERE model IS NOT NULL ORDER BY model"
        )
        return [str(row[0]) for row in rows]

    def stored_stats(self) -> dict[str, Any]:
        """The statistics written when the run ended (name -> JSON value)."""
        rows = self.db.execute("SELECT name, value FROM stats WHERE t IS NULL").fetchall()
        return {name: json.loads(value) for name, value in rows}

    def integrity(self) -> str | None:
        """None if SQLite's quick check passes, else what it found."""
        rows = [str(r[0]) for r in self.db.execute("PRAGMA quick_check(5)").fetchall()]
        return None if rows == ["ok"] else "; ".join(rows)

    def schema_version(self) -> int | None:
        """The schema version recorded in the store (None: not a socium store)."""
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.DatabaseError:
            return None
        return int(row[0]) if row else None

    def meta(self, key: str) -> Any:
        """A JSON value stored under ``key`` in the ``meta`` table (None if absent)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    # -- writing ----------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON value under ``key`` in the ``meta`` table."""
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, _json(value)))

    def start_run(
        self,
        *,
        scenario_name: str,
        scenario_path: str,
        scenario_yaml: str,
        overrides: Sequence[str],
        seed: int,
        game: str,
        window: float,
        versions: Mapping[str, str],
        agents: Sequence[tuple[str, Mapping[str, Any]]],
    ) -> None:
        """Record the run header and its agents (one transaction)."""
        with self._transaction():
            self.db.execute(
                "INSERT INTO run (id, scenario_name, scenario_path, scenario_yaml, overrides, seed,"
                " game, window, versions, status, started_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    self.run_id,
                    scenario_name,
                    scenario_path,
                    scenario_yaml,
                    _json(list(overrides)),
                    seed,
                    game,
                    window,
                    _json(versions),
                    "running",
                    _now(),
                ),
            )
            self.db.executemany(
                "INSERT INTO agents VALUES (?,?,?,?)",
                [
                    (self.run_id, name, i, _json(persona))
                    for i, (name, persona) in enumerate(agents)
                ],
            )

    def commit_window(
        self,
        *,
        index: int,
        t_start: float,
        t_end: float,
        activations: int,
        events: Sequence[Event],
        calls: Iterable[CallRow] = (),
        memories: Iterable[MemoryRow] = (),
        snapshot: Mapping[str, Any] | None = None,
        sim_time: float | None = None,
        agents: Sequence[tuple[str, Mapping[str, Any]]] = (),
    ) -> None:
        """Append one decision window, atomically (with agents it introduced)."""
        run = self.run_id
        with self._transaction():
            if agents:
                start = self.count("agents")
                self.db.executemany(
                    "INSERT INTO agents VALUES (?,?,?,?)",
                    [(run, name, start + i, _json(p)) for i, (name, p) in enumerate(agents)],
                )
            self.db.executemany(
                "INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)",
                [(run, *_event_row(e), index) for e in events],
            )
            self.db.executemany(
                "INSERT INTO model_calls VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        run,
                        c.id,
                        index,
                        c.t,
                        c.agent,
                        c.purpose,
                        c.backend,
                        c.model,
                        c.prompt_tokens,
                        c.completion_tokens,
                        c.latency_ms,
                        c.retries,
                        c.outcome,
                        int(c.cached),
                        c.request_hash,
                        c.prompt,
                        c.reply,
                        c.error,
                    )
                    for c in calls
                ],
            )
            self.db.executemany(
                "INSERT INTO memories VALUES (?,?,?,?,?,?,?)",
                [(run, m.agent, m.id, m.t, m.kind, m.importance, m.text) for m in memories],
            )
            if snapshot is not None:
                self.db.execute(
                    "INSERT OR REPLACE INTO snapshots VALUES (?,?,?,?)",
                    (run, index, t_end, _json(snapshot)),
                )
            self.db.execute(
                "INSERT INTO windows VALUES (?,?,?,?,?,?,?)",
                (run, index, t_start, t_end, activations, len(events), _now()),
            )
            self.db.execute(
                "UPDATE run SET windows = ?, sim_time = ? WHERE id = ?",
                (index + 1, t_end if sim_time is None else sim_time, run),
            )

    def reopen(self) -> None:
        """Mark a stopped run as running again (resume)."""
        with self._transaction():
            self.db.execute(
                "UPDATE run SET status = 'running', ended_at = NULL WHERE id = ?", (self.run_id,)
            )

    def verify_window(self, index: int, events: Sequence[Event]) -> None:
        """Check re-executed events against a stored window (resume); raise on divergence."""
        stored = self.db.execute(
            "SELECT seq, t, actor, kind, target, payload, perceivers FROM events WHERE window = ? ORDER BY seq",
            (index,),
        ).fetchall()
        fresh = [_event_row(e) for e in events]
        if stored != fresh:
            first = next(
                (i for i, (a, b) in enumerate(zip(stored, fresh, strict=False)) if a != b), 0
            )
            raise SociumError(
                f"{self.path}: resume diverged from the stored run in window {index} (event "
                f"{first}): the code, the model's replies or the embedder's arithmetic (torch "
                "build, CPU, embedder.threads: see the run card's determinism record) differ "
                "from those that wrote it"
            )

    def replies(self, before: float | None = None) -> dict[str, tuple[str, int, int, str | None]]:
        """Stored replies by request hash (resume and forks serve them instead of asking).

        ``before``: only replies to requests made before that simulated time.
        """
        rows = self.db.execute(
            "SELECT request_hash, reply, prompt_tokens, completion_tokens, model FROM model_calls"
            " WHERE reply IS NOT NULL AND outcome != 'error' AND (? IS NULL OR t < ?)",
            (before, before),
        )
        return {h: (reply, p, c, model) for h, reply, p, c, model in rows}

    def write_surveys(
        self, rows: Iterable[tuple[float, str, str, str, int | None, str, str | None]]
    ) -> None:
        """Answers of ``socium survey`` (t, agent, question, answer, rating, parse, model)."""
        with self._transaction():
            self.db.execute(SURVEYS)  # stores written before surveys existed
            self.db.executemany(
                "INSERT INTO surveys VALUES (?,?,?,?,?,?,?,?,?)",
                [(self.run_id, *row, _now()) for row in rows],
            )

    def surveys(self) -> list[tuple[Any, ...]]:
        """``socium survey``'s answers: (t, agent, question, answer, rating, parse, model, asked_at)."""
        found = self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'surveys'"
        ).fetchone()
        if not found:
            return []
        return self.db.execute(
            "SELECT t, agent, question, answer, rating, parse, model, asked_at FROM surveys"
            " ORDER BY rowid"
        ).fetchall()

    def finish(
        self, status: str, summary: Mapping[str, Any], sim_time: float | None = None
    ) -> None:
        """Mark the run finished, interrupted or failed, with its summary."""
        with self._transaction():
            self.db.execute(
                "UPDATE run SET status = ?, ended_at = ?, summary = ?,"
                " sim_time = COALESCE(?, sim_time) WHERE id = ?",
                (status, _now(), _json(summary), sim_time, self.run_id),
            )

    def write_stats(
        self, rows: Iterable[tuple[str, float | None, Any]], *, replace: bool = True
    ) -> None:
        """Store statistics rows (name, simulated time or None, JSON value)."""
        with self._transaction():
            if replace:
                self.db.execute("DELETE FROM stats WHERE run = ?", (self.run_id,))
            self.db.executemany(
                "INSERT INTO stats VALUES (?,?,?,?)",
                [(self.run_id, name, t, _json(value)) for name, t, value in rows],
            )

    # -- reading ----------------------------------------------------------------------
    def run_info(self) -> dict[str, Any]:
        """The run row as a dict (JSON columns decoded)."""
        cursor = self.db.execute("SELECT * FROM run")
        row = cursor.fetchone()
        if row is None:
            raise SociumError(
                f"{self.path}: the run header is missing (the run was killed before it started); "
                "start it again with socium run --out on this folder"
            )
        info = dict(zip([c[0] for c in cursor.description], row, strict=True))
        for key in ("overrides", "versions", "summary"):
            if info.get(key):
                info[key] = json.loads(info[key])
        return info

    def events(self) -> list[Event]:
        """All committed events in sequence order."""
        return [event for event, _ in self.events_after(-1)]

    def events_after(self, seq: int) -> list[tuple[Event, int]]:
        """Committed events after sequence number ``seq``, each with its window index."""
        rows = self.db.execute(
            "SELECT t, kind, actor, target, payload, perceivers, seq, window FROM events "
            "WHERE seq > ? ORDER BY seq",
            (seq,),
        )
        return [
            (Event(t, kind, actor, target, json.loads(payload), tuple(json.loads(perc)), s), w)
            for t, kind, actor, target, payload, perc, s, w in rows
        ]

    def decisions(self) -> Iterator[tuple[int, str, str, str | None, str | None]]:
        """``(window, agent, outcome, prompt, reply)`` of every decision call, in call order."""
        yield from self.db.execute(
            "SELECT window, agent, outcome, prompt, reply FROM model_calls "
            "WHERE purpose = 'decide' AND agent IS NOT NULL ORDER BY id"
        )

    def agents(self) -> dict[str, dict[str, Any]]:
        """Personas by agent name, in the order agents joined."""
        rows = self.db.execute("SELECT id, persona FROM agents ORDER BY idx")
        return {name: json.loads(persona) for name, persona in rows}

    def count(self, table: str) -> int:
        """Rows in one of the store's tables."""
        if table not in TABLES:
            raise ValueError(f"no table {table!r}")
        return int(self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        self.db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)


class FolderLock:
    """An exclusive lock on a run folder, held while a process runs or resumes it.

    ``flock`` on ``run.lock``: the kernel drops it when the process dies, so a killed
    run never leaves a stale lock. The file records who holds it, for the message.
    """

    def __init__(self, folder: Path) -> None:
        import fcntl
        import os

        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "run.lock"
        self.handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "another process"
            self.handle.close()
            raise SociumError(
                f"{folder} is in use by {holder}; wait for it to end, or choose another --out"
            ) from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"socium process {os.getpid()} (since {_now()})")
        self.handle.flush()

    def release(self) -> None:
        """Let another process take the folder."""
        if not self.handle.closed:
            self.handle.close()


def _read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection; on a read-only folder (no WAL index can be made) immutable."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    try:
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        db.close()
    return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
