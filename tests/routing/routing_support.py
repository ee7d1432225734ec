"""A stand-in matcher with scores written into the text, and small panel files, for fast routing tests.

A fake text names its scores: ``"d22=0.9 d23=0.4 某某项目"`` scores direction 22 at 0.9, 23 at 0.4 and
every other direction at 0.01; ``OUT`` makes it out of scope; an empty text is an input error (as
with the real matcher).
"""
from __future__ import annotations

import re
import threading
import time

import corpus
from matcher import InputError
from matcher.results import ClusterScore, DirectionMatch, MatchResult

_SCORE = re.compile(r"d(\d+)=([0-9.]+)")


class FakeMatcher:
    version = "fake-matcher 1"

    def __init__(self):
        self.directions = corpus.load_directions()
        self.calls = 0

    def _result(self, text: str) -> MatchResult:
        scores = {d.id: 0.01 for d in self.directions}
        for did, s in _SCORE.findall(text):
            scores[int(did)] = float(s)
        ranked = sorted(self.directions, key=lambda d: -scores[d.id])
        matches = tuple(
            DirectionMatch(id=d.id, title=d.title, score=scores[d.id], cluster=d.clusters[0] if d.clusters else None,
                           clusters=d.clusters, matched_terms=(), matched_spans=(), dense=0.0, lexical=0.0)
            for d in ranked
        )
        in_scope = "OUT" not in text
        return MatchResult(in_scope=in_scope, in_scope_score=0.9 if in_scope else 0.1,
                           reason="fits" if in_scope else "no_direction_fits", directions=matches,
                           clusters=(ClusterScore("x", 0.0),), also_fits=(), message="", version=self.version)

    def _match(self, texts, on_error):
        out = []
        for t in texts:
            if not t.strip():
                err = InputError("text is empty; give a project title or abstract", "text")
                if on_error == "raise":
                    raise err
                out.append(err)
            else:
                out.append(self._result(t))
        return out

    def match_many(self, texts, top_k=5, on_error="raise", progress=None):
        self.calls += 1
        out = self._match(texts, on_error)
        if progress:
            progress(len(texts))
        return out


class ChunkedFakeMatcher(FakeMatcher):
    """Matches in chunks of 64 and reports progress after each, as the real matcher does.

    ``delay``: seconds per chunk. ``pause_after``: after that many chunks it sets ``paused`` and waits
    for the test to set ``resume`` (so a test sees a run mid-way, deterministically).
    """

    CHUNK = 64

    def __init__(self, delay: float = 0.0, pause_after: int | None = None):
        super().__init__()
        self.delay = delay
        self.pause_after = pause_after
        self.paused = threading.Event()
        self.resume = threading.Event()
        self.chunks = 0

    def match_many(self, texts, top_k=5, on_error="raise", progress=None):
        self.calls += 1
        out = []
        for start in range(0, len(texts), self.CHUNK):
            chunk = texts[start : start + self.CHUNK]
            out.extend(self._match(chunk, on_error))
            time.sleep(self.delay)
            self.chunks += 1
            if progress:
                progress(len(chunk))
            if self.chunks == self.pause_after:
                self.paused.set()
                self.resume.wait(60)
        return out


def panels_yaml(panels: list[dict], rule: str = "quorum", quorum: int | None = None) -> str:
    """A panels file; each panel dict: id, dirs, min, max, members [(name, org)] (default: 3 members)."""
    lines = ["rules:", f"  conflict: {rule}"]
    if quorum:
        lines.append(f"  quorum: {quorum}")
    lines.append("panels:")
    for p in panels:
        members = p.get("members") or [(f"{p['id']}-甲", "甲大学"), (f"{p['id']}-乙", "乙研究院"), (f"{p['id']}-丙", "丙学院")]
        lines += [
            f"  - id: {p['id']}",
            f"    name: 评审组{p['id']}",
            f"    directions: {list(p['dirs'])}",
            f"    min: {p.get('min', 0)}",
            f"    max: {p.get('max', 100)}",
        ]
        if "quorum" in p:
            lines.append(f"    quorum: {p['quorum']}")
        lines.append("    members:")
        for name, org in members:
            lines.append(f"      - {{name: {name}, organisation: {org}}}")
    return "\n".join(lines) + "\n"


def three_panels(**caps) -> list[dict]:
    """A (1–14), B (15–28), C (29–40): every direction covered once."""
    out = [
        {"id": "A", "dirs": range(1, 15)},
        {"id": "B", "dirs": range(15, 29)},
        {"id": "C", "dirs": range(29, 41)},
    ]
    for p in out:
        p.update(caps.get(p["id"], {}))
    return out


def proposal_rows(specs: list[tuple[str, str]], orgs: dict[str, tuple[str, str]] | None = None) -> list[dict]:
    """Rows for a proposals table from (id, fake text) pairs; orgs: id -> (applicant, partners)."""
    orgs = orgs or {}
    return [
        {"id": pid, "title": f"项目{pid}", "abstract": text, "applicant_org": orgs.get(pid, ("某公司", ""))[0],
         "partner_orgs": orgs.get(pid, ("", ""))[1]}
        for pid, text in specs
    ]
