"""Typed results of a match, and their JSON shape (shared by the CLI, batch files and the API)."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class DirectionMatch:
    id: int
    title: str
    score: float
    """Calibrated probability that this direction is a right answer for the text (0–1)."""
    cluster: str | None
    """The direction's main industry cluster; None for directions outside the seven clusters."""
    clusters: tuple[str, ...]
    matched_terms: tuple[str, ...]
    """Corpus terms of this direction found in the text: the evidence a reviewer can check."""
    matched_spans: tuple[tuple[int, int], ...]
    """Where those terms stand in the text as it was sent: (start, end) in Unicode code points, end exclusive."""
    dense: float
    """Cosine similarity of the text and the direction in the embedding space."""
    lexical: float
    """BM25 score of the direction document for the segmented text."""


@dataclass(frozen=True)
class ClusterScore:
    name: str
    score: float
    """The best score among the cluster's directions."""


@dataclass(frozen=True)
class MatchResult:
    in_scope: bool
    in_scope_score: float
    """Probability that the text belongs to the call at all (0 when a rule set it aside, see reason)."""
    reason: str
    """Why it is or is not in scope: ``fits``, ``no_direction_fits``, ``too_vague`` (nothing beyond
    boilerplate to judge), ``unsupported_language`` (mostly words the model cannot read; no direction
    is guessed)."""
    directions: tuple[DirectionMatch, ...]
    """Ranked, best first; empty for an unsupported language."""
    clusters: tuple[ClusterScore, ...]
    also_fits: tuple[int, ...]
    """Directions nearly as good as the best one (the guide overlaps by design, e.g. 22/23/24)."""
    message: str
    version: str

    @property
    def best(self) -> DirectionMatch | None:
        return self.directions[0] if self.directions else None

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("directions", "clusters", "also_fits"):
            d[key] = [dict(x) if isinstance(x, dict) else x for x in d[key]]
        for m in d["directions"]:
            m["clusters"] = list(m["clusters"])
            m["matched_terms"] = list(m["matched_terms"])
            m["matched_spans"] = [list(s) for s in m["matched_spans"]]
        return d
