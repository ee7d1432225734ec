"""The staff routing API behind its key, on a stand-in matcher (TestClient, injected matcher)."""
from __future__ import annotations

import io
import json
import logging
import time

import openpyxl
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from routing.config import RoutingSettings
from service.settings import Settings

from routing_support import FakeMatcher, panels_yaml, proposal_rows, three_panels

KEY = {"X-API-Key": "staff-key-1"}
SPECS = [("p1", "d1=0.9"), ("p2", "d2=0.8 d20=0.3"), ("p3", "d16=0.9"), ("p4", "d22=0.7"), ("p5", "d30=0.9")]


def make_client(tmp_path, panels=None, matcher=None) -> TestClient:
    panels_file = tmp_path / "panels.yaml"
    panels_file.write_text(panels_yaml(panels or three_panels()), encoding="utf-8")
    settings = Settings(
        api_keys=("staff-key-1", "staff-key-2"),
        routing=RoutingSettings(db=tmp_path / "api.sqlite", panels=panels_file, job_poll_seconds=0.05),
        max_body_bytes=4 * 1024 * 1024,
    )
    return TestClient(create_app(settings, matcher=matcher or FakeMatcher()), raise_server_exceptions=False)


def wait_for(client, run_id: str, until=("done", "failed", "cancelled"), timeout: float = 30.0) -> dict:
    """Poll the run until its status is one of ``until``; its last body."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/v1/routing/runs/{run_id}", headers=KEY)
        assert r.status_code == 200, r.text
        if r.json()["status"] in until:
            return r.json()
        assert time.monotonic() < deadline, r.json()
        time.sleep(0.02)


def route(client, headers=KEY, **kwargs) -> dict:
    """POST a run (202, a job), then poll it until it is done; the done run's body."""
    r = client.post("/v1/routing/runs", headers=headers, **kwargs)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running") and job["status_url"] == f"/v1/routing/runs/{job['run_id']}"
    assert r.headers["location"] == job["status_url"]
    done = wait_for(client, job["run_id"])
    assert done["status"] == "done", done
    return done


@pytest.fixture
def client(tmp_path):
    with make_client(tmp_path) as c:
        yield c


def xlsx_upload(rows: list[dict]) -> bytes:
    buf = io.BytesIO()
    pd.DataFrame(rows).to_excel(buf, index=False)
    return buf.getvalue()


def chinese_rows(specs, orgs=None):
    return [
        {"编号": r["id"], "项目名称": r["title"], "摘要": r["abstract"], "申报单位": r["applicant_org"], "合作单位": r["partner_orgs"]}
        for r in proposal_rows(specs, orgs)
    ]


@pytest.mark.parametrize(
    "method, path",
    [("post", "/v1/routing/runs"), ("get", "/v1/routing/runs/abc"), ("post", "/v1/routing/runs/abc/overrides"),
     ("get", "/v1/routing/runs/abc/export.xlsx")],
)
@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}])
def test_every_routing_endpoint_needs_the_key_and_refusals_are_logged(client, caplog, method, path, headers):
    caplog.set_level(logging.WARNING, logger="guide_match")
    r = getattr(client, method)(path, headers=headers, **({"json": {"items": []}} if method == "post" else {}))
    assert r.status_code == 401
    assert r.json() == {"error": {"code": "unauthorized", "message": r.json()["error"]["message"], "field": "X-API-Key"}}
    logged = [rec.getMessage() for rec in caplog.records if "API key" in rec.getMessage()]
    assert logged and path in logged[-1]
    assert "wrong" not in " ".join(logged)  # the key presented is never logged


def test_json_items_route_and_rerun_is_idempotent(client):
    body = {"items": proposal_rows(SPECS), "actor": "王老师"}
    data = route(client, json=body)
    assert {a["proposal_id"]: a["panel_id"] for a in data["assignments"]} == {"p1": "A", "p2": "A", "p3": "B", "p4": "B", "p5": "C"}
    assert {"proposal_id", "panel_id", "backup_panel_id", "affinity", "flagged", "reason", "eligible",
            "failed_rules"} <= set(data["assignments"][0])
    assert data["progress"] == {"done": 5, "total": 5}
    assert [{k: p[k] for k in ("id", "load", "min", "max")} for p in data["panels"]] == [
        {"id": "A", "load": 2, "min": 0, "max": 100}, {"id": "B", "load": 2, "min": 0, "max": 100},
        {"id": "C", "load": 1, "min": 0, "max": 100}]
    assert data["panels"][0]["name"] == "评审组A" and data["panels"][0]["directions"] == list(range(1, 15))
    assert data["actor"] == "王老师 (key#1)" and data["reused"] is False
    again = client.post("/v1/routing/runs", json=body, headers={"X-API-Key": "staff-key-2"})
    assert again.status_code == 200 and again.json()["run_id"] == data["run_id"] and again.json()["reused"] is True
    got = client.get(f"/v1/routing/runs/{data['run_id']}", headers=KEY)
    assert got.status_code == 200 and got.json()["assignments"] == data["assignments"]


def test_xlsx_upload_with_chinese_headers_and_run_options(client):
    files = {"file": ("申报汇总.xlsx", xlsx_upload(chinese_rows(SPECS)), "application/octet-stream")}
    data = route(client, files=files, data={"panels_closed": "C", "extra_room": "A=1", "actor": "李"})
    assert data["source"] == "申报汇总.xlsx"
    assert {p["id"]: (p["load"], p["max"]) for p in data["panels"]} == {"A": (2, 101), "B": (2, 100), "C": (0, 0)}
    assert any("C" in n for n in data["notes"])
    assert data["n_flagged"] == 1  # p5 fits only the closed panel C: flagged, not forced elsewhere
    x = client.get(data["export_url"], headers=KEY)
    assert x.status_code == 200
    assert x.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert f'routing-{data["run_id"]}.xlsx' in x.headers["content-disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(x.content))
    assert wb.sheetnames[0] == "汇总" and len(wb.sheetnames) == 4


def test_csv_and_jsonl_uploads(client):
    rows = proposal_rows(SPECS)
    csv = pd.DataFrame(rows).to_csv(index=False).encode("utf-8")
    first = route(client, files={"file": ("p.csv", csv, "text/csv")})
    jsonl = "\n".join(json.dumps(x, ensure_ascii=False) for x in rows).encode("utf-8")
    r2 = client.post("/v1/routing/runs", files={"file": ("p.jsonl", jsonl, "application/x-ndjson")}, headers=KEY)
    assert r2.status_code == 200 and r2.json()["run_id"] == first["run_id"]  # the same proposals
    assert r2.json()["status"] == "done" and r2.json()["reused"] is True


@pytest.mark.parametrize(
    "files, data, code, field, text",
    [
        ({"file": ("p.pdf", b"%PDF", "application/pdf")}, {}, "invalid_file_type", "file", ".csv, .xlsx, .jsonl"),
        ({"file": ("p.xlsx", b"not a workbook", "application/octet-stream")}, {}, "invalid_input", "input", "p.xlsx"),
        ({"file": ("p.csv", b"name,text\nx,y\n", "text/csv")}, {}, "invalid_input", "id", "no column 'id'"),
        ({"file": ("p.csv", b"id,abstract\n1,a\n1,b\n", "text/csv")}, {}, "invalid_input", "id", "row 3: id '1' is already used by row 2"),
        ({"other": ("p.csv", b"id,abstract\n1,a\n", "text/csv")}, {}, "missing_field", "file", "field named 'file'"),
        ({"file": ("p.csv", b"id,abstract\n1,d1=0.9\n", "text/csv")}, {"panels_closed": "Z"}, "invalid_panel_option", None, "no such panel"),
        ({"file": ("p.csv", b"id,abstract\n1,d1=0.9\n", "text/csv")}, {"extra_room": "A=lots"}, "invalid_input", "extra_room", "PANEL=N"),
        ({"file": ("p.csv", b"id,abstract\n1,d1=0.9\n", "text/csv")}, {"bogus": "1"}, "unknown_field", "bogus", "bogus"),
    ],
)
def test_bad_uploads_are_422_with_a_clear_message(client, files, data, code, field, text):
    r = client.post("/v1/routing/runs", files=files, data=data, headers=KEY)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == code and text in err["message"]
    if field:
        assert err["field"] == field
    assert "guide-match-upload-" not in err["message"]  # no server paths


def test_bad_json_bodies(client):
    r = client.post("/v1/routing/runs", json={"items": []}, headers=KEY)
    assert r.status_code == 422 and r.json()["error"]["field"] == "items"
    r = client.post("/v1/routing/runs", json={"items": proposal_rows(SPECS), "colour": "red"}, headers=KEY)
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_field"
    r = client.post("/v1/routing/runs", json={"items": [{"title": "no id", "abstract": "d1=0.9"}]}, headers=KEY)
    assert r.status_code == 422 and "no column 'id'" in r.json()["error"]["message"]
    r = client.post("/v1/routing/runs", content=b'{"items": [', headers={**KEY, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = client.post("/v1/routing/runs", content=b"id,abstract", headers={**KEY, "content-type": "text/csv"})
    assert r.status_code == 415


def test_infeasible_configuration_fails_the_job_naming_the_panels(tmp_path):
    items = proposal_rows([("p1", "d1=0.9"), ("p6", "d2=0.9"), ("p9", "d3=0.9")])
    with make_client(tmp_path, three_panels(A={"max": 1})) as c:
        r = c.post("/v1/routing/runs", json={"items": items}, headers=KEY)
        assert r.status_code == 202
        job = wait_for(c, r.json()["run_id"])
        assert job["status"] == "failed" and "assignments" not in job
        err = job["error"]
        assert err["code"] == "routing_infeasible" and "A (line" in err["message"] and "extra room needed: 2" in err["message"]
        assert str(tmp_path) not in err["message"]  # no server path
        # the same input again starts afresh (a failed run is not an answer), and fails the same way
        again = c.post("/v1/routing/runs", json={"items": items}, headers=KEY)
        assert again.status_code == 202 and again.json()["run_id"] == job["run_id"] and again.json()["status"] == "queued"
        assert wait_for(c, job["run_id"])["error"]["code"] == "routing_infeasible"
        a = route(c, json={"items": items, "extra_room": {"A": 2}})["panels"][0]
        assert (a["id"], a["load"], a["min"], a["max"]) == ("A", 3, 0, 3)


def test_a_failed_run_names_the_panels_file_not_its_server_path(tmp_path):
    with make_client(tmp_path, three_panels(A={"min": 5})) as c:
        r = c.post("/v1/routing/runs", json={"items": proposal_rows([("p1", "d1=0.9")])}, headers=KEY)
        err = wait_for(c, r.json()["run_id"])["error"]
        assert err["code"] == "routing_infeasible"
        assert err["message"].startswith("panels.yaml: the open panels' minimums add up to 5 but only 1 proposals")
        assert str(tmp_path) not in err["message"]


def test_infeasible_configuration_is_409_when_waiting(tmp_path):
    with make_client(tmp_path, three_panels(A={"max": 1})) as c:
        items = proposal_rows([("p1", "d1=0.9"), ("p6", "d2=0.9"), ("p9", "d3=0.9")])
        r = c.post("/v1/routing/runs?wait=true", json={"items": items}, headers=KEY)
        assert r.status_code == 409
        err = r.json()["error"]
        assert err["code"] == "routing_infeasible" and "A (line" in err["message"] and "extra room needed: 2" in err["message"]
        r = c.post("/v1/routing/runs?wait=true", json={"items": items, "extra_room": {"A": 2}}, headers=KEY)
        assert r.status_code == 201 and r.json()["status"] == "done" and r.json()["n_proposals"] == 3


def test_overrides_over_http(client):
    items = proposal_rows(SPECS, {"p5": ("甲大学", "")})
    run = route(client, json={"items": items})
    url = f"/v1/routing/runs/{run['run_id']}/overrides"
    r = client.post(url, json={"proposal_id": "p1", "panel_id": "B", "reason": "属氢能", "actor": "张"}, headers=KEY)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["override"]["from_panel_id"] == "A" and body["override"]["actor"] == "张 (key#1)"
    assert {p["id"]: p["load"] for p in body["run"]["panels"]} == {"A": 1, "B": 3, "C": 1}
    assert body["run"]["overrides"][0]["reason"] == "属氢能"
    # p5's applicant is a member's organisation in every panel (甲大学 on A, B and C) — A has quorum 2 of 3
    r = client.post(url, json={"proposal_id": "p9", "panel_id": "B", "reason": "x"}, headers=KEY)
    assert r.status_code == 404 and r.json()["error"]["code"] == "proposal_not_found"
    r = client.post("/v1/routing/runs/nope/overrides", json={"proposal_id": "p1", "panel_id": "B", "reason": "x"}, headers=KEY)
    assert r.status_code == 404 and r.json()["error"]["code"] == "run_not_found"
    r = client.post(url, json={"proposal_id": "p1", "panel_id": "B", "reason": "x"}, headers=KEY)
    assert r.status_code == 409 and r.json()["error"]["code"] == "override_refused"
    r = client.post(url, json={"proposal_id": "p1", "panel_id": "Z", "reason": "x"}, headers=KEY)
    assert r.status_code == 422 and r.json()["error"]["field"] == "panel_id"
    r = client.post(url, json={"proposal_id": "p1", "panel_id": "C"}, headers=KEY)
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason"
    assert client.get("/v1/routing/runs/nope", headers=KEY).status_code == 404
    assert client.get("/v1/routing/runs/nope/export.xlsx", headers=KEY).status_code == 404


def test_conflict_override_is_refused_over_http(tmp_path):
    panels = three_panels()
    panels[1]["members"] = [("丁", "广西大学"), ("戊", "广西大学"), ("己", "厦门大学")]
    with make_client(tmp_path, panels) as c:
        run = route(c, json={"items": proposal_rows(SPECS, {"p1": ("广西大学", "")})})
        r = c.post(f"/v1/routing/runs/{run['run_id']}/overrides",
                   json={"proposal_id": "p1", "panel_id": "B", "reason": "x", "force": True}, headers=KEY)
        assert r.status_code == 409 and "conflict of interest" in r.json()["error"]["message"]


def test_a_broken_panels_file_is_a_clear_500(tmp_path):
    with make_client(tmp_path) as c:
        (tmp_path / "panels.yaml").write_text("panels: [", encoding="utf-8")
        r = c.post("/v1/routing/runs", json={"items": proposal_rows(SPECS)}, headers=KEY)
        assert r.status_code == 500 and r.json()["error"]["code"] == "routing_unavailable"
        assert "not valid YAML" in r.json()["error"]["message"]


def test_the_panels_new_runs_use_and_a_run_with_its_own_panels_file(client):
    r = client.get("/v1/routing/panels", headers=KEY)
    assert r.status_code == 200
    panels = r.json()
    assert panels["source"] == "panels.yaml" and panels["conflict_rule"] == "quorum"  # a file name, no server path
    assert [p["id"] for p in panels["panels"]] == ["A", "B", "C"]
    assert panels["panels"][0]["members"] == ["A-甲（甲大学）", "A-乙（乙研究院）", "A-丙（丙学院）"]
    own = panels_yaml([{"id": "X", "dirs": range(1, 21)}, {"id": "Y", "dirs": range(21, 41)}])
    r = client.post("/v1/routing/panels", json={"name": "本次评审组.yaml", "yaml": own}, headers=KEY)
    assert r.status_code == 200 and [p["id"] for p in r.json()["panels"]] == ["X", "Y"]
    assert r.json()["source"] == "本次评审组.yaml"
    bad = own.replace("max: 100", "max: -1", 1)
    r = client.post("/v1/routing/panels", json={"name": "bad.yaml", "yaml": bad}, headers=KEY)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_panels"
    assert "bad.yaml, line 8: panel X: max must be a whole number ≥ 0, got -1" in r.json()["error"]["message"]
    assert client.post("/v1/routing/panels", json={"yaml": own}).status_code == 401

    files = {"file": ("p.csv", pd.DataFrame(proposal_rows(SPECS)).to_csv(index=False).encode(), "text/csv"),
             "panels": ("本次评审组.yaml", own.encode("utf-8"), "application/yaml")}
    data = route(client, files=files)
    assert {a["proposal_id"]: a["panel_id"] for a in data["assignments"]} == {"p1": "X", "p2": "X", "p3": "X", "p4": "Y", "p5": "Y"}
    for panels_file, code in [(("x.yaml", b"panels: [", "application/yaml"), "invalid_panels"),
                              (("x.txt", own.encode(), "text/plain"), "invalid_file_type"),
                              (("x.yaml", b"\xff\xfe", "application/yaml"), "invalid_panels")]:
        r = client.post("/v1/routing/runs", files={"file": files["file"], "panels": panels_file}, headers=KEY)
        assert r.status_code == 422 and r.json()["error"]["code"] == code and r.json()["error"]["field"] == "panels", r.text
