"""The eligibility pre-check: a proposal held against the guide's own rules before anyone submits it.

    from eligibility import check
    v = check({"text": "申请财政资金800万元，企业自筹2400万元……", "lead_type": "enterprise"})
    v.eligible, v.failed_rules, [(c.symbol, c.rule, c.message, c.source) for c in v.checks]

The rules and every limit are data (``corpus/rules.yaml``, :mod:`.rules`); the fields a user may
give are validated in :mod:`.facts`; numbers and dates are read from the text in :mod:`.extract`;
:mod:`.verdict` holds them against the rules. Built on the matcher's text normalisation only: the
matcher itself never imports this package.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from matcher.errors import InputError

from .extract import Extraction, extract
from .facts import LABELS, Facts, parse_facts
from .rules import Rule, Rulebook, load_rulebook
from .verdict import SYMBOLS, Evidence, FieldValue, RuleCheck, Verdict, judge

__all__ = [
    "LABELS", "SYMBOLS", "Evidence", "Extraction", "Facts", "FieldValue", "Rule", "RuleCheck", "Rulebook",
    "Verdict", "check", "default_rulebook", "extract", "judge", "load_rulebook", "parse_facts",
]


@lru_cache(maxsize=1)
def default_rulebook() -> Rulebook:
    """The rules of ``corpus/rules.yaml``, read once."""
    return load_rulebook()


def check(data: Mapping[str, Any], rules: Rulebook | str | Path | None = None,
          max_text_chars: int | None = None) -> Verdict:
    """Validate ``data`` (the documented fields; an InputError names a bad one) and judge it."""
    rulebook = rules if isinstance(rules, Rulebook) else rulebook_from(rules) if rules else default_rulebook()
    return judge(parse_facts(data, rulebook, max_text_chars), rulebook)


def rulebook_from(path: str | Path) -> Rulebook:
    """A rules file the user names: an InputError (not a traceback) when it cannot be read as rules."""
    try:
        return load_rulebook(path)
    except FileNotFoundError:
        raise InputError(f"rules file {path}: no such file", "rules") from None
    except (OSError, ValueError, yaml.YAMLError) as err:
        why = str(err) if isinstance(err, ValueError) else type(err).__name__
        raise InputError(f"rules file {path}: cannot be used ({why})", "rules") from None
