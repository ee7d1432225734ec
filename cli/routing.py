"""`guide-match route`, `override` and `feedback export` (the parsers are in :mod:`cli.main`)."""
from __future__ import annotations

import getpass
import os
import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from matcher.errors import InputError
from routing import Router, RoutingOptions, RoutingStore, RunState, load_panels, read_proposals
from routing.config import RoutingSettings
from routing.export import check_output_path
from routing.feedback import write_feedback
from routing.options import parse_closed, parse_extra_room

from .limits import table_limits

from .render import render_table


def default_actor() -> str:
    """Who is running the command, for the audit log."""
    for var in ("GUIDE_MATCH_ACTOR", "USER", "USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"


def _loads_table(state: RunState) -> str:
    loads = state.loads()
    rows = []
    for p in state.run.panels["panels"]:
        n = loads[p["id"]]
        status = "closed" if p["max"] == 0 else "below min" if n < p["min"] else "over max" if n > p["max"] else "ok"
        rows.append((p["id"], p["name"], n, p["min"], p["max"], status))
    return render_table(["panel", "name", "load", "min", "max", "status"], rows)


def _store(args) -> RoutingStore:
    return RoutingStore(args.db or RoutingSettings.from_env().db)


def run_route(args) -> int:
    from matcher import Matcher

    settings = RoutingSettings.from_env()
    output = check_output_path(args.output)
    panels = load_panels(args.panels or settings.panels)
    proposals = read_proposals(args.proposals, table_limits(args, settings.max_proposals))
    options = RoutingOptions.create(
        closed=parse_closed(args.close),
        extra_room=parse_extra_room(args.extra_room),
        conflict_rule=args.conflict_rule,
        flag_below=args.flag_below,
    )
    panels.with_options(options.closed, options.extra_room, options.conflict_rule)  # unknown panels fail here, before the model loads
    store = _store(args)
    print(f"{len(proposals)} proposals from {args.proposals}; loading the matcher…", file=sys.stderr)
    router = Router(Matcher.load(model_dir=args.model_dir), store, panels, stale_seconds=settings.job_stale_seconds)
    with tqdm(total=len(proposals), desc="routing", unit="proposal", file=sys.stderr) as bar:
        state = router.route(proposals, options, actor=args.actor or default_actor(), source=str(args.proposals),
                             progress=bar.update)
    router.export(state.run_id, output)
    flagged = sum(r.flagged for r in state.rows)
    print(_loads_table(state))
    print()
    for note in state.run.notes:
        print(f"note: {note}")
    how = "unchanged input: the stored run is reused" if state.reused else "new run"
    print(f"run {state.run_id} ({how}); {len(state.rows) - flagged} assigned, {flagged} flagged for manual review")
    print(f"routing sheet: {output}; database: {store.path}")
    return 0


def run_override(args) -> int:
    output = check_output_path(args.output) if args.output else None
    router = Router(None, _store(args))  # works on the panels stored with the run
    outcome = router.override(args.run_id, args.proposal_id, args.to, args.reason, actor=args.actor or default_actor(),
                              force=args.force, direction=args.direction)
    o = outcome.override
    for w in outcome.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"override #{o.id} in run {o.run_id}: {o.proposal_id} {o.from_panel_id or '(manual review)'} → {o.to_panel_id} "
          f"by {o.actor} at {o.at}")
    print(_loads_table(outcome.state))
    if output:
        router.export(args.run_id, output)
        print(f"routing sheet: {output}")
    return 0


def run_feedback_export(args) -> int:
    db = Path(args.db or RoutingSettings.from_env().db)
    if not db.is_file():
        raise InputError(f"database {db}: no such file; give the routing database with --db", "db")
    path, rows = write_feedback(RoutingStore(db), args.output)
    splits = Counter(r["split"] for r in rows)
    out_of_scope = sum(not r["labels"] for r in rows)
    print(f"{len(rows)} labelled examples (dev {splits['dev']}, test {splits['test']}; {out_of_scope} judged out of "
          f"scope) from {db} -> {path}")
    print("the texts are the proposals' own: keep the file as confidential as the database", file=sys.stderr)
    return 0
