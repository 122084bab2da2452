"""The one-stop-desk staff console (``/staff``), server-rendered in Vietnamese, and the citizen's side of staff replies.

Staff routes (``router``), all but the log-in page behind a signed session cookie:

- ``GET/POST /staff/login``, ``POST /staff/logout``.
- ``GET /staff``: the hand-off queue (open and claimed first, newest first; then the latest closed ones).
- ``GET /staff/handoffs/{id}``: summary, the citizen's answers and the transcript read from the Rasa tracker;
  ``POST .../claim``, ``POST .../reply`` (form ``text``) and ``POST .../close`` (hand back to the bot).
- ``GET /staff/checklist?procedure=<key>&<question_id>=<option_id>``: a printable personalised checklist.
- ``GET /staff/analytics``: hand-offs by status and procedure, ratings, the most asked procedures.

A browser without a session is redirected (303) to the log-in page; a client that asks only for JSON gets 401.
Every form of a logged-in officer carries an anti-forgery token (``csrf``) bound to the session.

How a staff reply reaches the citizen depends on the hand-off's channel. Every reply is written into the
conversation (a bot message marked ``from_staff``), which is where the web widget finds it; for Zalo and
Messenger it is also sent through the platform's send API (:func:`~assistant.channels.zalo.send_zalo`,
:func:`~assistant.channels.messenger.send_messenger`), prefixed "Cán bộ: " as the widget shows it. When that
channel is not configured or the platform refuses the message, the reply stays in the transcript, marked not
delivered, and the officer is told so.

The citizen's side (the web widget's poll for staff replies) is in :mod:`assistant.channels.web`.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import desc, func, inspect, select, text
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from assistant.catalogue.schema import Procedure
from assistant.catalogue.service import Catalogue
from assistant.channels.messenger import send_messenger
from assistant.channels.zalo import send_zalo
from assistant.db.models import Feedback, Handoff, HandoffStatus
from assistant.db.session import session_scope
from assistant.engine import Reply
from assistant.errors import ProcedureNotFound
from assistant.login_throttle import LoginThrottle
from assistant.settings import Settings
from assistant.staff import (
    SessionSigner,
    authenticate,
    find_staff_user,
    password_fingerprint,
    session_signer,
)

__all__ = ["deliver_staff_reply", "reply_delivery", "router", "send_staff_reply"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/staff", tags=["staff"])

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
SESSION_COOKIE = "assistant_staff"
#: A session lasts one working day.
SESSION_MAX_AGE = 12 * 3600
MAX_REPLY_CHARS = 2000
#: Closed hand-offs listed under the open ones.
CLOSED_IN_QUEUE = 50
#: At most this many recent user events are read for the "most asked" table.
ANALYTICS_EVENTS = 20_000
#: Vietnam has no daylight saving time: UTC+7 all year.
VN_TZ = timezone(timedelta(hours=7), "ICT")

STATUS_LABELS = {
    HandoffStatus.open.value: "Đang chờ",
    HandoffStatus.claimed.value: "Đang xử lý",
    HandoffStatus.closed.value: "Đã trả lại trợ lý",
}
CHANNEL_LABELS = {"rest": "Web", "web": "Web", "zalo": "Zalo", "messenger": "Messenger", "facebook": "Messenger"}
#: Channels whose citizen sees staff replies (the web widget polls for them).
REPLY_CHANNELS = {"rest", "web"}
#: Channels whose staff replies go out through a platform's send API: channel name → platform.
PLATFORM_CHANNELS = {"zalo": "zalo", "messenger": "messenger", "facebook": "messenger"}
#: Put before a staff reply sent to a platform, as the web widget shows it, so the citizen knows a person writes.
STAFF_PREFIX = "Cán bộ: "
FEE_CHANNELS = {"online": "Nộp trực tuyến", "in_person": "Nộp trực tiếp", "any": "Mọi hình thức nộp"}
LEVEL_LABELS = {"commune": "Cấp xã", "province": "Cấp tỉnh", "central": "Cấp trung ương"}
ONLINE_LABELS = {"full": "Toàn trình", "partial": "Một phần"}
UNCONFIRMED = "thông tin tham khảo, cần kiểm tra lại"


# --- templates ---------------------------------------------------------------------------------------


def _vn_datetime(value: datetime | float | None) -> str:
    """``23/11/2026 14:05`` in Vietnam time; naive datetimes are UTC (SQLite drops the zone)."""
    if value is None:
        return ""
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, tz=timezone.utc)
    else:
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return moment.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")


def _vn_date(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def _money(amount: int | None) -> str:
    """``100.000 đồng``; 0 is free; None is a figure not confirmed."""
    if amount is None:
        return "chưa xác nhận mức thu"
    if amount == 0:
        return "Miễn phí"
    return f"{amount:,}".replace(",", ".") + " đồng"


def _score(value: float) -> str:
    """A 1–5 average the Vietnamese way: ``4,5``."""
    return f"{value:.1f}".replace(".", ",")


def _make_templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["vn_datetime"] = _vn_datetime
    env.filters["vn_date"] = _vn_date
    env.filters["money"] = _money
    env.filters["score"] = _score
    env.globals.update(
        STATUS_LABELS=STATUS_LABELS,
        CHANNEL_LABELS=CHANNEL_LABELS,
        FEE_CHANNELS=FEE_CHANNELS,
        LEVEL_LABELS=LEVEL_LABELS,
        ONLINE_LABELS=ONLINE_LABELS,
        UNCONFIRMED=UNCONFIRMED,
        MAX_REPLY_CHARS=MAX_REPLY_CHARS,
    )
    return Jinja2Templates(env=env)


templates = _make_templates()

#: Sent with every console page: shared desk PCs must not cache them, nor may other sites frame them.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
}


@dataclass(frozen=True)
class StaffSession:
    """The logged-in officer of a request."""

    username: str
    token: str
    csrf: str


def _render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    staff: StaffSession | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a console template with the security headers."""
    values = {"staff": staff, "request": request, **(context or {})}
    response = templates.TemplateResponse(request, name, values, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def _error_page(
    request: Request,
    status_code: int,
    message: str,
    *,
    staff: StaffSession | None = None,
    back: str | None = None,
    detail: str | None = None,
) -> HTMLResponse:
    return _render(
        request,
        "console/error.html",
        {"message": message, "back": back, "detail": detail},
        staff=staff,
        status_code=status_code,
    )


def _forbidden(request: Request, staff: StaffSession | None) -> HTMLResponse:
    """A console form without this session's anti-forgery token."""
    return _error_page(
        request, status.HTTP_403_FORBIDDEN, "Phiên làm việc không hợp lệ, vui lòng tải lại trang.", staff=staff
    )


def _not_found(request: Request, staff: StaffSession) -> HTMLResponse:
    """An unknown hand-off id."""
    return _error_page(request, status.HTTP_404_NOT_FOUND, "Không có yêu cầu hỗ trợ này.", staff=staff, back="/staff")


def _see_other(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
    response.headers.update(SECURITY_HEADERS)
    return response


# --- sessions ----------------------------------------------------------------------------------------


def _signer(request: Request) -> SessionSigner:
    """The app's session signer, made on first use from ``app.state.settings``."""
    signer = getattr(request.app.state, "staff_signer", None)
    if signer is None:
        signer = session_signer(request.app.state.settings)
        request.app.state.staff_signer = signer
    return signer


def _db(request: Request) -> Engine:
    return request.app.state.db_engine


def _catalogue(request: Request) -> Catalogue:
    return request.app.state.catalogue


def _safe_next(target: str | None) -> str:
    """A local console path to go to after log-in (never another site)."""
    if target and target.startswith("/staff") and "//" not in target and "\\" not in target:
        return target
    return "/staff"


def _session_of(request: Request) -> StaffSession | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    signer = _signer(request)
    data = signer.unsign(token, max_age=SESSION_MAX_AGE)
    if data is None:
        return None
    user = find_staff_user(_db(request), data.username)
    if user is None or password_fingerprint(user.password_hash) != data.fingerprint:
        return None
    return StaffSession(username=user.username, token=token, csrf=signer.csrf_token(token))


def require_staff(request: Request) -> StaffSession:
    """The logged-in officer (a sync dependency: FastAPI runs it in the thread pool).

    Raises:
        HTTPException: 303 to the log-in page for browsers, 401 for clients that accept only JSON.
    """
    session = _session_of(request)
    if session is not None:
        return session
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "text/html" not in accept:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="Cần đăng nhập.")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = "/staff/login" if target == "/staff" else f"/staff/login?next={quote(target, safe='')}"
    raise HTTPException(status.HTTP_303_SEE_OTHER, detail="Cần đăng nhập.", headers={"Location": location})


StaffDep = Annotated[StaffSession, Depends(require_staff)]
CsrfField = Annotated[str, Form(max_length=100)]


def _csrf_ok(request: Request, staff: StaffSession, token: str) -> bool:
    if _signer(request).check_csrf(staff.token, token):
        return True
    logger.warning("console form refused: bad anti-forgery token for %s", staff.username)
    return False


def _throttle(request: Request) -> LoginThrottle:
    """The log-in throttle, shared by every process through the database."""
    return LoginThrottle(_db(request))


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(
    request: Request, next_url: Annotated[str | None, Query(alias="next", max_length=500)] = None
) -> Response:
    """The log-in form (a logged-in officer goes straight to the queue)."""
    if _session_of(request) is not None:
        return _see_other(_safe_next(next_url))
    return _render(request, "console/login.html", {"next": _safe_next(next_url), "username": ""})


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=150)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=500)] = "/staff",
) -> Response:
    """Check the credentials and set the session cookie; 401 (one message for every failure) otherwise."""
    target = _safe_next(next_url)
    # the address uvicorn reports: the citizen's behind a proxy in ASSISTANT_FORWARDED_ALLOW_IPS
    key = (request.client.host if request.client else "", username)
    throttle = _throttle(request)
    if throttle.blocked(*key):
        return _render(
            request,
            "console/login.html",
            {"next": target, "username": username, "error": "Đăng nhập sai nhiều lần. Vui lòng thử lại sau 15 phút."},
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        )
    user = authenticate(_db(request), username, password) if username and password else None
    if user is None:
        throttle.failed(*key)
        return _render(
            request,
            "console/login.html",
            {"next": target, "username": username, "error": "Tên đăng nhập hoặc mật khẩu không đúng."},
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    throttle.succeeded(*key)
    token = _signer(request).sign(user.username, fingerprint=password_fingerprint(user.password_hash))
    response = _see_other(target)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_MAX_AGE,
        path="/staff",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, csrf: CsrfField = "") -> Response:
    """End the session and go back to the log-in page."""
    session = _session_of(request)
    if session is not None and not _csrf_ok(request, session, csrf):
        return _forbidden(request, session)
    response = _see_other("/staff/login")
    response.delete_cookie(SESSION_COOKIE, path="/staff")
    return response


# --- the queue and one hand-off -----------------------------------------------------------------------


def _procedure_or_none(catalogue: Catalogue, key: str | None) -> Procedure | None:
    if not key:
        return None
    try:
        return catalogue.get(key)
    except ProcedureNotFound:
        return None


def _procedure_label(catalogue: Catalogue, key: str | None) -> str:
    procedure = _procedure_or_none(catalogue, key)
    if procedure is not None:
        return procedure.name
    return key or "Chưa xác định"


def _load_queue(engine: Engine) -> tuple[list[Handoff], list[Handoff]]:
    """Open and claimed hand-offs (newest first), then the latest closed ones."""
    with session_scope(engine) as session:
        active = list(
            session.execute(
                select(Handoff)
                .where(Handoff.status != HandoffStatus.closed.value)  # open or claimed (a check constraint)
                .order_by(desc(Handoff.created_at), desc(Handoff.id))
            ).scalars()
        )
        closed = list(
            session.execute(
                select(Handoff)
                .where(Handoff.status == HandoffStatus.closed.value)
                .order_by(desc(Handoff.updated_at), desc(Handoff.id))
                .limit(CLOSED_IN_QUEUE)
            ).scalars()
        )
        session.expunge_all()
    return active, closed


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def queue(request: Request, staff: StaffDep) -> Response:
    """The hand-off queue."""
    catalogue = _catalogue(request)
    active, closed = _load_queue(_db(request))
    labels = {h.procedure_key: _procedure_label(catalogue, h.procedure_key) for h in active + closed}
    return _render(request, "console/queue.html", {"active": active, "closed": closed, "labels": labels}, staff=staff)


def _get_handoff(engine: Engine, handoff_id: int) -> Handoff | None:
    with session_scope(engine) as session:
        handoff = session.get(Handoff, handoff_id)
        if handoff is not None:
            session.expunge(handoff)
        return handoff


def _answer_rows(procedure: Procedure | None, answers: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(question, answer) pairs in words; unknown ids are shown as they are."""
    questions = {q.id: q for q in procedure.questions} if procedure else {}
    rows = []
    for question_id, value in answers.items():
        question = questions.get(question_id)
        options = {o.id: o.label for o in question.options} if question else {}
        chosen = value if isinstance(value, list) else [value]
        rows.append(
            (
                question.question if question else str(question_id),
                ", ".join(options.get(str(v), str(v)) for v in chosen),
            )
        )
    return rows


def _transcript_from_events(events: Iterable[Any]) -> list[dict[str, Any]]:
    """User and bot messages of a tracker, oldest first, staff replies marked."""
    out: list[dict[str, Any]] = []
    for event in events:
        kind = getattr(event, "type_name", None)
        body = getattr(event, "text", None)
        if kind not in ("user", "bot") or not body:
            continue
        metadata = (getattr(event, "metadata", None) or {}) if kind == "bot" else {}
        staff = metadata.get("from_staff")
        out.append(
            {
                "from": "citizen" if kind == "user" else ("staff" if staff else "bot"),
                "staff": staff,
                "delivered": metadata.get("delivered") if staff else None,
                "text": body,
                "time": getattr(event, "timestamp", None),
            }
        )
    return out


async def _transcript(engine: Any, handoff: Handoff) -> tuple[list[dict[str, Any]], bool]:
    """The conversation from the tracker, or the messages stored with the hand-off.

    Returns:
        The messages and whether they are the whole conversation (False: the stored last messages).
    """
    if engine is not None:
        try:
            tracker = await engine.tracker(handoff.sender_id)
            return _transcript_from_events(tracker.events), True
        except Exception:  # noqa: BLE001 - the page must still show what the hand-off stored
            logger.exception("could not read the tracker of hand-off %s", handoff.id)
    stored = [
        {"from": m.get("from", "bot"), "staff": None, "delivered": None, "text": m.get("text", ""), "time": None}
        for m in handoff.last_messages or []
        if isinstance(m, dict)
    ]
    return stored, False


@router.get("/handoffs/{handoff_id}", response_class=HTMLResponse, include_in_schema=False)
async def handoff_page(request: Request, handoff_id: int, staff: StaffDep) -> Response:
    """One hand-off: summary, answers, transcript and the actions."""
    handoff = await run_in_threadpool(_get_handoff, _db(request), handoff_id)
    if handoff is None:
        return _not_found(request, staff)
    engine = request.app.state.engine
    catalogue = _catalogue(request)
    procedure = _procedure_or_none(catalogue, handoff.procedure_key)
    messages, whole = await _transcript(engine, handoff)
    delivery = reply_delivery(request.app.state.settings, handoff.channel)
    checklist_url = None
    if procedure is not None:
        checklist_url = "/staff/checklist?" + urlencode(
            [("procedure", procedure.key)] + list(_flat_answers(handoff.answers or {}))
        )
    return _render(
        request,
        "console/handoff.html",
        {
            "handoff": handoff,
            "procedure_label": _procedure_label(catalogue, handoff.procedure_key),
            "procedure": procedure,
            "answers": _answer_rows(procedure, handoff.answers or {}),
            "messages": messages,
            "whole_transcript": whole,
            "can_reply": engine is not None and handoff.status != HandoffStatus.closed.value,
            "engine_ready": engine is not None,
            "reply_reaches_citizen": delivery in ("widget", "platform"),
            "reply_delivery": delivery,
            "checklist_url": checklist_url,
        },
        staff=staff,
    )


def _flat_answers(answers: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    for question_id, value in answers.items():
        for option_id in value if isinstance(value, list) else [value]:
            yield str(question_id), str(option_id)


def _claim(engine: Engine, handoff_id: int, username: str, *, only_open: bool = False) -> Handoff | None:
    """Mark a hand-off claimed by ``username`` (closed ones stay closed)."""
    with session_scope(engine) as session:
        handoff = session.get(Handoff, handoff_id)
        if handoff is None:
            return None
        if handoff.status == HandoffStatus.open.value or (
            handoff.status == HandoffStatus.claimed.value and not only_open
        ):
            handoff.status = HandoffStatus.claimed.value
            handoff.assigned_to = username
            session.flush()
        session.expunge(handoff)
        return handoff


@router.post("/handoffs/{handoff_id}/claim", include_in_schema=False)
def claim(request: Request, handoff_id: int, staff: StaffDep, csrf: CsrfField = "") -> Response:
    """Take a hand-off: status claimed, assigned to this officer."""
    if not _csrf_ok(request, staff, csrf):
        return _forbidden(request, staff)
    # One conditional UPDATE (HandoffService.claim): two officers can never both hold a hand-off.
    handoff, held = request.app.state.handoffs.claim(handoff_id, staff.username)
    if handoff is None:
        return _not_found(request, staff)
    if handoff.status == HandoffStatus.closed.value:
        return _error_page(
            request,
            status.HTTP_409_CONFLICT,
            "Yêu cầu này đã được trả lại cho trợ lý ảo.",
            staff=staff,
            back=f"/staff/handoffs/{handoff_id}",
        )
    if not held:
        return _held_by_other(request, staff, handoff)
    logger.info("hand-off %s claimed by %s", handoff_id, staff.username)
    return _see_other(f"/staff/handoffs/{handoff_id}")


def _held_by_other(request: Request, staff: StaffSession, handoff: Handoff) -> HTMLResponse:
    return _error_page(
        request,
        status.HTTP_409_CONFLICT,
        f"Yêu cầu này đang do cán bộ {handoff.assigned_to} xử lý.",
        staff=staff,
        back=f"/staff/handoffs/{handoff.id}",
    )


def reply_delivery(settings: Settings, channel: str) -> str:
    """How an officer's reply reaches a citizen of ``channel``.

    Returns:
        ``"widget"`` (the web widget polls for it), ``"platform"`` (sent through Zalo's or Messenger's API),
        ``"channel_off"`` (a Zalo or Messenger conversation, but that channel's secrets are unset) or
        ``"none"`` (a channel we cannot reach: the reply is only stored).
    """
    if channel in REPLY_CHANNELS:
        return "widget"
    platform = PLATFORM_CHANNELS.get(channel)
    if platform is None:
        return "none"
    enabled = settings.zalo_enabled if platform == "zalo" else settings.messenger_enabled
    return "platform" if enabled else "channel_off"


async def deliver_staff_reply(settings: Settings, channel: str, user_id: str, text: str) -> bool:
    """Send an officer's reply to a Zalo or Messenger citizen, prefixed "Cán bộ: " as the widget shows it.

    The platform channels use the platform's own user id (Zalo ``sender.id``, Messenger PSID) as the
    conversation's sender id, so a hand-off's ``sender_id`` is the recipient.

    Args:
        settings: the app's settings (the channel's token and API base).
        channel: the hand-off's channel (``zalo``, ``messenger``).
        user_id: the platform's user id.
        text: the officer's reply, without the prefix.

    Returns:
        True when the platform accepted the message; False when the channel is off or not a platform, or the
        call failed (HTTP error, timeout, platform error code). Never raises; failures are logged without tokens.

    Example:
        >>> await deliver_staff_reply(settings, "zalo", "2468458835296117922", "Chào anh")  # doctest: +SKIP
        True  # the citizen reads "Cán bộ: Chào anh" in Zalo
    """
    if reply_delivery(settings, channel) != "platform":
        return False
    replies = [Reply(recipient_id=user_id, text=STAFF_PREFIX + text)]
    send = send_zalo if PLATFORM_CHANNELS[channel] == "zalo" else send_messenger
    try:
        return await send(settings, user_id, replies)
    except Exception as e:  # noqa: BLE001 - the officer gets a message, never a 500; no URL (token) in the log
        logger.warning("staff reply via %s to %s failed: %s", channel, user_id, type(e).__name__)
        return False


async def send_staff_reply(
    engine: Any, sender_id: str, text: str, *, staff: str, delivered: bool | None = None
) -> float:
    """Write an officer's reply into the conversation, as a bot message marked ``from_staff``.

    The tracker is changed under the conversation's lock, as Rasa does for a turn.

    Args:
        engine: the :class:`~assistant.engine.ConversationEngine`.
        sender_id: the conversation.
        text: the reply.
        staff: the officer's username (stored in the event's metadata).
        delivered: for a platform channel, whether the platform accepted the reply (stored in the metadata,
            shown in the transcript); None for the web widget, which reads the reply from the conversation.

    Returns:
        The event's timestamp.
    """
    from rasa.shared.core.events import BotUttered

    metadata: dict[str, Any] = {"from_staff": staff}
    if delivered is not None:
        metadata["delivered"] = delivered
    agent = engine.agent
    async with agent.lock_store.lock(sender_id):
        tracker = await agent.tracker_store.get_or_create_tracker(sender_id)
        event = BotUttered(text, metadata=metadata)
        tracker.update(event)
        await agent.tracker_store.save(tracker)
    return float(event.timestamp)


@router.post("/handoffs/{handoff_id}/reply", include_in_schema=False)
async def reply(
    request: Request,
    handoff_id: int,
    staff: StaffDep,
    text: Annotated[str, Form(max_length=MAX_REPLY_CHARS * 2)] = "",
    csrf: CsrfField = "",
) -> Response:
    """Send a reply to the citizen (it appears in their chat, prefixed "Cán bộ:").

    The reply is always stored in the conversation. A Zalo or Messenger citizen also gets it through the
    platform; when the channel is not configured (503) or the platform refuses it (502), the officer sees a
    page saying it was stored but not delivered.
    """
    back = f"/staff/handoffs/{handoff_id}"
    if not _csrf_ok(request, staff, csrf):
        return _forbidden(request, staff)
    handoff = await run_in_threadpool(_get_handoff, _db(request), handoff_id)
    if handoff is None:
        return _not_found(request, staff)
    body = text.strip()
    if not body or len(body) > MAX_REPLY_CHARS:
        return _error_page(
            request,
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            f"Tin nhắn phải có từ 1 đến {MAX_REPLY_CHARS} ký tự.",
            staff=staff,
            back=back,
        )
    if handoff.status == HandoffStatus.closed.value:
        return _error_page(
            request,
            status.HTTP_409_CONFLICT,
            "Yêu cầu này đã được trả lại cho trợ lý ảo; không gửi được tin nhắn nữa.",
            staff=staff,
            back=back,
        )
    engine = request.app.state.engine
    if engine is None:
        return _error_page(
            request,
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "Trợ lý ảo chưa sẵn sàng nên chưa gửi được tin nhắn. Vui lòng thử lại sau ít phút.",
            staff=staff,
            back=back,
        )
    claimed, held = await run_in_threadpool(request.app.state.handoffs.claim, handoff_id, staff.username)
    if claimed is not None and not held:  # another officer holds it (a reply claims, and restarts the timeout)
        return _held_by_other(request, staff, claimed)
    settings: Settings = request.app.state.settings
    delivery = reply_delivery(settings, handoff.channel)
    delivered: bool | None = None
    if delivery == "platform":
        delivered = await deliver_staff_reply(settings, handoff.channel, handoff.sender_id, body)
    elif delivery == "channel_off":
        delivered = False
    await send_staff_reply(engine, handoff.sender_id, body, staff=staff.username, delivered=delivered)
    if delivered is False:
        label = CHANNEL_LABELS.get(handoff.channel, handoff.channel)
        logger.warning(
            "staff %s replied in hand-off %s: not delivered via %s (%s)", staff.username, handoff_id, label, delivery
        )
        if delivery == "channel_off":
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
        return _error_page(
            request,
            code,
            f"Chưa gửi được tin nhắn tới người dân qua {label}",
            staff=staff,
            back=f"{back}#tin-nhan",
            detail=detail,
        )
    logger.info("staff %s replied in hand-off %s", staff.username, handoff_id)
    return _see_other(f"{back}#tin-nhan")


@router.post("/handoffs/{handoff_id}/close", include_in_schema=False)
async def close(request: Request, handoff_id: int, staff: StaffDep, csrf: CsrfField = "") -> Response:
    """Close the hand-off and hand the conversation back to the bot."""
    if not _csrf_ok(request, staff, csrf):
        return _forbidden(request, staff)
    handoffs = request.app.state.handoffs
    current = await run_in_threadpool(_get_handoff, _db(request), handoff_id)
    if current is None:
        return _not_found(request, staff)
    if current.status == HandoffStatus.closed.value:
        return _see_other("/staff")
    handoff = await run_in_threadpool(handoffs.close, handoff_id, staff=staff.username)
    if handoff is None:
        return _not_found(request, staff)
    engine = request.app.state.engine
    if engine is not None:
        still_paused = await handoffs.is_paused(handoff.sender_id)
        if not still_paused:
            async with engine.agent.lock_store.lock(handoff.sender_id):
                await engine.resume(handoff.sender_id)
    logger.info("hand-off %s closed by %s", handoff_id, staff.username)
    return _see_other("/staff")


# --- checklist ---------------------------------------------------------------------------------------


def _answers_from_query(procedure: Procedure, params: Any) -> dict[str, str | list[str]]:
    """The procedure's answers in the query string; unknown questions and options are dropped."""
    answers: dict[str, str | list[str]] = {}
    for question in procedure.questions:
        valid = {o.id for o in question.options}
        chosen = [v for v in params.getlist(question.id) if v in valid]
        if len(chosen) == 1:
            answers[question.id] = chosen[0]
        elif chosen:
            answers[question.id] = list(dict.fromkeys(chosen))
    return answers


@router.get("/checklist", response_class=HTMLResponse, include_in_schema=False)
def checklist(request: Request, staff: StaffDep) -> Response:
    """A printable personalised checklist for a citizen at the desk."""
    catalogue = _catalogue(request)
    key = request.query_params.get("procedure") or ""
    procedures = catalogue.all()
    context: dict[str, Any] = {"procedures": procedures, "selected": None, "checklist": None}
    if key:
        procedure = _procedure_or_none(catalogue, key)
        if procedure is None:
            return _error_page(
                request,
                status.HTTP_404_NOT_FOUND,
                "Không có thủ tục này trong danh mục.",
                staff=staff,
                back="/staff/checklist",
            )
        answers = _answers_from_query(procedure, request.query_params)
        context.update(
            selected=procedure,
            answers=answers,
            answer_rows=_answer_rows(procedure, answers),
            unanswered=[q.question for q in procedure.questions if q.id not in answers],
            checklist=catalogue.checklist(procedure.key, answers),
            steps=procedure.steps_for(answers),
            printed_at=_vn_datetime(datetime.now(timezone.utc)),
        )
    return _render(request, "console/checklist.html", context, staff=staff)


# --- analytics ---------------------------------------------------------------------------------------


def _asked_procedures(engine: Engine) -> tuple[list[tuple[str, int, int]], int]:
    """(procedure key, messages, conversations) from Rasa's ``events`` table, most asked first.

    Returns:
        The rows and how many user messages were read. Empty when the table does not exist yet.
    """
    try:
        if not inspect(engine).has_table("events"):
            return [], 0
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT sender_id, data FROM events WHERE type_name = 'user' ORDER BY id DESC LIMIT :limit"),
                {"limit": ANALYTICS_EVENTS},
            ).all()
    except Exception:  # noqa: BLE001 - analytics must render even when Rasa's table is odd
        logger.exception("could not read Rasa's events table")
        return [], 0
    messages: Counter[str] = Counter()
    senders: dict[str, set[str]] = defaultdict(set)
    for sender_id, data in rows:
        try:
            event = json.loads(data) if isinstance(data, str | bytes) else data
            procedure = (event.get("parse_data") or {}).get("procedure") or {}
            key = procedure.get("key") if isinstance(procedure, dict) else None
        except (ValueError, AttributeError, TypeError):
            continue
        if isinstance(key, str) and key:
            messages[key] += 1
            senders[key].add(str(sender_id))
    ranked = [(key, count, len(senders[key])) for key, count in messages.most_common(15)]
    return ranked, len(rows)


def _analytics(engine: Engine) -> dict[str, Any]:
    with session_scope(engine) as session:
        by_status = dict(session.execute(select(Handoff.status, func.count()).group_by(Handoff.status)).all())
        per_procedure: dict[str | None, dict[str, int]] = defaultdict(Counter)
        for key, state, count in session.execute(
            select(Handoff.procedure_key, Handoff.status, func.count()).group_by(Handoff.procedure_key, Handoff.status)
        ):
            per_procedure[key][state] += count
        ratings = session.execute(
            select(Feedback.procedure_key, func.count(Feedback.rating), func.avg(Feedback.rating)).group_by(Feedback.procedure_key)
        ).all()
        overall = session.execute(select(func.count(Feedback.rating), func.avg(Feedback.rating))).one()
    asked, read = _asked_procedures(engine)
    return {
        "by_status": [(s.value, int(by_status.get(s.value, 0))) for s in HandoffStatus],
        "handoffs_total": sum(int(v) for v in by_status.values()),
        "per_procedure": sorted(
            ((key, dict(counts), sum(counts.values())) for key, counts in per_procedure.items()),
            key=lambda row: (-row[2], row[0] is None, str(row[0])),
        ),
        "ratings": sorted(
            ((key, int(count), float(avg or 0)) for key, count, avg in ratings), key=lambda row: (-row[1], str(row[0]))
        ),
        "ratings_total": int(overall[0] or 0),
        "ratings_average": float(overall[1] or 0),
        "asked": asked,
        "events_read": read,
    }


@router.get("/analytics", response_class=HTMLResponse, include_in_schema=False)
def analytics(request: Request, staff: StaffDep) -> Response:
    """Counts of hand-offs, ratings and the most asked procedures."""
    catalogue = _catalogue(request)
    data = _analytics(_db(request))
    keys = (
        {row[0] for row in data["per_procedure"]}
        | {row[0] for row in data["ratings"]}
        | {row[0] for row in data["asked"]}
    )
    labels = {key: _procedure_label(catalogue, key) for key in keys}
    return _render(request, "console/analytics.html", {**data, "labels": labels}, staff=staff)
