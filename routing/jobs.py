"""Routing runs as jobs: the worker thread that claims and runs them.

A routing run takes minutes (the matcher reads every proposal), longer than an HTTP request should
wait. So a run is first a job in the database (:meth:`routing.store.RoutingStore.submit`), and the
:class:`RoutingWorker` of a serving process claims queued jobs one at a time and runs them
(:meth:`routing.Router.run_claimed`). Status and progress live in the database, so every process on
it can report them and cancel a job; nothing needs a broker.

Who owns a running job, and how the jobs of a gone owner are failed, is :mod:`routing.ownership`.
"""
from __future__ import annotations

import logging
import threading
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from matcher.errors import InputError
from .config import JOB_POLL_SECONDS, JOB_STALE_SECONDS
from .ownership import owner, reap
from .store import RoutingStore

if TYPE_CHECKING:
    from .router import Router

log = logging.getLogger("guide_match.routing.jobs")


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
