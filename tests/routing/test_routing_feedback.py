"""Officers' corrections as labelled examples: overrides with and without a direction, recorded
directions, the export's format and split, the command line and the staff API."""
from __future__ import annotations

import json
import logging
from collections import Counter

import pytest

from matcher import InputError
from matcher.evaluation import DEFAULT_LABELLED
from routing import Router, parse_panels, proposals_from_items
from routing.feedback import feedback_jsonl, labelled_examples, split_for

from routing_support import FakeMatcher, panels_yaml, proposal_rows, three_panels
from test_routing_api import KEY, make_client, route

SPECS = [("p1", "d1=0.9 d20=0.5 d16=0.3"), ("p2", "d2=0.8"), ("p3", "d16=0.9"), ("p4", "d22=0.7 d3=0.3"), ("p5", "d30=0.9")]


def make_router(tmp_path) -> Router:
    return Router(FakeMatcher(), tmp_path / "r.sqlite", parse_panels(panels_yaml(three_panels()), "p.yaml"))


def routed(tmp_path, specs=SPECS, extra=()):
    router = make_router(tmp_path)
    items = proposal_rows(specs) + list(extra)
    return router, router.route(proposals_from_items(items), actor="王老师")


def test_an_override_is_kept_as_a_labelled_example_with_the_officers_direction(tmp_path):
    router, state = routed(tmp_path)
    out = router.override(state.run_id, "p1", "B", reason="实为氢能", actor="李老师", direction=18)
    assert out.override.direction == 18 and out.warnings == ()
    [f] = out.state.feedback
    assert (f.proposal_id, f.direction, f.basis, f.actor, f.override_id) == ("p1", 18, "override", "李老师", out.override.id)
    assert out.state.officer_directions()["p1"].direction == 18
    # a direction the moved-to panel does not cover is accepted with a warning
    out = router.override(state.run_id, "p2", "B", reason="x", actor="x", direction=3)
    assert out.warnings == ("direction 3 is not among panel B's directions (15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28)",)
    for bad in (0, 41, "5", True, 2.5):
        with pytest.raises(InputError, match="a whole number from 1 to 40") as e:
            router.override(state.run_id, "p3", "C", reason="x", direction=bad)
        assert e.value.field == "direction"


def test_an_override_without_a_direction_is_labelled_with_the_panels_best_direction_marked_inferred(tmp_path):
    router, state = routed(tmp_path)
    out = router.override(state.run_id, "p1", "B", reason="实为氢能", actor="李老师")
    [f] = out.state.feedback
    assert f.direction == 20 and f.basis == "override-inferred"  # of B's 15–28, p1 scores best on 20
    # an outright judgment later beats it, whatever the order
    router.confirm_direction(state.run_id, "p1", 16, actor="组长")
    router.override(state.run_id, "p1", "C", reason="再调", actor="李老师")
    state = router.state(state.run_id)
    assert [x.basis for x in state.feedback] == ["override-inferred", "confirmed", "override-inferred"]
    assert state.officer_directions()["p1"].direction == 16
    [row] = labelled_examples(router.store)
    assert row["labels"] == [16]


def test_a_recorded_direction_needs_a_done_run_a_known_proposal_and_a_direction_or_none(tmp_path):
    router, state = routed(tmp_path)
    record, after = router.confirm_direction(state.run_id, "p4", None, actor="王老师")
    assert record.direction is None and record.basis == "confirmed" and after.row("p4").panel_id == "B"  # not moved
    assert [e["action"] for e in router.store.events(state.run_id)][-1] == "direction.confirmed"
    with pytest.raises(InputError, match="has no proposal 'zz'"):
        router.confirm_direction(state.run_id, "zz", 3)
    with pytest.raises(InputError, match="no routing run 'nope'"):
        router.confirm_direction("nope", "p1", 3)
    queued = router.submit(proposals_from_items(proposal_rows([("q1", "d1=0.9")]))).job
    with pytest.raises(InputError, match="is queued .*recording a direction needs a finished run") as e:
        router.confirm_direction(queued.run_id, "q1", 3)
    assert e.value.code == "run_not_done"


def test_the_export_has_the_labelled_sets_fields_and_a_stable_split(tmp_path):
    title_only = {"id": "t1", "title": "质子交换膜燃料电池电堆 d16=0.9", "abstract": "", "applicant_org": "某公司"}
    unreadable = {"id": "e1", "title": "", "abstract": "  ", "applicant_org": "某公司"}
    router, state = routed(tmp_path, extra=[title_only, unreadable])
    router.override(state.run_id, "p1", "B", reason="x", actor="a", direction=18)
    router.confirm_direction(state.run_id, "p5", None, actor="b")
    router.confirm_direction(state.run_id, "t1", 17, actor="b")
    router.override(state.run_id, "e1", "A", reason="人工判断", actor="c", direction=2)  # not readable: left out
    rows = labelled_examples(router.store)
    assert [r["labels"] for r in rows] == [[18], [], [17]]
    with open(DEFAULT_LABELLED, encoding="utf-8") as fh:
        corpus_keys = set(json.loads(fh.readline()))
    assert all(set(r) == corpus_keys for r in rows)
    p1 = rows[0]
    assert p1["text"] == "项目p1\nd1=0.9 d20=0.5 d16=0.3" and p1["genre"] == "proposal"
    assert p1["source"] == "officer-correction" and p1["licence"] == "confidential" and p1["id"].startswith("officer-p1-")
    assert rows[2]["genre"] == "title" and rows[2]["text"] == "质子交换膜燃料电池电堆 d16=0.9"
    assert all(r["split"] == split_for(r["id"].split("-")[1]) for r in rows)
    # the split depends on the proposal id only, and is about 60/40
    assert split_for("2024-0017") == split_for("2024-0017")
    shares = Counter(split_for(f"2024-{i:04d}") for i in range(2000))
    assert 0.56 < shares["dev"] / 2000 < 0.64
    assert feedback_jsonl(router.store).decode("utf-8").splitlines() == [json.dumps(r, ensure_ascii=False) for r in rows]


def test_the_same_proposal_in_two_runs_is_one_example_and_deleting_a_run_removes_its_examples(tmp_path):
    router, first = routed(tmp_path)
    second = router.route(proposals_from_items(proposal_rows(SPECS)), actor="x", options=None)
    assert second.run_id == first.run_id  # the same input is the same run
    other = router.route(proposals_from_items(proposal_rows(SPECS[:3])), actor="x")
    router.confirm_direction(first.run_id, "p1", 5, actor="a")
    router.confirm_direction(other.run_id, "p1", 6, actor="b")  # later: wins
    [row] = labelled_examples(router.store)
    assert row["labels"] == [6]
    router.delete(other.run_id, actor="x")
    [row] = labelled_examples(router.store)
    assert row["labels"] == [5]


def test_cli_feedback_export_and_evaluate_on_it(cli_run, tmp_path):
    router = make_router(tmp_path)
    texts = [
        ("f1", "高压实磷酸铁锂正极材料连续化制备", "开发碳包覆纳米磷酸铁锂正极材料连续化制备工艺，压实密度≥2.6 g/cm³，建成年产2万吨生产线。 d22=0.9", 22),
        ("f2", "商用车质子交换膜燃料电池电堆", "研制高功率密度质子交换膜燃料电池电堆与膜电极，寿命≥20000小时。 d16=0.9", 16),
        ("f3", "汽车用2000MPa级热成形钢", "开发汽车用2000MPa级热成形超高强钢板及其轧制与热处理工艺。 d25=0.9", 25),
        ("f4", "鲁迅小说的叙事研究", "研究鲁迅小说中的女性形象与叙事策略。 d13=0.9", None),
        ("f5", "绿色智能内河集装箱船", "开展绿色智能内河集装箱船总体设计，研制智能能效管理系统。 d33=0.9", 33),
        ("f6", "重组蛋白亚单位疫苗", "开发重组蛋白亚单位疫苗，完成工艺开发、质量研究与临床前评价。 d9=0.9", 9),
    ]
    items = [{"id": pid, "title": t, "abstract": a, "applicant_org": "某公司"} for pid, t, a, _ in texts]
    state = router.route(proposals_from_items(items), actor="a")
    for pid, *_, direction in texts:
        router.confirm_direction(state.run_id, pid, direction, actor="a")
    out = tmp_path / "feedback.jsonl"
    code, stdout, err = cli_run("feedback", "export", "--db", tmp_path / "r.sqlite", "-o", out)
    assert code == 0, err
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    splits = Counter(r["split"] for r in rows)
    assert len(rows) == 6 and f"6 labelled examples (dev {splits['dev']}, test {splits['test']}; 1 judged out of scope)" in stdout
    assert "confidential" in err
    assert splits["test"] > 0  # the ids above were chosen so that both splits have rows
    code, stdout, err = cli_run("evaluate", out, "--split", "test")
    assert code == 0, err
    assert f"split test: {splits['test']} texts" in stdout
    code, _, err = cli_run("feedback", "export", "--db", tmp_path / "r.sqlite", "-o", tmp_path / "feedback.csv")
    assert code == 2 and "write the labelled examples to a .jsonl file" in err
    code, _, err = cli_run("feedback", "export", "--db", tmp_path / "missing.sqlite", "-o", out)
    assert code == 2 and "no such file" in err
    code, _, err = cli_run("override", state.run_id, "f1", "--to", "B", "--reason", "x", "--direction", "99",
                           "--db", tmp_path / "r.sqlite")
    assert code == 2 and "a whole number from 1 to 40" in err


def test_the_staff_api_records_directions_and_serves_the_export(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="guide_match")
    secret = "保密的摘要内容储能电池正极"
    with make_client(tmp_path) as c:
        run = route(c, json={"items": proposal_rows([("p1", f"d1=0.9 d20=0.5 {secret}"), ("p2", "d22=0.8")])})
        url = run["status_url"]
        r = c.post(url + "/directions", json={"proposal_id": "p2", "direction": 23, "actor": "王"}, headers=KEY)
        assert r.status_code == 201, r.text
        fb = r.json()["feedback"]
        assert (fb["direction"], fb["basis"], fb["actor"]) == (23, "confirmed", "王 (key#1)")
        r = c.post(url + "/directions", json={"proposal_id": "p1", "direction": None}, headers=KEY)
        assert r.status_code == 201 and r.json()["feedback"]["direction"] is None
        r = c.post(url + "/overrides", json={"proposal_id": "p1", "panel_id": "B", "reason": "x", "direction": 17}, headers=KEY)
        assert r.status_code == 201 and r.json()["override"]["direction"] == 17
        body = c.get(url, headers=KEY).json()
        by_id = {a["proposal_id"]: a for a in body["assignments"]}
        assert by_id["p1"]["officer_direction"]["direction"] == 17 and by_id["p1"]["officer_direction"]["basis"] == "override"
        assert by_id["p2"]["officer_direction"] == {"direction": 23, "basis": "confirmed", "actor": "王 (key#1)",
                                                    "at": fb["at"]}
        assert by_id["p2"]["directions"][0] == {"id": 22, "title": by_id["p2"]["directions"][0]["title"], "score": 0.8,
                                                "matched_terms": []}
        for bad, field in [({"proposal_id": "p1", "direction": 41}, "direction"), ({"proposal_id": "p1"}, "direction"),
                           ({"proposal_id": "p1", "direction": "七"}, "direction"), ({"direction": 3}, "proposal_id")]:
            r = c.post(url + "/directions", json=bad, headers=KEY)
            assert r.status_code == 422 and r.json()["error"]["field"] == field, (bad, r.text)
        assert c.post(url + "/directions", json={"proposal_id": "zz", "direction": 3}, headers=KEY).status_code == 404
        assert c.post("/v1/routing/runs/nope/directions", json={"proposal_id": "p1", "direction": 3}, headers=KEY).status_code == 404
        assert c.post(url + "/directions", json={"proposal_id": "p1", "direction": 3}).status_code == 401
        assert c.get("/v1/routing/feedback.jsonl").status_code == 401
        r = c.get("/v1/routing/feedback.jsonl", headers=KEY)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        rows = [json.loads(line) for line in r.text.splitlines()]
        assert [(x["labels"], x["source"]) for x in rows] == [([23], "officer-correction"), ([17], "officer-correction")]
        assert secret in rows[1]["text"]  # the export carries the text (staff only) ...
    assert secret not in caplog.text  # ... the log never does
