"""FastAPI dependencies shared by the routers: the settings, the loaded matcher, the staff API key."""
from __future__ import annotations

import secrets
import time
from typing import Annotated

from fastapi import Depends, Request

from matcher import Matcher

from .errors import ApiError, logged_path
from .logs import get_logger
from .settings import Settings
from .throttle import client_of, retry_after

log = get_logger("guide_match.service.auth")


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings


def get_matcher(request: Request) -> Matcher:
    """The worker's matcher, loaded once in the lifespan; 503 while there is none."""
    matcher = getattr(request.app.state, "matcher", None)
    if matcher is None:
        raise ApiError(503, "not_ready", "the matching model is not loaded yet; retry shortly")
    return matcher


def get_rulebook(request: Request):
    """The rules the pre-check holds proposals against (``GUIDE_MATCH_ELIGIBILITY_RULES``), read once per app."""
    rulebook = getattr(request.app.state, "rulebook", None)
    if rulebook is None:
        from eligibility import rulebook_for

        rulebook = request.app.state.rulebook = rulebook_for(request.app.state.settings.eligibility.rules)
    return rulebook


def request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def request_deadline(request: Request) -> float:
    """When the request's time budget runs out (``time.monotonic()``), counted from its arrival."""
    started = getattr(request.state, "started", None) or time.monotonic()
    return started + request.app.state.settings.time_budget


def _presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def require_api_key(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> str:
    """Staff-only endpoints: a key from ``GUIDE_MATCH_API_KEYS`` in ``X-API-Key`` or ``Authorization: Bearer``.

    Returns an opaque label of the key that matched (its position, never the key itself),
    for audit logs. A missing or wrong key gets 401 in the API's error shape; the attempt
    is logged with the request id and client address, never with the key presented. A client
    with too many wrong keys (``GUIDE_MATCH_KEY_FAILURE_LIMIT``) gets 429 until its window
    passes, whatever key it sends; those refusals are summarised in the log, not listed.
    """
    failures = request.app.state.key_failures
    client = client_of(request.scope)
    wait = failures.blocked_for(client) if failures else 0.0
    if wait > 0:
        request.app.state.key_refusals.refused(client)
        raise ApiError(429, "too_many_requests",
                       f"too many wrong API keys from this address; retry in {retry_after(wait)} s", "X-API-Key",
                       headers={"Retry-After": retry_after(wait)})
    presented = _presented_key(request)
    matched = None
    if presented is not None:
        candidate = presented.encode("utf-8", "surrogateescape")
        for i, key in enumerate(settings.api_keys):
            # compare against every key, so the time taken does not reveal which one nearly matched
            if secrets.compare_digest(candidate, key.encode("utf-8")) and matched is None:
                matched = f"key#{i + 1}"
    if matched is None:
        reason = "missing" if presented is None else "invalid"
        if failures:
            failures.hit(client)
        log.warning(
            "rejected %s API key for %s %s from %s [request_id=%s]",
            reason, request.method, logged_path(request.scope), client, request_id(request),
        )
        raise ApiError(
            401,
            "unauthorized",
            "this endpoint needs a valid API key in the X-API-Key header (or Authorization: Bearer)",
            "X-API-Key",
            headers={"WWW-Authenticate": 'Bearer realm="guide-match"'},
        )
    return matched
