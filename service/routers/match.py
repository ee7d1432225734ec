"""``POST /v1/match`` and ``POST /v1/match/batch``: the matcher's ranking, off the event loop."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from matcher import InputError, Matcher

from ..deps import get_matcher, get_settings
from ..errors import ApiError, from_input_error
from ..schemas import ERROR_RESPONSES, BatchRequest, BatchResponse, MatchRequest, MatchResponse
from ..settings import Settings

router = APIRouter(prefix="/v1", tags=["match"])


@router.post(
    "/match",
    response_model=MatchResponse,
    responses=ERROR_RESPONSES,
    summary="Rank the guide's directions for one title or abstract",
)
async def match(
    body: MatchRequest,
    matcher: Annotated[Matcher, Depends(get_matcher)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> dict:
    try:
        # CPU-bound: in a worker thread, so the event loop (and /healthz) stays free. Coalescing
        # concurrent requests into match_many was measured and was slower under load (README).
        result = await run_in_threadpool(matcher.match, body.text, body.top_k, settings.max_text_chars)
    except InputError as err:
        raise from_input_error(err) from None
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
    results = await run_in_threadpool(
        lambda: matcher.match_many([body.items[i].text for i in todo], top_k=top_k, on_error="return")
    )
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
