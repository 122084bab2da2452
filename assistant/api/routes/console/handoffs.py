"""The hand-off queue and one hand-off: read it, claim it, reply, hand it back to the bot.

- ``GET /staff``: the queue (open and claimed first, newest first; then the latest closed ones).
- ``GET /staff/handoffs/{id}``: summary, the citizen's answers and the transcript (read through the
  ConversationEngine); ``GET .../transcript.txt`` downloads it.
- ``POST .../claim``, ``POST .../reply`` (form ``text``), ``POST .../close`` (hand back to the bot).

The routes turn outcomes into pages; the work is in :class:`~assistant.handoff.HandoffService` (claims, closing),
:mod:`assistant.desk` (reads), :mod:`assistant.transcripts` and :mod:`assistant.staff_replies` (delivery).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from assistant import audit
from assistant.api.deps import CatalogueDep, ConversationsDep, DbEngineDep, HandoffsDep, SettingsDep
from assistant.api.routes.console.auth import CsrfField, SignerDep, StaffDep, csrf_ok
from assistant.api.routes.console.pages import (
    CHANNEL_LABELS,
    MAX_REPLY_CHARS,
    SECURITY_HEADERS,
    StaffSession,
    error_page,
    forbidden,
    not_found,
    render,
    see_other,
)
from assistant.db.models import Handoff, HandoffStatus
from assistant.desk import answer_rows, flat_answers, get_handoff, load_queue, procedure_label, procedure_or_none
from assistant.staff import SessionSigner
from assistant.staff_replies import deliver_staff_reply, reply_delivery, send_staff_reply
from assistant.transcripts import read_transcript, transcript_text

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/staff")


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def queue(request: Request, staff: StaffDep, catalogue: CatalogueDep, db_engine: DbEngineDep) -> Response:
    """The hand-off queue."""
    active, closed = load_queue(db_engine)
    labels = {h.procedure_key: procedure_label(catalogue, h.procedure_key) for h in active + closed}
    return render(request, "queue.html", {"active": active, "closed": closed, "labels": labels}, staff=staff)


@router.get("/queue/status", include_in_schema=False)
def queue_status(_staff: StaffDep, db_engine: DbEngineDep) -> dict[str, int]:
    """What the queue page polls: hand-offs waiting and the newest open one's id (0: none)."""
    active, _ = load_queue(db_engine, closed_limit=0)
    waiting = [h.id for h in active if h.status == HandoffStatus.open.value]
    return {"waiting": len(waiting), "active": len(active), "newest": max(waiting, default=0)}


@router.get("/handoffs/{handoff_id}", response_class=HTMLResponse, include_in_schema=False)
async def handoff_page(
    request: Request,
    handoff_id: int,
    staff: StaffDep,
    catalogue: CatalogueDep,
    db_engine: DbEngineDep,
    conversations: ConversationsDep,
    settings: SettingsDep,
) -> Response:
    """One hand-off: summary, answers, transcript and the actions."""
    handoff = await run_in_threadpool(get_handoff, db_engine, handoff_id)
    if handoff is None:
        return not_found(request, staff)
    procedure = procedure_or_none(catalogue, handoff.procedure_key)
    messages, whole = await read_transcript(conversations, handoff)
    delivery = reply_delivery(settings, handoff.channel)
    checklist_url = None
    if procedure is not None:
        checklist_url = "/staff/checklist?" + urlencode(
            [("procedure", procedure.key)] + list(flat_answers(handoff.answers or {}))
        )
    return render(
        request,
        "handoff.html",
        {
            "handoff": handoff,
            "procedure_label": procedure_label(catalogue, handoff.procedure_key),
            "procedure": procedure,
            "answers": answer_rows(procedure, handoff.answers or {}),
            "messages": messages,
            "whole_transcript": whole,
            "can_reply": conversations is not None and handoff.status != HandoffStatus.closed.value,
            "engine_ready": conversations is not None,
            "reply_reaches_citizen": delivery in ("widget", "platform"),
            "reply_delivery": delivery,
            "checklist_url": checklist_url,
            "audit": await run_in_threadpool(partial(audit.recent, db_engine, handoff_id=handoff_id, limit=50)),
            "ACTION_LABELS": audit.ACTION_LABELS,
        },
        staff=staff,
    )


@router.get("/handoffs/{handoff_id}/transcript.txt", include_in_schema=False)
async def transcript_download(
    request: Request, handoff_id: int, staff: StaffDep, db_engine: DbEngineDep, conversations: ConversationsDep
) -> Response:
    """The hand-off's conversation as a text file (``hand-off-<id>.txt``)."""
    handoff = await run_in_threadpool(get_handoff, db_engine, handoff_id)
    if handoff is None:
        return not_found(request, staff)
    messages, _ = await read_transcript(conversations, handoff)
    logger.info("staff %s downloaded the transcript of hand-off %s", staff.username, handoff_id)
    return PlainTextResponse(
        transcript_text(messages),
        headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="hand-off-{handoff_id}.txt"'},
    )


async def _form_target(
    request: Request, staff: StaffSession, signer: SessionSigner, csrf: str, db_engine: Engine, handoff_id: int
) -> Handoff | HTMLResponse:
    """The hand-off a form acts on, or the page refusing it: 403 without the session's anti-forgery token, 404."""
    if not csrf_ok(signer, staff, csrf):
        return forbidden(request, staff)
    handoff = await run_in_threadpool(get_handoff, db_engine, handoff_id)
    return not_found(request, staff) if handoff is None else handoff


def _conflict(request: Request, staff: StaffSession, message: str, handoff_id: int) -> HTMLResponse:
    """409: the hand-off is not in a state for this action (closed, or another officer's)."""
    return error_page(request, status.HTTP_409_CONFLICT, message, staff=staff, back=f"/staff/handoffs/{handoff_id}")


def _held_by_other(request: Request, staff: StaffSession, handoff: Handoff) -> HTMLResponse:
    return _conflict(request, staff, f"Yêu cầu này đang do cán bộ {handoff.assigned_to} xử lý.", handoff.id)


@router.post("/handoffs/{handoff_id}/claim", include_in_schema=False)
def claim(
    request: Request,
    handoff_id: int,
    staff: StaffDep,
    signer: SignerDep,
    db_engine: DbEngineDep,
    handoffs: HandoffsDep,
    csrf: CsrfField = "",
) -> Response:
    """Take a hand-off: status claimed, assigned to this officer."""
    if not csrf_ok(signer, staff, csrf):
        return forbidden(request, staff)
    # One conditional UPDATE (HandoffService.claim): two officers can never both hold a hand-off.
    handoff, held = handoffs.claim(handoff_id, staff.username)
    if handoff is None:
        return not_found(request, staff)
    if handoff.status == HandoffStatus.closed.value:
        return _conflict(request, staff, "Yêu cầu này đã được trả lại cho trợ lý ảo.", handoff_id)
    if not held:
        return _held_by_other(request, staff, handoff)
    audit.record(db_engine, staff.username, "claim", handoff_id=handoff_id)
    logger.info("hand-off %s claimed by %s", handoff_id, staff.username)
    return see_other(f"/staff/handoffs/{handoff_id}")


def _not_delivered(request: Request, staff: StaffSession, channel: str, delivery: str, back: str) -> HTMLResponse:
    """The page telling the officer that the reply is stored but did not reach the citizen."""
    label = CHANNEL_LABELS.get(channel, channel)
    if delivery == "retrying":
        code = status.HTTP_202_ACCEPTED
        detail = (
            f"{label} chưa nhận tin nhắn (mất kết nối hoặc {label} đang lỗi). Tin nhắn đã được lưu và hệ thống "
            "sẽ tự động gửi lại cho người dân khi kết nối trở lại; không cần gửi lại."
        )
    elif delivery == "channel_off":
        code = status.HTTP_503_SERVICE_UNAVAILABLE
        detail = (
            f"Kênh {label} chưa được cấu hình trên máy chủ, nên tin nhắn không thể gửi tới người dân. "
            "Tin nhắn đã được lưu trong cuộc trò chuyện. Hãy liên hệ người dân bằng cách khác "
            "và báo quản trị hệ thống."
        )
    else:
        code = status.HTTP_502_BAD_GATEWAY
        detail = (
            f"{label} không nhận tin nhắn (mất kết nối hoặc {label} báo lỗi, chẳng hạn đã quá lâu "
            "kể từ tin nhắn cuối của người dân). Tin nhắn đã được lưu trong cuộc trò chuyện nhưng người dân chưa nhận được. "
            "Vui lòng thử gửi lại sau ít phút hoặc liên hệ người dân bằng cách khác."
        )
    return error_page(
        request, code, f"Chưa gửi được tin nhắn tới người dân qua {label}", staff=staff, back=f"{back}#tin-nhan", detail=detail
    )


@router.post("/handoffs/{handoff_id}/reply", include_in_schema=False)
async def reply(
    request: Request,
    handoff_id: int,
    staff: StaffDep,
    signer: SignerDep,
    db_engine: DbEngineDep,
    conversations: ConversationsDep,
    handoffs: HandoffsDep,
    settings: SettingsDep,
    text: Annotated[str, Form(max_length=MAX_REPLY_CHARS * 2)] = "",
    csrf: CsrfField = "",
) -> Response:
    """Send a reply to the citizen (it appears in their chat, prefixed "Cán bộ:").

    The reply is always stored in the conversation. A Zalo or Messenger citizen also gets it through the
    platform; when the channel is not configured (503) or the platform refuses it (502), the officer sees a
    page saying it was stored but not delivered.
    """
    back = f"/staff/handoffs/{handoff_id}"
    handoff = await _form_target(request, staff, signer, csrf, db_engine, handoff_id)
    if not isinstance(handoff, Handoff):
        return handoff
    body = text.strip()
    if not body or len(body) > MAX_REPLY_CHARS:
        return error_page(
            request,
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            f"Tin nhắn phải có từ 1 đến {MAX_REPLY_CHARS} ký tự.",
            staff=staff,
            back=back,
        )
    if handoff.status == HandoffStatus.closed.value:
        return _conflict(request, staff, "Yêu cầu này đã được trả lại cho trợ lý ảo; không gửi được tin nhắn nữa.", handoff_id)
    if conversations is None:
        return error_page(
            request,
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "Trợ lý ảo chưa sẵn sàng nên chưa gửi được tin nhắn. Vui lòng thử lại sau ít phút.",
            staff=staff,
            back=back,
        )
    claimed, held = await run_in_threadpool(handoffs.claim, handoff_id, staff.username)
    if claimed is not None and not held:  # another officer holds it (a reply claims, and restarts the timeout)
        return _held_by_other(request, staff, claimed)
    delivery = reply_delivery(settings, handoff.channel)
    delivered: bool | None = None
    if delivery == "platform":
        outcome = await deliver_staff_reply(request.app, handoff.channel, handoff.sender_id, body)
        delivered = outcome == "done"
        if outcome == "pending":  # the platform is failing for now: the outbox sends it again, once
            delivery = "retrying"
    elif delivery == "channel_off":
        delivered = False
    await send_staff_reply(conversations, handoff.sender_id, body, staff=staff.username, delivered=delivered)
    audit_detail = {None: None, True: "đã gửi", False: "chưa gửi được"}[delivered]
    await run_in_threadpool(
        partial(audit.record, db_engine, staff.username, "reply", handoff_id=handoff_id, detail=audit_detail)
    )
    if delivered is False:
        logger.warning(
            "staff %s replied in hand-off %s: not delivered via %s (%s)", staff.username, handoff_id, handoff.channel, delivery
        )
        return _not_delivered(request, staff, handoff.channel, delivery, back)
    logger.info("staff %s replied in hand-off %s", staff.username, handoff_id)
    return see_other(f"{back}#tin-nhan")


@router.post("/handoffs/{handoff_id}/close", include_in_schema=False)
async def close(
    request: Request,
    handoff_id: int,
    staff: StaffDep,
    signer: SignerDep,
    db_engine: DbEngineDep,
    conversations: ConversationsDep,
    handoffs: HandoffsDep,
    csrf: CsrfField = "",
) -> Response:
    """Close the hand-off and hand the conversation back to the bot."""
    current = await _form_target(request, staff, signer, csrf, db_engine, handoff_id)
    if not isinstance(current, Handoff):
        return current
    if current.status == HandoffStatus.closed.value:
        return see_other("/staff")
    handoff = await run_in_threadpool(handoffs.close, handoff_id, staff=staff.username)
    if handoff is None:
        return not_found(request, staff)
    await run_in_threadpool(partial(audit.record, db_engine, staff.username, "close", handoff_id=handoff_id))
    if conversations is not None and not await handoffs.is_paused(handoff.sender_id):
        await conversations.hand_back(handoff.sender_id)
    logger.info("hand-off %s closed by %s", handoff_id, staff.username)
    return see_other("/staff")
