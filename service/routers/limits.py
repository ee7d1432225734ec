"""``GET /v1/limits``: the limits the API enforces, so the page and the portal never hard-code them."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from ..deps import get_settings
from ..schemas import LimitsResponse
from ..settings import Settings

router = APIRouter(prefix="/v1", tags=["guide"])


@router.get("/limits", response_model=LimitsResponse, summary="The limits of texts, batches, bodies and routing tables")
async def limits(settings: Annotated[Settings, Depends(get_settings)]) -> dict:
    return {
        "max_text_chars": settings.matcher.max_text_chars,
        "min_text_chars": settings.matcher.min_text_chars,
        "max_batch_items": settings.max_batch_items,
        "max_body_bytes": settings.max_body_bytes,
        "max_routing_proposals": settings.routing.max_proposals,
    }
