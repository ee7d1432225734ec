"""Readiness that holds under load: ``/readyz`` must not fail because the server is busy.

A match that finished a moment ago shows the model is loaded and answering, so ``/readyz`` says
ready without touching the model. Otherwise one probe match runs on a thread of its own (it does
not queue behind the requests waiting for the worker's thread pool), and every ``/readyz`` that
arrives meanwhile waits for that same probe: a probe that outlives its caller is never started
again, so abandoned probes cannot pile up.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future


class Readiness:
    def __init__(self) -> None:
        self._last_success: float | None = None
        self._lock = threading.Lock()
        self._probe: Future | None = None

    def mark(self) -> None:
        """A match has just finished (called by the matching endpoints, after each chunk of a batch)."""
        self._last_success = time.monotonic()

    def answered_within(self, seconds: float) -> bool:
        return self._last_success is not None and time.monotonic() - self._last_success <= seconds

    def probe(self, work: Callable[[], object]) -> Future:
        """The running probe, or a new one running ``work`` on its own thread."""
        with self._lock:
            if self._probe is None or self._probe.done():
                future: Future = Future()

                def run() -> None:
                    try:
                        work()
                    except BaseException as exc:  # noqa: BLE001  (reported through the future)
                        future.set_exception(exc)
                    else:
                        self.mark()
                        future.set_result(None)

                threading.Thread(target=run, name="guide-match-readiness-probe", daemon=True).start()
                self._probe = future
            return self._probe

    async def wait(self, work: Callable[[], object], timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the probe; TimeoutError when it is still running."""
        await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self.probe(work))), timeout)
