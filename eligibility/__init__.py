"""The eligibility pre-check: a proposal held against the guide's own rules before anyone submits it.

    from eligibility import check
    v = check({"text": "申请财政资金800万元，企业自筹2400万元……", "lead_type": "enterprise"})
    v.eligible, v.failed_rules, [(c.symbol, c.rule, c.message, c.source) for c in v.checks]

The rules and every limit are data (``corpus/rules.yaml``, :mod:`.rules`); the fields a user may
give are validated in :mod:`.facts`; numbers and dates are read from the text in :mod:`.reader`;
:mod:`.verdict` holds them against the rules; :mod:`.api` ties them together. Built on the
matcher's text normalisation only: the matcher never imports this package.

Names are loaded on first use, so importing the package (or its settings, :mod:`.config`) costs
nothing until a proposal is checked: matching alone never loads the numeral reader.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "check": "api", "default_rulebook": "api", "rulebook_for": "api", "rulebook_from": "api",
    "Extraction": "reader", "extract": "reader",
    "LABELS": "facts", "Facts": "facts", "parse_facts": "facts",
    "Rule": "rules", "Rulebook": "rules", "load_rulebook": "rules",
    "SYMBOLS": "verdict", "Evidence": "verdict", "FieldValue": "verdict", "RuleCheck": "verdict",
    "Verdict": "verdict", "judge": "verdict",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
