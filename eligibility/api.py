"""The entry points: :func:`check` a mapping of fields against the default or a named rules file."""
from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from matcher.errors import InputError

from .config import EligibilitySettings
from .facts import parse_facts
from .rules import Rulebook, load_rulebook
from .verdict import Verdict, judge


@lru_cache(maxsize=1)
def default_rulebook() -> Rulebook:
    """The rules of ``corpus/rules.yaml``, read once."""
    return load_rulebook()


def rulebook_from(path: str | Path) -> Rulebook:
    """A rules file the user names: an InputError (not a traceback) when it cannot be read as rules."""
    try:
        return load_rulebook(path)
    except FileNotFoundError:
        raise InputError(f"rules file {path}: no such file", "rules") from None
    except (OSError, ValueError, yaml.YAMLError) as err:
        why = str(err) if isinstance(err, ValueError) else type(err).__name__
        raise InputError(f"rules file {path}: cannot be used ({why})", "rules") from None


def rulebook_for(path: str | Path | None) -> Rulebook:
    """The rules of ``path``, or of ``corpus/rules.yaml`` when None."""
    return rulebook_from(path) if path else default_rulebook()


def check(data: Mapping[str, Any], rules: Rulebook | str | Path | None = None,
          settings: EligibilitySettings | None = None, max_text_chars: int | None = None) -> Verdict:
    """Validate ``data`` (the documented fields; an InputError names a bad one) and judge it.

    ``rules``: a rulebook, a rules file, or None for ``settings.rules`` (else ``corpus/rules.yaml``).
    """
    settings = settings or EligibilitySettings()
    rulebook = rules if isinstance(rules, Rulebook) else rulebook_for(rules or settings.rules)
    return judge(parse_facts(data, rulebook, settings, max_text_chars), rulebook)
