"""Rasa's action endpoint (``POST /webhook``) served by this app through ``rasa_sdk``'s ActionExecutor.

Same contract as ``rasa run actions``: deflate-compressed or plain JSON body; 400 with ``error`` and
``action_name`` when an action rejects, 404 for an unknown action, 400 for a body that is not JSON.
"""

from __future__ import annotations

import json
import logging
import zlib

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException

router = APIRouter(tags=["actions"])
logger = logging.getLogger(__name__)


@router.post("/webhook")
async def run_action(request: Request) -> JSONResponse:
    """Run one custom action for Rasa."""
    body = await request.body()
    try:
        if request.headers.get("Content-Encoding") == "deflate":
            body = zlib.decompress(body)
        action_call = json.loads(body)
    except (zlib.error, ValueError, UnicodeDecodeError):
        return JSONResponse({"error": "Invalid body request"}, status_code=400)
    if not isinstance(action_call, dict):
        return JSONResponse({"error": "Invalid body request"}, status_code=400)
    executor = request.app.state.action_executor
    try:
        result = await executor.run(action_call)
    except ActionExecutionRejection as e:
        return JSONResponse({"error": e.message, "action_name": e.action_name}, status_code=400)
    except ActionNotFoundException as e:
        return JSONResponse({"error": e.message, "action_name": e.action_name}, status_code=404)
    return JSONResponse(result or {}, status_code=200)


@router.get("/actions")
async def list_actions(request: Request) -> list[dict[str, str]]:
    """The registered custom actions."""
    return [{"name": name} for name in request.app.state.action_executor.actions]
