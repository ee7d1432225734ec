"""The applicants' page at ``/``, the program officers' page at ``/staff`` and the API docs at ``/docs``,
with no external resources.

The page's files are under ``/static``; Swagger UI's are served from the ``fastapi-offline``
package under ``/static/docs`` (FastAPI's default ``/docs`` would load them from a CDN).
"""
from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from ..headers import PAGE_CSP

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
DOCS_ASSETS_URL = "/static/docs"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")


@router.get("/staff")
async def staff() -> FileResponse:
    """The program officers' page: its data comes only from the staff API, with the key the officer gives."""
    return FileResponse(STATIC_DIR / "staff.html", media_type="text/html; charset=utf-8")


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def _docs_csp(html: str) -> str:
    """The pages' policy, plus the hash of the one inline script Swagger UI's page starts itself with."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1).encode()).digest()).decode() + "'"
        for m in _INLINE_SCRIPT.finditer(html)
    )
    return PAGE_CSP.replace("script-src 'self'", f"script-src 'self' {hashes}").replace(
        "style-src 'self'", "style-src 'self' 'unsafe-inline'")


@router.get("/docs")
async def docs() -> HTMLResponse:
    page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="guide-match API",
        swagger_js_url=f"{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS_URL}/favicon.png",
    )
    page.headers["Content-Security-Policy"] = _docs_csp(page.body.decode())
    return page
