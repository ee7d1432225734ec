"""Staff-only routing of proposals to expert panels (needs an API key in ``X-API-Key``).

- ``POST /v1/routing/runs``: route a table (multipart file: .csv, .xlsx, .jsonl) or JSON items.
- ``GET /v1/routing/runs/{run_id}``: the run as stored now, with its overrides.
- ``POST /v1/routing/runs/{run_id}/overrides``: move a proposal to another panel, with a reason.
- ``GET /v1/routing/runs/{run_id}/export.xlsx``: the routing sheet for program officers.

The work is :class:`routing.Router`'s; this module only speaks HTTP. The database and the
panels file come from the settings (``GUIDE_MATCH_ROUTING_DB``, ``GUIDE_MATCH_ROUTING_PANELS``).
Routing a few hundred proposals takes minutes (the matcher reads each one); the request waits.
"""
from __future__ import annotations

import json
import re
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from matcher import InputError
from matcher.tables import TableTooLarge
from routing import PanelsError, Router, RoutingInfeasible, RoutingOptions, proposals_from_items, read_proposals
from routing.export import to_json, xlsx_bytes
from routing.options import parse_closed, parse_extra_room
from routing.proposals import Proposal
from routing.router import OverrideRefused
from routing.store import NotFound, RunState

from ..deps import get_matcher, require_api_key
from ..errors import ApiError
from ..logs import get_logger
from ..schemas import ErrorResponse, OverrideRequest, OverrideResponse, RunOptionsIn, RunOut, RunRequest

log = get_logger("guide_match.service.routing")

router = APIRouter(prefix="/v1/routing", tags=["routing (staff)"])

UPLOAD_SUFFIXES = (".csv", ".xlsx", ".jsonl")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._\-\u4e00-\u9fff]+")
_router_lock = threading.Lock()

STAFF_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or wrong API key (logged)"},
    404: {"model": ErrorResponse, "description": "No such run or proposal"},
    409: {"model": ErrorResponse, "description": "The panels cannot take the proposals, or the override is not allowed"},
    413: {"model": ErrorResponse, "description": "Body over the size limit"},
    415: {"model": ErrorResponse, "description": "Not JSON nor a multipart upload"},
    422: {"model": ErrorResponse, "description": "Bad file, bad item or bad option"},
    503: {"model": ErrorResponse, "description": "Model not loaded"},
}


# -- helpers --------------------------------------------------------------------------------------
def get_router(request: Request) -> Router:
    """The app's one Router (its database and panels from the settings), made on first use."""
    app = request.app
    existing = getattr(app.state, "routing_router", None)
    if existing is not None:
        return existing
    matcher = get_matcher(request)
    settings = app.state.settings
    with _router_lock:
        existing = getattr(app.state, "routing_router", None)
        if existing is None:
            try:
                existing = Router(matcher, settings.routing.db, settings.routing.panels)
                existing.panels  # load and validate now: a broken file is the server's problem
            except InputError as err:
                log.error("routing is not available: %s", err.message)
                # The message names the panels file by its name only (routing.panels), never its folder.
                raise ApiError(500, "routing_unavailable", f"routing is not configured correctly: {err.message}") from None
            app.state.routing_router = existing
    return existing


def _actor(key_label: str, given: str | None) -> str:
    given = (given or "").strip()
    return f"{given} ({key_label})" if given else key_label


def run_body(state: RunState) -> dict:
    body = to_json(state)
    run = state.run
    body.update(
        reused=state.reused,
        created_at=run.created_at,
        actor=run.actor,
        source=run.source,
        n_proposals=run.n_proposals,
        n_flagged=sum(r.flagged for r in state.rows),
        notes=run.notes,
        overrides=[dict(vars(o)) for o in state.overrides],
        export_url=f"/v1/routing/runs/{run.run_id}/export.xlsx",
    )
    return body


def _api_error(err: InputError) -> ApiError:
    if isinstance(err, NotFound):
        code = "run_not_found" if err.field == "run_id" else "proposal_not_found"
        return ApiError(404, code, err.message, err.field)
    if isinstance(err, RoutingInfeasible):
        return ApiError(409, "routing_infeasible", err.message, "panels")
    if isinstance(err, OverrideRefused):
        return ApiError(409, "override_refused", err.message, err.field)
    if isinstance(err, PanelsError):
        return ApiError(422, "invalid_panel_option", err.message, err.field)
    if isinstance(err, TableTooLarge):
        return ApiError(413, err.code, err.message, err.field)
    return ApiError(422, err.code if err.code in ("field_too_long", "invalid_text") else "invalid_input", err.message,
                    err.field)


async def _run_state(routing: Router, run_id: str) -> RunState:
    """A stored run, or the API's error for it (404 for an unknown run)."""
    try:
        return await run_in_threadpool(routing.state, run_id)
    except InputError as err:
        raise _api_error(err) from None


def _validated(model: type[BaseModel], data: Any) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in err.errors()]) from None


async def _read_upload(upload: UploadFile, settings) -> tuple[list[Proposal], str]:
    name = Path(upload.filename or "").name
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise ApiError(422, "invalid_file_type",
                       f"the file's type {suffix[:16] or '(none)'!r} is not accepted; accepted types are "
                       f"{', '.join(UPLOAD_SUFFIXES)}", "file")
    data = await upload.read()
    safe = _SAFE_NAME.sub("_", name)[:100] or f"proposals{suffix}"
    limits = settings.matcher.table_limits(settings.routing.max_proposals)

    def parse() -> list[Proposal]:
        with tempfile.TemporaryDirectory(prefix="guide-match-upload-") as tmp:
            path = Path(tmp) / f"upload{suffix}"
            path.write_bytes(data)
            return read_proposals(path, limits, label=safe)

    return await run_in_threadpool(parse), safe


async def _run_request(request: Request) -> tuple[list[Proposal], RunOptionsIn, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "missing_field", "the upload needs a file field named 'file' (.csv, .xlsx or .jsonl)", "file")
        unknown = sorted(set(form.keys()) - {"file", "panels_closed", "extra_room", "conflict_rule", "flag_below", "actor"})
        if unknown:
            raise ApiError(422, "unknown_field", f"unknown form field {unknown[0]!r}", unknown[0])
        fields: dict[str, Any] = {"panels_closed": list(parse_closed(form.getlist("panels_closed")))}
        room = [str(v) for v in form.getlist("extra_room") if str(v).strip()]
        if room and room[0].lstrip().startswith("{"):
            try:
                fields["extra_room"] = json.loads(room[0])
            except json.JSONDecodeError:
                raise ApiError(422, "invalid_value", "extra_room: not a JSON object", "extra_room") from None
        elif room:
            fields["extra_room"] = parse_extra_room([p for v in room for p in v.split(",") if p.strip()], "extra_room")
        for key in ("conflict_rule", "flag_below", "actor"):
            value = form.get(key)
            if isinstance(value, str) and value.strip():
                fields[key] = value.strip()
        options = _validated(RunOptionsIn, fields)
        proposals, source = await _read_upload(upload, request.app.state.settings)
        return proposals, options, source
    try:
        data = await request.json()
    except json.JSONDecodeError as err:
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON ({err.msg})") from None
    except (ValueError, RecursionError):  # the request guard refuses these first; never a 500 here
        raise ApiError(400, "invalid_json", "the request body holds a number too long or nesting too deep") from None
    body = _validated(RunRequest, data)
    limit = request.app.state.settings.routing.max_proposals
    if len(body.items) > limit:
        raise ApiError(422, "too_many_items", f"the run has {len(body.items)} items; at most {limit} are accepted", "items")
    proposals = proposals_from_items(body.items)
    return proposals, body, f"api: {len(body.items)} items"


# -- endpoints ------------------------------------------------------------------------------------
@router.post(
    "/runs",
    response_model=RunOut,
    status_code=201,
    responses={200: {"model": RunOut, "description": "Same input, panels and options as a stored run: that run"},
               **STAFF_ERRORS},
    summary="Route proposals to expert panels (staff)",
    description="Send a table as a multipart upload (field `file`: .csv UTF-8, .xlsx or .jsonl; optional fields "
    "`panels_closed` (comma-separated), `extra_room` (`P06=20,P05=5` or a JSON object), `conflict_rule`, "
    "`flag_below`, `actor`), or JSON `{\"items\": [...], \"panels_closed\": [...], \"extra_room\": {...}}`. "
    "201 with the new run; 200 with the stored run when the same input was routed before.",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": RunRequest.model_json_schema(ref_template="#/components/schemas/{model}")},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "panels_closed": {"type": "string"},
                            "extra_room": {"type": "string"},
                            "conflict_rule": {"type": "string", "enum": ["quorum", "strict"]},
                            "flag_below": {"type": "number"},
                            "actor": {"type": "string"},
                        },
                    }
                },
            },
            "required": True,
        }
    },
)
async def create_run(
    request: Request,
    response: Response,
    key: Annotated[str, Depends(require_api_key)],
) -> dict:
    routing = get_router(request)
    try:
        proposals, opts, source = await _run_request(request)
        options = RoutingOptions.create(closed=tuple(opts.panels_closed), extra_room=opts.extra_room,
                                        conflict_rule=opts.conflict_rule, flag_below=opts.flag_below)
        actor = _actor(key, opts.actor)
        state = await run_in_threadpool(routing.route, proposals, options, actor, source)
    except InputError as err:
        raise _api_error(err) from None
    response.status_code = 200 if state.reused else 201
    log.info("routing run %s %s by %s: %d proposals, %d flagged", state.run_id,
             "reused" if state.reused else "created", actor, state.run.n_proposals, state.run.n_flagged)
    return run_body(state)


@router.get("/runs/{run_id}", response_model=RunOut, responses=STAFF_ERRORS, summary="A routing run as it stands (staff)")
async def get_run(run_id: str, request: Request, key: Annotated[str, Depends(require_api_key)]) -> dict:
    routing = get_router(request)
    state = await _run_state(routing, run_id)
    return run_body(state)


@router.post(
    "/runs/{run_id}/overrides",
    response_model=OverrideResponse,
    status_code=201,
    responses=STAFF_ERRORS,
    summary="Move a proposal to another panel, with a reason (staff)",
    description="Checked against the run's capacities (`force` allows going over a max or below a min) and "
    "conflicts of interest (never overridden); recorded with who, when and why.",
)
async def create_override(
    run_id: str,
    body: OverrideRequest,
    request: Request,
    key: Annotated[str, Depends(require_api_key)],
) -> dict:
    routing = get_router(request)
    actor = _actor(key, body.actor)
    try:
        outcome = await run_in_threadpool(
            lambda: routing.override(run_id, body.proposal_id, body.panel_id, body.reason, actor=actor, force=body.force)
        )
    except InputError as err:
        raise _api_error(err) from None
    log.info("routing override #%d in run %s by %s", outcome.override.id, run_id, actor)
    return {"override": vars(outcome.override), "warnings": list(outcome.warnings), "run": run_body(outcome.state)}


@router.get(
    "/runs/{run_id}/export.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX_TYPE: {}}, "description": "The routing sheet"}, **STAFF_ERRORS},
    summary="The routing sheet of a run (.xlsx, staff)",
)
async def export_xlsx(run_id: str, request: Request, key: Annotated[str, Depends(require_api_key)]) -> Response:
    routing = get_router(request)
    state = await _run_state(routing, run_id)
    data = await run_in_threadpool(xlsx_bytes, state)
    await run_in_threadpool(routing.store.log_event, key, "export", state.run_id, {"format": "xlsx"})
    return Response(
        content=data,
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="routing-{state.run_id}.xlsx"'},
    )
