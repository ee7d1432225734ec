"""End to end on the real matcher (the session's one): `guide-match route` / `override` and the API."""
from __future__ import annotations

import io
import json
import sqlite3
import time

import openpyxl
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from routing.panels import DEFAULT_PANELS_PATH
from service.app import create_app
from routing.config import RoutingSettings
from service.settings import Settings

PROPOSALS = [
    ("E01", "85英寸8K超高清液晶面板关键技术研发", "基于IGZO背板开发8K超高清TFT-LCD液晶面板，解决高分辨率下开口率与像素充电问题。", "P01"),
    ("E02", "高压实磷酸铁锂正极材料", "开发碳包覆纳米磷酸铁锂正极材料连续化制备工艺，压实密度≥2.6 g/cm³，建成年产2万吨LFP生产线。", "P06"),
    ("E03", "商用车质子交换膜燃料电池电堆", "研制高功率密度质子交换膜燃料电池电堆与膜电极，寿命≥20000小时，用于重型商用车。", "P05"),
    ("E04", "汽车用2000MPa级热成形钢", "开发汽车用2000MPa级热成形超高强钢板及其轧制与热处理工艺，实现批量供货。", "P07"),
    ("E05", "绿色智能内河集装箱船", "开展绿色智能内河集装箱船总体设计，研制智能能效管理与辅助驾驶信息系统。", "P09"),
    ("E06", "甘蔗液体糖精深加工", "以甘蔗原糖为原料开发液体糖、药用糖精深加工工艺，建设蔗糖精深加工示范线。", "P04"),
    ("E07", "新型疫苗研发", "开发重组蛋白亚单位疫苗，完成工艺开发、质量研究与临床前评价。", "P03"),
    ("E08", "现代文学研究", "研究鲁迅小说中的女性形象与叙事策略，分析二十世纪初中国现代文学的启蒙话语与性别书写。", None),
]


def rows(orgs=None):
    orgs = orgs or {}
    return [
        {"编号": pid, "项目名称": title, "摘要": abstract, "申报单位": orgs.get(pid, "广西某科技有限公司"), "合作单位": "广西大学；中南大学"}
        for pid, title, abstract, _ in PROPOSALS
    ]


@pytest.fixture
def panels_file(tmp_path):
    """The default panels with minimums of 0, so that a handful of proposals can be routed."""
    path = tmp_path / "panels.yaml"
    path.write_text(DEFAULT_PANELS_PATH.read_text(encoding="utf-8").replace("    min: 5\n", "    min: 0\n"), encoding="utf-8")
    return path


@pytest.fixture
def run(cli_run):
    return cli_run


def test_cli_routes_an_xlsx_and_overrides(run, tmp_path, panels_file):
    src = tmp_path / "proposals.xlsx"
    pd.DataFrame(rows({"E02": "广西大学"})).to_excel(src, index=False)
    db, out = tmp_path / "routing.sqlite", tmp_path / "routing.xlsx"
    code, stdout, err = run("route", src, "--panels", panels_file, "-o", out, "--db", db, "--actor", "测试")
    assert code == 0, err
    assert "routing: 100%" in err  # the progress bar
    assert "new run" in stdout and "7 assigned, 1 flagged" in stdout
    run_id = stdout.split("run ")[1].split()[0]
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[0] == "汇总" and len(wb.sheetnames) == 11
    con = sqlite3.connect(db)
    got = dict(con.execute("SELECT proposal_id, panel_id FROM assignments WHERE run_id = ?", (run_id,)).fetchall())
    for pid, *_, panel in PROPOSALS:
        assert got[pid] == panel, (pid, got[pid])
    # E02: applicant 广西大学, partner 中南大学: P06's two members from there are recused, 3 of 5 keep the quorum
    reason = con.execute("SELECT reason FROM assignments WHERE proposal_id = 'E02'").fetchone()[0]
    assert "回避专家：专家26（中南大学）、专家30（广西大学）" in reason

    code, stdout, _ = run("route", src, "--panels", panels_file, "-o", tmp_path / "again.json", "--db", db)
    assert code == 0 and f"run {run_id} (unchanged input" in stdout
    data = json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))
    assert data["run_id"] == run_id and len(data["assignments"]) == len(PROPOSALS)

    code, stdout, err = run("override", run_id, "E08", "--to", "P04", "--reason", "文旅类，人工判断", "--db", db,
                            "-o", tmp_path / "after.xlsx", "--actor", "组长")
    assert code == 0, err
    assert "E08 (manual review) → P04 by 组长" in stdout
    assert "人工调整记录" in openpyxl.load_workbook(tmp_path / "after.xlsx").sheetnames

    code, _, err = run("override", run_id, "E01", "--to", "P99", "--reason", "x", "--db", db)
    assert code == 2 and err.startswith("guide-match: error: no panel 'P99'")


def test_cli_errors_are_one_clear_message(run, tmp_path, panels_file):
    src = tmp_path / "proposals.csv"
    pd.DataFrame(rows()).to_csv(src, index=False)
    code, _, err = run("route", src, "--panels", panels_file, "-o", tmp_path / "r.txt")
    assert code == 2 and "accepted: .xlsx, .json" in err
    code, _, err = run("route", src, "--panels", panels_file, "-o", tmp_path / "r.xlsx", "--close", "P77")
    assert code == 2 and "cannot close panel 'P77'" in err
    code, _, err = run("route", src, "--panels", panels_file, "-o", tmp_path / "r.xlsx", "--extra-room", "P06")
    assert code == 2 and "write PANEL=N" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text(panels_file.read_text(encoding="utf-8").replace("max: 80", "max: -3", 1), encoding="utf-8")
    line = bad.read_text(encoding="utf-8").splitlines().index("    max: -3") + 1
    code, _, err = run("route", src, "--panels", bad, "-o", tmp_path / "r.xlsx")
    assert code == 2 and f"bad.yaml, line {line}: panel P01: max must be a whole number ≥ 0, got -3" in err
    code, _, err = run("route", src, "-o", tmp_path / "r.xlsx", "--db", tmp_path / "r.sqlite")  # default panels: min 5 each
    assert code == 2 and "minimums add up to 50 but only 7 proposals" in err and "Traceback" not in err


def test_api_routes_an_xlsx_behind_its_key(matcher, tmp_path, panels_file):
    settings = Settings(api_keys=("k-1",), routing=RoutingSettings(db=tmp_path / "api.sqlite", panels=panels_file))
    buf = io.BytesIO()
    pd.DataFrame(rows()).to_excel(buf, index=False)
    with TestClient(create_app(settings, matcher=matcher), raise_server_exceptions=False) as c:
        files = {"file": ("proposals.xlsx", buf.getvalue(), "application/octet-stream")}
        assert c.post("/v1/match", json={"text": PROPOSALS[1][2]}).status_code == 200  # the public endpoint: no key
        assert c.post("/v1/routing/runs", files=files).status_code == 401
        r = c.post("/v1/routing/runs", files=files, headers={"X-API-Key": "k-1"})
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 120
        while (data := c.get(r.json()["status_url"], headers={"X-API-Key": "k-1"}).json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert data["status"] == "done" and data["progress"] == {"done": 8, "total": 8}
        got = {a["proposal_id"]: a["panel_id"] for a in data["assignments"]}
        assert got == {pid: panel for pid, *_, panel in PROPOSALS}
        flagged = [a for a in data["assignments"] if a["flagged"]]
        assert [a["proposal_id"] for a in flagged] == ["E08"] and "不在指南支持范围内" in flagged[0]["reason"]
        x = c.get(data["export_url"], headers={"X-API-Key": "k-1"})
        assert x.status_code == 200 and openpyxl.load_workbook(io.BytesIO(x.content)).sheetnames[0] == "汇总"
