"""Routing runs in an embedded SQLite database: runs, assignments, overrides and an audit log.

Every change is one transaction (``BEGIN IMMEDIATE`` … ``COMMIT``): a run is written whole or not
at all, so a crash in the middle leaves the previous state intact. A run is keyed by a hash of its
input, its panels and its options (:func:`run_key`); storing the same key again returns the run
already stored, which makes re-running the same input idempotent.

Proposal abstracts are not stored (only ids, titles and organisations): the database holds what the
routing sheet shows, no more.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from matcher.errors import InputError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    input_key TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    source TEXT,
    n_proposals INTEGER NOT NULL,
    n_flagged INTEGER NOT NULL,
    total_affinity REAL NOT NULL,
    matcher_version TEXT NOT NULL,
    options TEXT NOT NULL,
    panels TEXT NOT NULL,
    notes TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS assignments (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    proposal_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    title TEXT NOT NULL,
    applicant_org TEXT NOT NULL,
    partner_orgs TEXT NOT NULL,
    top_direction INTEGER,
    top_direction_title TEXT,
    top_score REAL,
    in_scope INTEGER,
    affinities TEXT NOT NULL,
    recused TEXT NOT NULL,
    panel_id TEXT,
    backup_panel_id TEXT,
    affinity REAL NOT NULL,
    flagged INTEGER NOT NULL,
    reason TEXT NOT NULL,
    initial_panel_id TEXT,
    overridden INTEGER NOT NULL DEFAULT 0,
    eligible INTEGER,
    failed_rules TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (run_id, proposal_id)
);
CREATE INDEX IF NOT EXISTS assignments_by_panel ON assignments (run_id, panel_id);
CREATE TABLE IF NOT EXISTS overrides (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    proposal_id TEXT NOT NULL,
    from_panel_id TEXT,
    to_panel_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    forced INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    run_id TEXT,
    detail TEXT NOT NULL
);
"""


class NotFound(InputError):
    """No such run, or no such proposal in a run."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_key(*parts: object) -> str:
    """A stable hash of JSON-able parts (the input, the panels, the options, the matcher's version)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode())
        h.update(b"\x00")
    return h.hexdigest()


@dataclass
class AssignmentRow:
    proposal_id: str
    seq: int
    title: str
    applicant_org: str
    partner_orgs: list[str]
    top_direction: int | None
    top_direction_title: str | None
    top_score: float | None
    in_scope: bool | None
    affinities: list[float]
    """Affinity to every panel of the run, in the run's panel order."""
    recused: list[list[int]]
    """Per panel of the run, indices of members with a conflict of interest."""
    panel_id: str | None
    backup_panel_id: str | None
    affinity: float
    flagged: bool
    reason: str
    initial_panel_id: str | None = None
    overridden: bool = False
    eligible: bool | None = None
    """The eligibility pre-check's verdict (None: not enough information, or not checked)."""
    failed_rules: list[str] = field(default_factory=list)
    """Keys of the rules of corpus/rules.yaml that the proposal fails."""


@dataclass
class RunRecord:
    run_id: str
    input_key: str
    created_at: str
    actor: str
    source: str | None
    n_proposals: int
    n_flagged: int
    total_affinity: float
    matcher_version: str
    options: dict
    panels: dict
    notes: list[str]


@dataclass
class OverrideRecord:
    id: int
    run_id: str
    proposal_id: str
    from_panel_id: str | None
    to_panel_id: str
    reason: str
    actor: str
    at: str
    forced: bool


@dataclass
class RunState:
    """A run as stored now (with its overrides applied)."""

    run: RunRecord
    rows: list[AssignmentRow]
    overrides: list[OverrideRecord] = field(default_factory=list)
    reused: bool = False
    """True when a routing call found this run already stored (same input, panels and options)."""

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def loads(self) -> dict[str, int]:
        out = {p["id"]: 0 for p in self.run.panels["panels"]}
        for r in self.rows:
            if r.panel_id:
                out[r.panel_id] += 1
        return out

    def row(self, proposal_id: str) -> AssignmentRow:
        for r in self.rows:
            if r.proposal_id == proposal_id:
                return r
        raise NotFound(f"run {self.run_id} has no proposal {proposal_id!r}", "proposal_id")


_ROW_COLUMNS = [f for f in AssignmentRow.__dataclass_fields__]
_JSON_ROW = {"partner_orgs", "affinities", "recused", "failed_rules"}
_BOOL_ROW = {"in_scope", "flagged", "overridden", "eligible"}
_ADDED_COLUMNS = {"eligible": "INTEGER", "failed_rules": "TEXT NOT NULL DEFAULT '[]'"}
"""Assignment columns added after schema version 1: databases written before them gain them on opening."""


def _row_values(row: AssignmentRow) -> tuple:
    d = asdict(row)
    return tuple(
        json.dumps(d[c], ensure_ascii=False) if c in _JSON_ROW else (None if d[c] is None else int(d[c])) if c in _BOOL_ROW else d[c]
        for c in _ROW_COLUMNS
    )


def _row_from_db(rec: sqlite3.Row) -> AssignmentRow:
    d = dict(rec)
    d.pop("run_id", None)
    for c in _JSON_ROW:
        d[c] = json.loads(d[c])
    for c in _BOOL_ROW:
        d[c] = None if d[c] is None else bool(d[c])
    return AssignmentRow(**d)


def assignment_rows(rows: Sequence[AssignmentRow], run_id: str) -> Iterator[tuple]:
    """The values inserted for a run's assignments (a generator: SQLite takes them one at a time)."""
    for row in rows:
        yield (run_id, *_row_values(row))


def _add_columns(con: sqlite3.Connection) -> None:
    """Give a database written before :data:`_ADDED_COLUMNS` those columns (another process may race us)."""
    have = {r["name"] for r in con.execute("PRAGMA table_info(assignments)")}
    for column, decl in _ADDED_COLUMNS.items():
        if column not in have:
            try:
                con.execute(f"ALTER TABLE assignments ADD COLUMN {column} {decl}")
            except sqlite3.OperationalError as err:
                if "duplicate column" not in str(err):
                    raise


class Tx:
    """Reads and writes inside one open transaction (see :meth:`RoutingStore.transaction`)."""

    def __init__(self, con: sqlite3.Connection):
        self.con = con

    # -- reads ------------------------------------------------------------------------------------
    def run_record(self, run_id: str) -> RunRecord:
        rec = self.con.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if rec is None:
            raise NotFound(f"no routing run {run_id!r}", "run_id")
        d = dict(rec)
        for c in ("options", "panels", "notes"):
            d[c] = json.loads(d[c])
        return RunRecord(**d)

    def run_id_for_key(self, input_key: str) -> str | None:
        rec = self.con.execute("SELECT run_id FROM runs WHERE input_key = ?", (input_key,)).fetchone()
        return rec["run_id"] if rec else None

    def rows(self, run_id: str) -> list[AssignmentRow]:
        cur = self.con.execute("SELECT * FROM assignments WHERE run_id = ? ORDER BY seq", (run_id,))
        return [_row_from_db(r) for r in cur]

    def row(self, run_id: str, proposal_id: str) -> AssignmentRow:
        rec = self.con.execute(
            "SELECT * FROM assignments WHERE run_id = ? AND proposal_id = ?", (run_id, proposal_id)
        ).fetchone()
        if rec is None:
            raise NotFound(f"run {run_id} has no proposal {proposal_id!r}", "proposal_id")
        return _row_from_db(rec)

    def loads(self, run_id: str) -> dict[str, int]:
        cur = self.con.execute(
            "SELECT panel_id, COUNT(*) AS n FROM assignments WHERE run_id = ? AND panel_id IS NOT NULL GROUP BY panel_id",
            (run_id,),
        )
        return {r["panel_id"]: r["n"] for r in cur}

    def overrides(self, run_id: str) -> list[OverrideRecord]:
        cur = self.con.execute("SELECT * FROM overrides WHERE run_id = ? ORDER BY id", (run_id,))
        return [OverrideRecord(**{**dict(r), "forced": bool(r["forced"])}) for r in cur]

    def state(self, run_id: str, reused: bool = False) -> RunState:
        return RunState(self.run_record(run_id), self.rows(run_id), self.overrides(run_id), reused)

    # -- writes -----------------------------------------------------------------------------------
    def event(self, actor: str, action: str, run_id: str | None, detail: dict | None = None) -> None:
        self.con.execute(
            "INSERT INTO events (at, actor, action, run_id, detail) VALUES (?, ?, ?, ?, ?)",
            (now(), actor, action, run_id, json.dumps(detail or {}, ensure_ascii=False)),
        )

    def insert_run(self, run: RunRecord, rows: Sequence[AssignmentRow]) -> None:
        d = asdict(run)
        for c in ("options", "panels", "notes"):
            d[c] = json.dumps(d[c], ensure_ascii=False)
        cols = list(d)
        self.con.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", [d[c] for c in cols])
        self.con.executemany(
            f"INSERT INTO assignments (run_id, {', '.join(_ROW_COLUMNS)}) VALUES ({', '.join('?' * (len(_ROW_COLUMNS) + 1))})",
            assignment_rows(rows, run.run_id),
        )

    def update_row(self, run_id: str, row: AssignmentRow) -> None:
        values = dict(zip(_ROW_COLUMNS, _row_values(row)))
        sets = ", ".join(f"{c} = ?" for c in _ROW_COLUMNS if c != "proposal_id")
        self.con.execute(
            f"UPDATE assignments SET {sets} WHERE run_id = ? AND proposal_id = ?",
            [values[c] for c in _ROW_COLUMNS if c != "proposal_id"] + [run_id, row.proposal_id],
        )

    def insert_override(self, o: OverrideRecord) -> int:
        cur = self.con.execute(
            "INSERT INTO overrides (run_id, proposal_id, from_panel_id, to_panel_id, reason, actor, at, forced) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (o.run_id, o.proposal_id, o.from_panel_id, o.to_panel_id, o.reason, o.actor, o.at, int(o.forced)),
        )
        return int(cur.lastrowid)


class RoutingStore:
    """The database at ``path`` (created with its schema on first use)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.is_dir():
            raise InputError(f"database {self.path}: is a folder; give a file name such as routing.sqlite", "db")
        if not self.path.parent.exists():
            raise InputError(f"database {self.path}: folder {self.path.parent} does not exist", "db")
        self._init_schema()

    def _connect(self) -> sqlite3.Connection:
        try:
            con = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA foreign_keys = ON")
            con.execute("PRAGMA busy_timeout = 30000")
            con.execute("PRAGMA synchronous = FULL")
            return con
        except sqlite3.DatabaseError as err:
            raise InputError(f"database {self.path}: cannot be opened ({err})", "db") from None

    def _init_schema(self) -> None:
        con = self._connect()
        try:
            try:
                con.executescript(_SCHEMA)
                rec = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            except sqlite3.DatabaseError as err:
                raise InputError(f"database {self.path}: not a routing database ({err})", "db") from None
            if rec is None:
                con.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(rec["value"]) != SCHEMA_VERSION:
                raise InputError(
                    f"database {self.path}: schema version {rec['value']}, this program reads {SCHEMA_VERSION}", "db"
                )
            _add_columns(con)
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One write transaction: committed when the block ends, rolled back on any exception."""
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(con)
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    @contextmanager
    def reading(self) -> Iterator[Tx]:
        """A consistent snapshot to read from."""
        con = self._connect()
        try:
            con.execute("BEGIN")
            try:
                yield Tx(con)
            finally:
                if con.in_transaction:
                    con.execute("ROLLBACK")
        finally:
            con.close()

    # -- conveniences -------------------------------------------------------------------------------
    def state(self, run_id: str) -> RunState:
        with self.reading() as tx:
            return tx.state(run_id)

    def run_id_for_key(self, input_key: str) -> str | None:
        with self.reading() as tx:
            return tx.run_id_for_key(input_key)

    def save_run(self, run: RunRecord, rows: Sequence[AssignmentRow]) -> tuple[str, bool]:
        """Store a run whole (or find the one with the same key); (run_id, True if it was already there)."""
        try:
            with self.transaction() as tx:
                existing = tx.run_id_for_key(run.input_key)
                if existing:
                    tx.event(run.actor, "run.reused", existing, {"source": run.source})
                    return existing, True
                tx.insert_run(run, rows)
                tx.event(run.actor, "run.created", run.run_id,
                         {"source": run.source, "n_proposals": run.n_proposals, "n_flagged": run.n_flagged})
                return run.run_id, False
        except sqlite3.IntegrityError:
            # Another process stored the same input at the same moment: theirs stands.
            existing = self.run_id_for_key(run.input_key)
            if existing:
                return existing, True
            raise

    def record_reuse(self, run_id: str, actor: str, source: str | None) -> None:
        self.log_event(actor, "run.reused", run_id, {"source": source})

    def log_event(self, actor: str, action: str, run_id: str | None, detail: dict | None = None) -> None:
        with self.transaction() as tx:
            tx.event(actor, action, run_id, detail)

    def runs(self) -> list[RunRecord]:
        with self.reading() as tx:
            ids = [r["run_id"] for r in tx.con.execute("SELECT run_id FROM runs ORDER BY created_at, run_id")]
            return [tx.run_record(i) for i in ids]

    def events(self, run_id: str | None = None) -> list[dict]:
        with self.reading() as tx:
            if run_id is None:
                cur = tx.con.execute("SELECT * FROM events ORDER BY id")
            else:
                cur = tx.con.execute("SELECT * FROM events WHERE run_id = ? ORDER BY id", (run_id,))
            return [{**dict(r), "detail": json.loads(r["detail"])} for r in cur]

    def integrity_ok(self) -> bool:
        con = self._connect()
        try:
            return con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            con.close()
