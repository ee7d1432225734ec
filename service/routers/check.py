"""``POST /v1/check``: a proposal held against the guide's rules. Public like ``/v1/match``: the text
is read, judged and forgotten (nothing stored, nothing of it logged)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from matcher import InputError

from ..deps import get_rulebook, get_settings
from ..errors import from_input_error
from ..schemas import ERROR_RESPONSES, CheckRequest, CheckResponse
from ..settings import Settings

router = APIRouter(prefix="/v1", tags=["check"])


@router.post(
    "/check",
    response_model=CheckResponse,
    responses={k: v for k, v in ERROR_RESPONSES.items() if k != 503},
    summary="Hold a proposal against the guide's funding, ratio, duration and target rules",
    description="Send the fields you know and/or `text` (abstract, 考核指标 and 经费 paragraphs); amounts, dates "
    "and counts are read from the text, and given fields win. Each verdict quotes the guide's sentence. "
    "`eligible` is null when no rule fails but some are not stated; `missing` lists the fields to add.",
)
async def check(
    body: CheckRequest,
    rulebook: Annotated[object, Depends(get_rulebook)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> dict:
    from eligibility import check as judge  # imported on first use: matching alone never loads it

    try:
        verdict = await run_in_threadpool(judge, body.model_dump(exclude_none=True), rulebook, settings.eligibility,
                                          settings.max_text_chars)
    except InputError as err:
        raise from_input_error(err) from None
    return verdict.to_dict()
