"""Every error the API returns, in one JSON shape: ``{"error": {"code", "message", "field"}}``.

- :class:`ApiError` is what routes raise; the handlers below turn it, FastAPI's validation
  errors, Starlette's HTTP errors and the matcher's :class:`~matcher.InputError` into that shape.
- :class:`RequestGuardMiddleware` (pure ASGI, outside the routes) gives every request an id
  (``X-Request-ID``), rejects bodies over the size limit (413), bodies not sent in time (408),
  non-JSON or non-UTF-8 content types (415), bodies that are not valid UTF-8 or JSON that is
  nested too deeply or holds an endless number (400) before any route runs, logs one line per
  request (method, path as sent, status, time, id — never the body), and turns any unexpected
  exception into a 500 in the same shape with the id, logging the traceback server-side.

Proposal texts are confidential before funding: nothing here logs a body, a validation
error's input, or an exception's message (which may quote the input); messages to clients
never quote the request either (not even its path).
"""
from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Sequence
from email.message import Message
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message as AsgiMessage, Receive, Scope, Send

from corpus import N_DIRECTIONS
from matcher import InputError

from .logs import get_logger, withheld

log = get_logger("guide_match.service")
access_log = get_logger("guide_match.service.access")

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}
MAX_LOGGED_PATH = 200
"""Characters of a request's path written to the access log (a path may be 100 kB long)."""


class ApiError(Exception):
    """An error with an HTTP status, a stable machine code, a user message and the offending field."""

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.headers = headers
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.field)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def error_response(status: int, code: str, message: str, field: str | None = None, headers=None) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status, headers=headers)


# -- the matcher's input errors --------------------------------------------------------------
def input_error_code(err: InputError) -> str:
    """The stable code the matcher gives the problem (``text_empty``, ``top_k_out_of_range``…)."""
    return err.code


def from_input_error(err: InputError, field: str | None = None) -> ApiError:
    return ApiError(422, input_error_code(err), err.message, field or err.field)


# -- FastAPI's request validation errors ------------------------------------------------------
def field_path(loc: Sequence[Any]) -> str | None:
    """``("body", "items", 3, "text")`` → ``"items[3].text"``; ``("path", "direction_id")`` → ``"direction_id"``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or None


_TYPE_ERRORS = re.compile(r"(_type|_parsing|^model_attributes_type|^is_instance_of)$")


def validation_error(errors: Sequence[dict[str, Any]]) -> tuple[int, str, str, str | None]:
    """(status, code, message, field) for the first of pydantic's errors, without quoting the input."""
    if not errors:
        return 422, "invalid_request", "the request is not valid", None
    e = errors[0]
    kind = str(e.get("type", ""))
    loc = e.get("loc") or ()
    field = field_path(loc)
    where = field or "request body"
    if kind == "json_invalid":
        why = (e.get("ctx") or {}).get("error", "not valid JSON")
        return 400, "invalid_json", f"the request body is not valid JSON ({why})", None
    if kind == "missing":
        if field is None:
            return 422, "missing_body", "the request needs a JSON body", None
        return 422, "missing_field", f"{where} is required", field
    if kind == "extra_forbidden":
        return 422, "unknown_field", f"unknown field {where!r}; see /docs for the accepted fields", field
    if kind == "invalid_unicode":
        return 422, "invalid_text", f"{where} {e.get('msg', 'contains invalid characters')}", field
    if field and field.split(".")[-1] == "top_k" and kind in {"greater_than_equal", "less_than_equal"}:
        return 422, "top_k_out_of_range", f"top_k must be an integer from 1 to {N_DIRECTIONS}", field
    if _TYPE_ERRORS.search(kind):
        return 422, "wrong_type", f"{where}: {e.get('msg', 'wrong type')}", field
    return 422, "invalid_value", f"{where}: {e.get('msg', 'invalid value')}", field


# -- handlers ---------------------------------------------------------------------------------
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    503: "not_ready",
}


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.code, exc.message, exc.field, headers=exc.headers)


async def _input_error(request: Request, exc: InputError) -> JSONResponse:
    err = from_input_error(exc)
    return error_response(err.status, err.code, err.message, err.field)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    status, code, message, field = validation_error(exc.errors())
    return error_response(status, code, message, field)


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def _allowed_methods(request: Request) -> str:
    """Every method the API documents at the request's path (Starlette's 405 names only the first route's)."""
    methods: set[str] = set()
    for path, operations in request.app.openapi().get("paths", {}).items():
        if compile_path(path)[0].match(request.url.path):
            methods |= {m.upper() for m in operations if m in _HTTP_METHODS}
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    method = request.method[:16]
    headers = getattr(exc, "headers", None)
    if exc.status_code == 404 and exc.detail == "Not Found":
        message = f"no such endpoint for {method}; see /docs for the API's endpoints"
    elif exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request) or (headers or {}).get("Allow", "")}
        allowed = headers.get("Allow")
        message = f"method {method} is not allowed here" + (f"; allowed: {allowed}" if allowed else "") + "; see /docs"
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, code, message, None, headers=headers)


def install_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


# -- the request guard ------------------------------------------------------------------------
def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _json_content_type(value: str | None) -> str | None:
    """None when ``value`` is a JSON content type in UTF-8, else the reason it is not."""
    if not value:
        return "the request needs the header Content-Type: application/json"
    msg = Message()
    msg["content-type"] = value
    subtype = msg.get_content_subtype()
    if msg.get_content_maintype() != "application" or not (subtype == "json" or subtype.endswith("+json")):
        return f"Content-Type {msg.get_content_type()!s} is not accepted; send application/json"
    charset = msg.get_param("charset")
    if isinstance(charset, str) and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        return f"charset {charset} is not accepted; send UTF-8 JSON"
    return None


UPLOAD_PATHS = frozenset({"/v1/routing/runs"})
"""Paths that also take ``multipart/form-data`` file uploads (binary, so not checked as UTF-8 JSON)."""


def _is_upload(scope: Scope) -> bool:
    content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
    return scope.get("path") in UPLOAD_PATHS and content_type == "multipart/form-data"


def json_depth(value: object) -> int:
    """How deeply a parsed JSON value nests (a scalar is 0, ``[]`` is 1), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            depth += 1
            deepest = max(deepest, depth)
            stack.extend((child, depth) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def json_problem(body: bytes, max_depth: int) -> str | None:
    """Why a JSON body must be refused before any route parses it (None: it may go on).

    Python's parser raises RecursionError for JSON nested ~1,000 deep and ValueError for an integer
    of over 4,300 digits; both are answered here, and any nesting deeper than ``max_depth``.
    Malformed JSON goes on, for the routes to answer with their own messages.
    """
    try:
        value = json.loads(body)
    except RecursionError:
        return f"the JSON body is nested too deeply; at most {max_depth} levels are accepted"
    except json.JSONDecodeError:
        return None
    except ValueError:
        return "the JSON body holds a number with too many digits"
    depth = json_depth(value)
    if depth > max_depth:
        return f"the JSON body is nested {depth} levels deep; at most {max_depth} are accepted"
    return None


def logged_path(scope: Scope) -> str:
    """The path as the client sent it (still percent-encoded), cut to :data:`MAX_LOGGED_PATH` characters."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else scope.get("path", "")
    return path if len(path) <= MAX_LOGGED_PATH else path[:MAX_LOGGED_PATH] + f"…({len(path)} chars)"


class RequestGuardMiddleware:
    """Request id, body limits, content-type, UTF-8 and JSON checks, access log and the last-resort 500."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_json_depth: int = 32, read_timeout: float = 30.0):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        rid = incoming if incoming and _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        state["started"] = time.monotonic()
        method = scope.get("method", "GET")[:16]
        progress = {"status": None, "started": False}

        async def send_with_id(message: AsgiMessage) -> None:
            if message["type"] == "http.response.start":
                progress["status"] = message["status"]
                progress["started"] = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        async def reply(status: int, code: str, message: str, field: str | None = None, close: bool = False) -> None:
            body = json.dumps(error_body(code, message, field), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            if close:  # the rest of the body is not read, so the connection cannot be reused
                headers.append((b"connection", b"close"))
            await send_with_id({"type": "http.response.start", "status": status, "headers": headers})
            await send_with_id({"type": "http.response.body", "body": body})

        try:
            downstream_receive = receive
            if scope.get("method") in _BODY_METHODS:
                rejected = await self._check_body(scope, receive, reply)
                if rejected is None:
                    return
                downstream_receive = rejected
            await self.app(scope, downstream_receive, send_with_id)
        except Exception as exc:  # the last resort: never a stack trace or a bare 500 to the client
            # The exception's message is withheld: it may quote the proposal text.
            log.error("unhandled %s in %s %s [request_id=%s]", type(exc).__name__, method, logged_path(scope), rid,
                      exc_info=withheld(exc))
            if not progress["started"]:
                await reply(500, "internal_error", f"an internal error occurred; quote request id {rid} when reporting it")
        finally:
            access_log.info(
                "%s %s %s %.1fms [request_id=%s]",
                method, logged_path(scope), progress["status"], (time.perf_counter() - started) * 1000, rid,
            )

    async def _check_body(self, scope: Scope, receive: Receive, reply) -> Receive | None:
        """Read and check the body; None when an error reply was sent, else a receive that replays it."""
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await reply(400, "bad_request", "the Content-Length header is not a number")
                return None
            if size > self.max_body_bytes:
                await reply(
                    413, "body_too_large",
                    f"the request body is {size} bytes; at most {self.max_body_bytes} are accepted", close=True,
                )
                return None
        chunks: list[bytes] = []
        total = 0
        more = True
        # A body trickled in (or never finished) would hold the connection and its memory: it must
        # arrive within the read timeout.
        with anyio.move_on_after(self.read_timeout) as deadline:
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                chunk = message.get("body", b"")
                total += len(chunk)
                if total > self.max_body_bytes:
                    await reply(
                        413, "body_too_large", f"the request body is over {self.max_body_bytes} bytes, the most accepted",
                        close=True,
                    )
                    return None
                chunks.append(chunk)
                more = message.get("more_body", False)
        if deadline.cancelled_caught:
            await reply(408, "request_timeout",
                        f"the request body did not arrive within {self.read_timeout:g} s; send it again", close=True)
            return None
        body = b"".join(chunks)
        if body and not _is_upload(scope):
            problem = _json_content_type(_header(scope, b"content-type"))
            if problem:
                await reply(415, "unsupported_media_type", problem)
                return None
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as err:
                await reply(400, "invalid_utf8", f"the request body is not valid UTF-8 (byte {err.start})")
                return None
            problem = json_problem(body, self.max_json_depth)
            if problem:
                await reply(400, "invalid_json", problem)
                return None
        sent = False

        async def replay() -> AsgiMessage:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay
