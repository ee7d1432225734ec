"""The assignment: proposals to panels as a min-cost flow (networkx network simplex).

Pure functions on numpy arrays, no I/O, no model: tests feed synthetic affinity matrices.

The network: source → each routed proposal (capacity 1) → each panel it may go to (capacity 1,
cost −affinity) → sink, where a panel's first ``min`` units of flow earn a large bonus and the rest up
to ``max`` earn nothing. A proposal may also go straight to the sink at a large cost ("no room"), so
the flow always exists; when the optimum still leaves a proposal without a panel or a panel below
its minimum, the configuration is infeasible and :class:`RoutingInfeasible` names the panels that
are short. Otherwise the optimum fills every minimum, routes every proposal and, among all such
assignments, maximises the total affinity: integral and exact (costs are integers at 1e-6 affinity).

Proposals are not forced when nothing fits them: a proposal whose best affinity among the panels it
may go to is below ``flag_below``, or that has none, or that the caller holds back (out of scope,
unreadable), is flagged for manual review and takes no panel's capacity.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from matcher.errors import InputError

from .options import ELIGIBLE_FLOOR, FLAG_BELOW

_SCALE = 1_000_000

# Why a proposal is where it is (see Solution.why).
BEST = "best"          # its best panel among those it may go to
CAPACITY = "capacity"  # its best panel was full (at max): next best with room
MINIMUM = "minimum"    # moved from a panel with room, so that another panel reaches its minimum
HELD = "held"          # flagged: held back by the caller (out of scope, unreadable text)
LOW = "low"            # flagged: best affinity below flag_below
NO_PANEL = "no_panel"  # flagged: no open panel may take it (closed, conflicts of interest)


class RoutingInfeasible(InputError):
    """The panels' capacities cannot take the proposals; ``short`` says which panels and by how much."""

    def __init__(self, message: str, short: list[dict]):
        super().__init__(message, "panels", "routing_infeasible")
        self.short = short


@dataclass(frozen=True)
class Solution:
    panel: np.ndarray
    """(n,) int: panel index of each proposal, -1 when flagged."""
    backup: np.ndarray
    """(n,) int: the best other panel the proposal may go to (see :func:`choose_backups`), -1 when none
    (or flagged)."""
    flagged: np.ndarray
    """(n,) bool."""
    why: tuple[str, ...]
    """One of BEST, CAPACITY, MINIMUM, HELD, LOW, NO_PANEL per proposal."""
    best: np.ndarray
    """(n,) int: the best panel the proposal may go to regardless of capacity, -1 when none."""
    load: np.ndarray
    """(panels,) int: proposals assigned to each panel."""
    total_affinity: float


def _labels(labels: Sequence[str] | None, n: int) -> list[str]:
    return list(labels) if labels is not None else [f"panel {j}" for j in range(n)]


def _checked(affinity, allowed, min_cap, max_cap, hold, penalty):
    affinity = np.asarray(affinity, dtype=np.float64)
    if affinity.ndim != 2:
        raise ValueError("affinity must be a (proposals × panels) matrix")
    n, p = affinity.shape
    allowed = np.ones((n, p), dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    min_cap = np.asarray(min_cap, dtype=np.int64)
    max_cap = np.asarray(max_cap, dtype=np.int64)
    hold = np.zeros(n, dtype=bool) if hold is None else np.asarray(hold, dtype=bool)
    penalty = np.zeros((n, p)) if penalty is None else np.asarray(penalty, dtype=np.float64)
    if allowed.shape != (n, p) or penalty.shape != (n, p):
        raise ValueError("allowed and penalty must have the shape of affinity")
    if min_cap.shape != (p,) or max_cap.shape != (p,) or hold.shape != (n,):
        raise ValueError("min_cap and max_cap need one value per panel, hold one per proposal")
    if (min_cap < 0).any() or (min_cap > max_cap).any():
        raise ValueError("capacities need 0 <= min <= max")
    if not np.isfinite(affinity).all():
        raise ValueError("affinity must be finite")
    return affinity, allowed & (max_cap > 0)[None, :], min_cap, max_cap, hold, penalty


def solve(
    affinity: np.ndarray,
    min_cap: Sequence[int],
    max_cap: Sequence[int],
    allowed: np.ndarray | None = None,
    hold: np.ndarray | None = None,
    penalty: np.ndarray | None = None,
    flag_below: float = FLAG_BELOW,
    eligible_floor: float = ELIGIBLE_FLOOR,
    labels: Sequence[str] | None = None,
) -> Solution:
    """Assign each proposal to one panel, maximising total affinity within the capacities.

    ``allowed`` (proposals × panels, bool) is False where a proposal may not go (a conflict of
    interest); a panel with ``max_cap`` 0 is closed. ``hold`` marks proposals the caller flags anyway.
    ``penalty`` is subtracted from the affinity when choosing (not when reporting). ``labels`` name
    the panels in error messages.
    """
    affinity, allowed, min_cap, max_cap, hold, penalty = _checked(affinity, allowed, min_cap, max_cap, hold, penalty)
    n, p = affinity.shape
    names = _labels(labels, p)
    value = affinity - penalty
    flagged, why, best = _triage(affinity, value, allowed, hold, flag_below)
    eligible = allowed & (affinity >= eligible_floor) & ~flagged[:, None]
    eligible[np.arange(n)[~flagged], best[~flagged]] = True  # the best panel always counts as a fit

    routed = np.flatnonzero(~flagged)
    panel = np.full(n, -1, dtype=np.int64)
    load = np.zeros(p, dtype=np.int64)
    if len(routed):
        panel[routed] = _flow(value[routed], eligible[routed], min_cap, max_cap)
    unplaced = routed[panel[routed] < 0]
    load = np.bincount(panel[panel >= 0], minlength=p).astype(np.int64)
    if len(unplaced) or (load < min_cap).any():
        raise _infeasible(unplaced, best, load, eligible, min_cap, max_cap, names, len(routed))

    for i in routed:
        b = best[i]
        if panel[i] == b or np.isclose(value[i, panel[i]], value[i, b]):
            why[i] = BEST
        elif load[b] >= max_cap[b]:
            why[i] = CAPACITY
        else:
            why[i] = MINIMUM
    backup = choose_backups(value, allowed, eligible, panel, max_cap - load)
    total = float(affinity[routed, panel[routed]].sum()) if len(routed) else 0.0
    return Solution(panel, backup, flagged, tuple(why), best, load, total)


def triage(
    affinity: np.ndarray,
    max_cap: Sequence[int],
    allowed: np.ndarray | None = None,
    hold: np.ndarray | None = None,
    penalty: np.ndarray | None = None,
    flag_below: float = FLAG_BELOW,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flagged, why, best) as :func:`solve` finds them, without solving (to count the proposals to route)."""
    max_cap = np.asarray(max_cap, dtype=np.int64)
    affinity, allowed, _, _, hold, penalty = _checked(affinity, allowed, np.zeros_like(max_cap), max_cap, hold, penalty)
    return _triage(affinity, affinity - penalty, allowed, hold, flag_below)


def _triage(affinity, value, allowed, hold, flag_below):
    n, p = affinity.shape
    masked = np.where(allowed, value, -np.inf)
    best = np.where(allowed.any(axis=1), np.argmax(masked, axis=1), -1) if p else np.full(n, -1)
    best_aff = np.where(best >= 0, affinity[np.arange(n), np.maximum(best, 0)] if p else 0.0, -np.inf)
    why = np.empty(n, dtype=object)
    why[:] = BEST
    flagged = np.zeros(n, dtype=bool)
    for cond, code in ((hold, HELD), (best < 0, NO_PANEL), (best_aff < flag_below, LOW)):
        new = cond & ~flagged
        why[new] = code
        flagged |= new
    return flagged, why, best


def _flow(value: np.ndarray, eligible: np.ndarray, min_cap: np.ndarray, max_cap: np.ndarray) -> np.ndarray:
    """Panel per proposal (-1: no room) by min-cost flow; every row of ``eligible`` has a True."""
    n, p = value.shape
    big = 2 * _SCALE * (n + 1)  # worth more than any difference in total affinity
    src, sink = 0, 1
    prop = 2
    pan = prop + n
    mand = pan + p
    import networkx as nx  # here, not at import: the service starts without the solver until a run needs it

    g = nx.DiGraph()
    g.add_node(src, demand=-n)
    g.add_node(sink, demand=n)
    cost = np.rint(value * _SCALE).astype(np.int64)
    for i in range(n):
        g.add_edge(src, prop + i, capacity=1, weight=0)
        g.add_edge(prop + i, sink, capacity=1, weight=big)  # no room anywhere it fits
        for j in np.flatnonzero(eligible[i]):
            g.add_edge(prop + i, pan + j, capacity=1, weight=-int(cost[i, j]))
    for j in range(p):
        if min_cap[j]:
            g.add_edge(pan + j, mand + j, capacity=int(min_cap[j]), weight=-big)
            g.add_edge(mand + j, sink, capacity=int(min_cap[j]), weight=0)
        if max_cap[j] > min_cap[j]:
            g.add_edge(pan + j, sink, capacity=int(max_cap[j] - min_cap[j]), weight=0)
    _, flow = nx.network_simplex(g)
    out = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        for node, units in flow[prop + i].items():
            if units and node != sink:
                out[i] = node - pan
    return out


def choose_backups(value: np.ndarray, allowed: np.ndarray, eligible: np.ndarray, panel: np.ndarray,
                   room: np.ndarray) -> np.ndarray:
    """For each assigned proposal, the best other panel it may go to: one it fits if there is one,
    else the best open panel without a conflict; ties go to the panel with more room left."""
    n, p = value.shape
    backup = np.full(n, -1, dtype=np.int64)
    for i in np.flatnonzero(panel >= 0):
        options = [j for j in np.flatnonzero(allowed[i]) if j != panel[i]]
        if options:
            backup[i] = max(options, key=lambda j: (bool(eligible[i, j]), round(float(value[i, j]), 6), int(room[j]), -j))
    return backup


def _infeasible(unplaced, best, load, eligible, min_cap, max_cap, names, n_routed) -> RoutingInfeasible:
    short: list[dict] = []
    lines: list[str] = []
    if len(unplaced):
        want = np.bincount(best[unplaced], minlength=len(names))
        for j in np.flatnonzero(want):
            short.append({"panel": names[j], "index": int(j), "kind": "max", "max": int(max_cap[j]),
                          "load": int(load[j]), "short_by": int(want[j])})
            lines.append(f"{names[j]} is full at its maximum of {int(max_cap[j])} and {int(want[j])} more "
                         f"proposal(s) that fit it have no room in any panel (extra room needed: {int(want[j])})")
    for j in np.flatnonzero(load < min_cap):
        fits = int(eligible[:, j].sum())
        short.append({"panel": names[j], "index": int(j), "kind": "min", "min": int(min_cap[j]),
                      "load": int(load[j]), "short_by": int(min_cap[j] - load[j]), "fits": fits})
        lines.append(f"{names[j]} needs at least {int(min_cap[j])} proposals but can be given only {int(load[j])} "
                     f"({fits} of the {n_routed} routed proposals fit it)")
    hint = []
    if any(s["kind"] == "max" for s in short):
        hint.append("give extra room (--extra-room PANEL=N) or raise max in the panels file")
    if any(s["kind"] == "min" for s in short):
        hint.append("lower min in the panels file or close the panel (--close PANEL)")
    message = ("the panels cannot take these proposals; short: " + "; ".join(lines) + ". To fix: " + "; ".join(hint))
    return RoutingInfeasible(message, short)
