"""Officers' sessions: log-in (throttled), log-out, the current officer and the forms' anti-forgery token.

- ``GET/POST /staff/login``, ``POST /staff/logout``.

The log-in form is protected from forgery too (a site logging an officer into another account): the form page
sets a random ``assistant_login`` cookie (path ``/staff/login``, SameSite=Strict) and carries its HMAC in the
hidden ``login_csrf`` field; a post without both, matching, is refused (403) before any password is checked.

A browser without a session is redirected (303) to the log-in page; a client that asks only for JSON gets 401.
Every form of a logged-in officer carries an anti-forgery token (``csrf``) bound to the session.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response

from assistant.api.deps import DbEngineDep
from assistant.api.routes.console.pages import StaffSession, forbidden, render, see_other
from assistant.login_throttle import LoginThrottle
from assistant.staff import SessionSigner, authenticate, find_staff_user, password_fingerprint, session_signer

__all__ = ["SESSION_COOKIE", "AdminDep", "CsrfField", "SignerDep", "StaffDep", "require_admin", "require_staff", "router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/staff")

SESSION_COOKIE = "assistant_staff"
#: The log-in form's double-submit cookie (a random nonce; the form carries its HMAC).
LOGIN_COOKIE = "assistant_login"
_NONCE = re.compile(r"[A-Za-z0-9_-]{20,64}")
#: A session lasts one working day.
SESSION_MAX_AGE = 12 * 3600


def get_signer(request: Request) -> SessionSigner:
    """The app's session signer, made on first use from ``app.state.settings``."""
    signer = getattr(request.app.state, "staff_signer", None)
    if signer is None:
        signer = session_signer(request.app.state.settings)
        request.app.state.staff_signer = signer
    return signer


SignerDep = Annotated[SessionSigner, Depends(get_signer)]


def safe_next(target: str | None) -> str:
    """A local console path to go to after log-in (never another site)."""
    if target and target.startswith("/staff") and "//" not in target and "\\" not in target:
        return target
    return "/staff"


def session_of(request: Request, db_engine: DbEngineDep, signer: SignerDep) -> StaffSession | None:
    """The request's officer, or None (no cookie, forged or expired, account gone, password reset)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    data = signer.unsign(token, max_age=SESSION_MAX_AGE)
    if data is None:
        return None
    user = find_staff_user(db_engine, data.username)
    if user is None or user.disabled or password_fingerprint(user.password_hash) != data.fingerprint:
        return None
    return StaffSession(username=user.username, token=token, csrf=signer.csrf_token(token), role=user.role)


MaybeStaffDep = Annotated[StaffSession | None, Depends(session_of)]


def require_staff(request: Request, session: MaybeStaffDep) -> StaffSession:
    """The logged-in officer (a sync dependency: FastAPI runs it in the thread pool).

    Raises:
        HTTPException: 303 to the log-in page for browsers, 401 for clients that accept only JSON.
    """
    if session is not None:
        return session
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "text/html" not in accept:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="Cần đăng nhập.")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = "/staff/login" if target == "/staff" else f"/staff/login?next={quote(target, safe='')}"
    raise HTTPException(status.HTTP_303_SEE_OTHER, detail="Cần đăng nhập.", headers={"Location": location})


StaffDep = Annotated[StaffSession, Depends(require_staff)]


def require_admin(staff: StaffDep) -> StaffSession:
    """The logged-in officer when an ``admin``.

    Raises:
        HTTPException: 403 for an officer.
    """
    if not staff.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Chỉ quản trị viên được dùng trang này.")
    return staff


AdminDep = Annotated[StaffSession, Depends(require_admin)]
CsrfField = Annotated[str, Form(max_length=100)]


def csrf_ok(signer: SessionSigner, staff: StaffSession, token: str) -> bool:
    """True when ``token`` is the anti-forgery token of the officer's session (a refusal is logged)."""
    if signer.check_csrf(staff.token, token):
        return True
    logger.warning("console form refused: bad anti-forgery token for %s", staff.username)
    return False


def _set_cookie(
    response: Response, request: Request, name: str, value: str, *, path: str, samesite: Literal["lax", "strict"]
) -> None:
    """A console cookie: HttpOnly, one working day, ``Secure`` when the request came over https."""
    response.set_cookie(
        name,
        value,
        max_age=SESSION_MAX_AGE,
        path=path,
        httponly=True,
        samesite=samesite,
        secure=request.url.scheme == "https",
    )


def login_form(
    request: Request, signer: SessionSigner, context: dict[str, object], *, status_code: int = 200
) -> Response:
    """The log-in page with its anti-forgery field, (re)setting the log-in cookie it is bound to."""
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    if not _NONCE.fullmatch(nonce):
        nonce = secrets.token_urlsafe(24)
    response = render(request, "login.html", {**context, "login_csrf": signer.login_token(nonce)}, status_code=status_code)
    _set_cookie(response, request, LOGIN_COOKIE, nonce, path="/staff/login", samesite="strict")
    return response


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(
    request: Request,
    session: MaybeStaffDep,
    signer: SignerDep,
    next_url: Annotated[str | None, Query(alias="next", max_length=500)] = None,
) -> Response:
    """The log-in form (a logged-in officer goes straight to the queue)."""
    if session is not None:
        return see_other(safe_next(next_url))
    return login_form(request, signer, {"next": safe_next(next_url), "username": ""})


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
def login(
    request: Request,
    db_engine: DbEngineDep,
    signer: SignerDep,
    username: Annotated[str, Form(max_length=150)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=500)] = "/staff",
    login_csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Check the credentials and set the session cookie; 401 (one message for every failure) otherwise.

    A post without the form's anti-forgery field and its cookie is refused (403) and counts as no attempt.
    """
    target = safe_next(next_url)

    def again(error: str, status_code: int) -> Response:
        """The log-in form again, with the name typed and why."""
        return login_form(request, signer, {"next": target, "username": username, "error": error}, status_code=status_code)

    if not signer.check_login_token(request.cookies.get(LOGIN_COOKIE) or "", login_csrf):
        logger.warning("log-in form refused: missing or bad anti-forgery token")
        return again("Phiên đăng nhập đã hết hạn, vui lòng đăng nhập lại.", status.HTTP_403_FORBIDDEN)
    # the address uvicorn reports: the citizen's behind a proxy in ASSISTANT_FORWARDED_ALLOW_IPS
    key = (request.client.host if request.client else "", username)
    throttle = LoginThrottle(db_engine)  # shared by every process through the database
    if throttle.blocked(*key):
        return again("Đăng nhập sai nhiều lần. Vui lòng thử lại sau 15 phút.", status.HTTP_429_TOO_MANY_REQUESTS)
    user = authenticate(db_engine, username, password) if username and password else None
    if user is None:
        throttle.failed(*key)
        return again("Tên đăng nhập hoặc mật khẩu không đúng.", status.HTTP_401_UNAUTHORIZED)
    throttle.succeeded(*key)
    token = signer.sign(user.username, fingerprint=password_fingerprint(user.password_hash))
    response = see_other(target)
    _set_cookie(response, request, SESSION_COOKIE, token, path="/staff", samesite="lax")
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, session: MaybeStaffDep, signer: SignerDep, csrf: CsrfField = "") -> Response:
    """End the session and go back to the log-in page."""
    if session is not None and not csrf_ok(signer, session, csrf):
        return forbidden(request, session)
    response = see_other("/staff/login")
    response.delete_cookie(SESSION_COOKIE, path="/staff")
    return response
