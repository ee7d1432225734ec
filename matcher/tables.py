"""Reading proposal tables and writing result tables (.csv, .xlsx, .jsonl).

Every failure becomes an :class:`InputError` that names the file, the row or column and the rule,
because the people who run batches are program officers, not Python programmers. Messages never
quote a cell: tables hold confidential proposals and may arrive through the API.

Tables come from outside, so reading is bounded by :class:`~matcher.config.TableLimits` before anything is parsed:
the bytes a file holds once unpacked (an .xlsx declares them in its zip directory), the sheet's
declared dimension, the number of rows and columns, and the length of each field. Writing goes
through :func:`cell_value`, so no value from a proposal becomes a live formula in Excel or WPS.
"""
from __future__ import annotations

import csv
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

from .config import MatcherConfig, TableLimits
from .errors import InputError

if TYPE_CHECKING:  # pandas is imported where a table is read or written: the service starts without it
    import pandas as pd

SUFFIXES = (".csv", ".xlsx", ".jsonl")


class TableTooLarge(InputError):
    """A table over a size limit (bytes, rows, columns): the API answers 413."""

    def __init__(self, message: str, field: str | None = "input"):
        super().__init__(message, field, "table_too_large")


def _suffix(path: Path, role: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(
            f"{role} {path.name}: unknown file type {suffix or '(none)'!r}; accepted: {', '.join(SUFFIXES)}", role
        )
    return suffix


def _too_many(label: str, what: str, limit: int) -> TableTooLarge:
    """``what``: e.g. "has more than 10000 data rows"; the message adds the limit and the remedy."""
    return TableTooLarge(
        f"input {label}: {what}; at most {limit} are accepted (split the table, or raise the limit for a trusted file)"
    )


# -- reading --------------------------------------------------------------------------------------
def read_jsonl(path: Path, limits: TableLimits | None = None, label: str | None = None) -> list[dict]:
    """The objects of a JSON-lines file; a bad line is an InputError naming its number."""
    limits = limits or TableLimits()
    label = label or path.name
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"{label}: line {n} is not valid JSON ({err.msg}); each line must be one JSON object") from None
            except (ValueError, RecursionError):  # a number over Python's digit limit, or nesting too deep
                raise InputError(f"{label}: line {n} holds a number too long or values nested too deeply") from None
            if not isinstance(row, dict):
                raise InputError(f"{label}: line {n} is a JSON {type(row).__name__}, not an object")
            if limits.max_rows is not None and len(rows) >= limits.max_rows:
                raise _too_many(label, f"has more than {limits.max_rows} data rows", limits.max_rows)
            rows.append(row)
    return rows


def _check_bytes(path: Path, suffix: str, limits: TableLimits, label: str) -> None:
    """Refuse a file whose unpacked size is over the limit, before any parsing."""
    if limits.max_bytes is None:
        return
    if suffix != ".xlsx":
        size = path.stat().st_size
    else:
        try:
            with zipfile.ZipFile(path) as zf:
                size = sum(info.file_size for info in zf.infolist())
        except (zipfile.BadZipFile, OSError, ValueError):
            raise InputError(f"input {label}: cannot be read as .xlsx (not an Excel workbook, or damaged)", "input") from None
    if size > limits.max_bytes:
        raise TableTooLarge(
            f"input {label}: {size} bytes once unpacked; at most {limits.max_bytes} are accepted "
            "(split the table, or raise the limit for a trusted file)"
        )


def _cell_text(value: object) -> str:
    """A cell as text, as pandas' ``dtype=str`` gives it (1.0 → "1")."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime, date, time)):
        return str(value)
    return str(value)


def _header(cells: tuple) -> list[str]:
    """Column names from the header row: blanks named ``Unnamed: i`` and repeats ``name.1`` (as pandas does)."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for i, cell in enumerate(cells):
        name = _cell_text(cell).strip() or f"Unnamed: {i}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def _read_xlsx(path: Path, limits: TableLimits, label: str) -> pd.DataFrame:
    """The first sheet, checked against its declared dimension before its rows are parsed."""
    import pandas as pd

    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception:  # openpyxl and zipfile raise many types for a damaged file
        raise InputError(f"input {label}: cannot be read as .xlsx (not an Excel workbook, or damaged)", "input") from None
    try:
        if not wb.worksheets:
            raise InputError(f"input {label}: the workbook has no sheet", "input")
        ws = wb.worksheets[0]
        declared_rows, declared_cols = ws.max_row, ws.max_column
        if limits.max_rows is not None and declared_rows is not None and declared_rows > limits.max_rows + 1:
            raise _too_many(label, f"the first sheet's used range holds {declared_rows - 1} data rows", limits.max_rows)
        if limits.max_columns is not None and declared_cols is not None and declared_cols > limits.max_columns:
            raise _too_many(label, f"the first sheet's used range has {declared_cols} columns", limits.max_columns)
        # Rows are read up to one past the declared range (or past the limit, for a sheet without a
        # dimension): openpyxl fills missing rows one at a time, so a row numbered 5,000,000 is seen
        # as an overflow without the rows before it being made.
        bound = declared_rows if declared_rows is not None else None if limits.max_rows is None else limits.max_rows + 1
        cols = limits.max_columns
        rows: list[tuple] = []
        for cells in ws.iter_rows(values_only=True, max_row=None if bound is None else bound + 1):
            if bound is not None and len(rows) == bound:
                if declared_rows is None:
                    raise _too_many(label, f"has more than {limits.max_rows} data rows", limits.max_rows)
                raise InputError(f"input {label}: the first sheet has rows beyond its declared range; "
                                 "open and save it again in Excel or WPS", "input")
            if cols is not None and len(cells) > cols:  # an unsized sheet's row is as wide as its last cell
                if any(c is not None for c in cells[cols:]):
                    raise _too_many(label, f"row {len(rows) + 1} has more than {cols} columns", cols)
                cells = cells[:cols]
            rows.append(cells)
    except InputError:
        raise
    except Exception:
        raise InputError(f"input {label}: cannot be read as .xlsx (the sheet is damaged)", "input") from None
    finally:
        wb.close()
    rows = [r for r in rows if any(c is not None and c != "" for c in r)]  # blank rows are skipped, as pandas does
    if not rows:
        return pd.DataFrame()
    width = max(len(r) for r in rows)
    header = _header(tuple(rows[0]) + (None,) * (width - len(rows[0])))
    body = [[_cell_text(c) for c in r] + [""] * (width - len(r)) for r in rows[1:]]
    return pd.DataFrame(body, columns=header, dtype=object)


def _csv_columns(path: Path) -> int:
    """How many columns the header line of a .csv has (read alone, so a huge header is not parsed whole)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return len(next(csv.reader(fh), []))


def _read_csv(path: Path, limits: TableLimits, label: str) -> pd.DataFrame:
    import pandas as pd

    if limits.max_columns is not None and (n := _csv_columns(path)) > limits.max_columns:
        raise _too_many(label, f"the header row has {n} columns", limits.max_columns)
    nrows = None if limits.max_rows is None else limits.max_rows + 1
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", nrows=nrows)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except pd.errors.ParserError as err:
        line = re.search(r"line (\d+)", str(err))
        where = f" (line {line.group(1)} has more fields than the header)" if line else ""
        raise InputError(f"input {label}: cannot be read as .csv{where}", "input") from None
    if limits.max_rows is not None and len(df) > limits.max_rows:
        raise _too_many(label, f"has more than {limits.max_rows} data rows", limits.max_rows)
    return df


def _check_fields(df: pd.DataFrame, limits: TableLimits, label: str, first_line: int) -> None:
    """Every cell within the field length limit; the first one over it is named by row and column."""
    if limits.max_field_chars is None:
        return
    limit = limits.max_field_chars
    for column in df.columns:
        lengths = df[column].map(lambda v: len(v) if isinstance(v, str) else len(str(v)))
        over = lengths[lengths > limit]
        if len(over):
            n = int(over.index[0])
            raise InputError(
                f"input {label}: {'line' if first_line == 1 else 'row'} {first_line + n}, column {column!r}: "
                f"{int(over.iloc[0])} characters; at most {limit} per field",
                str(column),
                "field_too_long",
            )


def read_table(path: str | Path, limits: TableLimits | None = None, label: str | None = None) -> pd.DataFrame:
    """A table of strings (missing cells as empty strings) from .csv (UTF-8), .xlsx or .jsonl.

    ``limits``: the bounds checked before and while parsing (default: the settings'); ``label``: how messages name the file (default: its name, never a server path).
    """
    import pandas as pd

    path = Path(path)
    if limits is None:
        limits = MatcherConfig.from_env().table_limits()
    label = label or path.name
    suffix = _suffix(path, "input")
    if not path.is_file():
        raise InputError(f"input {label}: no such file", "input")
    _check_bytes(path, suffix, limits, label)
    try:
        if suffix == ".csv":
            df = _read_csv(path, limits, label)
        elif suffix == ".xlsx":
            df = _read_xlsx(path, limits, label)
        else:
            df = pd.DataFrame(read_jsonl(path, limits, label))
    except UnicodeDecodeError:
        raise InputError(f"input {label}: not UTF-8 text; save it as UTF-8 (in Excel: 'CSV UTF-8')", "input") from None
    except InputError:
        raise
    except Exception:  # pandas raises many types for a damaged file; its messages may quote the file
        raise InputError(f"input {label}: cannot be read as {suffix} (damaged, or not a table)", "input") from None
    if limits.max_columns is not None and len(df.columns) > limits.max_columns:
        raise _too_many(label, f"has {len(df.columns)} columns", limits.max_columns)
    df.columns = [str(c).strip() for c in df.columns]
    df = df.astype(object).where(df.notna(), "").reset_index(drop=True)
    _check_fields(df, limits, label, 1 if suffix == ".jsonl" else 2)
    return df


def require_column(df: pd.DataFrame, column: str, path: str | Path, option: str) -> None:
    """The column is there, or an error naming it (the file's own headers go in ``detail``, for the command line)."""
    if column not in df.columns:
        raise InputError(
            f"{Path(path).name}: no column {column!r} among its {len(df.columns)} columns "
            f"(the first row must hold the headers); choose one with {option}",
            option,
            detail="columns: " + (", ".join(map(str, df.columns)) or "(none)"),
        )


# -- writing --------------------------------------------------------------------------------------
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
"""What makes Excel, WPS or LibreOffice read a cell as a formula (OWASP's CSV-injection list,
with the full-width forms a Chinese input method types)."""
_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def cell_value(value: object) -> object:
    """A value as a spreadsheet cell shows it, never runs it: text that could start a formula gets a
    leading ``'`` (OWASP's advice), and characters an .xlsx cannot hold become spaces.
    Numbers, booleans and None pass unchanged. Every writer (.csv, .xlsx) goes through this."""
    if not isinstance(value, str):
        return value
    value = _NOT_IN_XML.sub(" ", value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def safe_rows(flat: list[dict]) -> list[dict]:
    """Spreadsheet rows with every value passed through :func:`cell_value`."""
    return [{k: cell_value(v) for k, v in row.items()} for row in flat]


def check_output(path: str | Path) -> Path:
    """Fail before any work is done when the output cannot be written."""
    path = Path(path)
    _suffix(path, "output")
    if not path.parent.exists():
        raise InputError(f"output {path}: folder {path.parent} does not exist", "output")
    return path


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` that replaces it only when the block succeeds.

    An error or an interruption (Ctrl-C, or SIGTERM, which the command line turns into one)
    removes the temporary file, so a half-written result is never left behind.
    """
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_table(rows: list[dict], flat: list[dict], path: str | Path) -> None:
    """Write ``rows`` (nested, for .jsonl) or ``flat`` (one column per field, for .csv/.xlsx)."""
    import pandas as pd

    path = check_output(path)
    with atomic_output(path) as tmp:
        if path.suffix.lower() == ".jsonl":
            with tmp.open("w", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            # nullable dtypes keep ids as 22, not 22.0, in columns that also hold empty cells
            frame = pd.DataFrame(safe_rows(flat)).convert_dtypes()
            if path.suffix.lower() == ".csv":
                frame.to_csv(tmp, index=False, encoding="utf-8-sig")
            else:
                frame.to_excel(tmp, index=False, engine="openpyxl")


def flat_row(row: dict, top_k: int) -> dict:
    """One spreadsheet row of a batch result (:meth:`MatchResult.to_dict` plus id and error): the top
    directions flattened into numbered columns."""
    flat = {"id": row["id"], "in_scope": row["in_scope"], "in_scope_score": row.get("in_scope_score"),
            "reason": row.get("reason")}
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
