"""Routing runs in an embedded SQLite database: runs, assignments, overrides and an audit log.

Every change is one transaction (``BEGIN IMMEDIATE`` … ``COMMIT``): a run is written whole or not
at all, so a crash in the middle leaves the previous state intact. A run is keyed by a hash of its
input, its panels and its options (:func:`run_key`); storing the same key again returns the run
already stored, which makes re-running the same input idempotent.

A run starts as a job (table ``jobs``: ``queued`` → ``running`` → ``done`` | ``failed`` |
``cancelled``, with its progress), so that any process on the database can report on it or cancel it;
its assignments are written only when it is done, in the same transaction that marks it done.

The proposals' texts (title and abstract) are stored with their run (table ``proposals``): a job is
matched from them, and an officer's corrections (table ``feedback``) become labelled examples with
them. They are confidential: never logged, dropped when a job fails or is cancelled, and deleted
with their run (:meth:`RoutingStore.delete_run`, which keeps an audit event).

Databases of an older schema are migrated when opened (:data:`MIGRATIONS`).
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from matcher.errors import InputError
from .proposals import Proposal

SCHEMA_VERSION = 2

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
STATUSES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED)
FINISHED = frozenset({DONE, FAILED, CANCELLED})
"""A job in one of these states is over: it may be deleted, and a new submission of its input starts afresh
(unless it is ``done``: then the stored run is the answer)."""

_SCHEMA_V1 = """
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

MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 2: routing runs as jobs (status, progress, owner), the proposals' texts, officers' corrections.
    2: (
        """CREATE TABLE jobs (
            run_id TEXT PRIMARY KEY,
            input_key TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
            done INTEGER NOT NULL DEFAULT 0,
            total INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            actor TEXT NOT NULL,
            source TEXT,
            matcher_version TEXT NOT NULL,
            options TEXT NOT NULL,
            panels TEXT NOT NULL,
            error_code TEXT,
            error TEXT,
            worker_id TEXT,
            worker_host TEXT,
            worker_pid INTEGER,
            heartbeat_at REAL
        )""",
        "CREATE INDEX jobs_by_status ON jobs (status, created_at)",
        """CREATE TABLE proposals (
            run_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            proposal_id TEXT NOT NULL,
            title TEXT NOT NULL,
            abstract TEXT NOT NULL,
            applicant_org TEXT NOT NULL,
            partner_orgs TEXT NOT NULL,
            line INTEGER,
            facts TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (run_id, seq)
        )""",
        """CREATE TABLE feedback (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL,
            proposal_id TEXT NOT NULL,
            direction INTEGER,
            basis TEXT NOT NULL,
            actor TEXT NOT NULL,
            at TEXT NOT NULL,
            override_id INTEGER
        )""",
        "CREATE INDEX feedback_by_run ON feedback (run_id, proposal_id)",
        "ALTER TABLE assignments ADD COLUMN directions TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE overrides ADD COLUMN direction INTEGER",
        # Runs stored before jobs existed are done jobs (their texts were never stored).
        """INSERT INTO jobs (run_id, input_key, status, done, total, created_at, started_at, finished_at, actor,
                             source, matcher_version, options, panels)
           SELECT run_id, input_key, 'done', n_proposals, n_proposals, created_at, created_at, created_at, actor,
                  source, matcher_version, options, panels FROM runs""",
    ),
}
"""Schema version -> the statements that bring a database of the version before it up to it."""


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
    directions: list[dict] = field(default_factory=list)
    """The matcher's ranking for the proposal: ``{"id", "score", "terms"}`` for every direction, best
    first (``terms``: the corpus terms found in its text). Empty for runs stored before schema 2."""


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
    direction: int | None = None
    """The direction the officer chose for the proposal with the move, if any."""


@dataclass
class JobRecord:
    """A run's life as a job: its status and progress, who owns it, and why it stopped if it failed."""

    run_id: str
    input_key: str
    status: str
    done: int
    """Proposals matched so far."""
    total: int
    created_at: str
    actor: str
    source: str | None
    matcher_version: str
    options: dict
    panels: dict
    """The run's panels (its options applied), with their lines in the panels file and its name."""
    started_at: str | None = None
    finished_at: str | None = None
    error_code: str | None = None
    error: str | None = None
    """Why a ``failed`` or ``cancelled`` job stopped (a sentence for the user, no proposal text)."""
    worker_id: str | None = None
    worker_host: str | None = None
    worker_pid: int | None = None
    heartbeat_at: float | None = None
    """When the owner last reported progress (seconds since the epoch)."""

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


CONFIRMED, OVERRIDE, INFERRED = "confirmed", "override", "override-inferred"


@dataclass
class FeedbackRecord:
    """An officer's judgment of a proposal's direction, kept as a labelled example.

    ``basis``: ``confirmed`` (recorded on its own), ``override`` (given with a move) or
    ``override-inferred`` (a move without a direction: the moved-to panel's direction the matcher
    ranked highest for the proposal). ``direction`` None: no direction of the guide fits.
    """

    id: int
    run_id: str
    proposal_id: str
    direction: int | None
    basis: str
    actor: str
    at: str
    override_id: int | None = None


@dataclass
class RunState:
    """A run as stored now (with its overrides applied)."""

    run: RunRecord
    rows: list[AssignmentRow]
    overrides: list[OverrideRecord] = field(default_factory=list)
    reused: bool = False
    """True when a routing call found this run already stored (same input, panels and options)."""
    feedback: list[FeedbackRecord] = field(default_factory=list)
    """Officers' judgments of the proposals' directions, oldest first."""

    def officer_directions(self) -> dict[str, FeedbackRecord]:
        """Proposal id -> the officer's latest judgment of its direction (one chosen outright beats an inferred one)."""
        out: dict[str, FeedbackRecord] = {}
        for f in self.feedback:
            if f.basis != INFERRED or out.get(f.proposal_id) is None or out[f.proposal_id].basis == INFERRED:
                out[f.proposal_id] = f
        return out

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
_JSON_ROW = {"partner_orgs", "affinities", "recused", "failed_rules", "directions"}
_BOOL_ROW = {"in_scope", "flagged", "overridden", "eligible"}
_ADDED_COLUMNS = {"eligible": "INTEGER", "failed_rules": "TEXT NOT NULL DEFAULT '[]'"}
"""Assignment columns of the eligibility pre-check, added to schema 1 without a version of their own:
databases written before them gain them on opening, whatever their version (see :func:`_add_columns`)."""
_JOB_JSON = ("options", "panels")
_JOB_COLUMNS = list(JobRecord.__dataclass_fields__)


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
        return RunState(self.run_record(run_id), self.rows(run_id), self.overrides(run_id), reused,
                        self.feedback(run_id))

    def done_run(self, run_id: str, what: str) -> RunRecord:
        """A done run's record; :class:`NotFound`, or :class:`RunConflict` saying that ``what`` waits for it."""
        job = self.job(run_id)
        if job.status != DONE:
            raise not_done(job, what)
        return self.run_record(run_id)

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
            "INSERT INTO overrides (run_id, proposal_id, from_panel_id, to_panel_id, reason, actor, at, forced, direction) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (o.run_id, o.proposal_id, o.from_panel_id, o.to_panel_id, o.reason, o.actor, o.at, int(o.forced), o.direction),
        )
        return int(cur.lastrowid)

    # -- jobs -------------------------------------------------------------------------------------
    def job(self, run_id: str) -> JobRecord:
        rec = self.con.execute("SELECT * FROM jobs WHERE run_id = ?", (run_id,)).fetchone()
        if rec is None:
            raise NotFound(f"no routing run {run_id!r}", "run_id")
        return _job_from_db(rec)

    def job_for_key(self, input_key: str) -> JobRecord | None:
        rec = self.con.execute("SELECT * FROM jobs WHERE input_key = ?", (input_key,)).fetchone()
        return _job_from_db(rec) if rec else None

    def jobs(self, status: str | None = None) -> list[JobRecord]:
        """Jobs, oldest first (of one status when given)."""
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        cur = self.con.execute(f"SELECT * FROM jobs {where} ORDER BY created_at, rowid", args)
        return [_job_from_db(r) for r in cur]

    def insert_job(self, job: JobRecord, proposals: Sequence[Proposal]) -> None:
        d = asdict(job)
        for c in _JOB_JSON:
            d[c] = json.dumps(d[c], ensure_ascii=False)
        self.con.execute(
            f"INSERT INTO jobs ({', '.join(_JOB_COLUMNS)}) VALUES ({', '.join('?' * len(_JOB_COLUMNS))})",
            [d[c] for c in _JOB_COLUMNS],
        )
        self.con.executemany(
            "INSERT INTO proposals (run_id, seq, proposal_id, title, abstract, applicant_org, partner_orgs, line, facts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((job.run_id, i, p.id, p.title, p.abstract, p.applicant_org, json.dumps(list(p.partner_orgs), ensure_ascii=False),
              p.row, json.dumps(dict(p.facts), ensure_ascii=False)) for i, p in enumerate(proposals)),
        )

    def update_job(self, run_id: str, **values) -> None:
        sets = ", ".join(f"{c} = ?" for c in values)
        self.con.execute(f"UPDATE jobs SET {sets} WHERE run_id = ?", [*values.values(), run_id])

    def proposals(self, run_id: str) -> list[Proposal]:
        """The run's proposals as submitted (empty once its texts are dropped or deleted)."""
        cur = self.con.execute("SELECT * FROM proposals WHERE run_id = ? ORDER BY seq", (run_id,))
        return [Proposal(r["proposal_id"], r["title"], r["abstract"], r["applicant_org"],
                         tuple(json.loads(r["partner_orgs"])), r["line"], tuple(json.loads(r["facts"]).items()))
                for r in cur]

    def drop_texts(self, run_id: str) -> None:
        self.con.execute("DELETE FROM proposals WHERE run_id = ?", (run_id,))

    def delete_run(self, run_id: str) -> None:
        for table in ("feedback", "overrides", "assignments", "proposals", "runs", "jobs"):
            self.con.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))

    # -- officers' corrections --------------------------------------------------------------------
    def insert_feedback(self, f: FeedbackRecord) -> int:
        cur = self.con.execute(
            "INSERT INTO feedback (run_id, proposal_id, direction, basis, actor, at, override_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (f.run_id, f.proposal_id, f.direction, f.basis, f.actor, f.at, f.override_id),
        )
        return int(cur.lastrowid)

    def feedback(self, run_id: str | None = None) -> list[FeedbackRecord]:
        where, args = ("WHERE run_id = ?", (run_id,)) if run_id else ("", ())
        cur = self.con.execute(f"SELECT * FROM feedback {where} ORDER BY id", args)
        return [FeedbackRecord(**dict(r)) for r in cur]


def _job_from_db(rec: sqlite3.Row) -> JobRecord:
    d = dict(rec)
    for c in _JOB_JSON:
        d[c] = json.loads(d[c])
    return JobRecord(**d)


class RunConflict(InputError):
    """The run is not in a state that allows the request (not done yet, already done, still running)."""

    def __init__(self, message: str, code: str):
        super().__init__(message, "run_id", code)


def not_done(job: JobRecord, what: str) -> RunConflict:
    """The error for ``what`` asked of a run that is not done."""
    if job.status in (QUEUED, RUNNING):
        where = f"is {job.status} ({job.done} of {job.total} proposals matched)"
        hint = "; try again when it is done"
    else:
        where = f"is {job.status}"
        hint = "; submit its proposals again to route them"
    return RunConflict(f"routing run {job.run_id} {where}: {what} needs a finished run{hint}", "run_not_done")


class RoutingStore:
    """The database at ``path`` (created with its schema on first use, older schemas migrated)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.is_dir():
            raise InputError(f"database {self.path}: is a folder; give a file name such as routing.sqlite", "db")
        if not self.path.parent.exists():
            raise InputError(f"database {self.path}: folder {self.path.parent} does not exist", "db")
        self._init_schema()

    def _connect(self) -> sqlite3.Connection:
        try:
            con = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
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
                con.executescript(_SCHEMA_V1)
                con.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait and find it done
                rec = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = 1 if rec is None else int(rec["value"])
                if version > SCHEMA_VERSION:
                    raise InputError(
                        f"database {self.path}: schema version {version}, this program reads up to {SCHEMA_VERSION}; "
                        "use a newer guide-match", "db"
                    )
                for target in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS[target]:
                        con.execute(statement)
                    if rec is not None:  # a new database is not "migrated"
                        con.execute("INSERT INTO events (at, actor, action, run_id, detail) VALUES (?, 'guide-match', "
                                    "'schema.migrated', NULL, ?)", (now(), json.dumps({"from": target - 1, "to": target})))
                _add_columns(con)
                con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                con.execute("COMMIT")
            except sqlite3.DatabaseError as err:
                raise InputError(f"database {self.path}: not a routing database ({err})", "db") from None
        finally:
            if con.in_transaction:
                con.execute("ROLLBACK")
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

    # -- runs -------------------------------------------------------------------------------------
    def state(self, run_id: str) -> RunState:
        """A done run as it stands; :class:`RunConflict` for one that is not done."""
        with self.reading() as tx:
            tx.done_run(run_id, "reading its assignments")
            return tx.state(run_id)

    def record_reuse(self, run_id: str, actor: str, source: str | None) -> None:
        self.log_event(actor, "run.reused", run_id, {"source": source})

    def log_event(self, actor: str, action: str, run_id: str | None, detail: dict | None = None) -> None:
        with self.transaction() as tx:
            tx.event(actor, action, run_id, detail)

    def runs(self) -> list[RunRecord]:
        """The done runs, oldest first."""
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

    # -- jobs -------------------------------------------------------------------------------------
    def job(self, run_id: str) -> JobRecord:
        with self.reading() as tx:
            return tx.job(run_id)

    def jobs(self, status: str | None = None) -> list[JobRecord]:
        with self.reading() as tx:
            return tx.jobs(status)

    def proposals(self, run_id: str) -> list[Proposal]:
        with self.reading() as tx:
            return tx.proposals(run_id)

    def submit(self, job: JobRecord, proposals: Sequence[Proposal]) -> tuple[JobRecord, bool]:
        """Store a new job with its proposals, unless one for the same input is done, queued or running.

        Returns (the job, True) when stored; (the job already there, False) otherwise. A ``failed``
        or ``cancelled`` job of the same input is replaced. ``job`` may come ``running`` (claimed by
        the caller, who runs it at once) or ``queued`` (for a worker).
        """
        with self.transaction() as tx:
            existing = tx.job_for_key(job.input_key)
            if existing is not None and not (existing.finished and existing.status != DONE):
                return existing, False
            if existing is not None:
                tx.delete_run(existing.run_id)
            tx.insert_job(job, proposals)
            return job, True

    def claim_next(self, worker: dict, matcher_version: str) -> JobRecord | None:
        """Take the oldest queued job for this matcher (``worker``: worker_id, worker_host, worker_pid)."""
        with self.transaction() as tx:
            rec = tx.con.execute(
                "SELECT run_id FROM jobs WHERE status = ? AND matcher_version = ? ORDER BY created_at, rowid LIMIT 1",
                (QUEUED, matcher_version),
            ).fetchone()
            if rec is None:
                return None
            tx.update_job(rec["run_id"], status=RUNNING, started_at=now(), heartbeat_at=time.time(), **worker)
            return tx.job(rec["run_id"])

    def claim(self, run_id: str, worker: dict) -> JobRecord | None:
        """Take one queued job (None when it is no longer queued)."""
        with self.transaction() as tx:
            if tx.job(run_id).status != QUEUED:
                return None
            tx.update_job(run_id, status=RUNNING, started_at=now(), heartbeat_at=time.time(), **worker)
            return tx.job(run_id)

    def report_progress(self, run_id: str, worker_id: str, done: int) -> bool:
        """Record progress; False when the job is no longer running for this worker (cancelled, or given up)."""
        with self.transaction() as tx:
            cur = tx.con.execute(
                "UPDATE jobs SET done = ?, heartbeat_at = ? WHERE run_id = ? AND status = ? AND worker_id = ?",
                (done, time.time(), run_id, RUNNING, worker_id),
            )
            return cur.rowcount == 1

    def finish(self, run: RunRecord, rows: Sequence[AssignmentRow], worker_id: str) -> bool:
        """Write a run's assignments and mark its job done, in one transaction; False (nothing written)
        when the job is no longer running for this worker."""
        with self.transaction() as tx:
            job = tx.job(run.run_id)
            if job.status != RUNNING or job.worker_id != worker_id:
                return False
            tx.insert_run(run, rows)
            tx.update_job(run.run_id, status=DONE, done=job.total, finished_at=now(), heartbeat_at=time.time())
            tx.event(run.actor, "run.created", run.run_id,
                     {"source": run.source, "n_proposals": run.n_proposals, "n_flagged": run.n_flagged})
            return True

    def fail(self, run_id: str, code: str, message: str, worker_id: str | None = None) -> bool:
        """Mark an unfinished job failed with the reason, and drop its texts; False when it was not
        unfinished (or, with ``worker_id``, not that worker's)."""
        with self.transaction() as tx:
            job = tx.job(run_id)
            if job.finished or (worker_id is not None and job.worker_id != worker_id):
                return False
            tx.update_job(run_id, status=FAILED, error_code=code, error=message, finished_at=now())
            tx.drop_texts(run_id)
            tx.event(job.actor, "run.failed", run_id, {"code": code, "done": job.done, "total": job.total})
            return True

    def cancel(self, run_id: str, actor: str) -> JobRecord:
        """Cancel a queued or running job (its worker stops at its next progress report) and drop its
        texts; a job that is already failed or cancelled is returned as it is."""
        with self.transaction() as tx:
            job = tx.job(run_id)
            if job.status == DONE:
                raise RunConflict(
                    f"routing run {run_id} is done: there is nothing to cancel (DELETE deletes the run and its texts)",
                    "run_done",
                )
            if not job.finished:
                at = now()
                tx.update_job(run_id, status=CANCELLED, error_code="cancelled", error=f"cancelled by {actor} at {at}",
                              finished_at=at)
                tx.drop_texts(run_id)
                tx.event(actor, "run.cancelled", run_id, {"done": job.done, "total": job.total, "was": job.status})
            return tx.job(run_id)

    def delete_run(self, run_id: str, actor: str) -> JobRecord:
        """Delete a finished run with its assignments, overrides, corrections and texts; the audit log
        keeps a ``run.deleted`` event (and the earlier ones)."""
        with self.transaction() as tx:
            job = tx.job(run_id)
            if not job.finished:
                raise RunConflict(f"routing run {run_id} is {job.status}: cancel it before deleting it", "run_not_done")
            tx.delete_run(run_id)
            tx.event(actor, "run.deleted", run_id, {"status": job.status, "n_proposals": job.total})
            return job

    # -- officers' corrections --------------------------------------------------------------------
    def feedback(self, run_id: str | None = None) -> list[FeedbackRecord]:
        with self.reading() as tx:
            return tx.feedback(run_id)
