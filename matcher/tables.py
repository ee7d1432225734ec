"""Reading proposal tables and writing result tables (.csv, .xlsx, .jsonl) with pandas.

Every failure becomes an :class:`InputError` that names the file and says what
is accepted, because the people who run batches are program officers, not
Python programmers.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .errors import InputError

SUFFIXES = (".csv", ".xlsx", ".jsonl")


def _suffix(path: Path, role: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(
            f"{role} {path}: unknown file type {suffix or '(none)'!r}; accepted: {', '.join(SUFFIXES)}", role
        )
    return suffix


def read_jsonl(path: Path) -> list[dict]:
    """The objects of a JSON-lines file; a bad line is an InputError naming its number."""
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"{path}: line {n} is not valid JSON ({err.msg}); each line must be one JSON object") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}: line {n} is a JSON {type(row).__name__}, not an object")
            rows.append(row)
    return rows


def read_table(path: str | Path) -> pd.DataFrame:
    """A table of strings (missing cells as empty strings) from .csv (UTF-8), .xlsx or .jsonl."""
    path = Path(path)
    suffix = _suffix(path, "input")
    if not path.is_file():
        raise InputError(f"input {path}: no such file", "input")
    try:
        if suffix == ".csv":
            df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        elif suffix == ".xlsx":
            df = pd.read_excel(path, dtype=str)
        else:
            df = pd.DataFrame(read_jsonl(path))
    except UnicodeDecodeError:
        raise InputError(f"input {path}: not UTF-8 text; save it as UTF-8 (in Excel: 'CSV UTF-8')", "input") from None
    except InputError:
        raise
    except Exception as err:  # pandas/openpyxl raise many types for a damaged file
        raise InputError(f"input {path}: cannot be read as {suffix} ({type(err).__name__}: {err})", "input") from None
    df.columns = [str(c).strip() for c in df.columns]
    return df.astype(object).where(df.notna(), "")


def require_column(df: pd.DataFrame, column: str, path: str | Path, option: str) -> None:
    if column not in df.columns:
        have = ", ".join(map(str, df.columns)) or "(none)"
        raise InputError(f"{path}: no column {column!r} (columns: {have}); choose one with {option}", option)


def check_output(path: str | Path) -> Path:
    """Fail before any work is done when the output cannot be written."""
    path = Path(path)
    _suffix(path, "output")
    if not path.parent.exists():
        raise InputError(f"output {path}: folder {path.parent} does not exist", "output")
    return path


def write_table(rows: list[dict], flat: list[dict], path: str | Path) -> None:
    """Write ``rows`` (nested, for .jsonl) or ``flat`` (one column per field, for .csv/.xlsx)."""
    path = check_output(path)
    tmp = path.with_name(path.name + ".part")
    if path.suffix.lower() == ".jsonl":
        with tmp.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif path.suffix.lower() == ".csv":
        # nullable dtypes keep ids as 22, not 22.0, in columns that also hold empty cells
        pd.DataFrame(flat).convert_dtypes().to_csv(tmp, index=False, encoding="utf-8-sig")
    else:
        pd.DataFrame(flat).convert_dtypes().to_excel(tmp, index=False, engine="openpyxl")
    tmp.replace(path)  # never leave a half-written result behind


def flat_row(row: dict, top_k: int) -> dict:
    """One spreadsheet row of a batch result (:meth:`MatchResult.to_dict` plus id and error): the top
    directions flattened into numbered columns."""
    flat = {"id": row["id"], "in_scope": row["in_scope"], "in_scope_score": row.get("in_scope_score")}
    for k in range(top_k):
        d = row["directions"][k] if k < len(row["directions"]) else None
        n = k + 1
        flat[f"direction_{n}_id"] = d["id"] if d else None
        flat[f"direction_{n}_title"] = d["title"] if d else None
        flat[f"direction_{n}_score"] = d["score"] if d else None
        flat[f"direction_{n}_cluster"] = d["cluster"] if d else None
        flat[f"direction_{n}_matched_terms"] = "、".join(d["matched_terms"]) if d else None
    top_cluster = row["clusters"][0] if row["clusters"] else None
    flat["cluster"] = top_cluster["name"] if top_cluster else None
    flat["cluster_score"] = top_cluster["score"] if top_cluster else None
    flat["also_fits"] = ",".join(map(str, row.get("also_fits") or []))
    flat["error"] = row["error"]
    return flat
