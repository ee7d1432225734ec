"""Routing runs as jobs: who owns a running job, giving up on dead owners, and the worker thread.

A routing run takes minutes (the matcher reads every proposal), longer than an HTTP request should
wait. So a run is first a job in the database (:meth:`routing.store.RoutingStore.submit`), and the
:class:`RoutingWorker` of a serving process claims queued jobs one at a time and runs them
(:meth:`routing.Router.run_claimed`). Status and progress live in the database, so every process on
it can report them and cancel a job; nothing needs a broker.

A running job names its owner (a per-process id, the host and the pid) and is stamped with a
heartbeat at each progress report. When the owner is gone — the process is no longer there, or an
earlier process had the same pid (a restarted container), or no heartbeat came for
``stale_seconds`` — the job is marked ``failed`` with the reason (:func:`reap`). Its assignments are
never half-written: they are written only in the transaction that marks the job done.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from matcher.errors import InputError
from .config import JOB_POLL_SECONDS, JOB_STALE_SECONDS
from .store import RUNNING, JobRecord, RoutingStore

if TYPE_CHECKING:
    from .router import Router

log = logging.getLogger("guide_match.routing.jobs")

WORKER_LOST = "worker_lost"
WORKER_LOST_MESSAGE = ("the process that was routing these proposals stopped before it finished (a server restart "
                       "or a crash); nothing was stored — submit the proposals again")
SERVER_STOPPED = "server_stopped"
SERVER_STOPPED_MESSAGE = "the server was stopped while this run was being matched; nothing was stored — submit it again"
INTERNAL_ERROR = "internal_error"
INTERNAL_ERROR_MESSAGE = "an internal error stopped this run; nothing was stored — submit it again or report it"

_identity: tuple[int, str] | None = None


def owner() -> dict:
    """This process as a job owner: ``worker_id`` (new in every process, forked ones too), host and pid."""
    global _identity
    pid = os.getpid()
    if _identity is None or _identity[0] != pid:
        _identity = (pid, uuid.uuid4().hex)
    return {"worker_id": _identity[1], "worker_host": socket.gethostname(), "worker_pid": pid}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:  # a zombie (dead, not yet waited for) counts as gone
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def owner_is_gone(job: JobRecord, stale_seconds: float) -> bool:
    """Whether a running job's owner can no longer finish it."""
    me = owner()
    if job.worker_id == me["worker_id"]:
        return False
    if job.worker_host == me["worker_host"] and job.worker_pid:
        if job.worker_pid == me["worker_pid"] or not _pid_alive(job.worker_pid):
            return True  # gone, or an earlier process that had this pid
    return job.heartbeat_at is None or time.time() - job.heartbeat_at > stale_seconds


def reap(store: RoutingStore, stale_seconds: float) -> list[str]:
    """Mark the running jobs of gone owners ``failed`` (with the reason); their run ids."""
    failed = []
    for job in store.jobs(RUNNING):
        if owner_is_gone(job, stale_seconds) and store.fail(job.run_id, WORKER_LOST, WORKER_LOST_MESSAGE, job.worker_id):
            log.warning("routing run %s failed: its process (pid %s on %s) is gone", job.run_id, job.worker_pid,
                        job.worker_host)
            failed.append(job.run_id)
    return failed


class RoutingWorker:
    """One background thread that runs queued routing jobs, oldest first.

    The service starts it in its lifespan and stops it on shutdown; a job that is running then is
    stopped at its next progress report and marked ``failed`` (``server_stopped``). The database is
    opened only once it exists (a server that never routes creates no file).
    """

    def __init__(self, router_factory, db: str | Path, poll_seconds: float = JOB_POLL_SECONDS,
                 stale_seconds: float = JOB_STALE_SECONDS):
        """``router_factory(store)`` makes the :class:`~routing.Router` (with its matcher) that runs the jobs."""
        self._factory = router_factory
        self.db = Path(db)
        self.poll_seconds = poll_seconds
        self.stale_seconds = stale_seconds
        self._router: Router | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread, after failing the runs that processes gone since (a restart) left running."""
        if self.running:
            return
        try:
            router = self._ready()
            if router is not None:
                reap(router.store, self.stale_seconds)
        except Exception as exc:  # the thread retries; a broken database must not stop the server starting
            log.error("routing worker: cannot read the routing database (%s)", type(exc).__name__)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="guide-match-routing", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for queued jobs now (after a submission) instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the routing worker did not stop within %.0f s; its job will be marked failed at the next start",
                            timeout)
        self._thread = None

    def _ready(self) -> Router | None:
        if self._router is None and self.db.exists():
            self._router = self._factory(RoutingStore(self.db))
        return self._router

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                router = self._ready()
                job = None
                if router is not None:
                    reap(router.store, self.stale_seconds)
                    job = router.store.claim_next(owner(), router.matcher.version)
                if job is None:
                    self._wake.wait(self.poll_seconds)
                    self._wake.clear()
                    continue
                log.info("routing run %s started: %d proposals", job.run_id, job.total)
                state = router.run_claimed(job, stop=self._stop)
                if state is not None:
                    log.info("routing run %s done: %d proposals, %d flagged", job.run_id, state.run.n_proposals,
                             state.run.n_flagged)
            except InputError as err:  # recorded with the job (e.g. the panels cannot take the proposals)
                log.info("routing run failed: %s", err.code)
            except Exception as exc:
                # The message is withheld: it may quote a proposal's text.
                log.error("routing worker: unexpected %s\n%s", type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))
                self._stop.wait(self.poll_seconds)
