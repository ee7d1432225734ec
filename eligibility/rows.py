"""The pre-check for the rows of a proposals table (``guide-match batch --check``, the routing sheet).

A row is its text (title and abstract) plus any columns named like the fields (``fiscal_funding_wan``,
``lead_type``, …). Spreadsheet cells arrive as text ("800", "3.0", "是"), so they are read by the
field's kind first; a bad cell gives that row an error naming the column, and the other rows are
still checked.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from matcher.errors import InputError

from .api import check
from .config import EligibilitySettings
from .facts import AMOUNTS, COUNTS, FIELD_COLUMNS, MONTHS
from .rules import Rulebook

_YES = {"true", "1", "yes", "y", "是", "有", "已附"}
_NO = {"false", "0", "no", "n", "否", "无", "未附"}
_MONTH_CELL = re.compile(r"^(\d{4})[-/.年](\d{1,2})")


@dataclass(frozen=True)
class RowVerdict:
    eligible: bool | None
    failed_rules: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"eligible": self.eligible, "failed_rules": list(self.failed_rules), "eligibility_missing":
                list(self.missing), "eligibility_error": self.error}


def _cell(name: str, value: Any) -> Any:
    """A table cell as the field's type (numbers and yes/no written as text are read); '' is not given."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return None
    try:
        if name in AMOUNTS:
            return float(text.replace(",", ""))
        if name in COUNTS or name == "duration_months":
            number = float(text)
            return int(number) if number.is_integer() else number
    except ValueError:
        return text  # refused below with the field's own message
    if name == "agreement_attached":
        low = text.lower()
        return True if low in _YES else False if low in _NO else text
    if name in MONTHS and (m := _MONTH_CELL.match(text)):
        return f"{m.group(1)}-{int(m.group(2)):02d}"
    return text


def row_fields(cells: Mapping[str, Any]) -> dict[str, Any]:
    """The pre-check fields among a row's cells, read by kind; empty cells left out."""
    return {name: v for name in FIELD_COLUMNS if name in cells and (v := _cell(name, cells[name])) is not None}


def check_row(text: str | None, cells: Mapping[str, Any], rules: Rulebook | None = None,
              settings: EligibilitySettings | None = None, max_text_chars: int | None = None) -> RowVerdict:
    """The verdict for one row; an unusable row gets ``eligible`` None and its error, never an exception."""
    data = row_fields(cells)
    if text and text.strip():
        data["text"] = text
    try:
        v = check(data, rules, settings, max_text_chars)
    except InputError as err:
        where = f"column {err.field}: " if err.field and err.field != "text" else ""
        return RowVerdict(None, error=where + err.message)
    return RowVerdict(v.eligible, tuple(v.failed_rules), v.missing)
