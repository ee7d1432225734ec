"""Loading and validating panels files: the default file, and bad files named by line."""
from __future__ import annotations

import pytest

from matcher import InputError
from routing.assign import RoutingInfeasible
from routing.panels import DEFAULT_PANELS_PATH, PanelsError, load_panels, parse_panels

from routing_support import panels_yaml, three_panels


def test_default_panels_cover_all_forty_directions():
    ps = load_panels()
    assert 8 <= len(ps) <= 12
    assert ps.uncovered() == []
    assert ps.conflict_rule == "quorum"
    for p in ps:
        assert 0 <= p.min <= p.max and p.members and p.quorum <= len(p.members)
        assert all(m.name and m.organisation for m in p.members)
    # the default file takes a batch of 500 proposals
    ps.check_capacity(500)
    assert str(DEFAULT_PANELS_PATH).endswith("corpus/panels.yaml")


def test_member_as_text_and_default_quorum():
    text = """
panels:
  - id: X
    name: 全部
    directions: [%s]
    min: 0
    max: 9
    members: ["专家A（广西大学）", "专家B(中南大学)", {name: 专家C, organisation: 东北大学, expertise: [25]}]
""" % ", ".join(map(str, range(1, 41)))
    ps = parse_panels(text)
    p = ps.panels[0]
    assert [(m.name, m.organisation) for m in p.members] == [("专家A", "广西大学"), ("专家B", "中南大学"), ("专家C", "东北大学")]
    assert p.members[2].expertise == (25,)
    assert p.quorum == 2  # a majority of 3


def bad(text: str) -> PanelsError:
    with pytest.raises(PanelsError) as e:
        parse_panels(text, "my-panels.yaml")
    return e.value


def test_min_greater_than_max_names_the_line():
    text = panels_yaml(three_panels(B={"min": 30, "max": 20}))
    err = bad(text)
    line = text.splitlines().index("    min: 30") + 1
    assert err.message == f"my-panels.yaml, line {line}: panel B: min (30) is greater than max (20)"
    assert err.problems == [(line, "panel B: min (30) is greater than max (20)")]


def test_uncovered_direction_is_an_error():
    panels = three_panels()
    panels[2]["dirs"] = range(29, 40)  # 40 is left out
    err = bad(panels_yaml(panels))
    assert "direction(s) 40 are not covered by any open panel" in err.message


def test_a_closed_panel_in_the_file_leaves_its_directions_uncovered():
    err = bad(panels_yaml(three_panels(C={"max": 0})))
    assert "29, 30" in err.message and "not covered" in err.message


def test_every_problem_is_listed_with_its_line():
    text = """rules:
  conflict: lenient
panels:
  - id: P01
    name: 显示
    directions: [1, 2, 2, 41]
    min: -1
    max: ten
    members:
      - {name: 专家A}
  - id: P01
    nmae: 重复
    directions: [3]
    min: 0
    max: 5
    members: []
"""
    err = bad(text)
    lines = {ln for ln, _ in err.problems}
    msgs = " | ".join(t for _, t in err.problems)
    assert "conflict must be one of quorum, strict, got 'lenient'" in msgs and 2 in lines
    assert "direction 2 is listed twice" in msgs and "41 is not a direction id" in msgs and 6 in lines
    assert "min must be a whole number ≥ 0, got -1" in msgs and 7 in lines
    assert "max must be a whole number ≥ 0, got 'ten'" in msgs and 8 in lines
    assert "panel P01, member 1: 'organisation' is missing" in msgs and 10 in lines
    assert "unknown key 'nmae'; did you mean 'name'?" in msgs and 12 in lines
    assert "'name' is missing" in msgs
    assert "members must be a non-empty list" in msgs and 16 in lines
    assert err.message.startswith(f"my-panels.yaml: {len(err.problems)} problems\n  line 2: ")


def test_duplicate_panel_id_names_both_lines():
    panels = three_panels()
    panels.append({"id": "A", "dirs": [1]})
    text = panels_yaml(panels)
    err = bad(text)
    first = text.splitlines().index("  - id: A") + 1
    assert f"panel id A is used twice (first on line {first + 1})" in err.message or \
        f"panel id A is used twice (first on line {first})" in err.message


def test_duplicate_key_and_quorum_above_members():
    text = panels_yaml(three_panels(A={"quorum": 4})).replace("    max: 100\n", "    max: 100\n    max: 90\n", 1)
    err = bad(text)
    msgs = " | ".join(t for _, t in err.problems)
    assert "key 'max' appears twice" in msgs
    assert "quorum 4 is more than its 3 members" in msgs


def test_yaml_syntax_error_has_a_line():
    err = bad("panels:\n  - id: P01\n    name: [unclosed\n")
    assert err.problems[0][0] is not None and "not valid YAML" in err.message


@pytest.mark.parametrize("text", ["", "just text", "- 1\n- 2\n", "panels: 3\n"])
def test_wrong_shape(text):
    err = bad(text)
    assert "must be a mapping with a 'panels' list" in err.message or "panel 1 must be a mapping" in err.message


def test_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_panels(tmp_path / "nope.yaml")
    (tmp_path / "p.txt").write_text("x")
    with pytest.raises(InputError, match="must be a .yaml file"):
        load_panels(tmp_path / "p.txt")
    (tmp_path / "gbk.yaml").write_bytes("panels: 显示".encode("gbk"))
    with pytest.raises(InputError, match="not UTF-8"):
        load_panels(tmp_path / "gbk.yaml")


def test_run_options_close_and_extra_room():
    ps = parse_panels(panels_yaml(three_panels(A={"min": 2, "max": 5})))
    run = ps.with_options(closed=["B"], extra_room={"A": 3})
    assert [(p.id, p.min, p.max) for p in run] == [("A", 2, 8), ("B", 0, 0), ("C", 0, 100)]
    assert run.uncovered() == list(range(15, 29))
    assert ps.get("B").max == 100  # the loaded panels are unchanged
    with pytest.raises(PanelsError, match="cannot close panel 'Z': no such panel"):
        ps.with_options(closed=["Z"])
    with pytest.raises(PanelsError, match="both closed and given extra room"):
        ps.with_options(closed=["A"], extra_room={"A": 1})
    with pytest.raises(PanelsError, match="whole number of proposals"):
        ps.with_options(extra_room={"A": -1})


def test_capacity_against_the_number_of_proposals():
    ps = parse_panels(panels_yaml(three_panels(A={"min": 4, "max": 5}, B={"min": 3, "max": 5}, C={"min": 0, "max": 5})), "p.yaml")
    ps.check_capacity(10)
    with pytest.raises(RoutingInfeasible) as e:
        ps.check_capacity(6)
    assert "minimums add up to 7 but only 6 proposals" in e.value.message and "A (line" in e.value.message
    with pytest.raises(RoutingInfeasible) as e:
        ps.check_capacity(16)
    assert "take at most 15" in e.value.message and "short by 1" in e.value.message
    with pytest.raises(RoutingInfeasible, match="every panel is closed"):
        ps.with_options(closed=["A", "B", "C"]).check_capacity(1)
