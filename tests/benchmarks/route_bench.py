"""Routing benchmark: N proposals (default 2,000) into the default panels.

    .venv/bin/python tests/benchmarks/route_bench.py [--n 2000] [--out routing.xlsx]

Proposals are the project's labelled texts (corpus/labelled/*.jsonl) cycled with distinct ids and
applicant/partner organisations (some of them the placeholder members' organisations, so conflicts
of interest occur). The default panels hold 80 each, so every panel is given extra room to take
the batch (a run option, as a program officer would); a second, tight configuration then re-solves
the same matches with every panel's maximum at 1.1 × the routed proposals / panels, so that the
popular panels overflow into their neighbours. Prints the time of matching and of solving
separately, and the share of proposals that land in a panel covering their top-1 direction.
Not collected by pytest.
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from matcher import Matcher  # noqa: E402
from routing import PanelSet, Router, RoutingOptions, RoutingStore, load_panels, proposals_from_items  # noqa: E402
from routing import router as routing_service  # noqa: E402
from routing.assign import RoutingInfeasible  # noqa: E402

ORGS = ["广西大学", "桂林电子科技大学", "中南大学", "广西医科大学", "北部湾大学", "桂林理工大学", "广西师范大学",
        "中国科学院广州能源研究所", "广西柳钢集团有限公司", "广西玉柴机器股份有限公司", "广西南南铝加工有限公司"]


def labelled_items(n: int, seed: int = 7) -> tuple[list[dict], dict[str, list[int]]]:
    rows = [json.loads(line) for f in sorted(glob.glob(str(ROOT / "corpus/labelled/*.jsonl")))
            for line in open(f, encoding="utf-8") if line.strip()]
    if not rows:
        raise SystemExit("no labelled texts in corpus/labelled/*.jsonl")
    rng = random.Random(seed)
    rng.shuffle(rows)  # any n mixes the directions
    companies = [f"广西{a}{b}科技有限公司" for a in "东南西北中" for b in "甲乙丙丁戊己庚辛壬癸"]
    items, labels = [], {}
    for k in range(n):
        r = rows[k % len(rows)]
        pid = f"B{k + 1:05d}"
        title, abstract = (r["text"], "") if r.get("genre") == "title" else ("", r["text"])
        items.append({"id": pid, "title": title, "abstract": abstract, "applicant_org": rng.choice(companies + ORGS[:3]),
                      "partner_orgs": "；".join(rng.sample(ORGS, rng.randint(0, 2)))})
        labels[pid] = list(r.get("labels") or [])
    return items, labels


class TimedMatcher:
    """The matcher, timing match_many and keeping its results for re-solving the same batch."""

    def __init__(self, matcher: Matcher):
        self._m = matcher
        self.directions = matcher.directions
        self.version = matcher.version
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self._cache: dict[tuple, list] = {}

    def match_many(self, texts, **kw):
        key = tuple(texts)
        if key not in self._cache:
            t, c = time.perf_counter(), time.process_time()
            self._cache[key] = self._m.match_many(texts, **kw)
            self.seconds += time.perf_counter() - t
            self.cpu_seconds += time.process_time() - c
        return self._cache[key]


def timed_solve():
    real = routing_service.solve
    spent = {"seconds": 0.0}

    def solve(**kw):
        t = time.perf_counter()
        try:
            return real(**kw)
        finally:
            spent["seconds"] += time.perf_counter() - t

    routing_service.solve = solve
    return spent


def shares(state, panels_by_id, labels) -> dict[str, float]:
    rows = state.rows
    assigned = [r for r in rows if r.panel_id]
    covers_top = [r for r in assigned if r.top_direction in panels_by_id[r.panel_id].directions]
    gold = [r for r in assigned if labels.get(r.proposal_id)]
    covers_gold = [r for r in gold if set(labels[r.proposal_id]) & set(panels_by_id[r.panel_id].directions)]
    return {
        "proposals": len(rows),
        "assigned": len(assigned),
        "flagged": len(rows) - len(assigned),
        "top1_share_of_assigned": len(covers_top) / max(1, len(assigned)),
        "top1_share_of_all": len(covers_top) / max(1, len(rows)),
        "label_share_of_assigned_labelled": len(covers_gold) / max(1, len(gold)),
        "moved_because_best_panel_full": sum("已满" in r.reason for r in assigned),
        "total_affinity": state.run.total_affinity,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--room", type=int, default=220, help="extra room given to every panel (default 220: max 300)")
    ap.add_argument("--out", help="also write the routing sheet of the roomy run (.xlsx or .json)")
    args = ap.parse_args(argv)

    items, labels = labelled_items(args.n)
    proposals = proposals_from_items(items)
    panels = load_panels()
    by_id = {p.id: p for p in panels}
    t = time.perf_counter()
    matcher = TimedMatcher(Matcher.load())
    load_s = time.perf_counter() - t
    solve_spent = timed_solve()
    with tempfile.TemporaryDirectory() as tmp:
        store = RoutingStore(Path(tmp) / "bench.sqlite")
        report = {"n": args.n, "panels": len(panels), "model_load_s": round(load_s, 1)}
        for name in ("roomy", "tight"):
            if name == "roomy":
                run_panels, options = panels, RoutingOptions(extra_room={p.id: args.room for p in panels})
            else:
                cap = math.ceil(1.1 * report["roomy"]["assigned"] / len(panels))
                run_panels = PanelSet(tuple(replace(p, min=min(p.min, cap), max=cap) for p in panels), panels.conflict_rule,
                                      "tight")
                options = RoutingOptions()
            router = Router(matcher, store, run_panels)
            solve_spent["seconds"] = 0.0
            before_match, before_cpu = matcher.seconds, matcher.cpu_seconds
            t = time.perf_counter()
            try:
                state = router.route(proposals, options, actor="bench", source="route_bench")
            except RoutingInfeasible as err:  # a legitimate outcome for tight panels: report it
                report[name] = {"max_per_panel": run_panels.panels[0].max, "infeasible": str(err)}
                continue
            total = time.perf_counter() - t
            match_s = matcher.seconds - before_match
            report[name] = {
                "max_per_panel": state.run.panels["panels"][0]["max"],
                "total_s": round(total, 2),
                "matching_s": round(match_s, 2),
                "matching_cpu_s (all threads)": round(matcher.cpu_seconds - before_cpu, 2),
                "solving_s": round(solve_spent["seconds"], 2),
                "rest_s (affinity, conflicts, reasons, SQLite)": round(total - match_s - solve_spent["seconds"], 2),
                "loads": state.loads(),
                **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in shares(state, by_id, labels).items()},
            }
            if name == "roomy":
                t = time.perf_counter()
                router.export(state.run_id, Path(tmp) / "routing.xlsx")
                report[name]["xlsx_export_s"] = round(time.perf_counter() - t, 2)
                if args.out:
                    router.export(state.run_id, args.out)
        report["matcher_version"] = matcher.version
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
