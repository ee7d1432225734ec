"""Who owns a running routing job, and giving up on owners that are gone.

A running job names its owner (a per-process id, the host and the pid) and is stamped with a
heartbeat at each progress report. When the owner is gone — the process is no longer there, or an
earlier process had the same pid (a restarted container), or no heartbeat came for
``stale_seconds`` — the job is marked ``failed`` with the reason (:func:`reap`). Its assignments are
never half-written: they are written only in the transaction that marks the job done. Both the
:class:`routing.Router` (which runs a job) and the :class:`routing.jobs.RoutingWorker` (which
claims them) use this.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from pathlib import Path

from .store import RUNNING, JobRecord, RoutingStore

log = logging.getLogger("guide_match.routing.jobs")  # the job lifecycle logs under one name

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
