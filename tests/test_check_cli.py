"""`guide-match check` end to end: the sample proposals, JSON/YAML/text/stdin input, exit statuses, bad input."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli import main
from corpus import CORPUS_DIR

SAMPLE = CORPUS_DIR / "examples" / "proposal.yaml"
ABSTRACT = CORPUS_DIR / "examples" / "abstract.txt"
GUIDE = (CORPUS_DIR / "guide-2024.txt").read_text(encoding="utf-8")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_sample_proposal_prints_one_line_per_rule_with_the_guides_sentence(capsys):
    code, out, err = run(capsys, "check", str(SAMPLE))
    assert code == 0 and not err
    lines = [line for line in out.splitlines() if line and line[0] in "✔✘⚠?"]
    assert len(lines) == 8
    for line in lines:
        sentence = line.split("指南：「")[1].rstrip("」")
        assert sentence in GUIDE
    assert lines[0].startswith("✔ 每项支持经费") and "800万元" in lines[0] and "300–1,000万元" in lines[0]
    assert lines[1].startswith("⚠") and "3.00:1" in lines[1]     # exactly 3:1 — allowed, but at the limit
    assert "结论：符合" in out


def test_a_failing_rule_exits_1_and_is_named(capsys):
    code, out, _ = run(capsys, "check", str(ABSTRACT))
    assert code == 1
    assert "✘ 企业配套经费与企业获得的财政经费之比" in out and "2.50:1" in out
    assert "未通过：match_ratio_non_enterprise_led" in out


def test_json_output_has_the_documented_shape(capsys):
    code, out, _ = run(capsys, "check", str(ABSTRACT), "--json")
    data = json.loads(out)
    assert code == 1 and data["eligible"] is False
    assert set(data) >= {"eligible", "checks", "missing"}
    for c in data["checks"]:
        assert set(c) >= {"rule", "status", "value", "limit", "unit", "evidence", "source"}
        assert c["status"] in {"pass", "fail", "warn", "unknown"} and c["source"] in GUIDE
    assert data["missing"] == ["priority", "agreement_attached"]
    text = ABSTRACT.read_text(encoding="utf-8")
    for c in data["checks"]:
        for e in c["evidence"]:
            if e["source"] == "text":
                assert text[e["start"]:e["end"]] == e["text"]


def test_json_fields_file_and_unknowns_exit_0_with_eligible_null(tmp_path, capsys):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"fiscal_funding_wan": 500, "lead_type": "enterprise", "enterprise_matching_wan": 2000}))
    code, out, _ = run(capsys, "check", str(path), "--json")
    data = json.loads(out)
    assert code == 0 and data["eligible"] is None and "invention_patents" in data["missing"]


def test_text_from_standard_input(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("申请财政资金1200万元，企业自筹4000万元。"))
    code, out, _ = run(capsys, "check", "-")
    assert code == 1 and "✘ 每项支持经费" in out and "1,200万元" in out


@pytest.mark.parametrize("content, suffix, message", [
    ('{"fiscal_funding_wan": -1}', ".json", "fiscal_funding_wan must be 0 or more"),
    ('{"start": "2026-05", "end": "2025-01"}', ".json", "end (2025-01) is before start"),
    ('{"lead_type": "bank"}', ".json", "lead_type must be one of: enterprise, university, institute, other"),
    ('{"invention_patents": "three"}', ".json", "invention_patents must be a whole number"),
    ('{"budget": 5}', ".json", "unknown field 'budget'"),
    ('{"fiscal_funding_wan": 0, "enterprise_matching_wan": 5}', ".json", "fiscal_funding_wan is 0"),
    ('{"fiscal_funding_wan": 5000000}', ".json", "over 1,000,000万元"),
    ('{"fiscal_funding_wan": ', ".json", "not valid JSON"),
    ("fiscal_funding_wan: [1, 2", ".yaml", "not valid YAML"),
    ("- 1\n- 2\n", ".yaml", "object of fields"),
    ("   \n", ".txt", "text is empty"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, content, suffix, message):
    path = tmp_path / f"bad{suffix}"
    path.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "check", str(path))
    assert code == 2 and not out
    assert err.startswith("guide-match: error: ") and message in err and "Traceback" not in err


def test_missing_and_non_utf8_files_and_no_input(tmp_path, capsys):
    assert run(capsys, "check", str(tmp_path / "nope.yaml"))[0] == 2
    bad = tmp_path / "gbk.txt"
    bad.write_bytes("申请财政资金800万元".encode("gbk"))
    code, _, err = run(capsys, "check", str(bad))
    assert code == 2 and "not UTF-8" in err
    code, _, err = run(capsys, "check")
    assert code == 2 and "--evaluate" in err


def test_rules_option_reads_another_rules_file(tmp_path, capsys):
    import yaml

    from corpus import load_rules

    data = load_rules()
    data["rules"]["funding_per_project"]["max"] = 700
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    code, out, _ = run(capsys, "check", str(SAMPLE), "--rules", str(path))
    assert code == 1 and "✘ 每项支持经费" in out and "300–700万元" in out
    code, _, err = run(capsys, "check", str(SAMPLE), "--rules", str(tmp_path / "none.yaml"))
    assert code == 2 and "rules file" in err


def test_evaluate_prints_precision_and_recall(capsys):
    code, out, _ = run(capsys, "check", "--evaluate")
    assert code == 0
    header, *rows = out.splitlines()
    assert "precision" in header and "recall" in header
    assert [r.split()[0] for r in rows[:4]] == ["dev", "heldout", "unseen", "all"]


def test_the_installed_command_runs_the_sample():
    exe = Path(sys.executable).with_name("guide-match")
    proc = subprocess.run([str(exe), "check", str(SAMPLE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "✔ 每项支持经费" in proc.stdout and proc.stderr == ""


def test_serve_refuses_a_rules_file_it_cannot_read(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GUIDE_MATCH_ELIGIBILITY_RULES", str(tmp_path / "missing.yaml"))
    code, out, err = run(capsys, "serve", "--port", "1")
    assert code == 2 and "rules file" in err and "no such file" in err
