"""``GET|HEAD /healthz`` (the process is up) and ``GET|HEAD /readyz`` (the model is loaded and answering).

``/healthz`` touches neither the model nor the thread pool, so it answers while the
workers' threads are busy with slow or huge requests. ``/readyz`` answers from a recent
successful match when there is one, else from one shared probe (:mod:`service.readiness`).
Load balancers probe with HEAD as well as GET.
"""
from __future__ import annotations

from fastapi import APIRouter, Request

from ..errors import ApiError
from ..schemas import ErrorResponse, HealthResponse, ReadyResponse

router = APIRouter(tags=["health"])

PROBE_TEXT = "锂离子电池正极材料制备技术"


@router.head("/healthz", include_in_schema=False)
@router.get("/healthz", response_model=HealthResponse, summary="The process is up")
async def healthz() -> dict:
    return {"status": "ok"}


@router.head("/readyz", include_in_schema=False)
@router.get(
    "/readyz",
    response_model=ReadyResponse,
    responses={503: {"model": ErrorResponse}},
    summary="The model is loaded and answers (a recent match, or a probe match)",
)
async def readyz(request: Request) -> dict:
    matcher = getattr(request.app.state, "matcher", None)
    if matcher is None:
        raise ApiError(503, "not_ready", "the matching model is not loaded yet")
    settings = request.app.state.settings
    readiness = request.app.state.readiness
    if not readiness.answered_within(settings.ready_max_age):
        try:
            await readiness.wait(lambda: matcher.match(PROBE_TEXT, top_k=1), settings.ready_timeout)
        except TimeoutError:
            raise ApiError(503, "not_ready",
                           f"the model did not answer a probe match within {settings.ready_timeout:g} s") from None
        except Exception as exc:  # a broken model is "not ready", not a crash
            raise ApiError(503, "not_ready", f"the model failed a probe match ({type(exc).__name__})") from None
    return {"status": "ready", "version": matcher.version}
