"""``GET /v1/directions``, ``GET /v1/directions/{id}`` and ``GET /v1/clusters``: the guide as data."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from matcher import Matcher

from ..deps import get_matcher
from ..errors import ApiError
from ..schemas import ClustersResponse, DirectionOut, DirectionsResponse, ErrorResponse

router = APIRouter(prefix="/v1", tags=["guide"])


def _digits_only(value: object) -> object:
    """A direction number is digits and nothing else: ``1%0a`` (``"1\\n"``) or `` 1`` is not 1."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise PydanticCustomError("int_parsing", "a direction number is written with digits only, e.g. 22")
    return value


def direction_dict(d) -> dict:
    return {
        "id": d.id,
        "title": d.title,
        "text": d.text,
        "en": d.en,
        "clusters": list(d.clusters),
        "cluster_note": d.cluster_note,
        "terms": list(d.terms),
    }


@router.get(
    "/directions",
    response_model=DirectionsResponse,
    responses={503: {"model": ErrorResponse}},
    summary="The support directions of the guide, with their official text",
)
async def list_directions(matcher: Annotated[Matcher, Depends(get_matcher)]) -> dict:
    return {"directions": [direction_dict(d) for d in matcher.directions]}


@router.get(
    "/directions/{direction_id}",
    response_model=DirectionOut,
    responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
    summary="One support direction by its number in the guide",
)
async def get_direction(
    direction_id: Annotated[int, BeforeValidator(_digits_only), Path(description="The direction's number in the guide (1–40).")],
    matcher: Annotated[Matcher, Depends(get_matcher)],
) -> dict:
    for d in matcher.directions:
        if d.id == direction_id:
            return direction_dict(d)
    ids = [d.id for d in matcher.directions]
    raise ApiError(
        404, "direction_not_found", f"no direction {direction_id}; directions are numbered {min(ids)}–{max(ids)}",
        "direction_id",
    )


@router.get(
    "/clusters",
    response_model=ClustersResponse,
    responses={503: {"model": ErrorResponse}},
    summary="The industry clusters and the directions in each",
)
async def list_clusters(matcher: Annotated[Matcher, Depends(get_matcher)]) -> dict:
    return {
        "clusters": [
            {
                "name": c.name,
                "en": c.en,
                "description": c.description,
                "directions": [d.id for d in matcher.directions if c.name in d.clusters],
            }
            for c in matcher.clusters
        ]
    }
