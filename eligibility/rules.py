"""The guide's rules as the pre-check reads them: the ``check:`` blocks of ``corpus/rules.yaml``.

Every limit, unit, severity and applicability comes from that file, so next year's guide is a
data change; this module only types and validates it, naming the rule and key that is wrong.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import corpus

LEADS = ("enterprise_led", "not_enterprise_led")
SEVERITIES = ("fail", "warn")


@dataclass(frozen=True)
class Rule:
    """One checkable rule: the limits a proposal field (or a ratio of two) is held against."""

    key: str
    title: str
    source: str
    unit: str | None
    min: float | None
    max: float | None
    input: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    lead: str | None = None
    priority: tuple[str, ...] = ()
    severity: str = "fail"
    near: float = 0.0
    expect: bool | None = None
    """For a yes/no field: the answer the rule requires."""

    @property
    def fields(self) -> tuple[str, ...]:
        """The proposal fields the rule reads (lead_type/priority when they decide whether it applies)."""
        own = tuple(f for f in (self.input, self.numerator, self.denominator) if f)
        return own + (("lead_type",) if self.lead else ()) + (("priority",) if self.priority else ())


@dataclass(frozen=True)
class Rulebook:
    """The checkable rules in the file's order, and the input bounds and vocabularies beside them."""

    rules: tuple[Rule, ...]
    guide_title: str
    lead_types: dict[str, str]
    enterprise_lead_types: frozenset[str]
    priorities: dict[str, str]
    """priority value -> its name in the guide (``none`` included)."""
    priority_none: str

    def rule(self, key: str) -> Rule:
        for r in self.rules:
            if r.key == key:
                return r
        raise KeyError(key)


def _number(rule: str, key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"rules.yaml: rule {rule!r}: {key!r} must be a number or null")
    return value


def _rule(key: str, spec: Any, leads_ok: set[str], priorities: set[str]) -> Rule:
    def bad(why: str) -> ValueError:
        return ValueError(f"rules.yaml: rule {key!r}: {why}")

    check = spec.get("check")
    if not isinstance(check, dict):
        raise bad("'check' must be a mapping")
    for field in ("title", "source"):
        if not isinstance(spec.get(field), str) or not spec[field].strip():
            raise bad(f"{field!r} must be a non-empty string")
    inputs = [check.get(k) for k in ("input", "numerator", "denominator")]
    if not (inputs[0] or (inputs[1] and inputs[2])):
        raise bad("'check' needs 'input', or 'numerator' and 'denominator'")
    lead = check.get("lead")
    if lead is not None and lead not in leads_ok:
        raise bad(f"'check.lead' must be one of {sorted(leads_ok)}")
    prio = tuple(check.get("priority") or ())
    if set(prio) - priorities:
        raise bad(f"'check.priority' has unknown values {sorted(set(prio) - priorities)}; known: {sorted(priorities)}")
    severity = check.get("severity", "fail")
    if severity not in SEVERITIES:
        raise bad(f"'check.severity' must be one of {SEVERITIES}")
    near = _number(key, "check.near", check.get("near", 0.0)) or 0.0
    lo, hi = _number(key, "min", spec.get("min")), _number(key, "max", spec.get("max"))
    expect = check.get("expect")
    if expect is not None and not isinstance(expect, bool):
        raise bad("'check.expect' must be true or false")
    if lo is None and hi is None and expect is None:
        raise bad("needs 'min' and/or 'max', or 'check.expect'")
    return Rule(key=key, title=spec["title"].strip(), source=spec["source"], unit=spec.get("unit"), min=lo, max=hi,
                input=inputs[0], numerator=inputs[1], denominator=inputs[2], lead=lead, priority=prio,
                severity=severity, near=float(near), expect=expect)


def load_rulebook(path: str | Path | None = None) -> Rulebook:
    """The rulebook of ``corpus/rules.yaml`` (or another rules file); ValueError names what is wrong."""
    data = corpus.load_rules(path)
    conf = data.get("eligibility")
    if not isinstance(conf, dict):
        raise ValueError("rules.yaml: needs an 'eligibility' mapping (lead types, priorities)")
    try:
        lead_types = {str(k): str(v) for k, v in conf["lead_types"].items()}
        enterprise = frozenset(map(str, conf["enterprise_lead_types"]))
        none = str(conf["priority_none"])
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"rules.yaml: 'eligibility' is incomplete or malformed ({err!r})") from None
    if enterprise - lead_types.keys():
        raise ValueError("rules.yaml: 'eligibility.enterprise_lead_types' names unknown lead types")
    categories = (data["rules"].get("priority_support") or {}).get("categories") or []
    priorities = {none: "不属于优先支持类别"}
    priorities.update({str(c["input"]): str(c["name"]) for c in categories if isinstance(c, dict) and c.get("input")})
    rules = tuple(
        _rule(key, spec, set(LEADS), set(priorities))
        for key, spec in data["rules"].items()
        if isinstance(spec, dict) and "check" in spec
    )
    if not rules:
        raise ValueError("rules.yaml: no rule has a 'check' block")
    guide = data.get("guide") or {}
    return Rulebook(rules, str(guide.get("title", "")), lead_types, enterprise, priorities, none)
