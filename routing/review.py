"""What a program officer reviews per proposal of a done run, beside its panel and reason.

The matcher's best directions with the corpus terms found in the text (the evidence), the conflicts
of interest panel by panel, and the officer's own judgment of the direction when one was recorded.
The staff API adds these to each assignment; the routing sheet and ``to_json`` keep their shapes.
"""
from __future__ import annotations

from functools import lru_cache

import corpus

from .store import AssignmentRow, FeedbackRecord, RunState

TOP_DIRECTIONS = 3


@lru_cache(maxsize=1)
def _titles() -> dict[int, str]:
    return {d.id: d.title for d in corpus.load_directions()}


def ranked_directions(row: AssignmentRow, top: int = TOP_DIRECTIONS) -> list[dict]:
    """The row's best directions: ``{"id", "title", "score", "matched_terms"}``, best first."""
    if not row.directions:  # a run stored before the ranking was kept: only its top direction is known
        if row.top_direction is None:
            return []
        return [{"id": row.top_direction, "title": row.top_direction_title or "", "score": row.top_score or 0.0,
                 "matched_terms": []}]
    titles = _titles()
    return [{"id": d["id"], "title": titles.get(d["id"], ""), "score": d["score"], "matched_terms": list(d["terms"])}
            for d in row.directions[:top]]


def recusals(row: AssignmentRow, panels: list[dict]) -> list[dict]:
    """``[{"panel_id", "members": ["name（organisation）", …]}]`` for each panel with a conflict of interest."""
    out = []
    for panel, members in zip(panels, row.recused):
        if members:
            out.append({"panel_id": panel["id"], "members": [
                f"{panel['members'][k]['name']}（{panel['members'][k]['organisation']}）" for k in members]})
    return out


def _judgment(f: FeedbackRecord | None) -> dict | None:
    if f is None:
        return None
    return {"direction": f.direction, "basis": f.basis, "actor": f.actor, "at": f.at}


def review_rows(state: RunState) -> list[dict]:
    """Per assignment of ``state`` (in order), the fields an officer reviews it by."""
    panels = state.run.panels["panels"]
    judged = state.officer_directions()
    return [
        {
            "title": r.title,
            "applicant_org": r.applicant_org,
            "partner_orgs": list(r.partner_orgs),
            "in_scope": r.in_scope,
            "directions": ranked_directions(r),
            "recused": recusals(r, panels),
            "initial_panel_id": r.initial_panel_id,
            "overridden": r.overridden,
            "officer_direction": _judgment(judged.get(r.proposal_id)),
        }
        for r in state.rows
    ]
