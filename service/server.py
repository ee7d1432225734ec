"""``guide-match serve``: run the API with uvicorn.

One worker runs the app in this process. Several workers run uvicorn's factory mode
(``service.app:create_app``): each worker process builds its own app and loads its own
matcher once, in the lifespan. Before any worker starts, this process imports the heavy
modules and initialises jieba, so its dictionary cache is built once on disk instead of
being raced by every worker, and the model's CPU threads are divided among the workers.

Connections are bounded from the settings: at most ``GUIDE_MATCH_LIMIT_CONCURRENCY`` at once
(more get 503), idle keep-alive ones closed after ``GUIDE_MATCH_KEEP_ALIVE_TIMEOUT`` s, and a
client that has not sent a whole request head within ``GUIDE_MATCH_READ_TIMEOUT`` s is
disconnected (:class:`TimedH11Protocol`; the request guard holds bodies to the same time).
In production, put a reverse proxy in front as well (README).
"""
from __future__ import annotations

import logging
import os
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import Settings, get_settings


class TimedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request head.

    uvicorn closes idle keep-alive connections, but waits for ever on one whose request line or
    headers never finish (thousands of them hold as many descriptors). The deadline starts when
    the connection opens and again after each response; it is met when a new request begins.
    """

    head_timeout: float | None = None
    """Seconds; None: ``GUIDE_MATCH_READ_TIMEOUT`` (how worker processes, which import this class, get it)."""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_deadline()

    def connection_lost(self, exc) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        timeout = self.head_timeout or get_settings().read_timeout
        self._head_deadline = self.loop.call_later(timeout, self._head_overdue, self.cycle)

    def _cancel_head_deadline(self) -> None:
        handle = getattr(self, "_head_deadline", None)
        if handle is not None:
            handle.cancel()
            self._head_deadline = None

    def _head_overdue(self, cycle_then) -> None:
        if self.cycle is cycle_then and not self.transport.is_closing():
            self.transport.close()  # no new request began in time


def timed_protocol(head_timeout: float) -> type[TimedH11Protocol]:
    """The protocol class with this head timeout (a module-level class, so worker processes can import it)."""
    TimedH11Protocol.head_timeout = head_timeout
    return TimedH11Protocol


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The connection limits and timeouts every ``guide-match serve`` (and the tests' live server) uses."""
    return dict(
        http=timed_protocol(settings.read_timeout),
        limit_concurrency=settings.limit_concurrency,
        timeout_keep_alive=settings.keep_alive_timeout,
        server_header=False,
        timeout_graceful_shutdown=10,
    )


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging plus the service's loggers (request lines carry the request id, never a body)."""
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"()": "service.logs.SafeFormatter", "format": fmt}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "guide_match": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


def prepare_parent(workers: int) -> None:
    """Work done once before the workers start: jieba's cache, heavy imports, thread budget."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()  # writes the dictionary cache the workers' tokenizers then read
    import matcher.text  # noqa: F401  (jieba, opencc)

    if workers > 1 and not {"GUIDE_MATCH_THREADS", "GUIDE_MATCH_TORCH_THREADS"} & os.environ.keys():
        os.environ["GUIDE_MATCH_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> int:
    import uvicorn

    settings = get_settings()
    if workers < 1:
        raise ValueError("workers must be at least 1")
    prepare_parent(workers)
    options: dict[str, Any] = dict(
        host=host,
        port=port,
        log_config=log_config(settings.log_level),
        access_log=False,  # the service logs its own request lines, with the request id
        **uvicorn_options(settings),
    )
    if workers == 1:
        from .app import create_app

        uvicorn.run(create_app(settings), **options)
    else:
        uvicorn.run("service.app:create_app", factory=True, workers=workers, **options)
    return 0
