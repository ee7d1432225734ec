"""Extraction precision and recall on the project's sentences (``corpus/eligibility/extraction.jsonl``).

Each sentence lists the values a careful reader finds (field → value), the fields it leaves
ambiguous, and the text of each value's evidence. A statement is a (field, value) pair or a
(field, ambiguous) flag: precision is the share of the extractor's statements that are right,
recall the share of the expected ones it makes; a value given where the text is ambiguous is a
wrong statement (a guess). Span accuracy is the share of right values whose evidence texts are
exactly the expected ones.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from matcher.errors import InputError

from .reader import extract

DEFAULT_SENTENCES = Path(__file__).resolve().parent.parent / "corpus" / "eligibility" / "extraction.jsonl"
AMBIGUOUS = "ambiguous"


@dataclass
class Score:
    n: int = 0
    right: int = 0
    made: int = 0
    expected: int = 0
    spans_right: int = 0
    spans_checked: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.right / self.made if self.made else 1.0

    @property
    def recall(self) -> float:
        return self.right / self.expected if self.expected else 1.0

    @property
    def span_accuracy(self) -> float:
        return self.spans_right / self.spans_checked if self.spans_checked else 1.0


def _same(a: object, b: object) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b)) < 1e-6
    return a == b


def load_sentences(path: str | Path | None = None) -> list[dict]:
    path = Path(path or DEFAULT_SENTENCES)
    if not path.is_file():
        raise InputError(f"{path}: no such file", "file")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}: line {n} is not valid JSON ({err.msg})", "file") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not isinstance(row.get("expected"), dict):
            raise InputError(f"{path}: line {n} needs an object with 'text' and 'expected'", "file")
        rows.append(row)
    return rows


def score_sentence(row: dict, score: Score) -> None:
    ex = extract(row["text"])
    got = {f: v.value for f, v in ex.values.items()} | {f: AMBIGUOUS for f in ex.ambiguous if f not in ex.values}
    want = dict(row["expected"]) | {f: AMBIGUOUS for f in row.get("ambiguous", [])}
    score.n += 1
    score.made += len(got)
    score.expected += len(want)
    for f, v in want.items():
        if f in got and _same(got[f], v):
            score.right += 1
            spans = (row.get("spans") or {}).get(f)
            if spans and f in ex.values:
                score.spans_checked += 1
                if Counter(sp.text for sp in ex.values[f].evidence) == Counter(spans):
                    score.spans_right += 1
                else:
                    score.errors.append(f"{row['id']}: {f} evidence {[sp.text for sp in ex.values[f].evidence]} != {spans}")
        else:
            score.errors.append(f"{row['id']}: {f} expected {v!r}, got {got.get(f, 'nothing')!r}")
    for f, v in got.items():
        if f not in want:
            score.errors.append(f"{row['id']}: {f} = {v!r} not expected")


def evaluate(path: str | Path | None = None) -> dict[str, Score]:
    """Scores by split (``dev``, ``heldout``) and over ``all`` sentences."""
    scores: dict[str, Score] = {}
    for row in load_sentences(path):
        for key in (str(row.get("split", "dev")), "all"):
            score_sentence(row, scores.setdefault(key, Score()))
    return scores
