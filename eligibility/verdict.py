"""Holding a proposal's facts against the rulebook: one verdict per rule, each with the guide's sentence.

Status per rule: ``pass`` (✔), ``fail`` (✘), ``warn`` (⚠: close to a limit, or past a limit the guide
words as 一般) and ``unknown`` (?: an input is missing or ambiguous). ``eligible`` is false when a rule
fails, null when none fails but some are unknown, true otherwise. Rules that do not apply (the
other lead type's ratio; the agreement for a project outside the two priority categories) are left out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .reader import Extraction, Found, extract
from .facts import LABELS, Facts, months_between
from .rules import Rule, Rulebook

SYMBOLS = {"pass": "✔", "fail": "✘", "warn": "⚠", "unknown": "?"}
MONTHS_PER = {"年": 12, "个月": 1, "月": 1}
"""A duration rule's unit in months (the input is always in months)."""


@dataclass(frozen=True)
class Evidence:
    """Where a value came from: the user's field (``input``) or characters ``start:end`` of the text."""

    field: str
    source: str
    text: str | None = None
    start: int | None = None
    end: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "source": self.source, "text": self.text, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class FieldValue:
    field: str
    value: Any
    source: str
    evidence: tuple[Evidence, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source, "evidence": [e.to_dict() for e in self.evidence]}


@dataclass(frozen=True)
class RuleCheck:
    rule: str
    title: str
    status: str
    value: Any
    limit: dict[str, Any]
    unit: str | None
    evidence: tuple[Evidence, ...]
    source: str
    message: str
    fields: tuple[str, ...]

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.status]

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "title": self.title, "status": self.status, "value": self.value,
                "limit": self.limit, "unit": self.unit, "evidence": [e.to_dict() for e in self.evidence],
                "source": self.source, "message": self.message, "fields": list(self.fields)}


@dataclass(frozen=True)
class Verdict:
    eligible: bool | None
    checks: tuple[RuleCheck, ...]
    missing: tuple[str, ...]
    ambiguous: dict[str, str]
    """field -> why the text does not give it one value (the field is also in ``missing``)."""
    values: dict[str, FieldValue]

    @property
    def failed_rules(self) -> list[str]:
        return [c.rule for c in self.checks if c.status == "fail"]

    def to_dict(self) -> dict[str, Any]:
        return {"eligible": self.eligible, "checks": [c.to_dict() for c in self.checks], "missing": list(self.missing),
                "ambiguous": [{"field": f, "reason": r} for f, r in self.ambiguous.items()],
                "values": {f: v.to_dict() for f, v in self.values.items()}}


# -- what the proposal states -----------------------------------------------------------------------
def _from_text(fld: str, found: Found) -> FieldValue:
    return FieldValue(fld, found.value, "text",
                      tuple(Evidence(fld, "text", sp.text, sp.start, sp.end) for sp in found.evidence))


def _from_input(fld: str, value: Any) -> FieldValue:
    return FieldValue(fld, value, "input", (Evidence(fld, "input"),))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _ambiguity_text(amb) -> str:
    shown = "、".join(dict.fromkeys(sp.text for c in amb.candidates for sp in c.evidence))
    return amb.reason + (f"（{shown}）" if shown else "")


def resolve(facts: Facts, extraction: Extraction | None) -> tuple[dict[str, FieldValue], dict[str, str]]:
    """The values the rules read: each given field, else what the text states; the still-ambiguous fields."""
    ex = extraction or Extraction()
    values = {f: _from_text(f, v) for f, v in ex.values.items()}
    ambiguous = {f: _ambiguity_text(a) for f, a in ex.ambiguous.items()}
    given = facts.values()
    if "start" in given or "end" in given or "duration_months" in given:
        for f in ("start", "end", "duration_months"):  # dates are taken as a set, from one source
            values.pop(f, None)
            ambiguous.pop(f, None)
    for f, v in given.items():
        values[f] = _from_input(f, v)
        ambiguous.pop(f, None)
    if "duration_months" not in values and "start" in values and "end" in values:
        s, e = values["start"], values["end"]
        values["duration_months"] = FieldValue("duration_months", months_between(s.value, e.value), s.source,
                                                s.evidence + (e.evidence if e.source == "input" else ()))
    return values, ambiguous


# -- one rule -------------------------------------------------------------------------------------
def _limit_text(rule: Rule) -> str:
    unit = rule.unit or ""
    if rule.expect is not None:
        return "须提供" if rule.expect else "不得提供"
    if rule.numerator:
        return f"不低于{_fmt(rule.min)}:1" if rule.max is None else f"{_fmt(rule.min or 0)}:1–{_fmt(rule.max)}:1"
    if rule.min is not None and rule.max is not None:
        return f"{_fmt(rule.min)}–{_fmt(rule.max)}{unit}"
    return f"不少于{_fmt(rule.min)}{unit}" if rule.min is not None else f"不超过{_fmt(rule.max)}{unit}"


def _shown(rule: Rule, value: Any, values: dict[str, FieldValue]) -> str:
    if rule.numerator:
        return (f"{LABELS[rule.numerator]}{_fmt(values[rule.numerator].value)}万元、{LABELS[rule.denominator]}"
                f"{_fmt(values[rule.denominator].value)}万元，比例{value:.2f}:1")
    if rule.expect is not None:
        return "已提供" if value else "未提供"
    if rule.input == "duration_months":
        return f"{values[rule.input].value}个月（{_fmt(value)}{rule.unit}）"
    return f"{_fmt(value)}{rule.unit or ''}"


def _status(rule: Rule, value: Any) -> tuple[str, str]:
    """(status, why) for a value in the rule's unit."""
    limit = _limit_text(rule)
    if rule.expect is not None:
        return ("pass", f"符合要求（{limit}）") if value == rule.expect else (rule.severity, f"不符合要求（{limit}）")
    below = rule.min is not None and value < rule.min
    above = rule.max is not None and value > rule.max
    if below or above:
        if rule.severity == "warn":
            return "warn", f"{'低于' if below else '超过'}指南的一般要求（{limit}），请在申报书中说明"
        return "fail", f"不符合要求（{limit}）"
    if rule.near and ((rule.min is not None and value < rule.min * (1 + rule.near))
                      or (rule.max is not None and value > rule.max * (1 - rule.near))):
        return "warn", f"符合要求但接近限额（{limit}）"
    return "pass", f"符合要求（{limit}）"


def _unknown(rule: Rule, fields: list[str], ambiguous: dict[str, str], evidence) -> RuleCheck:
    parts = [f"{LABELS[f]}：{ambiguous[f]}，请填写该项" for f in fields if f in ambiguous]
    absent = [LABELS[f] for f in fields if f not in ambiguous]
    if absent:
        parts.insert(0, "缺少" + "、".join(absent))
    return RuleCheck(rule.key, rule.title, "unknown", None, _limit(rule), rule.unit, evidence, rule.source,
                     "；".join(parts) + "。", rule.fields)


def _limit(rule: Rule) -> dict[str, Any]:
    return {"min": rule.min, "max": rule.max, "expect": rule.expect, "text": _limit_text(rule)}


def check_rule(rule: Rule, values: dict[str, FieldValue], ambiguous: dict[str, str], rb: Rulebook) -> RuleCheck | None:
    """The rule's verdict, or None when it does not apply to this proposal."""
    evidence = tuple(e for f in rule.fields if f in values for e in values[f].evidence)
    gate: list[str] = []
    if rule.lead:
        lead = values.get("lead_type")
        if lead is None:
            gate.append("lead_type")
        elif (lead.value in rb.enterprise_lead_types) != (rule.lead == "enterprise_led"):
            return None
    if rule.priority:
        prio = values.get("priority")
        if prio is None:
            gate.append("priority")
        elif prio.value not in rule.priority:
            return None
    needed = [f for f in (rule.input, rule.numerator, rule.denominator) if f]
    missing = gate + [f for f in needed if f not in values]
    if missing:
        return _unknown(rule, missing, ambiguous, evidence)
    if rule.numerator:
        value = values[rule.numerator].value / values[rule.denominator].value
    elif rule.input == "duration_months":
        value = values[rule.input].value / MONTHS_PER.get(rule.unit or "个月", 1)
    else:
        value = values[rule.input].value
    status, why = _status(rule, value)
    shown = _shown(rule, value, values)
    out = round(value, 4) if isinstance(value, float) else value
    return RuleCheck(rule.key, rule.title, status, out, _limit(rule), rule.unit, evidence, rule.source,
                     f"{shown}，{why}。", rule.fields)


# -- the whole proposal ---------------------------------------------------------------------------
def judge(facts: Facts, rulebook: Rulebook) -> Verdict:
    """Extract from the text (when there is one), let the given fields win, and check every rule."""
    extraction = extract(facts.text) if facts.text else None
    values, ambiguous = resolve(facts, extraction)
    checks = tuple(c for rule in rulebook.rules if (c := check_rule(rule, values, ambiguous, rulebook)))
    statuses = {c.status for c in checks}
    eligible = False if "fail" in statuses else None if "unknown" in statuses else True
    wanted = {f for c in checks if c.status == "unknown" for f in c.fields if f not in values}
    if "duration_months" in wanted and ("start" in values) != ("end" in values):
        wanted.discard("duration_months")  # half a period given: ask for the other end
        wanted.add("end" if "start" in values else "start")
    missing = tuple(f for f in LABELS if f in wanted)
    return Verdict(eligible, checks, missing, {f: r for f, r in ambiguous.items() if f in wanted}, values)

