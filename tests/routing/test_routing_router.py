"""The Router end to end on a stand-in matcher: capacities, conflicts, closed panels, overrides,
idempotency, crashes, exports."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import openpyxl
import pytest

from matcher import InputError
from routing import Router, RoutingInfeasible, RoutingOptions, parse_panels, proposals_from_items
from routing import store as store_mod
from routing.export import to_json

from routing_support import FakeMatcher, panels_yaml, proposal_rows, three_panels

REPO = Path(__file__).resolve().parents[2]


def make_router(tmp_path, panels=None, rule="quorum", db="r.sqlite", matcher=None) -> Router:
    ps = parse_panels(panels_yaml(panels or three_panels(), rule=rule), "test-panels.yaml")
    return Router(matcher or FakeMatcher(), tmp_path / db, ps)


def props(specs, orgs=None):
    return proposals_from_items(proposal_rows(specs, orgs))


SIX = [("p1", "d1=0.9"), ("p2", "d2=0.8"), ("p3", "d16=0.9"), ("p4", "d22=0.7 d3=0.3"), ("p5", "d30=0.9"), ("p6", "d35=0.6")]


def test_routes_every_proposal_to_the_panel_of_its_direction(tmp_path):
    router = make_router(tmp_path)
    state = router.route(props(SIX), actor="王老师", source="six.xlsx")
    got = {r.proposal_id: r.panel_id for r in state.rows}
    assert got == {"p1": "A", "p2": "A", "p3": "B", "p4": "B", "p5": "C", "p6": "C"}
    assert state.loads() == {"A": 2, "B": 2, "C": 2}
    r4 = state.row("p4")
    assert r4.backup_panel_id == "A" and r4.affinity == pytest.approx(0.7) and not r4.flagged
    assert r4.top_direction == 22 and "首选方向22" in r4.reason and "属本组评审范围" in r4.reason
    assert state.run.actor == "王老师" and state.run.source == "six.xlsx" and not state.reused
    events = router.store.events(state.run_id)
    assert [e["action"] for e in events] == ["run.created"] and events[0]["actor"] == "王老师"


def test_tight_capacity_sends_the_overflow_to_the_next_best_panel(tmp_path):
    router = make_router(tmp_path, three_panels(A={"max": 2}))
    specs = [("a1", "d1=0.9 d20=0.5"), ("a2", "d1=0.9 d20=0.2"), ("a3", "d1=0.9 d30=0.3"), ("b1", "d20=0.9")]
    state = router.route(props(specs))
    assert state.loads() == {"A": 2, "B": 2, "C": 0}
    a1 = state.row("a1")
    assert a1.panel_id == "B" and "已满（上限2）" in a1.reason  # a1 loses least by moving
    assert {state.row("a2").panel_id, state.row("a3").panel_id} == {"A"}


def test_infeasible_configuration_says_which_panels_are_short(tmp_path):
    router = make_router(tmp_path, three_panels(A={"max": 1}, B={"min": 3}))
    specs = [("a1", "d1=0.9"), ("a2", "d1=0.9"), ("a3", "d2=0.9"), ("b1", "d20=0.9")]
    with pytest.raises(RoutingInfeasible) as e:
        router.route(props(specs), RoutingOptions(eligible_floor=0.05))
    msg = e.value.message
    assert "A (line" in msg and "full at its maximum of 1" in msg and "extra room needed: 2" in msg
    assert "B (line" in msg and "needs at least 3 proposals but can be given only 1" in msg
    assert router.store.runs() == []  # nothing stored
    # extra room for A and a lower minimum for B would fix it; extra room alone is not enough
    with pytest.raises(RoutingInfeasible, match="needs at least 3"):
        router.route(props(specs), RoutingOptions(eligible_floor=0.05, extra_room={"A": 2}))


def test_too_few_proposals_for_the_minimums_is_a_clear_error(tmp_path):
    router = make_router(tmp_path, three_panels(A={"min": 3}, B={"min": 3}))
    with pytest.raises(RoutingInfeasible, match="minimums add up to 6 but only 4 proposals"):
        router.route(props(SIX[:4]))


def test_closed_panel_and_extra_room_without_editing_the_file(tmp_path):
    router = make_router(tmp_path, three_panels(A={"max": 1}))
    specs = [("a1", "d1=0.9 d30=0.4"), ("a2", "d1=0.8 d20=0.5"), ("c1", "d30=0.9 d20=0.4")]
    state = router.route(props(specs), RoutingOptions(closed=("C",), extra_room={"A": 1}))
    assert state.loads() == {"A": 2, "B": 1, "C": 0}
    assert state.row("c1").panel_id == "B"
    assert all(r.backup_panel_id != "C" for r in state.rows)
    assert any("本次关闭的评审组：C" in n for n in state.run.notes)
    assert any("方向29" in n for n in state.run.notes)  # C's directions are uncovered this run
    panels = {p["id"]: p for p in to_json(state)["panels"]}
    assert panels["C"] == {"id": "C", "load": 0, "min": 0, "max": 0}
    assert panels["A"]["max"] == 2


CONFLICT_PANELS = [
    {"id": "A", "dirs": range(1, 15), "members": [("甲", "广西大学"), ("乙", "中南大学"), ("丙", "东北大学")], "quorum": 2},
    {"id": "B", "dirs": range(15, 29), "members": [("丁", "广西大学"), ("戊", "广西大学化学化工学院"), ("己", "厦门大学")], "quorum": 2},
    {"id": "C", "dirs": range(29, 41), "members": [("庚", "同济大学"), ("辛", "浙江大学")], "quorum": 2},
]


def test_conflict_of_interest_recuses_while_quorum_holds_and_avoids_the_panel_otherwise(tmp_path):
    router = make_router(tmp_path, CONFLICT_PANELS)
    specs = [("x1", "d1=0.9 d30=0.5"), ("x2", "d20=0.9 d30=0.5"), ("x3", "d20=0.9 d30=0.4")]
    orgs = {"x1": ("广西大学", ""), "x2": ("某公司", "中南大学；广西大学"), "x3": ("某公司", "")}
    state = router.route(props(specs, orgs))
    x1, x2, x3 = state.row("x1"), state.row("x2"), state.row("x3")
    # A loses one member of three and keeps its quorum of 2: the member is recused
    assert x1.panel_id == "A" and "回避专家：甲（广西大学）" in x1.reason
    # B loses two members (the university and its college): below quorum, so C takes it
    assert x2.panel_id == "C" and x2.backup_panel_id is None
    assert "B 评审组B有专家与申报/合作单位相同" in x2.reason and "已避开" in x2.reason
    assert x3.panel_id == "B"


def test_strict_rule_avoids_any_conflict(tmp_path):
    router = make_router(tmp_path, CONFLICT_PANELS, rule="strict")
    state = router.route(props([("x1", "d1=0.9 d30=0.5")], {"x1": ("广西大学", "")}))
    assert state.row("x1").panel_id == "C" and "按严格回避规则" in state.row("x1").reason
    state = router.route(props([("x1", "d1=0.9 d30=0.5")], {"x1": ("广西大学", "")}), RoutingOptions(conflict_rule="quorum"))
    assert state.row("x1").panel_id == "A"


def test_low_and_out_of_scope_and_unreadable_proposals_are_flagged_not_forced(tmp_path):
    router = make_router(tmp_path)
    items = proposal_rows([("ok", "d1=0.9"), ("low", "d1=0.1"), ("out", "OUT d2=0.6")])
    items.append({"id": "empty", "title": "", "abstract": "  "})
    state = router.route(proposals_from_items(items))
    flagged = {r.proposal_id: r for r in state.rows if r.flagged}
    assert set(flagged) == {"low", "out", "empty"}
    assert all(r.panel_id is None and r.backup_panel_id is None for r in flagged.values())
    assert "低于阈值0.20" in flagged["low"].reason and "最接近的评审组：A" in flagged["low"].reason
    assert "不在指南支持范围内" in flagged["out"].reason
    assert flagged["empty"].reason.startswith("无法匹配：text is empty")
    assert state.loads() == {"A": 1, "B": 0, "C": 0} and state.run.n_flagged == 3


def test_override_is_checked_and_recorded(tmp_path):
    router = make_router(tmp_path, three_panels(B={"max": 2}))
    state = router.route(props(SIX))
    run = state.run_id
    out = router.override(run, "p1", "C", reason="实为海洋材料应用", actor="李老师")
    assert out.state.row("p1").panel_id == "C" and out.state.row("p1").overridden
    assert out.state.row("p1").initial_panel_id == "A"
    assert out.override.from_panel_id == "A" and out.override.actor == "李老师" and not out.override.forced
    assert "人工调整（李老师" in out.state.row("p1").reason and "实为海洋材料应用" in out.state.row("p1").reason
    assert out.state.loads() == {"A": 1, "B": 2, "C": 3}
    # B is full (2 of 2): refused without force, allowed and recorded with it
    with pytest.raises(InputError, match="panel B is full \\(2 of its maximum 2\\); use force"):
        router.override(run, "p1", "B", reason="x", actor="李老师")
    out = router.override(run, "p1", "B", reason="组长同意超额", actor="李老师", force=True)
    assert out.warnings and out.override.forced and out.state.loads()["B"] == 3
    # checks: reason, unknown run/proposal/panel, same panel
    with pytest.raises(InputError, match="needs a reason"):
        router.override(run, "p2", "B", reason=" ", actor="x")
    with pytest.raises(InputError, match="no routing run 'nope'"):
        router.override("nope", "p2", "B", reason="x")
    with pytest.raises(InputError, match="has no proposal 'zz'"):
        router.override(run, "zz", "B", reason="x")
    with pytest.raises(InputError, match="no panel 'Z'"):
        router.override(run, "p2", "Z", reason="x")
    with pytest.raises(InputError, match="already with panel A"):
        router.override(run, "p2", "A", reason="x")
    state = router.state(run)
    assert [(o.proposal_id, o.from_panel_id, o.to_panel_id) for o in state.overrides] == [("p1", "A", "C"), ("p1", "C", "B")]
    assert [e["action"] for e in router.store.events(run)] == ["run.created", "override", "override"]


def test_override_refuses_a_conflict_and_a_panel_below_its_minimum(tmp_path):
    panels = [dict(p) for p in CONFLICT_PANELS]
    panels[0] = {**panels[0], "min": 1}
    router = make_router(tmp_path, panels)
    state = router.route(props([("x1", "d1=0.9"), ("x2", "d30=0.9")], {"x2": ("广西大学", "")}))
    with pytest.raises(InputError, match="conflict of interest with 丁（广西大学）、戊（广西大学化学化工学院）"):
        router.override(state.run_id, "x2", "B", reason="x", force=True)
    with pytest.raises(InputError, match="panel A would fall below its minimum of 1"):
        router.override(state.run_id, "x1", "C", reason="x")
    assert router.state(state.run_id).overrides == []


def test_override_can_place_a_flagged_proposal_and_closed_panels_stay_closed(tmp_path):
    router = make_router(tmp_path)
    state = router.route(props([("ok", "d1=0.9"), ("low", "d1=0.1 d20=0.05")]), RoutingOptions(closed=("C",), extra_room={"A": 0}))
    out = router.override(state.run_id, "low", "B", reason="人工判断属氢能", actor="x")
    row = out.state.row("low")
    assert row.panel_id == "B" and not row.flagged and row.backup_panel_id == "A"
    assert "由待人工审核调至B" in row.reason
    with pytest.raises(InputError, match="panel C is closed"):
        router.override(state.run_id, "ok", "C", reason="x")


def test_rerunning_the_same_input_is_idempotent(tmp_path):
    matcher = FakeMatcher()
    router = make_router(tmp_path, matcher=matcher)
    first = router.route(props(SIX), actor="a")
    router.override(first.run_id, "p1", "C", reason="移组", actor="a")
    again = router.route(props(SIX), actor="b")
    assert again.reused and again.run_id == first.run_id
    assert matcher.calls == 1  # the second call did not even match
    assert again.row("p1").panel_id == "C"  # the override stands
    assert len(router.store.runs()) == 1
    con = sqlite3.connect(tmp_path / "r.sqlite")
    assert con.execute("SELECT COUNT(*) FROM assignments").fetchone()[0] == 6
    # a fresh Router on the same database (another process, say) finds it too
    other = Router(FakeMatcher(), tmp_path / "r.sqlite", router.panels)
    assert other.route(props(SIX)).run_id == first.run_id
    # another option or input is another run
    assert router.route(props(SIX), RoutingOptions(closed=("A",))).run_id != first.run_id
    assert router.route(props(SIX[:5])).run_id != first.run_id
    actions = [e["action"] for e in router.store.events()]
    assert actions.count("run.created") == 3 and actions.count("run.reused") == 2


def test_a_crash_while_saving_leaves_the_previous_state_intact(tmp_path, monkeypatch):
    router = make_router(tmp_path)
    first = router.route(props(SIX))
    before = to_json(router.state(first.run_id))

    def exploding(rows, run_id):
        for k, row in enumerate(rows):
            if k == 3:
                raise OSError("disk full (simulated)")
            yield (run_id, *store_mod._row_values(row))

    monkeypatch.setattr(store_mod, "assignment_rows", exploding)
    new_input = props(SIX + [("p7", "d7=0.9")])
    with pytest.raises(OSError, match="simulated"):
        router.route(new_input)
    assert [r.run_id for r in router.store.runs()] == [first.run_id]
    assert to_json(router.state(first.run_id)) == before
    con = sqlite3.connect(tmp_path / "r.sqlite")
    assert con.execute("SELECT COUNT(*) FROM assignments").fetchone()[0] == 6
    monkeypatch.undo()
    second = router.route(new_input)  # the re-run completes
    assert second.run_id != first.run_id and len(second.rows) == 7 and not second.reused


def test_a_process_killed_mid_transaction_leaves_the_previous_state_intact(tmp_path):
    router = make_router(tmp_path)
    first = router.route(props(SIX))
    before = to_json(router.state(first.run_id))
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path[:0] = [{str(REPO)!r}, {str(Path(__file__).parent)!r}]
        from routing import Router, parse_panels, proposals_from_items
        from routing import store as store_mod
        from routing_support import FakeMatcher, panels_yaml, proposal_rows, three_panels

        def dying(rows, run_id):
            for k, row in enumerate(rows):
                if k == 4:
                    os._exit(9)  # the process dies with the transaction open
                yield (run_id, *store_mod._row_values(row))

        store_mod.assignment_rows = dying
        ps = parse_panels(panels_yaml(three_panels()))
        router = Router(FakeMatcher(), {str(tmp_path / "r.sqlite")!r}, ps)
        specs = [(f"k{{i}}", "d1=0.9") for i in range(10)]
        router.route(proposals_from_items(proposal_rows(specs)))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    assert router.store.integrity_ok()
    assert [r.run_id for r in router.store.runs()] == [first.run_id]
    assert to_json(router.state(first.run_id)) == before
    specs = [(f"k{i}", "d1=0.9") for i in range(10)]
    assert len(router.route(props(specs)).rows) == 10


def test_exports_xlsx_and_json(tmp_path):
    router = make_router(tmp_path)
    items = proposal_rows(SIX + [("low", "d1=0.1")], {"p1": ("广西大学", "甲大学")})
    state = router.route(proposals_from_items(items))
    router.override(state.run_id, "p2", "B", reason="调整", actor="x")
    xlsx = router.export(state.run_id, tmp_path / "routing.xlsx", actor="x")
    wb = openpyxl.load_workbook(xlsx)
    assert wb.sheetnames == ["汇总", "A 评审组A", "B 评审组B", "C 评审组C", "人工调整记录"]
    summary = [[c for c in row if c is not None] for row in wb["汇总"].iter_rows(values_only=True)]
    flat = [c for row in summary for c in row]
    assert "各评审组工作量" in flat and "待人工审核（1）" in flat and "全部申报书的分配及理由" in flat
    assert ["A", "评审组A", "、".join(map(str, range(1, 15))), 3, 2, 0, 100, 1, "正常"] in summary
    sheet_a = [row for row in wb["A 评审组A"].iter_rows(min_row=5, values_only=True)]
    assert [r[0] for r in sheet_a] == ["p1"]
    assert sheet_a[0][7] == "A-甲（甲大学）"  # the recused member is shown
    path = router.export(state.run_id, tmp_path / "routing.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert set(data) == {"run_id", "assignments", "panels"} and data["run_id"] == state.run_id
    assert set(data["assignments"][0]) == {"proposal_id", "panel_id", "backup_panel_id", "affinity", "flagged", "reason",
                                         "eligible", "failed_rules"}
    assert {p["id"]: p["load"] for p in data["panels"]} == {"A": 1, "B": 3, "C": 2}
    assert set(data["panels"][0]) == {"id", "load", "min", "max"}
    with pytest.raises(InputError, match="accepted: .xlsx, .json"):
        router.export(state.run_id, tmp_path / "routing.csv")
    assert "export" in [e["action"] for e in router.store.events(state.run_id)]


def test_not_a_database(tmp_path):
    (tmp_path / "junk.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError, match="junk.sqlite"):
        Router(FakeMatcher(), tmp_path / "junk.sqlite")
    with pytest.raises(InputError, match="does not exist"):
        Router(FakeMatcher(), tmp_path / "no" / "r.sqlite")
