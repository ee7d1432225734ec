"""Conflicts of interest: which panel members share an organisation with a proposal, and whether the
panel may still take it.

Rule ``quorum`` (default): conflicted members are recused; the panel may take the proposal while the
remaining members make its quorum. Rule ``strict``: a panel with any conflicted member never takes it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .panels import Panel, PanelSet
from .proposals import Proposal, normalize_org, same_org


@dataclass(frozen=True)
class Conflicts:
    allowed: np.ndarray
    """(proposals × panels) bool: the conflict rule lets the panel take the proposal."""
    recused: tuple[tuple[tuple[int, ...], ...], ...]
    """recused[i][p]: indices of panel p's members who share an organisation with proposal i."""


def conflicted_members(proposal: Proposal, panel: Panel) -> tuple[int, ...]:
    """Indices of the panel's members from the applicant's or a partner's organisation."""
    orgs = [o for o in proposal.orgs if normalize_org(o)]
    return tuple(k for k, m in enumerate(panel.members) if any(same_org(m.organisation, o) for o in orgs))


def panel_allows(panel: Panel, n_conflicted: int, rule: str) -> bool:
    if panel.closed:
        return False
    if rule == "strict":
        return n_conflicted == 0
    return len(panel.members) - n_conflicted >= panel.quorum


def find_conflicts(proposals: Sequence[Proposal], panels: PanelSet) -> Conflicts:
    allowed = np.zeros((len(proposals), len(panels)), dtype=bool)
    recused = []
    cache: dict[tuple[str, ...], tuple[tuple[int, ...], ...]] = {}
    for i, prop in enumerate(proposals):
        key = tuple(sorted({normalize_org(o) for o in prop.orgs}))
        if key not in cache:
            cache[key] = tuple(conflicted_members(prop, p) for p in panels)
        row = cache[key]
        recused.append(row)
        for j, p in enumerate(panels):
            allowed[i, j] = panel_allows(p, len(row[j]), panels.conflict_rule)
    return Conflicts(allowed, tuple(recused))
