"""``guide-match serve``: run the API with uvicorn.

One worker runs the app in this process. Several workers run uvicorn's factory mode
(``service.app:create_app``): each worker process builds its own app and loads its own
matcher once, in the lifespan. Before any worker starts, this process imports the heavy
modules and initialises jieba, so its dictionary cache is built once on disk instead of
being raced by every worker, and the model's CPU threads are divided among the workers.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from .settings import get_settings


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging plus the service's loggers (request lines carry the request id, never a body)."""
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": fmt}},
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
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    if workers == 1:
        from .app import create_app

        uvicorn.run(create_app(settings), **options)
    else:
        uvicorn.run("service.app:create_app", factory=True, workers=workers, **options)
    return 0
