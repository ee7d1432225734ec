"""`guide-match`: parses the command line and dispatches to the matcher, routing and the service."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from matcher.errors import InputError

from .limits import add_limit_options
from .render import render_table


VERDICTS = {"fits": "在范围内", "no_direction_fits": "不在范围内", "too_vague": "无法判断（内容过于笼统）",
            "unsupported_language": "无法判断（语言不支持）"}


def _load_matcher(args):
    from matcher import Matcher

    m = Matcher.load(model_dir=getattr(args, "model_dir", None))
    if m.warnings:  # weights fitted for another corpus, model, runtime or settings: say so, once
        print(f"guide-match: warning: the fitted weights were made with other inputs: {'; '.join(m.warnings)}; "
              "refit with `guide-match calibrate`", file=sys.stderr)
    return m


def cmd_match(args) -> int:
    text = args.text if args.text != "-" else sys.stdin.read()
    m = _load_matcher(args)
    result = m.match(text, top_k=args.top_k)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return 0
    rows = [
        (d.id, d.title, f"{d.score:.3f}", d.cluster or "—", "、".join(d.matched_terms[:6]) or "—")
        for d in result.directions
    ]
    if rows:
        print(render_table(["方向", "标题", "得分", "产业集群", "命中术语"], rows))
        print()
    print(VERDICTS[result.reason] + f"（{result.in_scope_score:.2f}）：" + result.message)
    return 0


def cmd_directions(args) -> int:
    import corpus

    directions = corpus.load_directions()
    rows = [(d.id, d.title, "、".join(d.clusters) or "—", d.text) for d in directions]
    print(render_table(["方向", "标题", "产业集群", "指南原文"], rows))
    print()
    clusters = corpus.load_clusters()
    by_cluster = {c.name: [d.id for d in directions if c.name in d.clusters] for c in clusters}
    print(render_table(["产业集群", "English", "方向"], [(c.name, c.en, ", ".join(map(str, by_cluster[c.name]))) for c in clusters]))
    return 0


def cmd_batch(args) -> int:
    from .batch import run_batch

    return run_batch(args)


def cmd_serve(args) -> int:
    import os

    if args.model_dir:  # the workers read the model directory from the environment
        os.environ["GUIDE_MATCH_MODEL_DIR"] = str(args.model_dir)
    from service.server import serve
    from service.settings import Settings

    settings = Settings.from_env()  # a bad GUIDE_MATCH_* value: one clear line here, not a failed worker start-up
    if settings.eligibility.rules:  # so is a rules file that cannot be read
        from eligibility import rulebook_for

        rulebook_for(settings.eligibility.rules)

    return serve(host=args.host, port=args.port, workers=args.workers)


def cmd_evaluate(args) -> int:
    from matcher.evaluation import evaluate

    ev = evaluate(_load_matcher(args), args.file, split=args.split)
    print(f"split {args.split}: {ev.fused.n} texts ({ev.fused.n_in_scope} in scope)")
    print(ev.table().to_string())
    print("\nby genre:")
    print(ev.by_genre().to_string(na_rep="—"))
    fused = ev.fused
    print("\nper-direction top-1 recall (fused):")
    print("  " + "  ".join(f"{d}:{r:.2f}" for d, r in fused.per_direction_recall.items()))
    print("calibration (score bin: pairs, mean score, share right): " + "; ".join(
        f"{c['bin']}: {c['pairs']}, {c['mean_score']:.2f}, {c['right']:.2f}" for c in ev.calibration()))
    print("most confused (labelled → predicted, count): " + ", ".join(f"{a}→{b} ({n})" for a, b, n in fused.confused_pairs))
    if args.report:
        from matcher.report import write_report

        print(f"report: {write_report(ev, args.report)}")
    return 0


def cmd_calibrate(args) -> int:
    from .calibrating import run_calibrate

    return run_calibrate(args)


def cmd_bench(args) -> int:
    from matcher.bench import run_bench

    return run_bench(args)


def cmd_check(args) -> int:
    from .check import run_check

    return run_check(args)


def cmd_route(args) -> int:
    from .routing import run_route

    return run_route(args)


def cmd_override(args) -> int:
    from .routing import run_override

    return run_override(args)


def cmd_feedback_export(args) -> int:
    from .routing import run_feedback_export

    return run_feedback_export(args)


DB_HELP = "SQLite database of runs (default: $GUIDE_MATCH_ROUTING_DB, else routing.sqlite)"


def cmd_build(args) -> int:
    from .build import run_build

    return run_build(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="guide-match",
        description="Match Chinese R&D proposals to the 40 support directions of the 2024 "
        "China–ASEAN Industrial Cooperation Zone special-project guide.",
    )
    p.add_argument("--model-dir", help="a sentence-transformers model directory (default: models/e5-small)")
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("match", help="rank the directions for one title or abstract")
    m.add_argument("text", help="the title and/or abstract (Chinese or English); '-' reads standard input")
    m.add_argument("--top-k", type=int, default=5, help="how many directions to show (1–40, default 5)")
    m.add_argument("--json", action="store_true", help="print the full result as JSON")
    m.set_defaults(func=cmd_match)

    b = sub.add_parser("batch", help="match every row of a .csv, .xlsx or .jsonl file")
    b.add_argument("input", help="proposals file: .csv (UTF-8), .xlsx or .jsonl")
    b.add_argument("-o", "--output", required=True, help="results file: .csv, .xlsx or .jsonl")
    b.add_argument("--text-column", default="text", help="column with the title/abstract (default: text)")
    b.add_argument("--id-column", default="id", help="column with the proposal id (default: id; row numbers if absent)")
    b.add_argument("--top-k", type=int, default=3, help="directions per row (1–40, default 3)")
    b.add_argument("--check", action="store_true", help="also hold each row against the guide's rules (eligible, "
                   "failed_rules; field columns such as fiscal_funding_wan are read when present)")
    add_limit_options(b, "GUIDE_MATCH_TABLE_MAX_ROWS")
    b.set_defaults(func=cmd_batch)

    h = sub.add_parser("check", help="hold a proposal against the guide's rules (funding, ratio, duration, targets)")
    h.add_argument("input", nargs="?", help="a .json/.yaml file of fields, a text file (abstract, 考核指标, 经费), or '-' "
                   "for standard input")
    h.add_argument("--json", action="store_true", help="print the verdict as JSON")
    h.add_argument("--rules", default=None, help="rules file (default: $GUIDE_MATCH_ELIGIBILITY_RULES, else corpus/rules.yaml)")
    h.add_argument("--evaluate", nargs="?", const=True, metavar="FILE",
                   help="measure the extraction's precision and recall on labelled sentences "
                   "(default: corpus/eligibility/extraction.jsonl)")
    h.set_defaults(func=cmd_check)

    u = sub.add_parser("build", help="build the model artefacts and cache the direction embeddings (the set-up runs it)")
    u.add_argument("--force", action="store_true", help="rebuild even if up to date")
    u.set_defaults(func=cmd_build)

    d = sub.add_parser("directions", help="list the 40 directions and the industry clusters")
    d.set_defaults(func=cmd_directions)

    s = sub.add_parser("serve", help="run the HTTP API and the applicants' web page (uvicorn)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    s.add_argument("--workers", type=int, default=1, help="worker processes, each loading the model once (default 1)")
    s.set_defaults(func=cmd_serve)

    from matcher.evaluation import DEFAULT_LABELLED, SPLITS

    e = sub.add_parser("evaluate", help="accuracy on labelled texts: lexical, dense and fused side by side")
    e.add_argument("file", nargs="?", default=str(DEFAULT_LABELLED), help="labelled .jsonl (default: the project's set)")
    e.add_argument("--split", default="test", choices=SPLITS, help="which split to score (default: test)")
    e.add_argument("--report", metavar="DIR", help="write report.md and PNG plots into DIR")
    e.set_defaults(func=cmd_evaluate)

    c = sub.add_parser("calibrate", help="choose settings and fit the fusion and in-scope models on dev, by cross-validation")
    c.add_argument("file", nargs="?", default=str(DEFAULT_LABELLED), help="labelled .jsonl")
    c.add_argument("--split", default="dev", help="always dev: test and all are refused (test is for reporting only)")
    c.add_argument("--extra", metavar="FILE", help="more labelled texts (e.g. officers' corrections from `feedback "
                   "export`): their dev part is fitted on, their test part reported before and after")
    c.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    c.add_argument("-o", "--output", default=None, help="where to write the weights (default: models/fusion.json; "
                   "with --extra: models/fusion.candidate.json, to adopt after reading the figures)")
    c.set_defaults(func=cmd_calibrate)

    k = sub.add_parser("bench", help="speed and memory benchmark against a naive sentence-transformers baseline")
    k.add_argument("--n-batch", type=int, default=1000, help="abstracts in the batch-throughput run (default 1000)")
    k.add_argument("--n-single", type=int, default=50, help="requests per single-latency run (default 50)")
    k.add_argument("--torch", action="store_true", help="also measure the matcher on PyTorch, float weights, whole text")
    k.set_defaults(func=cmd_bench)

    r = sub.add_parser("route", help="send every proposal of a table to an expert panel (routing sheet + database)")
    r.add_argument("proposals", help="proposals: .csv (UTF-8), .xlsx or .jsonl with id, title, abstract, applicant_org, "
                   "partner_orgs (or 编号, 项目名称, 摘要, 申报单位, 合作单位)")
    r.add_argument("--panels", default=None, help="panels file (default: corpus/panels.yaml)")
    r.add_argument("-o", "--output", required=True, help="routing sheet .xlsx, or .json")
    r.add_argument("--db", default=None, help=DB_HELP)
    r.add_argument("--close", action="append", metavar="PANEL", help="take no proposals into PANEL this run (repeatable)")
    r.add_argument("--extra-room", action="append", metavar="PANEL=N", help="let PANEL take N beyond its max (repeatable)")
    r.add_argument("--conflict-rule", choices=["quorum", "strict"], help="override the panels file's conflict rule")
    r.add_argument("--flag-below", type=float, help="flag proposals whose best affinity is below this (default 0.2)")
    r.add_argument("--actor", help="who runs it, for the audit log (default: $GUIDE_MATCH_ACTOR or the user name)")
    add_limit_options(r, "GUIDE_MATCH_ROUTING_MAX_PROPOSALS")
    r.set_defaults(func=cmd_route)

    o = sub.add_parser("override", help="move a routed proposal to another panel, with a reason (checked and recorded)")
    o.add_argument("run_id", help="the run (printed by guide-match route)")
    o.add_argument("proposal_id", help="the proposal's id")
    o.add_argument("--to", required=True, metavar="PANEL", help="the panel it moves to")
    o.add_argument("--reason", required=True, help="why it moves (kept in the audit log and the routing sheet)")
    o.add_argument("--force", action="store_true", help="allow going over a panel's max or below its min (never a conflict)")
    o.add_argument("--direction", type=int, metavar="N",
                   help="the direction (1–40) you judge right for the proposal, kept as a labelled example")
    o.add_argument("--db", default=None, help=DB_HELP)
    o.add_argument("-o", "--output", help="also write the updated routing sheet (.xlsx or .json)")
    o.add_argument("--actor", help="who makes the change (default: $GUIDE_MATCH_ACTOR or the user name)")
    o.set_defaults(func=cmd_override)

    f = sub.add_parser("feedback", help="program officers' corrections as labelled examples")
    fsub = f.add_subparsers(dest="feedback_command", required=True)
    fe = fsub.add_parser("export", help="write the corrections in the labelled set's format (.jsonl)",
                         description="One row per proposal an officer moved or whose direction they recorded: "
                         "id, text, labels, genre, split (dev/test, fixed by a hash of the proposal id), "
                         "source: officer-correction, licence. `guide-match evaluate FILE --split test` reads it.")
    fe.add_argument("--db", default=None, help=DB_HELP)
    fe.add_argument("-o", "--output", required=True, help="the labelled examples, .jsonl")
    fe.set_defaults(func=cmd_feedback_export)
    return p


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``): raised like Ctrl-C, so half-written outputs are removed on the way out."""


def _terminate(signum, frame):
    raise Terminated()


@contextmanager
def terminate_cleanly() -> Iterator[None]:
    """Within the block SIGTERM unwinds the stack like Ctrl-C, so ``finally`` clauses (and
    :func:`matcher.tables.atomic_output`) still clean up; the previous handler is restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with terminate_cleanly():
            return args.func(args)
    except InputError as err:
        print(f"guide-match: error: {err.message}" + (f" ({err.detail})" if err.detail else ""), file=sys.stderr)
        return 2
    except Terminated:
        print("guide-match: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("guide-match: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
