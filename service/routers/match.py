"""``POST /v1/match`` and ``POST /v1/match/batch``: the matcher's ranking, off the event loop.

Each request has a time budget (``GUIDE_MATCH_TIME_BUDGET``) counted from its arrival: a request
still waiting for a thread when it runs out is answered 503 without matching, and a batch stops
between chunks, answering the items it did not reach with an error entry of their own.
"""
from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from matcher import InputError, Matcher

from ..deps import get_matcher, get_settings, request_deadline
from ..errors import ApiError, from_input_error
from ..schemas import ERROR_RESPONSES, BatchRequest, BatchResponse, MatchRequest, MatchResponse
from ..settings import Settings

router = APIRouter(prefix="/v1", tags=["match"])

BUDGET_CHUNK = 64
"""Items matched between two looks at a batch's time budget (the matcher's own chunk size)."""


@router.post(
    "/match",
    response_model=MatchResponse,
    responses=ERROR_RESPONSES,
    summary="Rank the guide's directions for one title or abstract",
)
async def match(
    body: MatchRequest,
    request: Request,
    matcher: Annotated[Matcher, Depends(get_matcher)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> dict:
    deadline = request_deadline(request)

    def work():
        if time.monotonic() > deadline:
            return None  # waited out its budget behind other requests: not worth starting
        result = matcher.match(body.text, body.top_k, settings.max_text_chars)
        request.app.state.readiness.mark()
        return result

    try:
        # CPU-bound: in a worker thread, so the event loop (and /healthz) stays free. Coalescing
        # concurrent requests into match_many was measured and was slower under load (README).
        result = await run_in_threadpool(work)
    except InputError as err:
        raise from_input_error(err) from None
    if result is None:
        raise ApiError(503, "busy", f"the server is busy: the request waited past its time budget of "
                       f"{settings.time_budget:g} s; retry shortly", headers={"Retry-After": "5"})
    return result.to_dict()


@router.post(
    "/match/batch",
    response_model=BatchResponse,
    responses=ERROR_RESPONSES,
    summary="Rank the directions for many items; a bad item gets its own error entry",
    description="At most `GUIDE_MATCH_MAX_BATCH_ITEMS` items (200 by default). Results come back in "
    "request order; an item with an empty, too short or too long text gets `error` instead of "
    "`result` and the other items are still matched.",
)
async def match_batch(
    body: BatchRequest,
    request: Request,
    matcher: Annotated[Matcher, Depends(get_matcher)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> dict:
    if len(body.items) > settings.max_batch_items:
        raise ApiError(
            422,
            "too_many_items",
            f"the batch has {len(body.items)} items; at most {settings.max_batch_items} are accepted per request",
            "items",
        )
    try:
        top_k = matcher.check_top_k(body.top_k)
    except InputError as err:
        raise from_input_error(err) from None
    limit = settings.max_text_chars
    errors: dict[int, ApiError] = {}
    for i, item in enumerate(body.items):
        try:
            matcher.check_text(item.text, f"items[{i}].text", max_chars=limit)
        except InputError as err:
            errors[i] = from_input_error(err)
    todo = [i for i in range(len(body.items)) if i not in errors]
    deadline = request_deadline(request)
    readiness = request.app.state.readiness

    def work() -> list:
        results: list = []
        for start in range(0, len(todo), BUDGET_CHUNK):
            if time.monotonic() > deadline:
                break
            chunk = [body.items[i].text for i in todo[start : start + BUDGET_CHUNK]]
            results += matcher.match_many(chunk, top_k=top_k, on_error="return")
            readiness.mark()
        return results

    results = await run_in_threadpool(work)
    for i in todo[len(results):]:
        errors[i] = ApiError(422, "time_budget_exceeded", f"not matched within the request's time budget of "
                             f"{settings.time_budget:g} s; send this item again", f"items[{i}]")
    out: list[dict | None] = [None] * len(body.items)
    for i, res in zip(todo, results):
        if isinstance(res, InputError):
            errors[i] = from_input_error(res, field=f"items[{i}].{res.field or 'text'}")
        else:
            out[i] = res.to_dict()
    items = [
        {
            "id": item.id,
            "result": out[i],
            "error": errors[i].body()["error"] if i in errors else None,
        }
        for i, item in enumerate(body.items)
    ]
    return {"items": items, "matched": len(items) - len(errors), "failed": len(errors)}
