"""The routing sheet and its JSON carry each proposal's eligibility verdict and failed rules."""
from __future__ import annotations

import json
import sqlite3

import openpyxl
import pandas as pd

from routing import Router, RoutingStore, parse_panels, proposals_from_items, read_proposals
from routing.store import _SCHEMA_V1

from routing_support import FakeMatcher, panels_yaml, proposal_rows, three_panels

GOOD = ("d22=0.9 申请财政资金800万元，企业自筹2,400万元；实施期限2025年1月至2027年12月；形成新产品2项；"
        "关键性能参数6项；申请发明专利3件；制定企业标准1项；实现销售收入5000万元。")
OVER = "d23=0.8 申请财政资金1500万元，企业自筹6000万元，申请发明专利1件。"


def _router(tmp_path, db="r.sqlite") -> Router:
    return Router(FakeMatcher(), tmp_path / db, parse_panels(panels_yaml(three_panels()), "p.yaml"))


def _items() -> list[dict]:
    rows = proposal_rows([("p1", GOOD), ("p2", OVER), ("p3", "d35=0.6 无经费信息")])
    rows[0].update(lead_type="enterprise", priority="none")
    return rows


def test_each_assignment_has_its_verdict(tmp_path):
    state = _router(tmp_path).route(proposals_from_items(_items()))
    got = {r.proposal_id: (r.eligible, r.failed_rules) for r in state.rows}
    assert got["p1"] == (True, [])
    assert got["p2"] == (False, ["funding_per_project", "target_invention_patents"])
    assert got["p3"] == (None, [])
    assert state.row("p2").panel_id == "B"  # routing itself is unchanged: the officers decide


def test_the_sheet_and_json_show_verdicts_and_failed_rules(tmp_path):
    router = _router(tmp_path)
    state = router.route(proposals_from_items(_items()))
    wb = openpyxl.load_workbook(router.export(state.run_id, tmp_path / "routing.xlsx"))
    rows = [list(r) for r in wb["汇总"].iter_rows(values_only=True)]
    assert ["形式审查不符合", 1] in [r[:2] for r in rows]
    header = next(r for r in rows if r[0] == "编号" and "形式审查" in r)
    table = {r[0]: dict(zip(header, r)) for r in rows[rows.index(header) + 1:] if r[0] in ("p1", "p2", "p3")}
    assert table["p1"]["形式审查"] == "符合" and table["p3"]["形式审查"] == "信息不足"
    assert table["p2"]["形式审查"] == "不符合"
    assert table["p2"]["未通过的规则"] == "每项支持经费（财政经费）、申请（授权）发明专利"
    panel_b = [list(r) for r in wb["B 评审组B"].iter_rows(min_row=4, values_only=True)]
    col = panel_b[0].index("形式审查")
    assert {r[0]: r[col] for r in panel_b[1:]} == {"p1": "符合", "p2": "不符合"}
    data = json.loads(router.export(state.run_id, tmp_path / "routing.json").read_text(encoding="utf-8"))
    by_id = {a["proposal_id"]: a for a in data["assignments"]}
    assert by_id["p2"]["eligible"] is False and by_id["p2"]["failed_rules"] == ["funding_per_project",
                                                                                "target_invention_patents"]


def test_field_columns_of_a_table_are_read(tmp_path):
    src = tmp_path / "proposals.csv"
    pd.DataFrame({"id": ["a"], "title": ["项目a"], "abstract": ["d22=0.9 申请财政资金800万元"],
                  "fiscal_funding_wan": ["1200"], "lead_type": ["enterprise"]}).to_csv(src, index=False)
    proposals = read_proposals(src)
    assert dict(proposals[0].facts) == {"lead_type": "enterprise", "fiscal_funding_wan": "1200"}
    state = _router(tmp_path).route(proposals)
    assert state.rows[0].eligible is False and "funding_per_project" in state.rows[0].failed_rules


def test_a_table_without_field_columns_keeps_its_run_key(tmp_path):
    plain = proposals_from_items(proposal_rows([("p1", "d1=0.9")]))
    assert "facts" not in plain[0].to_dict()


def test_a_database_from_before_the_verdicts_gains_the_columns(tmp_path):
    old = tmp_path / "old.sqlite"
    con = sqlite3.connect(old)
    con.executescript(_SCHEMA_V1)  # the first schema, without the pre-check's columns
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.commit()
    assert "eligible" not in {r[1] for r in con.execute("PRAGMA table_info(assignments)")}
    con.close()
    RoutingStore(old)
    with sqlite3.connect(old) as con:
        assert {"eligible", "failed_rules"} <= {r[1] for r in con.execute("PRAGMA table_info(assignments)")}
    state = _router(tmp_path, db="old.sqlite").route(proposals_from_items(_items()))
    assert state.row("p2").eligible is False
