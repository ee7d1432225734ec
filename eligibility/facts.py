"""A proposal's facts for the pre-check: the fields users give (CLI JSON/YAML, ``POST /v1/check``),
validated once here so the command line and the API refuse the same things with the same words.

Every field is optional. A bad one is an :class:`~matcher.errors.InputError` naming it, with a
stable code that the CLI turns into exit status 2 and the API into a 422: ``unknown_field``,
``wrong_type``, ``invalid_value`` (one field out of bounds), ``text_empty``, ``text_too_long``,
``inconsistent_fields`` (fields that contradict each other: an end before the start, a matching
ratio against zero fiscal funds) and ``nothing_to_check``.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields as dc_fields
from typing import Any

from matcher.errors import InputError

from .config import EligibilitySettings
from .rules import Rulebook

AMOUNTS = ("fiscal_funding_wan", "enterprise_matching_wan", "fiscal_to_enterprises_wan", "output_or_sales_wan")
COUNTS = ("new_outputs", "performance_parameters", "invention_patents", "standards")
MONTHS = ("start", "end")

LABELS: dict[str, str] = {
    "text": "申报书文本",
    "lead_type": "牵头单位类型",
    "fiscal_funding_wan": "申请财政经费",
    "enterprise_matching_wan": "企业配套经费",
    "fiscal_to_enterprises_wan": "企业获得的财政经费",
    "start": "开始年月",
    "end": "结束年月",
    "duration_months": "实施周期",
    "new_outputs": "新技术/新工艺/新材料/新产品/新服务",
    "performance_parameters": "性能参数",
    "invention_patents": "发明专利",
    "standards": "标准（规程）",
    "output_or_sales_wan": "实施期内产值或销售收入",
    "priority": "优先支持类别",
    "agreement_attached": "招商/投资协议附件",
}
"""Every field users may give, in the order they are shown, with its Chinese label."""
FIELD_COLUMNS = tuple(f for f in LABELS if f != "text")
"""The fields a proposals table may have as columns (by these names)."""

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Facts:
    """The validated fields (None: not given)."""

    text: str | None = None
    lead_type: str | None = None
    fiscal_funding_wan: float | None = None
    enterprise_matching_wan: float | None = None
    fiscal_to_enterprises_wan: float | None = None
    start: str | None = None
    end: str | None = None
    duration_months: int | None = None
    new_outputs: int | None = None
    performance_parameters: int | None = None
    invention_patents: int | None = None
    standards: int | None = None
    output_or_sales_wan: float | None = None
    priority: str | None = None
    agreement_attached: bool | None = None
    given: frozenset[str] = field(default=frozenset(), compare=False)

    def values(self) -> dict[str, Any]:
        """The given fields other than the text."""
        return {f.name: getattr(self, f.name) for f in dc_fields(self)
                if f.name not in ("text", "given") and getattr(self, f.name) is not None}


def months_between(start: str, end: str) -> int:
    """Months from the start month to the end month, both included (2025-01..2027-12 is 36)."""
    (y1, m1), (y2, m2) = (map(int, s.split("-")) for s in (start, end))
    return (y2 - y1) * 12 + (m2 - m1) + 1


def _kind(value: Any) -> str:
    return {bool: "true/false", str: "text", int: "a number", float: "a number", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def _amount(name: str, value: Any, limits: EligibilitySettings) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name} must be a number of 万元, got {_kind(value)}", name, "wrong_type")
    if value != value or value < 0:
        raise InputError(f"{name} must be 0 or more (万元)", name, "invalid_value")
    if value > limits.max_amount_wan:
        raise InputError(f"{name} is over {limits.max_amount_wan:,.0f}万元; give the amount in 万元", name, "invalid_value")
    return float(value)


def _count(name: str, value: Any, upper: int, lowest: int = 0) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be a whole number, got {_kind(value)}", name, "wrong_type")
    if not lowest <= value <= upper:
        raise InputError(f"{name} must be a whole number from {lowest} to {upper}", name, "invalid_value")
    return value


def _month(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InputError(f"{name} must be a month as text, YYYY-MM (e.g. 2025-01), got {_kind(value)}", name, "wrong_type")
    m = _MONTH.match(value.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise InputError(f"{name} must be a month written YYYY-MM (e.g. 2025-01)", name, "invalid_value")
    return value.strip()


def _choice(name: str, value: Any, allowed: Mapping[str, str]) -> str:
    if not isinstance(value, str):
        raise InputError(f"{name} must be text, one of: {', '.join(allowed)}", name, "wrong_type")
    if value not in allowed:
        raise InputError(f"{name} must be one of: {', '.join(allowed)}", name, "invalid_value")
    return value


def _text(value: Any, max_chars: int | None) -> str:
    if not isinstance(value, str):
        raise InputError(f"text must be text, got {_kind(value)}", "text", "wrong_type")
    if not value.strip():
        raise InputError("text is empty; give the proposal's abstract, targets and budget paragraphs", "text", "text_empty")
    if max_chars is not None and len(value) > max_chars:
        raise InputError(f"text has {len(value):,} characters; at most {max_chars:,} are accepted", "text", "text_too_long")
    return value


def parse_facts(data: Any, rulebook: Rulebook, limits: EligibilitySettings | None = None,
                max_text_chars: int | None = None) -> Facts:
    """Validate a mapping of fields (JSON/YAML input, an API body); None values count as not given."""
    limits = limits or EligibilitySettings()
    if not isinstance(data, Mapping):
        raise InputError(f"a proposal must be an object of fields ({', '.join(LABELS)}), got {_kind(data)}",
                         None, "wrong_type")
    unknown = [str(k) for k in data if k not in LABELS]
    if unknown:
        raise InputError(f"unknown field {unknown[0]!r}; accepted fields: {', '.join(LABELS)}", unknown[0], "unknown_field")
    given = {k: v for k, v in data.items() if v is not None}
    if not given:
        raise InputError("nothing to check: give text and/or at least one field (" + ", ".join(LABELS) + ")",
                         None, "nothing_to_check")
    out: dict[str, Any] = {}
    for name, value in given.items():
        if name == "text":
            out[name] = _text(value, max_text_chars)
        elif name in AMOUNTS:
            out[name] = _amount(name, value, limits)
        elif name in COUNTS:
            out[name] = _count(name, value, limits.max_count)
        elif name == "duration_months":
            out[name] = _count(name, value, limits.max_duration_months, lowest=1)
        elif name in MONTHS:
            out[name] = _month(name, value)
        elif name == "lead_type":
            out[name] = _choice(name, value, rulebook.lead_types)
        elif name == "priority":
            out[name] = _choice(name, value, rulebook.priorities)
        elif name == "agreement_attached":
            if not isinstance(value, bool):
                raise InputError(f"agreement_attached must be true or false, got {_kind(value)}", name, "wrong_type")
            out[name] = value
    facts = Facts(**out, given=frozenset(out))
    check_consistency(facts, rulebook, limits)
    return facts


def check_consistency(facts: Facts, rulebook: Rulebook, limits: EligibilitySettings) -> None:
    """Fields that contradict each other name the one to fix (code ``inconsistent_fields``)."""
    def bad(message: str, name: str) -> InputError:
        return InputError(message, name, "inconsistent_fields")

    if facts.start and facts.end:
        n = months_between(facts.start, facts.end)
        if n < 1:
            raise bad(f"end ({facts.end}) is before start ({facts.start})", "end")
        if n > limits.max_duration_months:
            raise bad(f"start to end is {n} months; at most {limits.max_duration_months} are accepted", "end")
        if facts.duration_months is not None and facts.duration_months != n:
            raise bad(f"duration_months ({facts.duration_months}) disagrees with start–end ({n} months); "
                      "give one of them", "duration_months")
    for rule in rulebook.rules:
        if rule.denominator and getattr(facts, rule.denominator) == 0 and getattr(facts, rule.numerator) is not None:
            raise bad(f"{rule.denominator} is 0: the ratio of {rule.numerator} to it needs fiscal funds above 0 (万元)",
                      rule.denominator)
    part, whole = facts.fiscal_to_enterprises_wan, facts.fiscal_funding_wan
    if part is not None and whole is not None and part > whole:
        raise bad(f"fiscal_to_enterprises_wan ({part:g}) is more than fiscal_funding_wan ({whole:g})",
                  "fiscal_to_enterprises_wan")
