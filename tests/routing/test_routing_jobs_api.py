"""Routing runs as jobs over HTTP: 202 and polling, progress of a 2,000-row table, cancel, delete,
the same input while it runs, ``?wait=true``, and a restart after the serving process died mid-run."""
from __future__ import annotations

import io
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import openpyxl
import pandas as pd

from routing import Router, load_panels, proposals_from_items
from routing.ownership import owner
from routing.store import RoutingStore

from routing_support import ChunkedFakeMatcher, FakeMatcher, proposal_rows
from test_routing_api import KEY, SPECS, make_client, route, wait_for

REPO = Path(__file__).resolve().parents[2]


def rows(n: int) -> list[dict]:
    return proposal_rows([(f"R{i:05d}", f"d{1 + i % 40}=0.9") for i in range(n)])


def xlsx(items: list[dict]) -> bytes:
    buf = io.BytesIO()
    pd.DataFrame(items).to_excel(buf, index=False)
    return buf.getvalue()


def count(db: Path, table: str, run_id: str) -> int:
    con = sqlite3.connect(db)
    try:
        return con.execute(f"SELECT COUNT(*) FROM {table} WHERE run_id = ?", (run_id,)).fetchone()[0]
    finally:
        con.close()


def test_a_2000_row_table_runs_as_a_job_whose_progress_can_be_watched(tmp_path):
    matcher = ChunkedFakeMatcher(pause_after=10)
    with make_client(tmp_path, matcher=matcher) as c:
        files = {"file": ("申报汇总.xlsx", xlsx(rows(2000)), "application/octet-stream")}
        r = c.post("/v1/routing/runs", files=files, data={"extra_room": "A=700,B=700,C=700"}, headers=KEY)
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["progress"] == {"done": 0, "total": 2000} and job["n_proposals"] == 2000 and job["error"] is None
        assert matcher.paused.wait(30)
        mid = c.get(job["status_url"], headers=KEY).json()
        assert mid["status"] == "running" and mid["progress"] == {"done": 640, "total": 2000}
        assert mid["started_at"] and mid["finished_at"] is None and "assignments" not in mid
        seen = [mid["progress"]["done"]]
        matcher.resume.set()
        while (body := c.get(job["status_url"], headers=KEY).json())["status"] == "running":
            seen.append(body["progress"]["done"])
            time.sleep(0.01)
        assert body["status"] == "done" and body["progress"] == {"done": 2000, "total": 2000}
        assert seen == sorted(seen)  # progress only goes forward
        assert len(body["assignments"]) == 2000 and body["n_flagged"] == 0
        assert {p["id"]: p["load"] for p in body["panels"]} == {"A": 700, "B": 700, "C": 600}
        sheet = openpyxl.load_workbook(io.BytesIO(c.get(body["export_url"], headers=KEY).content), read_only=True)
        assert sheet["A 评审组A"].max_row == 4 + 700


def test_a_running_job_is_cancelled_between_chunks_and_leaves_nothing(tmp_path):
    matcher = ChunkedFakeMatcher(pause_after=5)
    db = tmp_path / "api.sqlite"
    with make_client(tmp_path, matcher=matcher) as c:
        body = {"items": rows(2000), "extra_room": {"A": 700, "B": 700, "C": 700}}
        job = c.post("/v1/routing/runs", json=body, headers=KEY).json()
        assert matcher.paused.wait(30)
        assert count(db, "proposals", job["run_id"]) == 2000  # the texts, for the worker
        # what needs a done run says so
        for method, path, kwargs in [
            ("post", "/overrides", {"json": {"proposal_id": "R00001", "panel_id": "B", "reason": "x"}}),
            ("post", "/directions", {"json": {"proposal_id": "R00001", "direction": 3}}),
            ("get", "/export.xlsx", {}),
        ]:
            r = getattr(c, method)(job["status_url"] + path, headers=KEY, **kwargs)
            assert r.status_code == 409, (path, r.text)
            assert r.json()["error"]["code"] == "run_not_done" and "is running (320 of 2000" in r.json()["error"]["message"]
        # the same input while it runs: the same job, not a second matching
        again = c.post("/v1/routing/runs", json=body, headers=KEY)
        assert again.status_code == 202 and again.json()["run_id"] == job["run_id"] and again.json()["status"] == "running"
        r = c.post(job["status_url"] + "/cancel", json={}, headers=KEY)
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        assert r.json()["error"]["code"] == "cancelled" and "key#1" in r.json()["error"]["message"]
        matcher.resume.set()
        time.sleep(0.3)
        assert matcher.chunks == 6 and matcher.calls == 1  # it stopped after the next chunk, of 32
        got = c.get(job["status_url"], headers=KEY).json()
        assert got["status"] == "cancelled" and got["progress"]["done"] == 320
        assert count(db, "assignments", job["run_id"]) == 0 and count(db, "proposals", job["run_id"]) == 0
        assert c.post(job["status_url"] + "/cancel", headers=KEY).json()["status"] == "cancelled"
        # DELETE of a finished (cancelled) run deletes it; the audit log keeps the events
        assert c.delete(job["status_url"], headers=KEY).status_code == 204
        assert c.get(job["status_url"], headers=KEY).status_code == 404
        actions = [e["action"] for e in RoutingStore(db).events(job["run_id"])]
        assert actions == ["run.cancelled", "run.deleted"]


def test_delete_cancels_a_queued_or_running_run_and_deletes_a_done_one(tmp_path):
    matcher = ChunkedFakeMatcher(pause_after=1)
    db = tmp_path / "api.sqlite"
    with make_client(tmp_path, matcher=matcher) as c:
        running = c.post("/v1/routing/runs", json={"items": rows(200)}, headers=KEY).json()
        assert matcher.paused.wait(30)
        queued = c.post("/v1/routing/runs", json={"items": rows(100)}, headers=KEY).json()
        assert queued["status"] == "queued"
        r = c.delete(queued["status_url"], headers=KEY)
        assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["started_at"] is None
        r = c.delete(running["status_url"], headers=KEY)
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        matcher.resume.set()
        matcher.pause_after = None
        done = route(c, json={"items": proposal_rows(SPECS)})
        assert c.post(done["status_url"] + "/cancel", headers=KEY).json()["error"]["code"] == "run_done"
        listed = c.get("/v1/routing/runs", headers=KEY).json()["runs"]
        assert [(x["run_id"], x["status"]) for x in listed] == [
            (done["run_id"], "done"), (queued["run_id"], "cancelled"), (running["run_id"], "cancelled")]
        assert listed[0]["n_flagged"] == 0 and listed[1]["n_flagged"] is None
        assert c.delete(done["status_url"], headers=KEY).status_code == 204
        assert count(db, "proposals", done["run_id"]) == 0 and count(db, "assignments", done["run_id"]) == 0
        assert c.delete(done["status_url"], headers=KEY).status_code == 404


def test_wait_true_answers_as_before_jobs(tmp_path):
    with make_client(tmp_path) as c:
        r = c.post("/v1/routing/runs?wait=true", json={"items": proposal_rows(SPECS), "actor": "老客户端"}, headers=KEY)
        assert r.status_code == 201, r.text
        data = r.json()
        assert data["status"] == "done" and data["reused"] is False and len(data["assignments"]) == 5
        assert data["actor"] == "老客户端 (key#1)"
        again = c.post("/v1/routing/runs?wait=true", json={"items": proposal_rows(SPECS)}, headers=KEY)
        assert again.status_code == 200 and again.json()["run_id"] == data["run_id"] and again.json()["reused"] is True
        assert c.post("/v1/routing/runs?wait=maybe", json={"items": proposal_rows(SPECS)}, headers=KEY).status_code == 422


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_a_restart_fails_the_runs_a_dead_process_left_running(tmp_path):
    with make_client(tmp_path) as c:  # creates the database
        pass
    store = RoutingStore(tmp_path / "api.sqlite")
    router = Router(FakeMatcher(), store, load_panels(tmp_path / "panels.yaml"))
    run_id = router.submit(proposals_from_items(rows(250))).job.run_id
    with store.transaction() as tx:  # as a server process killed while matching leaves it
        tx.update_job(run_id, status="running", done=128, heartbeat_at=time.time(),
                      **{**owner(), "worker_id": "gone", "worker_pid": _dead_pid()})
    with make_client(tmp_path) as c:
        got = c.get(f"/v1/routing/runs/{run_id}", headers=KEY).json()
        assert got["status"] == "failed" and got["progress"] == {"done": 128, "total": 250}
        assert got["error"]["code"] == "worker_lost" and "submit the proposals again" in got["error"]["message"]
        assert count(tmp_path / "api.sqlite", "assignments", run_id) == 0
        assert count(tmp_path / "api.sqlite", "proposals", run_id) == 0
        # submitted again, it runs afresh under the same id
        assert route(c, json={"items": rows(250)})["run_id"] == run_id


SERVER = """
import sys
sys.path[:0] = [{repo!r}, {support!r}]
import uvicorn
from routing.config import RoutingSettings
from routing_support import ChunkedFakeMatcher
from service.app import create_app
from service.settings import Settings

settings = Settings(api_keys=("staff-key-1",), routing=RoutingSettings(db={db!r}, panels={panels!r}, job_poll_seconds=0.05))
uvicorn.run(create_app(settings, matcher=ChunkedFakeMatcher(pause_after=2)), host="127.0.0.1", port={port}, log_level="warning")
"""


def test_a_serving_process_killed_mid_run_leaves_a_failed_run_and_no_assignments(tmp_path):
    with make_client(tmp_path):  # writes the panels file and creates the database
        pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = SERVER.format(repo=str(REPO), support=str(Path(__file__).parent), db=str(tmp_path / "api.sqlite"),
                           panels=str(tmp_path / "panels.yaml"), port=port)
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() is not None else ""
            time.sleep(0.1)
        job = httpx.post(url + "/v1/routing/runs", json={"items": rows(500)}, headers=KEY, timeout=30).json()
        while (got := httpx.get(url + job["status_url"], headers=KEY, timeout=10).json())["progress"]["done"] < 128:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert got["status"] == "running"
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown: the process is simply gone
        proc.wait(30)
    db = tmp_path / "api.sqlite"
    assert RoutingStore(db).integrity_ok() and RoutingStore(db).job(job["run_id"]).status == "running"
    with make_client(tmp_path) as c:  # the restart
        got = c.get(job["status_url"], headers=KEY).json()
        assert got["status"] == "failed" and got["error"]["code"] == "worker_lost"
        assert got["progress"]["done"] == 128
    assert count(db, "assignments", job["run_id"]) == 0 and count(db, "runs", job["run_id"]) == 0


def test_job_bodies_carry_no_proposal_text_and_the_log_neither(tmp_path, caplog):
    caplog.set_level("DEBUG", logger="guide_match")
    secret = "绝密申报书摘要内容某某储能电池"
    with make_client(tmp_path) as c:
        items = proposal_rows([("s1", f"d22=0.9 {secret}")])
        job = c.post("/v1/routing/runs", json={"items": items}, headers=KEY).json()
        assert secret not in json.dumps(job, ensure_ascii=False)
        wait_for(c, job["run_id"])
    assert secret not in caplog.text
