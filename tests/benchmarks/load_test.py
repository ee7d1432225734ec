"""Bounded load test of the HTTP API on loopback (not collected by pytest; see conftest.py here).

Starts ``guide-match serve`` on 127.0.0.1 (or targets a running server on a loopback
address), runs N concurrent clients for a fixed time, each sending ``POST /v1/match`` with
a mix of titles and abstracts from the project's labelled set, and probes ``/healthz``
meanwhile. Prints p50/p90/p99/max latency, requests per second and the error count, and
exits non-zero when any request failed.

    .venv/bin/python tests/benchmarks/load_test.py --clients 32 --duration 30

Traffic goes to loopback only: ``--url`` must name 127.0.0.0/8, localhost or [::1].
"""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[2]
LABELLED = ROOT / "corpus" / "labelled" / "proposals.jsonl"


def texts_by_kind() -> tuple[list[str], list[str]]:
    """(titles, abstracts) from the labelled proposals (project-authored, not confidential)."""
    titles, abstracts = [], []
    for line in LABELLED.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if row.get("genre") != "long":  # titles and abstracts; long proposals are not this test's mix
                (titles if row.get("genre") == "title" else abstracts).append(row["text"])
    return titles, abstracts


def loopback_only(url: str) -> str:
    host = urlsplit(url).hostname or ""
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise ValueError
        except ValueError:
            raise SystemExit(f"load_test: refusing {url}: only loopback addresses (127.0.0.0/8, localhost, ::1)")
    return url.rstrip("/")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workers: int, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """``guide-match serve`` on a free loopback port, ready; ``env``: extra GUIDE_MATCH_* settings.

    The rate limit is off: every client of a load test shares one address.
    """
    port = free_port()
    cmd = [str(ROOT / ".venv" / "bin" / "guide-match"), "serve", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers)]
    if not Path(cmd[0]).exists():
        cmd = [sys.executable, "-m", "matcher.cli"] + cmd[1:]
    env = {**os.environ, "GUIDE_MATCH_LOG_LEVEL": os.environ.get("GUIDE_MATCH_LOG_LEVEL", "WARNING"),
           "GUIDE_MATCH_RATE_LIMIT": "off", **(env or {})}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"load_test: the server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/readyz", timeout=60).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise SystemExit("load_test: the server did not become ready in 300 s")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))
    return values[k]


async def run(url: str, clients: int, duration: float, title_share: float, seed: int, timeout: float) -> dict:
    titles, abstracts = texts_by_kind()
    latencies: list[float] = []
    kinds = {"title": 0, "abstract": 0}
    errors: list[str] = []
    health: list[float] = []
    deadline = time.monotonic() + duration
    limits = httpx.Limits(max_connections=clients + 2, max_keepalive_connections=clients + 2)

    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as http:

        async def client(n: int) -> None:
            rng = random.Random(seed * 1000 + n)
            while time.monotonic() < deadline:
                kind = "title" if rng.random() < title_share else "abstract"
                text = rng.choice(titles if kind == "title" else abstracts)
                started = time.perf_counter()
                try:
                    r = await http.post("/v1/match", json={"text": text, "top_k": 5})
                    elapsed = time.perf_counter() - started
                    if r.status_code != 200:
                        errors.append(f"HTTP {r.status_code}: {r.text[:200]}")
                        continue
                    r.json()["directions"][0]["id"]
                    latencies.append(elapsed)
                    kinds[kind] += 1
                except Exception as exc:  # counted, not raised: the run reports every failure
                    errors.append(f"{type(exc).__name__}: {exc}")

        async def probe() -> None:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    r = await http.get("/healthz", timeout=10)
                    if r.status_code == 200:
                        health.append(time.perf_counter() - started)
                    else:
                        errors.append(f"/healthz HTTP {r.status_code}")
                except Exception as exc:
                    errors.append(f"/healthz {type(exc).__name__}: {exc}")
                await asyncio.sleep(0.5)

        began = time.perf_counter()
        await asyncio.gather(probe(), *(client(n) for n in range(clients)))
        wall = time.perf_counter() - began

    return {
        "clients": clients,
        "duration_s": duration,
        "wall_s": round(wall, 2),
        "requests": len(latencies),
        "titles": kinds["title"],
        "abstracts": kinds["abstract"],
        "errors": len(errors),
        "error_samples": errors[:5],
        "rps": round(len(latencies) / wall, 2),
        "p50_ms": round(pct(latencies, 50) * 1000, 1),
        "p90_ms": round(pct(latencies, 90) * 1000, 1),
        "p99_ms": round(pct(latencies, 99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
        "healthz_probes": len(health),
        "healthz_p99_ms": round(pct(health, 99) * 1000, 1),
        "healthz_max_ms": round(max(health) * 1000, 1) if health else None,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of load (default 30, at most 600)")
    p.add_argument("--workers", type=int, default=1, help="server worker processes when the script starts one")
    p.add_argument("--url", help="a running server on a loopback address (default: start one)")
    p.add_argument("--title-share", type=float, default=0.5, help="share of requests that send a title (default 0.5)")
    p.add_argument("--timeout", type=float, default=120.0, help="per-request timeout in seconds (default 120)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if not 0 < args.duration <= 600 or not 1 <= args.clients <= 256:
        p.error("--duration must be in (0, 600] and --clients in [1, 256]")

    proc = None
    if args.url:
        url = loopback_only(args.url)
    else:
        proc, url = start_server(args.workers)
    try:
        result = asyncio.run(run(url, args.clients, args.duration, args.title_share, args.seed, args.timeout))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(
        f"{result['clients']} clients x {result['duration_s']:g} s on {url} (workers={args.workers if proc else '?'}): "
        f"{result['requests']} requests ({result['titles']} titles, {result['abstracts']} abstracts), "
        f"{result['errors']} errors\n"
        f"  throughput {result['rps']} req/s\n"
        f"  latency p50 {result['p50_ms']} ms, p90 {result['p90_ms']} ms, p99 {result['p99_ms']} ms, "
        f"max {result['max_ms']} ms\n"
        f"  /healthz during load: {result['healthz_probes']} probes, p99 {result['healthz_p99_ms']} ms, "
        f"max {result['healthz_max_ms']} ms"
    )
    print(json.dumps(result, ensure_ascii=False))
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
