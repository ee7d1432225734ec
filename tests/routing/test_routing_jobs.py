"""Routing runs as jobs, below HTTP: submitting, claiming, cancelling, dead owners, the worker thread,
deleting a run with its texts, and migrating a database of the first schema."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from matcher import InputError
from routing import Router, parse_panels, proposals_from_items
from routing import store as store_mod
from routing.jobs import RoutingWorker
from routing.ownership import owner, reap
from routing.store import RoutingStore, RunConflict

from routing_support import ChunkedFakeMatcher, FakeMatcher, panels_yaml, proposal_rows, three_panels

SIX = [("p1", "d1=0.9"), ("p2", "d2=0.8"), ("p3", "d16=0.9"), ("p4", "d22=0.7 d3=0.3"), ("p5", "d30=0.9"), ("p6", "d35=0.6")]


def make_router(tmp_path, matcher=None) -> Router:
    return Router(matcher or FakeMatcher(), tmp_path / "r.sqlite", parse_panels(panels_yaml(three_panels()), "p.yaml"))


def props(specs):
    return proposals_from_items(proposal_rows(specs))


def many(n: int):
    return props([(f"k{i:04d}", f"d{1 + i % 40}=0.9") for i in range(n)])


def texts_stored(router: Router, run_id: str) -> int:
    with router.store.reading() as tx:
        return tx.con.execute("SELECT COUNT(*) FROM proposals WHERE run_id = ?", (run_id,)).fetchone()[0]


def assignments_stored(router: Router, run_id: str) -> int:
    with router.store.reading() as tx:
        return tx.con.execute("SELECT COUNT(*) FROM assignments WHERE run_id = ?", (run_id,)).fetchone()[0]


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_a_submission_is_queued_once_and_its_run_is_the_answer_afterwards(tmp_path):
    matcher = FakeMatcher()
    router = make_router(tmp_path, matcher)
    first = router.submit(props(SIX), actor="王老师", source="six.xlsx")
    assert first.new and first.job.status == "queued" and first.job.total == 6 and first.state is None
    assert texts_stored(router, first.job.run_id) == 6  # the worker matches from the stored texts
    again = router.submit(props(SIX), actor="李老师")
    assert not again.new and again.job.run_id == first.job.run_id and again.job.status == "queued"
    assert router.store.jobs() == [first.job]
    with pytest.raises(RunConflict, match="is queued \\(0 of 6 proposals matched\\)") as e:
        router.state(first.job.run_id)
    assert e.value.code == "run_not_done"

    job = router.store.claim_next(owner(), matcher.version)
    assert job.run_id == first.job.run_id and job.status == "running" and job.worker_id == owner()["worker_id"]
    assert router.store.claim_next(owner(), matcher.version) is None  # nothing else queued
    state = router.run_claimed(job)
    assert state.loads() == {"A": 2, "B": 2, "C": 2} and state.run.actor == "王老师" and state.run.source == "six.xlsx"
    assert router.job(job.run_id).status == "done" and router.job(job.run_id).done == 6
    done = router.submit(props(SIX), actor="张老师")
    assert not done.new and done.state.reused and done.state.run_id == job.run_id
    assert matcher.calls == 1
    assert [e["action"] for e in router.store.events(job.run_id)] == ["run.created", "run.reused"]


def test_a_job_is_claimed_only_by_a_worker_with_its_matcher(tmp_path):
    router = make_router(tmp_path)
    router.submit(props(SIX))
    assert router.store.claim_next(owner(), "another matcher 2") is None
    assert router.store.claim_next(owner(), FakeMatcher.version) is not None


def test_cancelling_a_running_job_stops_it_between_chunks_and_stores_nothing(tmp_path):
    matcher = ChunkedFakeMatcher(pause_after=1)
    router = make_router(tmp_path, matcher)
    job = router.store.claim(router.submit(many(300)).job.run_id, owner())
    result: list = []
    thread = threading.Thread(target=lambda: result.append(router.run_claimed(job)))
    thread.start()
    assert matcher.paused.wait(10)
    assert router.job(job.run_id).status == "running" and router.job(job.run_id).done == 64
    cancelled = router.cancel(job.run_id, actor="王老师")
    assert cancelled.status == "cancelled" and cancelled.error_code == "cancelled" and "王老师" in cancelled.error
    assert texts_stored(router, job.run_id) == 0  # dropped at once
    matcher.resume.set()
    thread.join(10)
    assert result == [None]
    assert matcher.chunks == 2  # it stopped at the progress report after the next chunk, not at the end
    assert assignments_stored(router, job.run_id) == 0 and router.store.runs() == []
    assert router.cancel(job.run_id).status == "cancelled"  # cancelling again changes nothing
    assert [e["action"] for e in router.store.events(job.run_id)] == ["run.cancelled"]
    # the same input again is a fresh job
    sub = router.submit(many(300))
    assert sub.new and sub.job.run_id == job.run_id and sub.job.status == "queued" and texts_stored(router, job.run_id) == 300


def test_a_queued_job_is_cancelled_at_once_and_a_done_one_cannot_be(tmp_path):
    router = make_router(tmp_path)
    job = router.submit(props(SIX)).job
    assert router.cancel(job.run_id).status == "cancelled"
    assert router.store.claim_next(owner(), FakeMatcher.version) is None
    state = router.route(props(SIX[:3]))
    with pytest.raises(RunConflict, match="is done: there is nothing to cancel") as e:
        router.cancel(state.run_id)
    assert e.value.code == "run_done"
    with pytest.raises(InputError, match="no routing run 'nope'"):
        router.cancel("nope")


def test_an_error_while_matching_fails_the_job_and_is_raised(tmp_path):
    class Broken(FakeMatcher):
        def match_many(self, *a, **k):
            raise RuntimeError("model file damaged")

    router = make_router(tmp_path, Broken())
    with pytest.raises(RuntimeError):
        router.route(props(SIX))
    job = router.store.jobs()[0]
    assert job.status == "failed" and job.error_code == "internal_error" and "damaged" not in job.error
    assert texts_stored(router, job.run_id) == 0


def test_running_jobs_of_gone_processes_are_failed_and_live_ones_kept(tmp_path):
    router = make_router(tmp_path)
    me = owner()
    jobs = {}
    for name, worker, beat in [
        ("dead", {**me, "worker_id": "w-dead", "worker_pid": dead_pid()}, time.time()),
        ("earlier", {**me, "worker_id": "w-before-restart"}, time.time()),  # same pid: a restarted container
        ("other-host-stale", {**me, "worker_id": "w-far", "worker_host": "elsewhere", "worker_pid": 7}, time.time() - 3600),
        ("other-host-live", {**me, "worker_id": "w-far2", "worker_host": "elsewhere", "worker_pid": 7}, time.time()),
        ("parent", {**me, "worker_id": "w-parent", "worker_pid": os.getppid()}, time.time() - 60),
        # a live pid that has not reported for longer than allowed: the pid was reused, or the job is stuck
        ("parent-stale", {**me, "worker_id": "w-parent2", "worker_pid": os.getppid()}, time.time() - 3600),
        ("mine", me, time.time() - 3600),
    ]:
        run_id = router.submit(props([(f"{name}-1", "d1=0.9")])).job.run_id
        with router.store.transaction() as tx:
            tx.update_job(run_id, status="running", heartbeat_at=beat, **worker)
        jobs[name] = run_id
    failed = reap(router.store, stale_seconds=600)
    assert sorted(failed) == sorted(jobs[n] for n in ("dead", "earlier", "other-host-stale", "parent-stale"))
    lost = router.job(jobs["dead"])
    assert lost.status == "failed" and lost.error_code == "worker_lost" and "submit the proposals again" in lost.error
    assert texts_stored(router, jobs["dead"]) == 0
    for name in ("other-host-live", "parent", "mine"):
        assert router.job(jobs[name]).status == "running"


def test_a_cli_run_takes_over_a_queued_job_of_the_same_input(tmp_path):
    router = make_router(tmp_path)
    queued = router.submit(props(SIX), actor="server").job
    seen = []
    state = router.route(props(SIX), actor="cli", progress=seen.append)
    assert state.run_id == queued.run_id and not state.reused and sum(seen) == 6
    assert state.run.actor == "server"  # the job as it was submitted


def test_a_cli_run_waits_for_the_same_input_running_elsewhere(tmp_path):
    matcher = ChunkedFakeMatcher(pause_after=1)
    router = make_router(tmp_path, matcher)
    job = router.store.claim(router.submit(many(200)).job.run_id, owner())
    runner = threading.Thread(target=router.run_claimed, args=(job,))
    runner.start()
    assert matcher.paused.wait(10)
    other = make_router(tmp_path, FakeMatcher())
    seen: list[int] = []
    waiter = threading.Thread(target=lambda: seen.append(other.route(many(200), progress=seen.append)))
    waiter.start()
    time.sleep(0.8)
    assert waiter.is_alive() and sum(n for n in seen if isinstance(n, int)) == 64  # the runner's progress, shown
    matcher.resume.set()
    runner.join(10)
    waiter.join(10)
    state = seen[-1]
    assert state.run_id == job.run_id and state.reused and other.matcher.calls == 0


def test_the_worker_runs_queued_jobs_and_a_stop_fails_the_one_running(tmp_path):
    matcher = ChunkedFakeMatcher(pause_after=3)  # the quick job is one chunk, then two of the slow one
    router = make_router(tmp_path, matcher)
    quick = router.submit(props(SIX)).job
    slow = router.submit(many(500)).job
    worker = RoutingWorker(lambda store: Router(matcher, store), tmp_path / "r.sqlite", poll_seconds=0.05)
    worker.start()
    try:
        assert matcher.paused.wait(10)
        assert router.job(quick.run_id).status == "done"
        assert router.job(slow.run_id).status == "running" and router.job(slow.run_id).done == 128
    finally:
        stopper = threading.Thread(target=worker.stop)
        stopper.start()
        time.sleep(0.2)
        matcher.resume.set()
        stopper.join(10)
    assert not worker.running
    stopped = router.job(slow.run_id)
    assert stopped.status == "failed" and stopped.error_code == "server_stopped"
    assert assignments_stored(router, slow.run_id) == 0 and matcher.chunks == 4


def test_a_worker_creates_no_database_until_there_is_one(tmp_path):
    worker = RoutingWorker(lambda store: Router(FakeMatcher(), store), tmp_path / "none.sqlite", poll_seconds=0.02)
    worker.start()
    time.sleep(0.2)
    worker.stop()
    assert not (tmp_path / "none.sqlite").exists()


def test_deleting_a_run_removes_it_and_its_texts_and_keeps_the_audit_event(tmp_path):
    router = make_router(tmp_path)
    state = router.route(props(SIX), actor="a")
    router.override(state.run_id, "p1", "C", reason="移组", actor="a", direction=30)
    router.confirm_direction(state.run_id, "p2", None, actor="b")
    running = router.submit(props(SIX[:2])).job
    with pytest.raises(RunConflict, match="cancel it before deleting it"):
        router.delete(running.run_id)
    router.delete(state.run_id, actor="王老师")
    con = sqlite3.connect(tmp_path / "r.sqlite")
    for table in ("runs", "assignments", "overrides", "feedback", "proposals", "jobs"):
        assert con.execute(f"SELECT COUNT(*) FROM {table} WHERE run_id = ?", (state.run_id,)).fetchone()[0] == 0, table
    events = router.store.events(state.run_id)
    assert events[-1]["action"] == "run.deleted" and events[-1]["actor"] == "王老师"
    assert events[-1]["detail"] == {"status": "done", "n_proposals": 6}
    with pytest.raises(InputError, match="no routing run"):
        router.state(state.run_id)


V1_RUN = ("abc123abc123", "k" * 64, "2025-01-02T03:04:05+00:00", "老王", "old.xlsx", 1, 0, 0.9, "guide-match 0.0.9",
          json.dumps({"closed": []}), json.dumps({"conflict_rule": "quorum", "panels": [
              {"id": "A", "name": "评审组A", "directions": list(range(1, 21)), "min": 0, "max": 10, "quorum": 1,
               "members": [{"name": "甲", "organisation": "甲大学", "expertise": []}]},
              {"id": "B", "name": "评审组B", "directions": list(range(21, 41)), "min": 0, "max": 10, "quorum": 1,
               "members": [{"name": "乙", "organisation": "乙大学", "expertise": []}]}]}), "[]")


def test_a_database_of_the_first_schema_is_migrated_and_its_runs_still_work(tmp_path):
    path = tmp_path / "v1.sqlite"
    con = sqlite3.connect(path)
    con.executescript(store_mod._SCHEMA_V1)
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute(f"INSERT INTO runs VALUES ({', '.join('?' * len(V1_RUN))})", V1_RUN)
    con.execute("INSERT INTO assignments (run_id, proposal_id, seq, title, applicant_org, partner_orgs, top_direction, "
                "top_direction_title, top_score, in_scope, affinities, recused, panel_id, backup_panel_id, affinity, "
                "flagged, reason, initial_panel_id) VALUES ('abc123abc123', 'old-1', 0, '旧项目', '某公司', '[]', 3, "
                "'某方向', 0.9, 1, '[0.9, 0.1]', '[[], []]', 'A', 'B', 0.9, 0, '首选方向3', 'A')")
    con.commit()
    con.close()

    store = RoutingStore(path)
    with store.reading() as tx:
        assert tx.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(store_mod.SCHEMA_VERSION)
    job = store.job("abc123abc123")
    assert (job.status, job.done, job.total, job.actor) == ("done", 1, 1, "老王")
    assert [e["action"] for e in store.events()] == ["schema.migrated"]
    router = Router(None, store)
    assert router.state("abc123abc123").row("old-1").directions == []
    out = router.override("abc123abc123", "old-1", "B", reason="改派", actor="x")
    assert out.state.row("old-1").panel_id == "B" and out.state.feedback == []  # no ranking stored: nothing to infer
    record, state = router.confirm_direction("abc123abc123", "old-1", 25, actor="x")
    assert state.officer_directions()["old-1"].direction == 25
    RoutingStore(path)  # opening it again changes nothing
    assert [e["action"] for e in store.events() if e["action"] == "schema.migrated"] == ["schema.migrated"]


def test_a_database_of_a_newer_schema_is_refused_clearly(tmp_path):
    path = tmp_path / "new.sqlite"
    RoutingStore(path)
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(InputError, match="schema version 99, this program reads up to 2; use a newer guide-match"):
        RoutingStore(path)
