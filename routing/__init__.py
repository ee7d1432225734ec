"""Routing proposals to expert panels, built on the matcher.

One job per module: :mod:`.panels` (the panels file), :mod:`.proposals` (the proposals table),
:mod:`.conflicts` (conflicts of interest), :mod:`.affinity` (proposal × panel affinity),
:mod:`.assign` (the min-cost-flow assignment, pure numpy), :mod:`.store` (SQLite), :mod:`.jobs`
(runs as jobs: owners, restarts, the worker thread), :mod:`.export` (routing sheet and JSON),
:mod:`.review` (what an officer reviews per proposal), :mod:`.feedback` (corrections as labelled
examples), :mod:`.router` (the :class:`Router` facade).
"""
from .assign import RoutingInfeasible, Solution, solve
from .options import RoutingOptions
from .panels import DEFAULT_PANELS_PATH, Member, Panel, PanelSet, PanelsError, load_panels, parse_panels
from .proposals import Proposal, proposals_from_items, read_proposals
from .router import OverrideOutcome, OverrideRefused, Router
from .store import RoutingStore, RunState

__all__ = [
    "DEFAULT_PANELS_PATH",
    "Member",
    "OverrideOutcome",
    "Panel",
    "PanelSet",
    "PanelsError",
    "Proposal",
    "Router",
    "RoutingInfeasible",
    "RoutingOptions",
    "RoutingStore",
    "RunState",
    "Solution",
    "load_panels",
    "parse_panels",
    "proposals_from_items",
    "read_proposals",
    "solve",
]
