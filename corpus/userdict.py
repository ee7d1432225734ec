"""Generate the jieba user dictionary from the direction terms.

Without it jieba splits domain words (碲化铋 -> 碲/化铋, 存算一体 -> 存算/一体), and
BM25 then matches fragments instead of the terms reviewers think in. The file is
generated, committed, and kept in sync by tests/test_corpus.py:

    python -m corpus.userdict        # rewrites corpus/userdict.txt
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from . import CORPUS_DIR, Direction, load_directions

USERDICT_PATH = CORPUS_DIR / "userdict.txt"
# jieba's built-in dictionary totals ~6.0e7 with common words at 1e3-1e5. At 1e4 every
# term survives typical contexts (制备…材料, 以…为核心, 提高…性能) while the ~1.5k entries
# grow the total by only ~25%, so the segmentation of ordinary words barely moves.
FREQ = 10_000
TAG = "nz"


def dict_terms(directions: Iterable[Direction]) -> list[str]:
    """Terms that belong in the dict, first occurrence order, without duplicates.

    Skipped: terms with whitespace ("Mini LED": jieba's line format is space-separated
    and its cutter never yields a space inside a token; matchers find these by
    substring) and single characters (铜, 锑: jieba already yields them whole, and a
    high frequency on one character would only break real words around it).
    """
    seen: dict[str, None] = {}
    for d in directions:
        for t in d.terms:
            if len(t) > 1 and not any(c.isspace() for c in t):
                seen.setdefault(t, None)
    return list(seen)


def build_userdict(directions: Iterable[Direction]) -> str:
    """jieba user-dict text: one `term freq tag` line per term."""
    return "".join(f"{t} {FREQ} {TAG}\n" for t in dict_terms(directions))


def write_userdict(path: str | Path = USERDICT_PATH, directions: Iterable[Direction] | None = None) -> Path:
    path = Path(path)
    path.write_text(build_userdict(directions if directions is not None else load_directions()), encoding="utf-8")
    return path


def main() -> None:
    p = write_userdict()
    print(f"wrote {p} ({sum(1 for _ in p.open(encoding='utf-8'))} terms)")


if __name__ == "__main__":
    main()
