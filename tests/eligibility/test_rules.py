"""Each rule at, just under and just over its limit; limits read from the rules file, never from here."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from corpus import CORPUS_DIR, load_rules
from eligibility import check, default_rulebook, load_rulebook
from matcher.errors import InputError

RB = default_rulebook()
GUIDE = (CORPUS_DIR / "guide-2024.txt").read_text(encoding="utf-8")

# A proposal that passes everything: the other tests change one field of it.
GOOD = {
    "lead_type": "enterprise", "fiscal_funding_wan": 600, "enterprise_matching_wan": 2400, "duration_months": 24,
    "new_outputs": 2, "performance_parameters": 8, "invention_patents": 4, "standards": 2,
    "output_or_sales_wan": 6000, "priority": "none",
}


def verdict_of(rule_key: str, **changes):
    v = check(GOOD | changes)
    return v, {c.rule: c for c in v.checks}.get(rule_key)


def test_the_good_proposal_passes_every_rule_that_applies():
    v = check(GOOD)
    assert v.eligible is True and v.missing == ()
    assert {c.status for c in v.checks} == {"pass"}
    assert [c.rule for c in v.checks] == [r.key for r in RB.rules if r.key not in
                                          ("match_ratio_non_enterprise_led", "agreement_attached")]


def test_every_verdict_quotes_its_rule_verbatim_from_the_guide():
    for c in check(GOOD | {"lead_type": "university", "fiscal_to_enterprises_wan": 100,
                           "priority": "venture_fund"}).checks:
        assert c.source == RB.rule(c.rule).source and c.source in GUIDE


def test_funding_at_just_under_and_just_over_each_end():
    rule = RB.rule("funding_per_project")
    ratio = {"enterprise_matching_wan": rule.max * 10}
    assert verdict_of(rule.key, fiscal_funding_wan=rule.min, **ratio)[1].status == "warn"      # at: allowed, no slack
    assert verdict_of(rule.key, fiscal_funding_wan=rule.min - 1, **ratio)[1].status == "fail"
    assert verdict_of(rule.key, fiscal_funding_wan=rule.max, **ratio)[1].status == "warn"
    assert verdict_of(rule.key, fiscal_funding_wan=rule.max + 1, **ratio)[1].status == "fail"
    mid = (rule.min + rule.max) / 2
    v, c = verdict_of(rule.key, fiscal_funding_wan=mid, **ratio)
    assert c.status == "pass" and c.value == mid and c.limit["min"] == rule.min and c.limit["max"] == rule.max


@pytest.mark.parametrize("lead, fiscal_field, rule_key", [
    ("enterprise", "fiscal_funding_wan", "match_ratio_enterprise_led"),
    ("university", "fiscal_to_enterprises_wan", "match_ratio_non_enterprise_led"),
    ("institute", "fiscal_to_enterprises_wan", "match_ratio_non_enterprise_led"),
])
def test_matching_ratio_for_each_lead_type(lead, fiscal_field, rule_key):
    need = RB.rule(rule_key).min
    base = {"lead_type": lead, "fiscal_funding_wan": 500, fiscal_field: 400 if fiscal_field != "fiscal_funding_wan" else 500}
    fiscal = base[fiscal_field]
    at = verdict_of(rule_key, **base, enterprise_matching_wan=need * fiscal)[1]
    under = verdict_of(rule_key, **base, enterprise_matching_wan=need * fiscal - 1)[1]
    over = verdict_of(rule_key, **base, enterprise_matching_wan=need * fiscal * 1.5)[1]
    assert (at.status, under.status, over.status) == ("warn", "fail", "pass")
    assert at.value == pytest.approx(need)
    other = {"match_ratio_enterprise_led", "match_ratio_non_enterprise_led"} - {rule_key}
    assert not other & {c.rule for c in check(GOOD | base | {"enterprise_matching_wan": 5000}).checks}


def test_ratio_without_a_lead_type_is_unknown_and_asks_for_it():
    v = check({k: v for k, v in GOOD.items() if k != "lead_type"})
    ratios = [c for c in v.checks if c.rule.startswith("match_ratio")]
    assert {c.status for c in ratios} == {"unknown"} and len(ratios) == 2
    assert v.eligible is None and "lead_type" in v.missing and "fiscal_to_enterprises_wan" in v.missing


def test_duration_is_generally_worded_so_over_the_limit_warns():
    months = int(RB.rule("duration").max * 12)
    assert verdict_of("duration", duration_months=months)[1].status == "pass"
    assert verdict_of("duration", duration_months=months - 1)[1].status == "pass"
    v, c = verdict_of("duration", duration_months=months + 1)
    assert c.status == "warn" and v.eligible is True and "一般" in c.source


def test_duration_from_start_and_end():
    months = int(RB.rule("duration").max * 12)
    g = {k: v for k, v in GOOD.items() if k != "duration_months"}
    assert check(g | {"start": "2025-01", "end": "2027-12"}).values["duration_months"].value == 36
    c = {c.rule: c for c in check(g | {"start": "2025-01", "end": "2028-01"}).checks}["duration"]
    assert c.status == ("warn" if months < 37 else "pass")


@pytest.mark.parametrize("rule_key, field", [
    ("target_new_outputs", "new_outputs"),
    ("target_performance_parameters", "performance_parameters"),
    ("target_invention_patents", "invention_patents"),
])
def test_counts_at_just_under_and_just_over(rule_key, field):
    least = int(RB.rule(rule_key).min)
    assert verdict_of(rule_key, **{field: least})[1].status == "pass"
    assert verdict_of(rule_key, **{field: least + 1})[1].status == "pass"
    v, c = verdict_of(rule_key, **{field: least - 1})
    assert c.status == "fail" and v.eligible is False and rule_key in v.failed_rules


def test_no_standards_work_is_a_warning_not_a_failure():
    v, c = verdict_of("target_standards", standards=0)
    assert c.status == "warn" and v.eligible is True
    assert verdict_of("target_standards", standards=1)[1].status == "pass"


def test_output_or_sales_at_just_under_and_just_over():
    least = RB.rule("target_output_or_sales").min
    assert verdict_of("target_output_or_sales", output_or_sales_wan=least)[1].status == "warn"
    assert verdict_of("target_output_or_sales", output_or_sales_wan=least - 1)[1].status == "fail"
    assert verdict_of("target_output_or_sales", output_or_sales_wan=least * 2)[1].status == "pass"


@pytest.mark.parametrize("priority, attached, status", [
    ("investment_attraction", True, "pass"), ("investment_attraction", False, "fail"),
    ("venture_fund", True, "pass"), ("venture_fund", False, "fail"), ("venture_fund", None, "unknown"),
    ("university_transfer", False, None), ("none", None, None),
])
def test_agreement_only_for_the_two_priority_categories(priority, attached, status):
    v, c = verdict_of("agreement_attached", priority=priority, agreement_attached=attached)
    assert (c.status if c else None) == status


def test_a_missing_input_is_unknown_and_eligible_is_null_unless_something_fails():
    g = {k: v for k, v in GOOD.items() if k != "invention_patents"}
    v = check(g)
    assert v.eligible is None and v.missing == ("invention_patents",)
    assert {c.rule: c.status for c in v.checks}["target_invention_patents"] == "unknown"
    assert check(g | {"new_outputs": 0}).eligible is False


def test_a_new_guide_is_a_change_of_the_rules_file(tmp_path: Path):
    data = load_rules()
    data["rules"]["funding_per_project"]["max"] = 800
    data["rules"]["match_ratio_enterprise_led"]["min"] = 2
    path = tmp_path / "rules-2025.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    proposal = GOOD | {"fiscal_funding_wan": 900, "enterprise_matching_wan": 2250}   # 2.5:1
    today = {c.rule: c.status for c in check(proposal).checks}
    edited = {c.rule: c for c in check(proposal, path).checks}
    assert today["funding_per_project"] == "pass" and edited["funding_per_project"].status == "fail"
    assert today["match_ratio_enterprise_led"] == "fail" and edited["match_ratio_enterprise_led"].status == "pass"
    assert edited["funding_per_project"].limit["max"] == 800 and "800万元" in edited["funding_per_project"].message


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["rules"]["duration"]["check"].update(severity="maybe"), "severity"),
    (lambda d: d["rules"]["funding_per_project"].update(min=None, max=None), "min"),
    (lambda d: d["rules"]["agreement_attached"]["check"].update(priority=["lottery"]), "priority"),
    (lambda d: d.pop("eligibility"), "eligibility"),
])
def test_a_broken_rules_file_is_named(tmp_path: Path, edit, message):
    data = load_rules()
    edit(data)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_rulebook(path)
    with pytest.raises(InputError, match="rules file"):
        check(GOOD, path)
