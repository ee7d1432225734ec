"""Apps and helpers for the security suite: a staff app on the stand-in matcher, runs through the API
whether they answer at once or as a job, and a check that a workbook holds no formula."""
from __future__ import annotations

import io
import time

import openpyxl
from fastapi.testclient import TestClient

from routing.config import RoutingSettings
from service.app import create_app
from service.settings import Settings

from routing_support import FakeMatcher, panels_yaml, three_panels

KEY = {"X-API-Key": "staff-key-1"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def staff_settings(tmp_path, **overrides) -> Settings:
    panels_file = tmp_path / "panels.yaml"
    panels_file.write_text(panels_yaml(three_panels()), encoding="utf-8")
    values = dict(
        api_keys=("staff-key-1", "staff-key-2"),
        routing=RoutingSettings(db=tmp_path / "api.sqlite", panels=panels_file),
        max_body_bytes=4 * 1024 * 1024,
    )
    values.update(overrides)
    return Settings(**values)


def staff_client(tmp_path, matcher=None, **overrides) -> TestClient:
    return TestClient(create_app(staff_settings(tmp_path, **overrides), matcher=matcher or FakeMatcher()),
                      raise_server_exceptions=False)


def finished_run(client: TestClient, response) -> dict:
    """The run a POST /v1/routing/runs started: at once (200/201), or polled until its job is done (202)."""
    assert response.status_code in (200, 201, 202), response.text
    body = response.json()
    if response.status_code != 202:
        return body
    url = body.get("status_url") or f"/v1/routing/runs/{body['run_id']}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = client.get(url, headers=KEY).json()
        if body.get("status", "done") in ("done", "failed", "cancelled"):
            assert body.get("status", "done") == "done", body
            return client.get(f"/v1/routing/runs/{body['run_id']}", headers=KEY).json()
        time.sleep(0.05)
    raise AssertionError("the routing job did not finish")


def formula_cells(data: bytes) -> list[str]:
    """Every cell of an .xlsx that holds a formula, or text a spreadsheet would read as one."""
    wb = openpyxl.load_workbook(io.BytesIO(data))
    bad = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f" or (isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS)):
                    bad.append(f"{ws.title}!{cell.coordinate}={cell.value!r}")
    return bad
