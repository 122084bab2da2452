"""Rasa's action endpoint (``POST /webhook``, ``GET /actions``) for a *separate* action server.

Our actions normally run inside the app (:func:`assistant.engine.actions.install_in_process_actions`) and these routes
do not exist. They are mounted only when ``ASSISTANT_ACTION_ENDPOINT`` is set (a process of this app can then
serve as the action server), and every call must carry ``ASSISTANT_ACTION_TOKEN`` the way Rasa sends its
endpoint ``token``: the ``token`` query parameter. No token or a wrong one: 401.

Same contract as ``rasa run actions``: deflate-compressed or plain JSON body (inflated by
:mod:`assistant.limits` with a cap); 400 with ``error`` and ``action_name`` when an action rejects, 404 for an
unknown action, 400 for a body that is not JSON.
"""

from __future__ import annotations

import hmac
import json
import logging

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException

from assistant.settings import Settings

logger = logging.getLogger(__name__)


def require_action_token(request: Request) -> None:
    """401 unless the request carries the configured action token (``?token=``, as Rasa sends it)."""
    settings: Settings = request.app.state.settings
    expected = settings.action_token.get_secret_value().encode() if settings.action_token else b""
    given = request.query_params.get("token", "").encode()
    if not expected or not hmac.compare_digest(given, expected):
        logger.warning("action endpoint: call without a valid token refused")
        raise HTTPException(status_code=401, detail="Unauthorized")


router = APIRouter(tags=["actions"], dependencies=[Depends(require_action_token)])


@router.post("/webhook")
async def run_action(request: Request) -> JSONResponse:
    """Run one custom action for Rasa."""
    body = await request.body()
    try:
        action_call = json.loads(body)
    except (ValueError, UnicodeDecodeError):
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
