"""Proposals to route: read the table (via :mod:`matcher.tables`), accept Chinese headers, split and
normalise organisations.

Columns: ``id``, ``title``, ``abstract``, ``applicant_org``, ``partner_orgs`` (several separated by
``；`` or ``;``), or their Chinese headers 编号, 项目名称, 摘要, 申报单位, 合作单位; and, for the
eligibility pre-check, any columns named like its fields (``fiscal_funding_wan``, ``lead_type``, …).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from eligibility.facts import FIELD_COLUMNS
from matcher.config import TableLimits
from matcher.errors import InputError
from matcher.tables import read_table
from matcher.text import normalize

COLUMNS = ("id", "title", "abstract", "applicant_org", "partner_orgs")
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "编号", "项目编号"),
    "title": ("title", "项目名称", "名称"),
    "abstract": ("abstract", "摘要", "项目摘要"),
    "applicant_org": ("applicant_org", "申报单位", "承担单位"),
    "partner_orgs": ("partner_orgs", "合作单位"),
}
MAX_ID_CHARS = 200
MAX_FIELD_CHARS = 32_767
"""Characters in any one field of a proposal (a table's own cap comes from its :class:`TableLimits`)."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ORG_SPLIT = re.compile(r"[;；\n]+")
# Punctuation, brackets and spaces that differ between two spellings of one organisation.
_ORG_NOISE = re.compile(r"[\s\"'“”‘’`·・.,，、()（）\[\]【】<>《》{}_\-—–/]+")
MIN_ORG_PREFIX = 4
"""A shorter name must have at least this many characters to match the start of a longer one
(``广西大学`` matches ``广西大学化学化工学院``; ``广西`` alone matches nothing)."""


@dataclass(frozen=True)
class Proposal:
    id: str
    title: str
    abstract: str
    applicant_org: str = ""
    partner_orgs: tuple[str, ...] = ()
    row: int | None = None
    """Line in the source file (header = line 1), for messages."""
    facts: tuple[tuple[str, object], ...] = ()
    """Cells of the pre-check's field columns (name, value), as given; checked when the run is routed."""

    @property
    def text(self) -> str:
        """What the matcher reads: the title, then the abstract."""
        parts = [p.strip() for p in (self.title, self.abstract) if p and p.strip()]
        return "\n".join(parts)

    @property
    def orgs(self) -> tuple[str, ...]:
        return tuple(o for o in (self.applicant_org, *self.partner_orgs) if o)

    def to_dict(self) -> dict:
        out = {
            "id": self.id,
            "title": self.title,
            "abstract": self.abstract,
            "applicant_org": self.applicant_org,
            "partner_orgs": list(self.partner_orgs),
        }
        if self.facts:  # only then: a table without field columns keeps its run key
            out["facts"] = dict(self.facts)
        return out


def normalize_org(name: str) -> str:
    """The key two spellings of one organisation share: the matcher's normal form (NFKC,
    simplified characters), case-folded, no spaces or punctuation."""
    return _ORG_NOISE.sub("", normalize(name or "")).casefold()


def same_org(a: str, b: str) -> bool:
    """Whether two organisation names denote the same body, or one a part of the other.

    Equal after :func:`normalize_org`, or the shorter (at least :data:`MIN_ORG_PREFIX` characters) is
    the start of the longer: ``广西大学`` and ``广西大学资源环境与材料学院`` are one organisation for a
    conflict of interest. Erring towards a conflict is the safe side.
    """
    a, b = normalize_org(a), normalize_org(b)
    if not a or not b:
        return False
    if a == b:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= MIN_ORG_PREFIX and long_.startswith(short)


def split_orgs(value: object) -> tuple[str, ...]:
    """Partner organisations from a cell (``；``/``;``/newline separated) or a list, cleaned, in order."""
    if value is None:
        return ()
    items = value if isinstance(value, (list, tuple)) else _ORG_SPLIT.split(str(value))
    out: list[str] = []
    seen: set[str] = set()
    for item in items:
        org = unicodedata.normalize("NFKC", str(item)).strip()
        key = normalize_org(org)
        if org and key not in seen:
            seen.add(key)
            out.append(org)
    return tuple(out)


def _resolve_columns(columns: Iterable[str], source: str) -> dict[str, str]:
    """Our column name -> the header used in the table."""
    have = {str(c).strip(): str(c) for c in columns}
    lower = {c.lower(): orig for c, orig in have.items()}
    found: dict[str, str] = {}
    for col, names in ALIASES.items():
        hits = [lower[n.lower()] for n in names if n.lower() in lower]
        if len(hits) > 1:
            raise InputError(f"{source}: columns {' and '.join(map(repr, hits))} both mean {col!r}; keep one", col)
        if hits:
            found[col] = hits[0]
    return found


def _clean(value: object) -> str:
    """A field as text: NFC, control characters (form feeds and the like from PDF copies) as spaces."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _CONTROL.sub(" ", unicodedata.normalize("NFC", str(value))).strip()


def _field_problem(value: object) -> str | None:
    """What is wrong with one field's value, as the public API checks a text; None when nothing is."""
    text = value if isinstance(value, str) else "" if value is None else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate (\\ud800–\\udfff), which is not valid Unicode text"
    if len(text) > MAX_FIELD_CHARS:
        return f"is {len(text)} characters long; at most {MAX_FIELD_CHARS} per field"
    return None


def _build(rows: Sequence[Mapping], cols: dict[str, str], source: str, where, first_line: int) -> list[Proposal]:
    out: list[Proposal] = []
    seen: dict[str, int] = {}
    problems: list[str] = []
    for n, row in enumerate(rows):
        line = first_line + n
        bad = next(((name, why) for name, col in cols.items() for v in _values(row.get(col)) if (why := _field_problem(v))), None)
        if bad:
            problems.append(f"{where(line)}: {bad[0]} {bad[1]}")
            continue
        pid = _clean(row.get(cols["id"]))
        if not pid:
            problems.append(f"{where(line)}: empty id")
            continue
        if len(pid) > MAX_ID_CHARS:
            problems.append(f"{where(line)}: id is {len(pid)} characters long; at most {MAX_ID_CHARS}")
            continue
        if pid in seen:
            problems.append(f"{where(line)}: id {pid!r} is already used by {where(seen[pid])}")
            continue
        seen[pid] = line
        partners = row.get(cols["partner_orgs"]) if "partner_orgs" in cols else None
        out.append(
            Proposal(
                id=pid,
                title=_clean(row.get(cols["title"])) if "title" in cols else "",
                abstract=_clean(row.get(cols["abstract"])) if "abstract" in cols else "",
                applicant_org=unicodedata.normalize("NFKC", _clean(row.get(cols["applicant_org"]))) if "applicant_org" in cols else "",
                partner_orgs=split_orgs(partners if isinstance(partners, (list, tuple)) else _clean(partners)),
                row=line,
                facts=tuple((k, row[k]) for k in FIELD_COLUMNS if row.get(k) not in (None, "")),
            )
        )
    if problems:
        shown = problems[:10] + ([f"… and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise InputError(f"{source}: {len(problems)} bad row(s): " + "; ".join(shown), "id")
    if not out:
        raise InputError(f"{source}: no proposals (the table has no rows)", "input")
    return out


def _values(value: object) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _require(cols: dict[str, str], have: Sequence[str], source: str) -> None:
    """The id and text columns are there; the headers found go in the error's ``detail`` (command line only)."""
    detail = "columns: " + (", ".join(map(str, have)) or "(none)")
    if "id" not in cols:
        raise InputError(f"{source}: no column 'id' (or 编号) naming each proposal among its {len(have)} columns "
                         "(the first row must hold the headers)", "id", detail=detail)
    if "title" not in cols and "abstract" not in cols:
        raise InputError(
            f"{source}: needs a column 'abstract' (摘要) and/or 'title' (项目名称) with the text to match",
            "abstract", detail=detail,
        )


def read_proposals(path: str | Path, limits: TableLimits | None = None, label: str | None = None) -> list[Proposal]:
    """Proposals from a .csv (UTF-8), .xlsx or .jsonl table; :class:`InputError` says what is wrong.

    ``limits`` bound the table (default: the settings', with routing's row limit); ``label`` names
    the file in messages (default: its name).
    """
    if limits is None:
        from matcher.config import MatcherConfig

        from .config import RoutingSettings

        limits = MatcherConfig.from_env().table_limits(RoutingSettings.from_env().max_proposals)
    label = label or Path(path).name
    df = read_table(path, limits, label)
    cols = _resolve_columns(df.columns, label)
    _require(cols, list(df.columns), label)
    if Path(path).suffix.lower() == ".jsonl":
        return _build(df.to_dict("records"), cols, label, lambda n: f"line {n}", 1)
    return _build(df.to_dict("records"), cols, label, lambda n: f"row {n}", 2)


def proposals_from_items(items: object, source: str = "items") -> list[Proposal]:
    """Proposals from JSON objects (the API), with the same names and aliases as a table."""
    if not isinstance(items, list):
        raise InputError(f"{source} must be a list of objects with id, title, abstract, applicant_org, partner_orgs", source)
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise InputError(f"{source}[{i}] must be an object, got {type(item).__name__}", f"{source}[{i}]")
    keys: list[str] = list(dict.fromkeys(k for item in items for k in item))
    cols = _resolve_columns(keys, source)
    if items:
        _require(cols, keys, source)
    for i, item in enumerate(items):
        for key, value in item.items():
            if key in (cols.get("partner_orgs"),) and isinstance(value, list):
                if not all(isinstance(v, str) for v in value):
                    raise InputError(f"{source}[{i}].{key} must be text or a list of texts", f"{source}[{i}].{key}")
            elif value is not None and not isinstance(value, (str, int, float)):
                raise InputError(f"{source}[{i}].{key} must be text, got {type(value).__name__}", f"{source}[{i}].{key}")
    return _build(items, cols or {"id": "id"}, source, lambda n: f"{source}[{n}]", 0)
