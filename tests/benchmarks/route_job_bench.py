"""A 2,000-row routing run as a job through the HTTP API, with the real matcher, watched and cancelled.

    .venv/bin/python tests/benchmarks/route_job_bench.py [--n 2000]

Starts ``guide-match serve`` on loopback with a temporary routing database and a staff key, uploads
an .xlsx of N proposals (the project's labelled texts cycled with distinct ids and organisations,
as in route_bench.py; every panel given extra room 220), and polls ``GET /v1/routing/runs/{id}``
once a second, printing the progress; meanwhile ``/healthz`` and the polls are timed. Then a second
run of the same table (other options) is cancelled once 640 proposals are matched, and a run of 100
submitted right after it shows how soon the worker is free again (it starts once the cancelled run
has stopped at the end of its chunk of 64). Last, in this process, the same
texts go straight through ``Matcher.match_many`` — the baseline the job's time is compared with,
measured in the same run. Not collected by pytest.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1]), str(HERE)]

from load_test import pct, start_server  # noqa: E402
from route_bench import labelled_items  # noqa: E402

KEY = "bench-key"
HEADERS = {"X-API-Key": KEY}
PANELS = [f"P{i:02d}" for i in range(1, 11)]


def xlsx(items: list[dict]) -> bytes:
    buf = io.BytesIO()
    pd.DataFrame(items).to_excel(buf, index=False)
    return buf.getvalue()


def timed_get(http: httpx.Client, path: str, times: list[float]) -> dict:
    t = time.perf_counter()
    r = http.get(path, headers=HEADERS)
    times.append(time.perf_counter() - t)
    r.raise_for_status()
    return r.json()


def submit(http: httpx.Client, table: bytes, room: int) -> tuple[dict, float]:
    t = time.perf_counter()
    r = http.post("/v1/routing/runs", headers=HEADERS, files={"file": ("proposals.xlsx", table, "application/octet-stream")},
                  data={"extra_room": ",".join(f"{p}={room}" for p in PANELS), "actor": "bench"})
    elapsed = time.perf_counter() - t
    if r.status_code != 202:
        raise SystemExit(f"route_job_bench: expected 202, got {r.status_code}: {r.text[:300]}")
    return r.json(), elapsed


def watch(http: httpx.Client, job: dict, polls: list[float], health: list[float], stop_at: int | None = None) -> tuple[dict, float]:
    """Poll once a second (printing the progress) until the run is over, or has matched ``stop_at``."""
    began = time.perf_counter()
    while True:
        body = timed_get(http, job["status_url"], polls)
        timed_get(http, "/healthz", health)
        done, total = body["progress"]["done"], body["progress"]["total"]
        elapsed = time.perf_counter() - began
        print(f"  {elapsed:6.1f} s  {body['status']:<9} {done:5d}/{total}", file=sys.stderr)
        if body["status"] not in ("queued", "running") or (stop_at is not None and done >= stop_at):
            return body, elapsed
        time.sleep(1.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--room", type=int, default=220, help="extra room given to every panel (default 220)")
    ap.add_argument("--cancel-at", type=int, default=640, help="cancel the second run once this many are matched")
    ap.add_argument("--next-n", type=int, default=100, help="proposals in the run submitted after the cancel (default 100)")
    args = ap.parse_args(argv)

    items, _ = labelled_items(args.n)
    table = xlsx(items)
    report: dict = {"n": args.n, "load_average_at_start": round(os.getloadavg()[0], 1)}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(GUIDE_MATCH_API_KEYS=KEY, GUIDE_MATCH_ROUTING_DB=str(Path(tmp) / "bench.sqlite"))
        proc, url = start_server(workers=1)
        try:
            with httpx.Client(base_url=url, timeout=120) as http:
                polls: list[float] = []
                health: list[float] = []
                print("run 1: the whole table", file=sys.stderr)
                job, accept_s = submit(http, table, args.room)
                body, run_s = watch(http, job, polls, health)
                if body["status"] != "done":
                    raise SystemExit(f"route_job_bench: the run ended {body['status']}: {body.get('error')}")
                report["job"] = {
                    "answer_202_s": round(accept_s, 2),
                    "submit_to_done_s": round(accept_s + run_s, 1),
                    "proposals_per_s": round(args.n / (accept_s + run_s), 1),
                    "assigned": sum(not a["flagged"] for a in body["assignments"]),
                    "flagged": body["n_flagged"],
                    "status_poll_p50_ms": round(statistics.median(polls[:-1]) * 1000, 1),
                    "status_poll_max_ms": round(max(polls[:-1]) * 1000, 1),
                    "healthz_p99_ms": round(pct(health, 99) * 1000, 1),
                    "polls": len(polls),
                }
                print("run 2: the same table with other options, cancelled", file=sys.stderr)
                job2, _ = submit(http, table, args.room + 1)
                body2, _ = watch(http, job2, polls, health, stop_at=args.cancel_at)
                t = time.perf_counter()
                cancelled = http.post(job2["status_url"] + "/cancel", headers=HEADERS).json()
                cancel_s = time.perf_counter() - t
                small, _ = submit(http, xlsx(items[: args.next_n]), args.room)
                while (after := http.get(small["status_url"], headers=HEADERS).json())["status"] == "queued":
                    time.sleep(0.02)
                started_s = time.perf_counter() - t
                while (after := http.get(small["status_url"], headers=HEADERS).json())["status"] == "running":
                    time.sleep(0.05)
                final2 = http.get(job2["status_url"], headers=HEADERS).json()
                report["cancel"] = {
                    "matched_when_cancelled": body2["progress"]["done"],
                    "cancel_answer_s": round(cancel_s, 3),
                    "status_after_cancel": cancelled["status"],
                    "matched_in_the_end": final2["progress"]["done"],
                    f"next_run_of_{args.next_n}_started_after_cancel_s": round(started_s, 2),
                    f"next_run_of_{args.next_n}_done_after_cancel_s": round(time.perf_counter() - t, 2),
                    "next_run": after["status"],
                }
        finally:
            proc.terminate()
            proc.wait(60)

    from matcher import Matcher

    matcher = Matcher.load()
    texts = ["\n".join(x for x in (i["title"], i["abstract"]) if x) for i in items]
    t = time.perf_counter()
    matcher.match_many(texts, top_k=40, on_error="return")
    base = time.perf_counter() - t
    report["baseline_match_many_s"] = round(base, 1)
    report["load_average_at_end"] = round(os.getloadavg()[0], 1)  # other work on the machine skews both timings
    report["job_over_baseline"] = round(report["job"]["submit_to_done_s"] / base, 2)
    report["matcher_version"] = matcher.version
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
