"""How well a panel fits a proposal, from the matcher's calibrated direction scores.

``affinity[i, p]`` is the best score of proposal ``i`` among the directions panel ``p`` covers: the
calibrated probability that the panel's remit is right for the proposal. Where members list their
expertise, the affinity moves (by ``expertise_weight``) towards the best score of the proposal in any
one member's expertise: a panel with a specialist for the proposal's direction keeps its affinity, a
panel without one loses a little, and a member who knows a direction outside the panel's remit lets
the panel take such proposals. Members without listed expertise count as knowing the whole remit.
Values stay in 0..1.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from matcher import InputError, MatchResult

from .options import EXPERTISE_WEIGHT
from .panels import PanelSet


def score_matrix(results: Sequence[MatchResult | InputError], direction_ids: Sequence[int]) -> np.ndarray:
    """(proposals × directions) calibrated scores in ``direction_ids`` order; rows of bad texts are 0.

    The results must rank every direction (``match_many(..., top_k=len(direction_ids))``).
    """
    col = {d: j for j, d in enumerate(direction_ids)}
    out = np.zeros((len(results), len(direction_ids)), dtype=np.float64)
    for i, r in enumerate(results):
        if isinstance(r, InputError) or not r.directions:  # unreadable: no direction was guessed
            continue
        if len(r.directions) < len(direction_ids):
            raise ValueError("score_matrix needs results for every direction (match_many with top_k = all directions)")
        for d in r.directions:
            out[i, col[d.id]] = d.score
    return out


def coverage_matrix(panels: PanelSet, direction_ids: Sequence[int]) -> np.ndarray:
    """(panels × directions) bool: the panel covers the direction."""
    col = {d: j for j, d in enumerate(direction_ids)}
    cov = np.zeros((len(panels), len(direction_ids)), dtype=bool)
    for p, panel in enumerate(panels):
        cov[p, [col[d] for d in panel.directions]] = True
    return cov


def panel_affinity(
    scores: np.ndarray,
    panels: PanelSet,
    direction_ids: Sequence[int],
    expertise_weight: float = EXPERTISE_WEIGHT,
) -> np.ndarray:
    """(proposals × panels) affinity in 0..1 (see the module's docstring)."""
    if not 0 <= expertise_weight <= 1:
        raise InputError(f"expertise_weight must be from 0 to 1, got {expertise_weight!r}", "expertise_weight")
    scores = np.asarray(scores, dtype=np.float64)
    col = {d: j for j, d in enumerate(direction_ids)}
    n = scores.shape[0]
    out = np.zeros((n, len(panels)), dtype=np.float64)
    if n == 0:
        return out
    for p, panel in enumerate(panels):
        base = scores[:, [col[d] for d in panel.directions]].max(axis=1)
        if expertise_weight and any(m.expertise for m in panel.members):
            per_member = [
                scores[:, [col[d] for d in m.expertise]].max(axis=1) if m.expertise else base for m in panel.members
            ]
            expert = np.max(per_member, axis=0)
            out[:, p] = (1 - expertise_weight) * base + expertise_weight * expert
        else:
            out[:, p] = base
    return np.clip(out, 0.0, 1.0)
