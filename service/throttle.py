"""Per-client limits: requests to the public endpoints, and wrong staff keys.

Counting is ``limits``' moving window, in this worker's memory (with several workers each counts
its own share). A client over its limit gets 429 with ``Retry-After``; refusals are not logged one
by one (3,000 tries would be 3,000 lines) but once per client and period, in a summary line.
The client is the connection's address: behind a reverse proxy, uvicorn takes it from
``X-Forwarded-For`` when the proxy's address is in ``FORWARDED_ALLOW_IPS``.
"""
from __future__ import annotations

import json
import math
import threading
import time
import uuid

from limits import parse_many, storage, strategies
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import error_body
from .logs import get_logger

log = get_logger("guide_match.service.throttle")

SUMMARY_PERIOD = 60.0
"""Seconds between two summary lines for one client."""


def client_of(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "-"


class ClientLimits:
    """A rate per client (``limits`` syntax, e.g. ``60/minute;1000/hour``); an empty rate limits nothing."""

    def __init__(self, rate: str, name: str):
        self.items = parse_many(rate) if rate else []
        self.name = name
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def __bool__(self) -> bool:
        return bool(self.items)

    def hit(self, client: str) -> bool:
        """Count one event for ``client``; False when it is over a limit."""
        return all(self._limiter.hit(item, self.name, client) for item in self.items)

    def blocked_for(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: it may now)."""
        wait = 0.0
        for item in self.items:
            if not self._limiter.test(item, self.name, client):
                wait = max(wait, self._limiter.get_window_stats(item, self.name, client).reset_time - time.time())
        return wait


class RefusalLog:
    """Logs the first refusal of a client in a period, and how many followed it when the period ends."""

    def __init__(self, what: str, period: float = SUMMARY_PERIOD):
        self.what = what
        self.period = period
        self._lock = threading.Lock()
        self._open: dict[str, tuple[float, int]] = {}  # client -> (first refusal, refusals since)

    def refused(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._flush(now)
            if client in self._open:
                first, n = self._open[client]
                self._open[client] = (first, n + 1)
                return
            self._open[client] = (now, 0)
        log.warning("%s from %s: refused with 429 (further refusals are summarised)", self.what, client)

    def flush(self, force: bool = False) -> None:
        with self._lock:
            self._flush(math.inf if force else time.monotonic())

    def _flush(self, now: float) -> None:
        for client, (first, n) in list(self._open.items()):
            if now - first >= self.period:
                del self._open[client]
                if n:
                    log.warning("%s from %s: %d more refused in the last %.0f s", self.what, client, n,
                                min(now, time.monotonic()) - first)


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


async def send_429(send: Send, message: str, wait: float) -> None:
    """A 429 in the API's error shape, with ``Retry-After`` and a request id."""
    body = json.dumps(error_body("too_many_requests", message), ensure_ascii=False, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"retry-after", retry_after(wait).encode()), (b"x-request-id", uuid.uuid4().hex.encode())]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})


STAFF_PREFIX = "/v1/routing"


def is_public_api(path: str) -> bool:
    """The public endpoints the rate limit covers: ``/v1/…`` except the staff ones (which need a key)."""
    return path.startswith("/v1/") and not path.startswith(STAFF_PREFIX)


class RateLimitMiddleware:
    """Refuses a client over the public endpoints' rate before its request is read (pure ASGI)."""

    def __init__(self, app: ASGIApp, limits: ClientLimits, refusals: RefusalLog):
        self.app = app
        self.limits = limits
        self.refusals = refusals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.limits and is_public_api(scope.get("path", "")):
            client = client_of(scope)
            if not self.limits.hit(client):
                self.refusals.refused(client)
                wait = self.limits.blocked_for(client)
                await send_429(send, f"too many requests from this address; retry in {retry_after(wait)} s", wait)
                return
        await self.app(scope, receive, send)
