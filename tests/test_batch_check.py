"""`guide-match batch … --check`: the verdict and the failed rules per row, from the text and field columns."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from openpyxl import load_workbook

TEXT_OK = ("高比能量钠离子圆柱电池关键材料及制造技术。申请财政资金800万元，企业自筹2,400万元；实施期限2025年1月至2027年12月；"
           "形成新材料2项；关键性能参数共5项；申请发明专利4件；制定企业标准2项；项目实施期内实现销售收入6000万元。")
TEXT_LOW_RATIO = "质子交换膜燃料电池电堆与膜电极开发。申请财政资金900万元，企业自筹1800万元，申请发明专利1件。"


def _table() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["P1", "P2", "P3", "P4"],
        "text": [TEXT_OK, TEXT_LOW_RATIO, TEXT_OK, ""],
        "lead_type": ["enterprise", "enterprise", "enterprise", ""],
        "priority": ["none", "", "none", ""],
        "fiscal_funding_wan": ["", "", "八百", ""],
    })


@pytest.mark.parametrize("suffix", [".jsonl", ".xlsx", ".csv"])
def test_batch_check_adds_the_verdict_and_failed_rules(cli_run, tmp_path, suffix):
    src = tmp_path / "in.csv"
    _table().to_csv(src, index=False)
    dst = tmp_path / f"out{suffix}"
    code, _, err = cli_run("batch", src, "-o", dst, "--check")
    assert code == 0, err
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in dst.read_text(encoding="utf-8").splitlines()]
        assert rows[0]["eligible"] is True and rows[0]["failed_rules"] == []
        assert rows[0]["directions"][0]["id"] == 24
        assert rows[1]["eligible"] is False
        assert rows[1]["failed_rules"] == ["match_ratio_enterprise_led", "target_invention_patents"]
        # a bad cell names its column; the row's matching still stands
        assert rows[2]["eligible"] is None and "fiscal_funding_wan" in rows[2]["eligibility_error"]
        assert rows[2]["directions"]
        assert rows[3]["eligible"] is None and rows[3]["eligibility_error"]
        return
    if suffix == ".xlsx":
        sheet = load_workbook(dst).active
        head = [c.value for c in sheet[1]]
        values = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
        got = [dict(zip(head, v)) for v in values]
    else:
        got = pd.read_csv(dst, dtype=str, keep_default_na=False).to_dict("records")
    assert [str(r["eligible"]) for r in got[:2]] == ["True", "False"]
    assert got[1]["failed_rules"] == "match_ratio_enterprise_led;target_invention_patents"
    assert got[2]["eligibility_error"]


def test_without_check_the_columns_are_absent(cli_run, tmp_path):
    src = tmp_path / "in.csv"
    _table().to_csv(src, index=False)
    dst = tmp_path / "out.jsonl"
    assert cli_run("batch", src, "-o", dst)[0] == 0
    row = json.loads(dst.read_text(encoding="utf-8").splitlines()[0])
    assert "eligible" not in row and "failed_rules" not in row
