"""`guide-match` commands, including bad files and bad rows."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest


ABSTRACT = "开发碳包覆纳米磷酸铁锂正极材料连续化制备工艺，压实密度≥2.6 g/cm³，建成年产2万吨LFP生产线。"


@pytest.fixture
def run(cli_run):
    return cli_run


def test_match_prints_a_table(run):
    code, out, _ = run("match", ABSTRACT, "--top-k", "3")
    assert code == 0
    assert "磷酸铁锂" in out and "22" in out.splitlines()[2]
    assert len([l for l in out.splitlines() if l[:2].strip().isdigit()]) == 3


def test_match_json(run):
    code, out, _ = run("match", ABSTRACT, "--json")
    data = json.loads(out)
    assert code == 0
    assert data["directions"][0]["id"] == 22
    assert {"id", "title", "score", "cluster", "matched_terms"} <= set(data["directions"][0])
    assert data["in_scope"] is True


@pytest.mark.parametrize("text", ["", "   "])
def test_match_empty_text_is_one_clear_line(run, text):
    code, out, err = run("match", text)
    assert code == 2
    assert err.strip().startswith("guide-match: error:") and "empty" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_match_bad_top_k(run):
    code, _, err = run("match", ABSTRACT, "--top-k", "0")
    assert code == 2 and "top_k must be an integer from 1 to 40" in err


def test_directions_lists_forty(run):
    code, out, _ = run("directions")
    assert code == 0
    for title in ("锂", "氢"):
        assert title in out
    assert "装备制造" in out and "石化化工" in out


def _proposals() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["P1", "P2", "P3", "P4"],
            "text": [ABSTRACT, "", "质子交换膜燃料电池电堆与膜电极开发", "研究鲁迅小说中的女性形象与叙事策略"],
        }
    )


@pytest.mark.parametrize("suffix_in", [".csv", ".xlsx", ".jsonl"])
@pytest.mark.parametrize("suffix_out", [".csv", ".xlsx", ".jsonl"])
def test_batch_round_trip(run, tmp_path, suffix_in, suffix_out):
    src = tmp_path / f"in{suffix_in}"
    df = _proposals()
    if suffix_in == ".csv":
        df.to_csv(src, index=False)
    elif suffix_in == ".xlsx":
        df.to_excel(src, index=False)
    else:
        df.to_json(src, orient="records", lines=True, force_ascii=False)
    dst = tmp_path / f"out{suffix_out}"
    code, _, err = run("batch", src, "-o", dst, "--top-k", "2")
    assert code == 0, err
    assert "row P2" in err and "empty" in err
    if suffix_out == ".jsonl":
        rows = [json.loads(l) for l in dst.read_text(encoding="utf-8").splitlines()]
        assert [r["id"] for r in rows] == ["P1", "P2", "P3", "P4"]
        assert rows[0]["directions"][0]["id"] == 22 and len(rows[0]["directions"]) == 2
        assert set(rows[0]["directions"][0]) >= {"id", "title", "score", "cluster", "matched_terms"}
        assert {"id", "in_scope", "directions", "clusters"} <= set(rows[0])
        assert rows[1]["error"] and rows[1]["in_scope"] is None
        assert rows[3]["in_scope"] is False and rows[3]["reason"] in ("no_direction_fits", "too_vague")
        assert rows[0]["reason"] == "fits"
    else:
        out = pd.read_csv(dst, dtype=str) if suffix_out == ".csv" else pd.read_excel(dst, dtype=str)
        assert list(out["id"]) == ["P1", "P2", "P3", "P4"]
        assert out.loc[0, "direction_1_id"] == "22"
        assert out.loc[0, "reason"] == "fits" and out.loc[3, "reason"] in ("no_direction_fits", "too_vague")
        assert "direction_2_score" in out.columns and "direction_3_id" not in out.columns


def test_batch_uses_row_numbers_without_id_column(run, tmp_path):
    src = tmp_path / "in.csv"
    pd.DataFrame({"摘要": [ABSTRACT, ABSTRACT]}).to_csv(src, index=False)
    dst = tmp_path / "out.jsonl"
    code, _, err = run("batch", src, "--text-column", "摘要", "-o", dst)
    assert code == 0, err
    assert [json.loads(l)["id"] for l in dst.read_text(encoding="utf-8").splitlines()] == ["1", "2"]


def _bad(tmp_path: Path, name: str, content: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(content)
    return p


@pytest.mark.parametrize(
    "name,content,extra,needle",
    [
        ("in.csv", "摘要\n电池\n".encode(), [], "no column 'text'"),
        ("in.csv", "text\n电池\n".encode(), ["--id-column", "编号"], "no column '编号'"),
        ("in.csv", "text\n锂电池正极材料\n".encode("gbk"), [], "not UTF-8"),
        ("in.txt", b"hello", [], "unknown file type"),
        ("in.xlsx", b"not a zip file", [], "cannot be read as .xlsx"),
        ("in.jsonl", b'{"text": "ok"}\n{broken\n', [], "line 2 is not valid JSON"),
    ],
)
def test_batch_bad_files_give_one_clear_line(run, tmp_path, name, content, extra, needle):
    src = _bad(tmp_path, name, content)
    code, _, err = run("batch", src, "-o", tmp_path / "out.csv", *extra)
    assert code == 2
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "out.csv").exists()


def test_batch_missing_input_and_bad_output(run, tmp_path):
    code, _, err = run("batch", tmp_path / "nope.csv", "-o", tmp_path / "out.csv")
    assert code == 2 and "no such file" in err
    src = tmp_path / "in.csv"
    _proposals().to_csv(src, index=False)
    code, _, err = run("batch", src, "-o", tmp_path / "out.pdf")
    assert code == 2 and "unknown file type" in err


def test_console_script_runs_end_to_end():
    exe = Path(sys.executable).with_name("guide-match")
    proc = subprocess.run(
        [str(exe), "match", ABSTRACT, "--json", "--top-k", "1"],
        capture_output=True, text=True, timeout=300, env={**os.environ},
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["directions"][0]["id"] == 22


@pytest.mark.parametrize("command", [["match", "SiC MOSFET功率模块封装"], ["serve", "--port", "1"]])
def test_a_bad_setting_in_the_environment_is_one_clear_line(command):
    exe = Path(sys.executable).parent / "guide-match"
    env = {**os.environ, "GUIDE_MATCH_QUANTIZE": "maybe"}
    proc = subprocess.run([str(exe), *command], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "guide-match: error: GUIDE_MATCH_QUANTIZE='maybe': expected 1/0, true/false, yes/no or on/off"
