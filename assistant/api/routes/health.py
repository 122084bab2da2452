"""``GET /health``: 200 once the model and the catalogue are loaded, 503 before.

``channels`` reports a configured channel that cannot answer citizens although the app is up, e.g.
``{"zalo": "Zalo refused the refresh token: error -14014"}`` (its token cannot be renewed).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """Report readiness of the model and the catalogue."""
    engine = getattr(request.app.state, "engine", None)
    catalogue = getattr(request.app.state, "catalogue", None)
    model_ready = bool(engine and engine.is_ready())
    procedures = len(catalogue.all()) if catalogue is not None else 0
    ready = model_ready and procedures > 0
    body: dict[str, Any] = {"status": "ok" if ready else "starting", "model": model_ready, "procedures": procedures}
    tokens = getattr(request.app.state, "zalo_tokens", None)
    problem = await tokens.problem() if tokens is not None else None
    if problem:
        body["channels"] = {"zalo": problem}
    return JSONResponse(body, status_code=200 if ready else 503)
