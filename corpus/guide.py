"""Parse the official guide text into its 40 numbered support directions.

The official wording is kept byte-exact (no NFKC, no whitespace changes inside a
line) so that ``directions.yaml`` can be checked against the source document.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

GUIDE_PATH = Path(__file__).parent / "guide-2024.txt"
_SECTION_START = "三、支持方向"
_SECTION_END = "四、考核要求"
_LINE = re.compile(r"^(\d{1,2})\.\s+(.+?)\s*$")


@dataclass(frozen=True)
class ParsedDirection:
    id: int
    text: str


def read_guide(path: str | Path | None = None) -> str:
    """Read the packaged guide (UTF-8); a path lets tests and new guide years reuse this."""
    return Path(path or GUIDE_PATH).read_text(encoding="utf-8")


def parse_directions(text: str) -> list[ParsedDirection]:
    """Return the numbered directions of section 三 in order.

    Only the section between 三、支持方向 and 四、考核要求 is scanned, so numbered
    lines elsewhere cannot leak in. The final ``；`` or ``。`` is the list
    punctuation, not part of the direction, and is dropped; inner ``；`` (e.g. in 12)
    is kept. Raises ValueError if numbering is not 1..N without gaps.
    """
    start = text.find(_SECTION_START)
    end = text.find(_SECTION_END, start)
    if start < 0 or end < 0:
        raise ValueError(f"guide text lacks {_SECTION_START!r} … {_SECTION_END!r}")
    out: list[ParsedDirection] = []
    for line in text[start:end].splitlines():
        m = _LINE.match(line.strip())
        if m:
            body = m.group(2)
            if body[-1] in "；。":
                body = body[:-1]
            out.append(ParsedDirection(int(m.group(1)), body))
    ids = [d.id for d in out]
    if ids != list(range(1, len(ids) + 1)):
        raise ValueError(f"direction numbering is not consecutive from 1: {ids}")
    return out
