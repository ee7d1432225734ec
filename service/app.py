"""The FastAPI application: ``create_app(settings=None, matcher=None)``.

The matcher is loaded once per worker in the lifespan (in a thread, so start-up does
not block the loop) unless one is injected, as the tests do with the session's matcher.

For uvicorn: ``uvicorn --factory service.app:create_app`` (what ``guide-match serve`` does
with several workers), or ``uvicorn service.app:app``; ``app`` is created on first access,
so importing this module loads nothing.
"""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from matcher.version import package_version

from .errors import RequestGuardMiddleware, install_exception_handlers
from .headers import SecurityHeadersMiddleware
from .logs import get_logger
from .readiness import Readiness
from .routers import check, directions, health, limits, match, routing, web
from .routers.web import DOCS_ASSETS_DIR, DOCS_ASSETS_URL, STATIC_DIR
from .schemas.check import document_limits
from .settings import Settings, get_settings
from .throttle import SUMMARY_PERIOD, ClientLimits, RateLimitMiddleware, RefusalLog

log = get_logger("guide_match.service")

# The routers the app serves, in order. Staff-only endpoints add theirs here, e.g.
#   from .routers import routing;  ROUTERS.append(routing.router)
# (or one line in create_app: ``app.include_router(routing.router)``).
ROUTERS: list[APIRouter] = [
    health.router, match.router, check.router, directions.router, limits.router, routing.router, web.router,
]

DESCRIPTION = """\
Matches Chinese R&D proposal titles and abstracts to the 40 support directions of the
2024 中国—东盟产业合作区建设专项项目申报指南.

Every error has the shape `{"error": {"code", "message", "field"}}`; every response carries
an `X-Request-ID` header (quote it when reporting a problem). Proposal texts are not logged
and not stored.
"""


def load_matcher(settings: Settings):
    """Load the matcher (seconds: corpus, model, cached direction embeddings)."""
    from matcher import Matcher

    return Matcher.load(settings.matcher)


def routing_worker(app: FastAPI):
    """The app's routing worker: runs queued routing jobs in a thread of this process (see :mod:`routing.jobs`)."""
    from routing import Router
    from routing.jobs import RoutingWorker

    settings = app.state.settings.routing
    return RoutingWorker(lambda store: Router(app.state.matcher, store, stale_seconds=settings.job_stale_seconds),
                         settings.db, settings.job_poll_seconds, settings.job_stale_seconds)


@asynccontextmanager
async def lifespan(app: FastAPI):
    if app.state.matcher is None:
        log.info("loading the matcher")
        try:
            app.state.matcher = await anyio.to_thread.run_sync(load_matcher, app.state.settings)
        except Exception:
            log.exception("the matcher could not be loaded")
            raise
        log.info("matcher ready: %s", app.state.matcher.version)
    worker = app.state.routing_worker = routing_worker(app)
    worker.start()
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_summarise_refusals, app)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
    finally:  # outside the cancelled scope, so the wait for the worker is not cancelled with it
        await anyio.to_thread.run_sync(worker.stop)
        app.state.routing_worker = None
        for refusals in (app.state.rate_refusals, app.state.key_refusals):
            refusals.flush(force=True)


async def _summarise_refusals(app: FastAPI) -> None:
    """Write the throttles' summary lines once their period is over, even for a client that went quiet."""
    while True:
        await anyio.sleep(SUMMARY_PERIOD / 4)
        for refusals in (app.state.rate_refusals, app.state.key_refusals):
            refusals.flush()


def _openapi_with_limits(app: FastAPI, settings: Settings):
    """FastAPI's OpenAPI document, with the limits that come from the settings written in."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = base()
        comps = schema.get("components", {}).get("schemas", {})
        # A batch item's text has no maxLength: an overlong item gets its own error entry and the
        # others are still matched, so the request as a whole is not refused.
        prop = comps.get("MatchRequest", {}).get("properties", {}).get("text")
        if prop is not None:
            prop["maxLength"] = settings.max_text_chars
        if "CheckRequest" in comps:
            from eligibility import rulebook_for

            document_limits(comps["CheckRequest"]["properties"], settings, rulebook_for(settings.eligibility.rules))
        for name, limit in (("BatchRequest", settings.max_batch_items), ("RunRequest", settings.routing.max_proposals)):
            items = comps.get(name, {}).get("properties", {}).get("items")
            if items is not None:
                items["maxItems"] = limit
        # The request guard answers for every operation that takes a body, before any route runs.
        guard = {
            "400": "Body is not valid JSON or not valid UTF-8, nested too deeply or with a number too long",
            "408": "Body not sent within the read timeout",
            "413": "Body over the size limit",
            "415": "Content-Type not accepted",
        }
        error_ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
        throttled = {"description": "Too many requests from this address (rate limit, or too many wrong staff keys); "
                     "see Retry-After", "content": error_ref}
        for path, ops in schema.get("paths", {}).items():
            for op in ops.values():
                if not isinstance(op, dict):
                    continue
                responses = op.setdefault("responses", {})
                if "requestBody" in op:
                    for status, description in guard.items():
                        responses.setdefault(status, {"description": description, "content": error_ref})
                if path.startswith("/v1/"):  # the public rate limit, or the staff endpoints' wrong-key throttle
                    responses.setdefault("429", throttled)
        app.openapi_schema = schema
        return schema

    return openapi


def create_app(settings: Settings | None = None, matcher: Any = None) -> FastAPI:
    """A new app; ``matcher`` is used as is (no model load at start-up) when given."""
    settings = settings or get_settings()
    logging.getLogger("guide_match").setLevel(settings.log_level)
    app = FastAPI(
        title="guide-match",
        version=package_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # /docs is served by routers/web.py with local Swagger UI files (no CDN)
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.matcher = matcher
    app.state.readiness = Readiness()
    app.state.rate_limits = ClientLimits(settings.rate_limit, "public")
    app.state.rate_refusals = RefusalLog("requests over the rate limit (GUIDE_MATCH_RATE_LIMIT)")
    app.state.key_failures = ClientLimits(settings.key_failure_limit, "staff-key-failures")
    app.state.key_refusals = RefusalLog("staff requests after too many wrong API keys")
    app.state.routing_worker = None
    install_exception_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-assets")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.openapi = _openapi_with_limits(app, settings)  # type: ignore[method-assign]
    # Middleware: the last added is the outermost. The rate limit refuses before a body is read;
    # the security headers cover the guard's own answers; CORS wraps them all so that the 413/415/
    # 400/429 answers still carry CORS headers for the portal's browser.
    app.add_middleware(RequestGuardMiddleware, max_body_bytes=settings.max_body_bytes,
                       max_json_depth=settings.max_json_depth, read_timeout=settings.read_timeout)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RateLimitMiddleware, limits=app.state.rate_limits, refusals=app.state.rate_refusals)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-Request-ID", "X-API-Key", "Authorization"],
            expose_headers=["X-Request-ID"],
            max_age=600,
        )
    return app


def __getattr__(name: str):
    # ``uvicorn service.app:app``: the app is created on first access, not on import.
    if name == "app":
        global app
        app = create_app()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
