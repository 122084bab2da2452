"""The web channel: the demo portal page (``/``), the embeddable widget (``/widget.js``) and the widget's routes.

A portal embeds the assistant with one tag: ``<script src="https://…/widget.js" defer></script>`` (options as
``data-`` attributes, see the README). The widget talks to these routes of the origin it was loaded from; portal
origins must be listed in ``ASSISTANT_ALLOWED_ORIGINS`` (CORS, :mod:`assistant.channels.web_auth`).

Widget routes (all but the first need ``Authorization: Bearer <conversation token>``):

- ``POST /webhooks/web/conversations`` → ``{"token"}``: opens a ``web:…`` conversation.
- ``POST /webhooks/web/cases`` ``{"code"}`` → ``{"token", "messages", "with_staff"}``: opens a ``web:…``
  conversation on a desk case (the code of its QR, :mod:`assistant.desk_cases`), at step 1 of its steps;
  400 a malformed or forged code, 410 an expired one, 404 a case that is gone.
- ``POST /webhooks/web/webhook`` ``{"message", "metadata"?: {"page"?}}`` → ``{"messages": [REST replies],
  "with_staff": bool}``.
- ``GET /webhooks/web/history`` → ``{"messages": [...], "with_staff": bool}`` (what a reload shows again).
- ``GET /webhooks/web/staff-messages?after=<unix time>`` → ``{"paused": bool, "messages": [{"text", "timestamp"}]}``.
- ``POST /webhooks/web/end`` → 204: "Kết thúc trò chuyện"; the conversation starts afresh on the server too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, constr
from starlette.concurrency import run_in_threadpool

from assistant.channels.rest import engine_of, handle_text
from assistant.channels.web_auth import conversation_of_token, new_conversation, token_key
from assistant.channels.web_history import (
    has_handoff,
    history_from_events,
    staff_messages_from_db,
    staff_messages_from_events,
)
from assistant.desk import procedure_or_none
from assistant.desk_cases import (
    FIRST_STEP_ACTION,
    CaseCodeExpired,
    CaseCodeInvalid,
    case_key,
    get_case,
    intro_text,
    read_case_code,
    seed_slots,
)
from assistant.text.formatting import vn_datetime

router = APIRouter(tags=["web"])
logger = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
MAX_PAGE_CHARS = 500


#: What the widget shows when a desk case's QR code opens nothing (then it opens as usual).
CASE_INVALID = (
    "Mã QR này không mở được hồ sơ nào (mã không đúng hoặc thiếu một phần). "
    "Bạn vẫn hỏi trợ lý ảo được như thường, hoặc nhờ cán bộ một cửa in lại mã."
)
CASE_EXPIRED = (
    "Mã QR của hồ sơ đã hết hạn lúc {expired}. "
    "Bạn vẫn hỏi trợ lý ảo được như thường, hoặc nhờ cán bộ một cửa lập hồ sơ mới."
)
CASE_GONE = (
    "Hồ sơ của mã QR này không còn trên hệ thống. "
    "Bạn vẫn hỏi trợ lý ảo được như thường, hoặc nhờ cán bộ một cửa lập hồ sơ mới."
)


class WebMessage(BaseModel):
    """Body of ``POST /webhooks/web/webhook``."""

    message: constr(strict=True, max_length=20000) = ""  # type: ignore[valid-type]
    metadata: dict[str, Any] | None = None


class CaseCode(BaseModel):
    """Body of ``POST /webhooks/web/cases``: the code after ``?hoso=`` in the scanned address."""

    code: constr(strict=True, max_length=200)  # type: ignore[valid-type]


def _key(request: Request) -> bytes:
    key = getattr(request.app.state, "widget_token_key", None)
    if key is None:
        key = request.app.state.widget_token_key = token_key(request.app.state.settings)
    return key


def web_conversation(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """The ``web:`` conversation of the request's bearer token; 401 without a valid one."""
    token = None
    if authorization and authorization[:7].lower() == "bearer ":
        token = authorization[7:]
    conversation = conversation_of_token(_key(request), token)
    if conversation is None:
        raise HTTPException(
            status_code=401,
            detail="Phiên trò chuyện không hợp lệ hoặc đã hết hạn.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return conversation


ConversationDep = Annotated[str, Depends(web_conversation)]


async def _with_staff(request: Request, conversation: str) -> bool:
    handoffs = getattr(request.app.state, "handoffs", None)
    return bool(handoffs is not None and await handoffs.is_paused(conversation))


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def demo_page() -> HTMLResponse:
    """A mock public-service portal page with the chat widget."""
    return HTMLResponse((STATIC / "demo.html").read_text(encoding="utf-8"))


@router.get("/widget.js", include_in_schema=False)
async def widget() -> FileResponse:
    """The embeddable chat widget."""
    return FileResponse(STATIC / "widget.js", media_type="application/javascript; charset=utf-8")


@router.post("/webhooks/web/conversations", status_code=201)
async def open_conversation(request: Request) -> dict[str, str]:
    """Open a widget conversation and return its token (the widget keeps it; the id never leaves the server)."""
    _conversation, token = new_conversation(_key(request))
    return {"token": token}


@router.post("/webhooks/web/cases", status_code=201)
async def open_case(body: CaseCode, request: Request) -> dict[str, Any]:
    """Open a desk case on the citizen's phone: a new conversation, at step 1 of the steps of that case.

    Every call opens a conversation of its own (a code scanned on two phones never shares what was written);
    the widget itself goes back to its conversation when the same code is scanned again on the same phone.

    Example: ``{"code": "12.1797571200.Qm9…"}`` → ``{"token": "3f2a….Qm9…", "messages": [{"text": "Cán bộ một
    cửa đã lập hồ sơ …"}, {"text": "Bước 1/6: Vào Cổng Dịch vụ công …", "buttons": [...], "custom":
    {"procedure": "the-can-cuoc", "aspect": "steps", "step": 1, "steps": 6}}], "with_staff": false}``.
    """
    try:
        case_id = read_case_code(case_key(request.app.state.settings), body.code)
    except CaseCodeExpired as e:
        raise HTTPException(status_code=410, detail=CASE_EXPIRED.format(expired=vn_datetime(e.expires_at))) from e
    except CaseCodeInvalid as e:
        logger.info("a desk case code was refused: %s", e)
        raise HTTPException(status_code=400, detail=CASE_INVALID) from e
    engine = engine_of(request)
    case = await run_in_threadpool(get_case, request.app.state.db_engine, case_id)
    procedure = procedure_or_none(request.app.state.catalogue, case.procedure_key) if case else None
    if case is None or procedure is None:
        raise HTTPException(status_code=404, detail=CASE_GONE)
    conversation, token = new_conversation(_key(request))
    replies = await engine.seed(
        conversation,
        slots=seed_slots(procedure, case.answers),
        action=FIRST_STEP_ACTION,
        intro=intro_text(procedure, case.answers),
    )
    logger.info("desk case %s opened in a new web conversation", case_id)
    return {"token": token, "messages": [r.as_rest() for r in replies], "with_staff": False}


@router.post("/webhooks/web/webhook", response_model=None)
async def web_webhook(body: WebMessage, request: Request, conversation: ConversationDep) -> JSONResponse:
    """One citizen message in, the bot's replies (REST shape, with answer metadata) out, as plain JSON."""
    engine = engine_of(request)
    page = (body.metadata or {}).get("page")
    metadata = {"page": page[:MAX_PAGE_CHARS]} if isinstance(page, str) and page else {}
    replies = await handle_text(engine, conversation, body.message, channel="web", metadata=metadata)
    with_staff = await _with_staff(request, conversation)
    return JSONResponse({"messages": [r.as_rest() for r in replies], "with_staff": with_staff})


@router.get("/webhooks/web/history")
async def web_history(request: Request, conversation: ConversationDep) -> dict[str, Any]:
    """The conversation so far, as the widget shows it after a reload or on another page of the portal."""
    engine = engine_of(request)
    tracker = await engine.agent.tracker_store.retrieve(conversation)
    messages = history_from_events(tracker.events if tracker else [])
    return {"messages": messages, "with_staff": await _with_staff(request, conversation)}


@router.get("/webhooks/web/staff-messages")
async def web_staff_messages(
    request: Request, conversation: ConversationDep, after: Annotated[float, Query(ge=0)] = 0.0
) -> dict[str, Any]:
    """Staff replies written after ``after`` (Unix time), and whether staff still have the conversation.

    Example: ``GET /webhooks/web/staff-messages?after=1795000000.5`` (with the token) →
    ``{"paused": true, "messages": [{"text": "Chào anh, ...", "timestamp": 1795000012.3}]}``.
    """
    db = request.app.state.db_engine
    if not await run_in_threadpool(has_handoff, db, conversation):
        return {"paused": False, "messages": []}
    paused = await _with_staff(request, conversation)
    engine = request.app.state.engine
    if engine is None:
        messages = await run_in_threadpool(staff_messages_from_db, db, conversation, after)
    else:
        tracker = await engine.agent.tracker_store.retrieve(conversation)
        messages = staff_messages_from_events(tracker.events if tracker else [], after)
    return {"paused": paused, "messages": messages}


@router.post("/webhooks/web/end", status_code=204)
async def end_conversation(request: Request, conversation: ConversationDep) -> Response:
    """End the conversation ("Kết thúc trò chuyện"): it restarts, so its token shows nothing any more.

    A conversation with staff is left as it is (the officer still sees it and hands it back).
    """
    engine = getattr(request.app.state, "engine", None)
    if engine is not None and engine.is_ready() and not await _with_staff(request, conversation):
        from rasa.shared.core.events import ActionExecuted, Restarted

        agent = engine.agent
        async with agent.lock_store.lock(conversation):
            tracker = await agent.tracker_store.retrieve(conversation)
            if tracker is not None:
                tracker.update(Restarted())
                tracker.update(ActionExecuted("action_listen"))
                await agent.tracker_store.save(tracker)
    return Response(status_code=204)
