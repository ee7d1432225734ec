"""Findings 9 and 10 (low): error messages that echo content or paths; HEAD probes, security
headers, a stray newline in a path, half-written exports, unthrottled wrong keys."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app

from routing_support import panels_yaml, three_panels
from security_support import KEY, staff_client
from service_support import make_settings

REPO = Path(__file__).resolve().parents[2]
SECRET = "机密申报书内容"


@pytest.fixture
def client(tmp_path):
    with staff_client(tmp_path) as c:
        yield c


# -- 9: messages name the row, column and rule, never the content, exception text or a server path --
def test_a_header_less_csv_is_not_echoed(client):
    body = f"2024-001,{SECRET},{SECRET}摘要\n".encode()
    r = client.post("/v1/routing/runs", files={"file": ("p.csv", body, "text/csv")}, headers=KEY)
    assert r.status_code == 422 and "no column 'id'" in r.json()["error"]["message"]
    assert SECRET not in r.text and "2024-001" not in r.text


def test_a_damaged_workbook_is_not_described_by_its_exception(client):
    r = client.post("/v1/routing/runs", files={"file": ("p.xlsx", b"PK\x03\x04" + SECRET.encode(), "x")}, headers=KEY)
    assert r.status_code == 422 and "cannot be read as .xlsx" in r.json()["error"]["message"]
    assert "Error" not in r.json()["error"]["message"] and SECRET not in r.text


def test_a_404_does_not_echo_the_path(client):
    r = client.get("/" + "x" * 50_000 + SECRET)
    assert r.status_code == 404 and len(r.text) < 300 and SECRET not in r.text and "xxxx" not in r.text
    r = client.delete("/v1/match")
    assert r.status_code == 405 and "/v1/match" not in r.json()["error"]["message"]


def test_a_409_does_not_name_the_servers_folders(tmp_path):
    with staff_client(tmp_path) as client:
        (tmp_path / "panels.yaml").write_text(panels_yaml(three_panels(A={"max": 1})),
                                              encoding="utf-8")
        client.app.state.routing_router = None
        items = [{"id": f"p{i}", "abstract": f"d{i + 1}=0.9"} for i in range(3)]
        r = client.post("/v1/routing/runs", json={"items": items}, headers=KEY)
        assert r.status_code in (409, 202), r.text
        if r.status_code == 409:
            assert r.json()["error"]["code"] == "routing_infeasible" and "extra room needed: 2" in r.text
            assert str(tmp_path) not in r.text


# -- 10 --------------------------------------------------------------------------------------------
def test_head_on_health_and_readiness(matcher):
    with TestClient(create_app(make_settings(), matcher=matcher)) as client:
        for path in ("/healthz", "/readyz"):
            r = client.head(path)
            assert r.status_code == 200 and r.content == b""


@pytest.mark.parametrize("path", ["/", "/docs", "/staff"])
def test_every_page_sends_the_security_headers(client, path):
    r = client.get(path)
    if r.status_code == 404:  # a page not served by this build
        pytest.skip(f"{path} is not served")
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"


def test_the_docs_page_allows_only_its_own_inline_script(client):
    csp = client.get("/docs").headers["content-security-policy"]
    assert "'sha256-" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


def test_json_answers_are_not_sniffed(client):
    r = client.get("/v1/limits")
    assert r.headers["x-content-type-options"] == "nosniff" and "content-security-policy" not in r.headers


@pytest.mark.parametrize("path", ["/v1/directions/1%0a", "/v1/directions/%201", "/v1/directions/1.0", "/v1/directions/+1",
                                  "/v1/directions/１"])
def test_a_direction_number_is_digits_only(client, path):
    r = client.get(path)
    assert r.status_code == 422 and r.json()["error"]["field"] == "direction_id"


def test_a_killed_export_leaves_no_part_file(tmp_path):
    """A large batch output killed while it is written: no *.part, no output, exit status 143."""
    out = tmp_path / "out.xlsx"
    code = (
        "from cli.main import terminate_cleanly\n"
        "from matcher.tables import write_table\n"
        "rows = [{'id': str(i), 'text': '锂电池正极材料' * 20} for i in range(400_000)]\n"
        "print('writing', flush=True)\n"
        f"with terminate_cleanly():\n    write_table(rows, rows, {str(out)!r})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.xlsx.*.part")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert list(tmp_path.glob(".out.xlsx.*.part")), "the export never started"
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    assert proc.returncode != 0
    assert os.listdir(tmp_path) == []


def test_wrong_staff_keys_are_throttled_per_client_and_summarised(matcher, caplog):
    caplog.set_level(logging.WARNING, logger="guide_match")
    app = create_app(make_settings(key_failure_limit="10/minute"), matcher=matcher)
    with TestClient(app) as client:
        codes = [client.get("/v1/routing/runs/x", headers={"X-API-Key": f"guess-{i}"}).status_code for i in range(300)]
        assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}
        # even the right key waits while the client is throttled
        right = client.get("/v1/routing/runs/x", headers={"X-API-Key": "test-key-1"})
        assert right.status_code == 429 and int(right.headers["Retry-After"]) >= 1
        app.state.key_refusals.flush(force=True)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("guide_match.service")
             and "key" in r.getMessage().lower()]
    assert len(lines) <= 13, lines  # ten rejections, the first refusal, one summary
    assert any("290 more refused" in line for line in lines), lines
    assert not any("guess-" in line for line in lines)
