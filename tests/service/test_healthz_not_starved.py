"""A slow, huge request does not starve ``/healthz``: the model runs in a worker thread, off the event loop.

Asserts ordering, not timings: every health check sent while the slow request is in flight
completes before the slow request does.
"""
from __future__ import annotations

import threading
import time

import httpx
import pytest

from service_support import ABSTRACT


@pytest.fixture(scope="module")
def windowed_server(settings):
    """A server whose matcher embeds whole texts in windows (GUIDE_MATCH_QUERY_MAX_TOKENS=0): the slowest path."""
    from conftest import LiveServer

    from matcher import Matcher
    from service.app import create_app

    with LiveServer(create_app(settings, matcher=Matcher.load(query_max_tokens=0))) as server:
        yield server


def health_checks_during(url: str, path: str, payload: dict, probes: int, pause: float = 0.0):
    """Sends ``payload`` to ``path`` in a thread and probes /healthz meanwhile.

    Returns the slow request's outcome (``status``, ``done_at``) and when each health check
    answered; probing stops early if the slow request is already done.
    """
    slow: dict = {}

    def send_slow() -> None:
        with httpx.Client(base_url=url, timeout=600) as c:
            r = c.post(path, json=payload)
            slow["status"] = r.status_code
            slow["done_at"] = time.monotonic()

    thread = threading.Thread(target=send_slow)
    thread.start()
    health_done: list[float] = []
    with httpx.Client(base_url=url, timeout=60) as c:
        time.sleep(0.3)  # let the slow request reach the server and start matching
        for _ in range(probes):
            if "done_at" in slow:
                break
            r = c.get("/healthz")
            assert r.status_code == 200 and r.json() == {"status": "ok"}
            health_done.append(time.monotonic())
            time.sleep(pause)
    thread.join(timeout=600)
    return slow, health_done


def test_healthz_answers_while_a_huge_batch_is_matched(live_server, settings):
    # A full batch of long abstracts: seconds of CPU work (segmentation, terms, the model).
    long_text = (ABSTRACT * 40)[:3000]
    items = [{"id": str(i), "text": f"{i} {long_text}"} for i in range(settings.max_batch_items)]
    slow, health_done = health_checks_during(live_server.url, "/v1/match/batch", {"items": items, "top_k": 3}, 5, 0.05)
    assert slow.get("status") == 200
    assert len(health_done) == 5, "the slow request finished before the health checks were sent"
    assert all(t < slow["done_at"] for t in health_done)


def test_healthz_answers_while_a_max_size_text_is_matched(windowed_server, settings):
    huge = ("开发碳包覆纳米磷酸铁锂正极材料连续化制备工艺，" * 2000)[:6000]
    slow, done = health_checks_during(windowed_server.url, "/v1/match", {"text": huge, "top_k": 1}, 3)
    assert slow.get("status") == 200
    assert len(done) == 3 and all(t < slow["done_at"] for t in done)
