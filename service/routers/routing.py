"""Staff-only routing of proposals to expert panels (needs an API key in ``X-API-Key``).

Routing takes minutes (the matcher reads every proposal), so a run is a job:

- ``POST /v1/routing/runs``: route a table (multipart file: .csv, .xlsx, .jsonl) or JSON items. 202
  with the job (``status``, ``progress``, ``status_url``); 200 with the stored run when the same input
  was routed before; 202 with the job already queued or running for the same input (no second
  matching). ``?wait=true``: the request waits and answers as before jobs (201 with the new run).
- ``GET /v1/routing/panels``: the panels new runs use; ``POST /v1/routing/panels``: check a panels file.
- ``GET /v1/routing/runs``: every run with its status, newest first.
- ``GET /v1/routing/runs/{run_id}``: the job's status and progress, or, when done, the run as it
  stands, with its overrides and what an officer reviews per proposal.
- ``POST /v1/routing/runs/{run_id}/cancel``, ``DELETE /v1/routing/runs/{run_id}``: cancel a queued or
  running run; ``DELETE`` of a finished run deletes it with its texts (the audit log keeps the event).
- ``POST /v1/routing/runs/{run_id}/overrides``: move a proposal to another panel, with a reason.
- ``POST /v1/routing/runs/{run_id}/directions``: record an officer's judgment of a proposal's direction.
- ``GET /v1/routing/runs/{run_id}/export.xlsx``: the routing sheet for program officers.
- ``GET /v1/routing/feedback.jsonl``: the officers' corrections as a labelled set.

The work is :class:`routing.Router`'s and the app's :class:`routing.jobs.RoutingWorker`'s; this
module only speaks HTTP. The database and the panels file come from the settings
(``GUIDE_MATCH_ROUTING_DB``, ``GUIDE_MATCH_ROUTING_PANELS``).
"""
from __future__ import annotations

import json
import re
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from matcher import InputError
from matcher.tables import TableTooLarge
from routing import (
    PanelsError,
    PanelSet,
    Router,
    RoutingInfeasible,
    RoutingOptions,
    parse_panels,
    proposals_from_items,
    read_proposals,
)
from routing.export import to_json, xlsx_bytes
from routing.feedback import feedback_jsonl
from routing.options import parse_closed, parse_extra_room
from routing.proposals import Proposal
from routing.review import review_rows
from routing.router import OverrideRefused
from routing.store import DONE, JobRecord, NotFound, RunConflict, RunState

from ..deps import get_matcher, require_api_key
from ..errors import ApiError
from ..logs import get_logger
from ..schemas import (
    DirectionRequest,
    DirectionResponse,
    ErrorResponse,
    JobOut,
    OverrideRequest,
    OverrideResponse,
    PanelsCheckRequest,
    PanelsOut,
    RunOptionsIn,
    RunOut,
    RunRequest,
    RunsResponse,
)

log = get_logger("guide_match.service.routing")

router = APIRouter(prefix="/v1/routing", tags=["routing (staff)"])

UPLOAD_SUFFIXES = (".csv", ".xlsx", ".jsonl")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._\-\u4e00-\u9fff]+")
_router_lock = threading.Lock()

STAFF_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or wrong API key (logged)"},
    404: {"model": ErrorResponse, "description": "No such run or proposal"},
    409: {"model": ErrorResponse, "description": "The panels cannot take the proposals, the override is not allowed, "
          "or the run is not done yet (run_not_done) / already done (run_done)"},
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


def status_url(run_id: str) -> str:
    return f"/v1/routing/runs/{run_id}"


def job_body(job: JobRecord, n_flagged: int | None = None) -> dict:
    """A run as a job: status, progress and, when it failed or was cancelled, why."""
    return {
        "run_id": job.run_id,
        "status": job.status,
        "progress": {"done": job.done, "total": job.total},
        "status_url": status_url(job.run_id),
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "actor": job.actor,
        "source": job.source,
        "n_proposals": job.total,
        "n_flagged": n_flagged,
        "error": {"code": job.error_code, "message": job.error} if job.error_code else None,
    }


def run_body(state: RunState) -> dict:
    """A done run as it stands, with what an officer reviews per proposal."""
    body = to_json(state)
    run = state.run
    for assignment, review in zip(body["assignments"], review_rows(state)):
        assignment.update(review)
    panels = {p["id"]: p for p in run.panels["panels"]}
    for load in body["panels"]:
        load.update(name=panels[load["id"]]["name"], directions=panels[load["id"]]["directions"])
    body.update(
        status=DONE,
        progress={"done": run.n_proposals, "total": run.n_proposals},
        status_url=status_url(run.run_id),
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
    if isinstance(err, RunConflict):
        return ApiError(409, err.code, err.message, err.field)
    if isinstance(err, PanelsError):
        return ApiError(422, "invalid_panel_option", err.message, err.field)
    if isinstance(err, TableTooLarge):
        return ApiError(413, err.code, err.message, err.field)
    return ApiError(422, err.code if err.code in ("field_too_long", "invalid_text") else "invalid_input", err.message,
                    err.field)


async def _call(fn, *args, **kwargs):
    """Run a routing call off the event loop; its InputError becomes the API's error."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
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
        unknown = sorted(set(form.keys()) - {"file", "panels", "panels_closed", "extra_room", "conflict_rule", "flag_below",
                                             "actor"})
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


PANELS_SUFFIXES = (".yaml", ".yml")


async def _panels_from_text(text: str, name: str) -> PanelSet:
    """A panels file a user sent, validated (422 ``invalid_panels`` lists every problem with its line)."""
    try:
        return await run_in_threadpool(parse_panels, text, name)
    except PanelsError as err:
        raise ApiError(422, "invalid_panels", err.message, "panels") from None


async def _uploaded_panels(request: Request) -> PanelSet | None:
    """The run's own panels file: the multipart field ``panels`` (.yaml), if sent."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return None
    upload = (await request.form()).get("panels")
    if upload is None:
        return None
    name = Path(getattr(upload, "filename", None) or "").name
    if not isinstance(upload, UploadFile) or Path(name).suffix.lower() not in PANELS_SUFFIXES:
        raise ApiError(422, "invalid_file_type", "panels: upload a panels file (.yaml), or leave it out for the default",
                       "panels")
    try:
        text = (await upload.read()).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(422, "invalid_panels", f"{name}: not UTF-8 text; save it as UTF-8", "panels") from None
    return await _panels_from_text(text, name)


def panels_body(panels: PanelSet) -> dict:
    """The panels as the staff page shows them (the file's name, never a server path)."""
    return {
        "source": Path(panels.source).name,
        "conflict_rule": panels.conflict_rule,
        "panels": [
            {"id": p.id, "name": p.name, "directions": list(p.directions), "min": p.min, "max": p.max,
             "quorum": p.quorum, "members": [m.label for m in p.members]}
            for p in panels
        ],
    }


# -- endpoints ------------------------------------------------------------------------------------
def _wake_worker(request: Request) -> None:
    worker = getattr(request.app.state, "routing_worker", None)
    if worker is not None:
        worker.wake()


@router.post(
    "/runs",
    response_model=JobOut | RunOut,
    status_code=202,
    responses={200: {"model": RunOut, "description": "Same input, panels and options as a stored run: that run"},
               201: {"model": RunOut, "description": "With ?wait=true: the new run, routed while the request waited"},
               **STAFF_ERRORS},
    summary="Route proposals to expert panels (staff)",
    description="Send a table as a multipart upload (field `file`: .csv UTF-8, .xlsx or .jsonl; optional fields "
    "`panels` (the run's own panels file, .yaml; default: the server's), `panels_closed` (comma-separated), "
    "`extra_room` (`P06=20,P05=5` or a JSON object), `conflict_rule`, `flag_below`, `actor`), or JSON `{\"items\": [...], \"panels_closed\": [...], \"extra_room\": {...}}`. "
    "202 with the job (`status`, `progress`, `status_url` to poll); the same input already queued or running "
    "gives that job. 200 with the stored run when the same input was routed before. "
    "`?wait=true` waits for the run and answers 201 with it (409 `routing_infeasible` when the panels cannot "
    "take the proposals), as this endpoint did before runs were jobs.",
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
                            "panels": {"type": "string", "format": "binary"},
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
    wait: Annotated[bool, Query(description="Wait for the run and answer 201 with it (the behaviour before jobs).")] = False,
) -> dict:
    routing = get_router(request)
    try:
        proposals, opts, source = await _run_request(request)
        options = RoutingOptions.create(closed=tuple(opts.panels_closed), extra_room=opts.extra_room,
                                        conflict_rule=opts.conflict_rule, flag_below=opts.flag_below)
    except InputError as err:
        raise _api_error(err) from None
    panels = await _uploaded_panels(request)
    actor = _actor(key, opts.actor)
    if wait:
        state = await _call(routing.route, proposals, options, actor, source, panels=panels)
        response.status_code = 200 if state.reused else 201
        log.info("routing run %s %s by %s: %d proposals, %d flagged", state.run_id,
                 "reused" if state.reused else "created", actor, state.run.n_proposals, state.run.n_flagged)
        return run_body(state)
    sub = await _call(routing.submit, proposals, options, actor, source, panels=panels)
    if sub.state is not None:
        response.status_code = 200
        log.info("routing run %s reused by %s", sub.job.run_id, actor)
        return run_body(sub.state)
    _wake_worker(request)
    response.headers["Location"] = status_url(sub.job.run_id)
    log.info("routing run %s %s by %s: %d proposals", sub.job.run_id, "queued" if sub.new else f"already {sub.job.status}",
             actor, sub.job.total)
    return job_body(sub.job)


@router.get("/panels", response_model=PanelsOut, responses=STAFF_ERRORS,
            summary="The panels new runs use unless a run brings its own file (staff)")
async def get_panels(request: Request, key: Annotated[str, Depends(require_api_key)]) -> dict:
    return panels_body(get_router(request).panels)


@router.post(
    "/panels",
    response_model=PanelsOut,
    responses=STAFF_ERRORS,
    summary="Check a panels file before routing with it (staff)",
    description="`{\"name\": \"my-panels.yaml\", \"yaml\": \"…\"}` → the panels as `GET /v1/routing/panels` shows "
    "them, or 422 `invalid_panels` listing every problem with its line. Nothing is stored.",
)
async def check_panels(body: PanelsCheckRequest, request: Request, key: Annotated[str, Depends(require_api_key)]) -> dict:
    return panels_body(await _panels_from_text(body.yaml, Path(body.name).name or "panels.yaml"))


@router.get("/runs", response_model=RunsResponse, responses=STAFF_ERRORS, summary="Every routing run, newest first (staff)")
async def list_runs(request: Request, key: Annotated[str, Depends(require_api_key)]) -> dict:
    routing = get_router(request)

    def listing() -> list[dict]:
        flagged = {r.run_id: r.n_flagged for r in routing.store.runs()}
        return [job_body(j, flagged.get(j.run_id)) for j in reversed(routing.store.jobs())]

    return {"runs": await _call(listing)}


@router.get(
    "/runs/{run_id}",
    response_model=RunOut | JobOut,
    responses=STAFF_ERRORS,
    summary="A routing run: its status and progress, or the run as it stands when done (staff)",
)
async def get_run(run_id: str, request: Request, key: Annotated[str, Depends(require_api_key)]) -> dict:
    routing = get_router(request)
    job = await _call(routing.job, run_id)
    if job.status != DONE:
        return job_body(job)
    return run_body(await _call(routing.state, run_id))


@router.post(
    "/runs/{run_id}/cancel",
    response_model=JobOut,
    responses=STAFF_ERRORS,
    summary="Cancel a queued or running routing run (staff)",
    description="The run stops before its next chunk of proposals and stores no assignments; its texts are "
    "dropped. A run already failed or cancelled is returned as it is; a done run is 409 `run_done`.",
)
async def cancel_run(run_id: str, request: Request, key: Annotated[str, Depends(require_api_key)]) -> dict:
    routing = get_router(request)
    job = await _call(routing.cancel, run_id, key)
    log.info("routing run %s cancel asked by %s: %s", run_id, key, job.status)
    return job_body(job)


@router.delete(
    "/runs/{run_id}",
    response_model=JobOut,
    responses={204: {"description": "The finished run was deleted with its texts"}, **STAFF_ERRORS},
    summary="Cancel a queued or running run; delete a finished one with its texts (staff)",
    description="A queued or running run is cancelled (200 with its status, as `POST …/cancel`). A finished "
    "run (done, failed or cancelled) is deleted with its assignments, overrides, corrections and proposal "
    "texts (204); the audit log keeps a `run.deleted` event.",
)
async def delete_run(run_id: str, request: Request, key: Annotated[str, Depends(require_api_key)]) -> Any:
    routing = get_router(request)
    job = await _call(routing.job, run_id)
    if not job.finished:
        job = await _call(routing.cancel, run_id, key)
        log.info("routing run %s cancel asked by %s: %s", run_id, key, job.status)
        return job_body(job)
    await _call(routing.delete, run_id, key)
    log.info("routing run %s deleted by %s", run_id, key)
    return Response(status_code=204)


@router.post(
    "/runs/{run_id}/overrides",
    response_model=OverrideResponse,
    status_code=201,
    responses=STAFF_ERRORS,
    summary="Move a proposal to another panel, with a reason (staff)",
    description="Checked against the run's capacities (`force` allows going over a max or below a min) and "
    "conflicts of interest (never overridden); recorded with who, when and why, and kept as a labelled "
    "example with the officer's `direction` when given. 409 `run_not_done` while the run is not done.",
)
async def create_override(
    run_id: str,
    body: OverrideRequest,
    request: Request,
    key: Annotated[str, Depends(require_api_key)],
) -> dict:
    routing = get_router(request)
    actor = _actor(key, body.actor)
    outcome = await _call(lambda: routing.override(run_id, body.proposal_id, body.panel_id, body.reason, actor=actor,
                                                   force=body.force, direction=body.direction))
    log.info("routing override #%d in run %s by %s", outcome.override.id, run_id, actor)
    return {"override": vars(outcome.override), "warnings": list(outcome.warnings), "run": run_body(outcome.state)}


@router.post(
    "/runs/{run_id}/directions",
    response_model=DirectionResponse,
    status_code=201,
    responses=STAFF_ERRORS,
    summary="Record an officer's judgment of a proposal's direction, without moving it (staff)",
    description="`direction`: 1–40, or null when no direction of the guide fits. Kept with the run as a "
    "labelled example (see `GET /v1/routing/feedback.jsonl`); the latest judgment counts.",
)
async def record_direction(
    run_id: str,
    body: DirectionRequest,
    request: Request,
    key: Annotated[str, Depends(require_api_key)],
) -> dict:
    routing = get_router(request)
    actor = _actor(key, body.actor)
    record, _ = await _call(routing.confirm_direction, run_id, body.proposal_id, body.direction, actor)
    log.info("routing direction #%d in run %s by %s", record.id, run_id, actor)
    return {"feedback": vars(record)}


@router.get(
    "/runs/{run_id}/export.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX_TYPE: {}}, "description": "The routing sheet"}, **STAFF_ERRORS},
    summary="The routing sheet of a run (.xlsx, staff)",
)
async def export_xlsx(run_id: str, request: Request, key: Annotated[str, Depends(require_api_key)]) -> Response:
    routing = get_router(request)
    state = await _call(routing.state, run_id)
    data = await run_in_threadpool(xlsx_bytes, state)
    await run_in_threadpool(routing.store.log_event, key, "export", state.run_id, {"format": "xlsx"})
    return Response(
        content=data,
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="routing-{state.run_id}.xlsx"'},
    )


@router.get(
    "/feedback.jsonl",
    response_class=Response,
    responses={200: {"content": {"application/x-ndjson": {}},
                     "description": "One labelled example per line, in the labelled set's format"}, **STAFF_ERRORS},
    summary="Officers' corrections as labelled examples (.jsonl, staff)",
    description="The same as `guide-match feedback export`: one line per corrected proposal "
    "(`id`, `text`, `labels`, `kind`, `genre`, `split`, `source: officer-correction`, `licence`). "
    "The texts are the proposals' own: confidential.",
)
async def export_feedback(request: Request, key: Annotated[str, Depends(require_api_key)]) -> Response:
    routing = get_router(request)
    data = await _call(feedback_jsonl, routing.store)
    await run_in_threadpool(routing.store.log_event, key, "feedback.export", None, {"format": "jsonl"})
    return Response(content=data, media_type="application/x-ndjson",
                    headers={"Content-Disposition": 'attachment; filename="feedback.jsonl"'})
