"""Bounded hostile load on loopback: the figures of the README's "Hostile load, measured".

Starts ``guide-match serve`` on 127.0.0.1 (one worker, staff keys set, the rate limit and the
wrong-key throttle off since every client here shares one address; the tests cover both) and,
each phase bounded in count and in time:

1. steady state: 1,000 ordinary requests (matches, batches, the guide, probes), then the RSS;
2. 5,000 mixed requests from 16 clients: matches, batches, the guide, health and HEAD probes,
   and hostile ones (malformed, 50,000-deep or 5,000-digit JSON, lone surrogates, 60 kB paths,
   ``%0a`` paths, bad methods, wrong staff keys, staff runs with bad options and fields, small
   routing runs); counts every status, the 5xx above all, then the RSS;
3. 8 concurrent 200-item batches while ``/healthz`` and ``/readyz`` are probed every 0.25 s:
   their p99 and every ``/readyz`` status;
4. upload bombs to the staff endpoint (a row numbered 5,000,000, a 300 MB cell, 10,001 rows,
   a lying dimension, 16,000 columns; 20 of each), then the RSS.

    .venv/bin/python tests/benchmarks/hostile_load.py

Prints a Markdown table and exits non-zero on any 5xx, any ``/readyz`` that is not 200 during
phase 3, or an RSS more than 100 MB over the steady state after phases 2 and 4.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "security")]

import bombs  # noqa: E402  (tests/security/bombs.py)
from load_test import pct, start_server, texts_by_kind  # noqa: E402

KEY = "hostile-load-key"
STAFF = {"X-API-Key": KEY}
JSON = {"content-type": "application/json"}


def rss_mb(pid: int) -> float:
    """Resident set size of the server process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


ORDINARY = 4
"""The first kinds below are what a user sends; the others are hostile."""


def mixed_requests(n: int, texts: list[str], seed: int, ordinary_only: bool = False) -> list[tuple[str, str, dict]]:
    """``n`` requests as (method, path, httpx keyword arguments), ordinary and hostile mixed."""
    rng = random.Random(seed)
    deep = b'{"text": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    digits = b'{"text": "x", "top_k": ' + b"9" * 5000 + b"}"

    def item(i: int, text: str) -> dict:
        return {"id": f"h{i}", "title": text[:30], "abstract": text, "applicant_org": "某公司", "partner_orgs": ""}

    kinds = [
        (30, lambda i: ("POST", "/v1/match", {"json": {"text": rng.choice(texts), "top_k": 3}})),
        (5, lambda i: ("POST", "/v1/match/batch", {"json": {"items": [{"id": str(k), "text": rng.choice(texts)}
                                                                      for k in range(5)]}})),
        (8, lambda i: ("GET", rng.choice(["/v1/directions", "/v1/clusters", "/v1/limits", "/v1/directions/22"]), {})),
        (8, lambda i: (rng.choice(["GET", "HEAD"]), rng.choice(["/healthz", "/readyz"]), {})),
        (4, lambda i: ("POST", "/v1/match", {"content": b'{"text": ', "headers": JSON})),
        (3, lambda i: ("POST", rng.choice(["/v1/match", "/v1/routing/runs"]), {"content": deep, "headers": {**JSON, **STAFF}})),
        (3, lambda i: ("POST", "/v1/match", {"content": digits, "headers": JSON})),
        (3, lambda i: ("POST", "/v1/match", {"content": b'{"text": "\\ud800\\u9502\\u7535\\u6c60"}', "headers": JSON})),
        (3, lambda i: ("GET", "/nope%0a2030-01-01%2000:00:00,000%20CRITICAL%20x%1b[31m" + "a" * 60_000, {})),
        (3, lambda i: ("GET", "/v1/directions/1%0a", {})),
        (3, lambda i: ("DELETE", "/v1/match", {})),
        (3, lambda i: ("POST", "/v1/match", {"json": {"text": "\ufdfa" * 20_000}})),
        (4, lambda i: ("GET", f"/v1/routing/runs/x{i}", {"headers": {"X-API-Key": f"guess-{i}"}})),
        (4, lambda i: ("POST", "/v1/routing/runs", {"json": {"items": [item(i, rng.choice(texts))],
                                                              "extra_room": {"P06": rng.choice([10**30, 2**63, -1])}},
                                                     "headers": STAFF})),
        (3, lambda i: ("POST", "/v1/routing/runs", {"content": ('{"items": [{"id": "s%d", "title": "\\ud800x", '
                                                                 '"abstract": "y"}]}' % i).encode(), "headers": {**JSON, **STAFF}})),
        (3, lambda i: ("POST", "/v1/routing/runs", {"json": {"items": [item(i, rng.choice(texts))], "actor": "王\n2030 CRITICAL"},
                                                     "headers": STAFF})),
        (2, lambda i: ("POST", "/v1/routing/runs", {"json": {"items": [item(k, rng.choice(texts)) for k in range(3)]},
                                                     "headers": STAFF})),
        (2, lambda i: ("POST", "/v1/routing/runs", {"files": {"file": ("p.csv", f"id,abstract\nc{i},".encode()
                                                                        + rng.choice(texts).encode(), "text/csv")},
                                                     "headers": STAFF})),
    ]
    kinds = kinds[:ORDINARY] if ordinary_only else kinds
    weights = [w for w, _ in kinds]
    return [rng.choices(kinds, weights)[0][1](i) for i in range(n)]


def send_all(url: str, requests: list, clients: int, budget: float) -> Counter:
    """Send the requests from ``clients`` threads, stopping at ``budget`` seconds; statuses counted."""
    deadline = time.monotonic() + budget
    statuses: Counter = Counter()

    def one(req) -> None:
        if time.monotonic() > deadline:
            statuses["skipped (time budget)"] += 1
            return
        method, path, kwargs = req
        try:
            r = http.request(method, url + path, **kwargs)
            statuses[r.status_code] += 1
        except httpx.HTTPError as err:
            statuses[type(err).__name__] += 1

    with httpx.Client(timeout=120, limits=httpx.Limits(max_connections=clients)) as http:
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(one, requests))
    return statuses


def busy_probes(url: str, texts: list[str], batches: int, items: int, budget: float) -> dict:
    """``batches`` concurrent batches of ``items`` while /healthz and /readyz are probed every 0.25 s."""
    health: list[float] = []
    ready: list[float] = []
    ready_codes: Counter = Counter()
    batch_codes: Counter = Counter()

    def batch(n: int) -> None:
        rng = random.Random(n)
        body = {"items": [{"id": str(k), "text": rng.choice(texts)} for k in range(items)], "top_k": 3}
        r = httpx.post(url + "/v1/match/batch", json=body, timeout=budget)
        batch_codes[r.status_code] += 1

    started = time.monotonic()
    with ThreadPoolExecutor(batches) as pool:
        futures = [pool.submit(batch, n) for n in range(batches)]
        with httpx.Client(timeout=30) as probe:
            while not all(f.done() for f in futures) and time.monotonic() - started < budget:
                t = time.perf_counter()
                probe.get(url + "/healthz")
                health.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                r = probe.get(url + "/readyz")
                ready.append((time.perf_counter() - t) * 1000)
                ready_codes[r.status_code] += 1
                time.sleep(0.25)
        for f in futures:
            f.result()
    return {"health_p99": pct(health, 99), "ready_p99": pct(ready, 99), "ready_codes": ready_codes,
            "batch_codes": batch_codes, "probes": len(ready), "seconds": time.monotonic() - started}


def upload_bombs(url: str, each: int) -> Counter:
    files = {
        "far-row.xlsx": bombs.far_row(), "far-row-no-dimension.xlsx": bombs.far_row(dimension=False),
        "300mb-cell.xlsx": bombs.huge_cell(300), "10001-rows.xlsx": bombs.many_rows(10_001, dimension=False),
        "lying.xlsx": bombs.lying_dimension(), "wide.xlsx": bombs.wide(16_000),
    }
    statuses: Counter = Counter()
    with httpx.Client(timeout=120) as http:
        for _ in range(each):
            for name, data in files.items():
                r = http.post(url + "/v1/routing/runs", files={"file": (name, data, "application/octet-stream")},
                              headers=STAFF)
                statuses[r.status_code] += 1
    return statuses


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--warm-up", type=int, default=1000, help="ordinary requests before the steady state (default 1000)")
    p.add_argument("--requests", type=int, default=5000, help="mixed requests in phase 2 (default 5000)")
    p.add_argument("--clients", type=int, default=16, help="concurrent clients in phase 2 (default 16)")
    p.add_argument("--batches", type=int, default=8, help="concurrent batches in phase 3 (default 8)")
    p.add_argument("--batch-items", type=int, default=200, help="items per batch in phase 3 (default 200)")
    p.add_argument("--bombs", type=int, default=20, help="uploads of each bomb in phase 4 (default 20)")
    p.add_argument("--max-seconds", type=float, default=900, help="time budget of each phase (default 900)")
    args = p.parse_args(argv)

    titles, abstracts = texts_by_kind()
    texts = titles + abstracts
    tmp = Path(__import__("tempfile").mkdtemp(prefix="guide-match-hostile-"))
    proc, url = start_server(1, env={"GUIDE_MATCH_API_KEYS": KEY, "GUIDE_MATCH_ROUTING_DB": str(tmp / "routing.sqlite"),
                                     "GUIDE_MATCH_LOG_LEVEL": "ERROR",
                                     # every client here shares one address: the wrong keys of phase 2
                                     # would lock the staff uploads of phase 4 out (tests cover the throttle)
                                     "GUIDE_MATCH_KEY_FAILURE_LIMIT": "off"})
    try:
        warm = send_all(url, mixed_requests(args.warm_up, texts, 3, ordinary_only=True), args.clients, args.max_seconds)
        steady = rss_mb(proc.pid)
        t = time.monotonic()
        mixed = send_all(url, mixed_requests(args.requests, texts, 7), args.clients, args.max_seconds)
        mixed_seconds = time.monotonic() - t
        after_mixed = rss_mb(proc.pid)
        busy = busy_probes(url, texts, args.batches, args.batch_items, args.max_seconds)
        after_busy = rss_mb(proc.pid)
        bomb_codes = upload_bombs(url, args.bombs)
        after_bombs = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)

    total = sum(mixed.values()) + sum(warm.values()) + sum(bomb_codes.values()) + sum(busy["batch_codes"].values()) \
        + 2 * busy["probes"]
    fivexx = sum(n for c, n in (mixed + warm + bomb_codes + busy["batch_codes"] + busy["ready_codes"]).items()
                 if isinstance(c, int) and c >= 500)
    rows = [
        ("requests sent (all phases)", f"{total}"),
        ("5xx responses (staff endpoints included)", f"{fivexx}"),
        (f"phase 2: {args.requests} mixed requests, {args.clients} clients", f"{mixed_seconds:.1f} s; statuses "
         + ", ".join(f"{c}: {n}" for c, n in sorted(mixed.items(), key=lambda kv: str(kv[0])))),
        (f"phase 3: /healthz p99 under {args.batches} concurrent {args.batch_items}-item batches", f"{busy['health_p99']:.0f} ms"),
        (f"phase 3: /readyz p99 under {args.batches} concurrent {args.batch_items}-item batches", f"{busy['ready_p99']:.0f} ms"),
        ("phase 3: /readyz statuses", ", ".join(f"{c}: {n}" for c, n in sorted(busy["ready_codes"].items()))
         + f" ({busy['probes']} probes over {busy['seconds']:.0f} s)"),
        ("phase 3: batch statuses", ", ".join(f"{c}: {n}" for c, n in sorted(busy["batch_codes"].items()))),
        (f"phase 4: upload bombs ({args.bombs} × 6 kinds)", ", ".join(f"{c}: {n}" for c, n in sorted(bomb_codes.items()))),
        (f"RSS steady state (after {args.warm_up} ordinary requests)", f"{steady:.0f} MB"),
        ("RSS after the mixed requests", f"{after_mixed:.0f} MB ({after_mixed - steady:+.0f} MB)"),
        ("RSS after the busy batches", f"{after_busy:.0f} MB ({after_busy - steady:+.0f} MB)"),
        ("RSS after the upload bombs", f"{after_bombs:.0f} MB ({after_bombs - steady:+.0f} MB)"),
    ]
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    ok = (fivexx == 0 and set(busy["ready_codes"]) == {200} and after_mixed - steady <= 100
          and after_bombs - steady <= 100)
    print("\nresult:", "pass" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
