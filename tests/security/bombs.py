"""Hostile spreadsheets, built in memory for the security tests and the hostile-load script.

Each is a small .xlsx that is dangerous only once parsed: a row numbered in the millions, a
dimension that lies, a cell of hundreds of megabytes compressed to a few hundred kilobytes.
"""
from __future__ import annotations

import io
import zipfile

from openpyxl.utils import get_column_letter

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    "</Relationships>"
)


def _cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def workbook(rows: dict[int, list[str]], dimension: str | None = None, extra_cell: tuple[int, int] | None = None) -> bytes:
    """An .xlsx whose first sheet has ``rows`` (row number → cell texts from column A), the given
    ``dimension`` element (None: none at all), and optionally one huge cell: (row, megabytes)."""
    sheet = io.StringIO()
    sheet.write('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')
    if dimension:
        sheet.write(f'<dimension ref="{dimension}"/>')
    sheet.write("<sheetData>")
    for r, texts in sorted(rows.items()):
        cells = "".join(_cell(f"{get_column_letter(i + 1)}{r}", t) for i, t in enumerate(texts))
        if extra_cell and extra_cell[0] == r:
            cells += _cell(f"{get_column_letter(len(texts) + 1)}{r}", "锂" * (extra_cell[1] * 1024 * 1024 // 3))
        sheet.write(f'<row r="{r}">{cells}</row>')
    sheet.write("</sheetData></worksheet>")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr("xl/workbook.xml", _WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        zf.writestr("xl/worksheets/sheet1.xml", sheet.getvalue())
    return buf.getvalue()


HEADER = ["id", "title", "abstract"]


def far_row(row: int = 5_000_000, dimension: bool = True) -> bytes:
    """One data row numbered ``row`` (the 1.9 kB file that took 31 s and 1.45 GB)."""
    return workbook({1: HEADER, row: ["p1", "标题", "摘要"]}, f"A1:C{row}" if dimension else None)


def lying_dimension(row: int = 5_000_000) -> bytes:
    """A dimension of two rows over a sheet whose second data row is numbered ``row``."""
    return workbook({1: HEADER, 2: ["p1", "标题", "摘要"], row: ["p2", "标题", "摘要"]}, "A1:C2")


def many_rows(n: int, dimension: bool = True) -> bytes:
    """``n`` small data rows, each with its own id (3 M rows of the 465 kB file were of this kind)."""
    rows = {1: HEADER, **{r: [f"p{r}", "标", "摘"] for r in range(2, n + 2)}}
    return workbook(rows, f"A1:C{n + 1}" if dimension else None)


def huge_cell(megabytes: int = 300) -> bytes:
    """One cell of ``megabytes`` MB of one repeated character: a few hundred kB compressed."""
    return workbook({1: HEADER, 2: ["p1", "标题"]}, "A1:C2", extra_cell=(2, megabytes))


def wide(columns: int = 16_000) -> bytes:
    """A header row ``columns`` cells wide."""
    return workbook({1: [f"c{i}" for i in range(columns)]}, None)
