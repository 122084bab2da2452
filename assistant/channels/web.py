"""The web channel: a demo portal page at ``/`` and the embeddable chat widget at ``/widget.js``.

A portal embeds the assistant with one tag: ``<script src="https://…/widget.js" defer></script>``.
The widget talks to the REST channel of the same origin it was loaded from.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

router = APIRouter(tags=["web"])
STATIC = Path(__file__).parent / "static"


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def demo_page() -> HTMLResponse:
    """A mock public-service portal page with the chat widget."""
    return HTMLResponse((STATIC / "demo.html").read_text(encoding="utf-8"))


@router.get("/widget.js", include_in_schema=False)
async def widget() -> FileResponse:
    """The embeddable chat widget."""
    return FileResponse(STATIC / "widget.js", media_type="application/javascript; charset=utf-8")
