"""How every console page is made: the Jinja templates beside this module, their filters, the security headers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from assistant.db.models import HandoffStatus
from assistant.text.formatting import vn_date, vn_datetime, vn_decimal, vnd

__all__ = ["SECURITY_HEADERS", "StaffSession", "error_page", "forbidden", "not_found", "render", "see_other", "templates"]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
MAX_REPLY_CHARS = 2000

STATUS_LABELS = {
    HandoffStatus.open.value: "Đang chờ",
    HandoffStatus.claimed.value: "Đang xử lý",
    HandoffStatus.closed.value: "Đã trả lại trợ lý",
}
CHANNEL_LABELS = {"rest": "Web", "web": "Web", "zalo": "Zalo", "messenger": "Messenger", "facebook": "Messenger"}
FEE_CHANNELS = {"online": "Nộp trực tuyến", "in_person": "Nộp trực tiếp", "any": "Mọi hình thức nộp"}
LEVEL_LABELS = {"commune": "Cấp xã", "province": "Cấp tỉnh", "central": "Cấp trung ương"}
ONLINE_LABELS = {"full": "Toàn trình", "partial": "Một phần"}
UNCONFIRMED = "thông tin tham khảo, cần kiểm tra lại"

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
    role: str = "officer"

    @property
    def is_admin(self) -> bool:
        """True for an ``admin``: the admin page is theirs."""
        return self.role == "admin"


def money(amount: int | None) -> str:
    """``100.000 đồng``; 0 is free; None is a figure not confirmed."""
    if amount is None:
        return "chưa xác nhận mức thu"
    text = vnd(amount)
    return text[:1].upper() + text[1:]


def waited(since: datetime | None, now: datetime | None = None) -> str:
    """How long a citizen has waited: ``5 phút``, ``1 giờ 20 phút`` (naive datetimes are UTC)."""
    if since is None:
        return ""
    start = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
    minutes = max(0, int(((now or datetime.now(timezone.utc)) - start).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} phút"
    return f"{minutes // 60} giờ {minutes % 60} phút" if minutes < 24 * 60 else f"{minutes // (24 * 60)} ngày"


def _make_templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["vn_datetime"] = vn_datetime
    env.filters["vn_date"] = vn_date
    env.filters["money"] = money
    env.filters["score"] = vn_decimal
    env.filters["waited"] = waited
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


def render(
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


def error_page(
    request: Request,
    status_code: int,
    message: str,
    *,
    staff: StaffSession | None = None,
    back: str | None = None,
    detail: str | None = None,
) -> HTMLResponse:
    """The error page: a message, an optional detail and a way back."""
    return render(
        request, "error.html", {"message": message, "back": back, "detail": detail}, staff=staff, status_code=status_code
    )


def forbidden(request: Request, staff: StaffSession | None) -> HTMLResponse:
    """A console form without this session's anti-forgery token."""
    return error_page(
        request, status.HTTP_403_FORBIDDEN, "Phiên làm việc không hợp lệ, vui lòng tải lại trang.", staff=staff
    )


def not_found(request: Request, staff: StaffSession) -> HTMLResponse:
    """An unknown hand-off id."""
    return error_page(request, status.HTTP_404_NOT_FOUND, "Không có yêu cầu hỗ trợ này.", staff=staff, back="/staff")


def see_other(url: str) -> RedirectResponse:
    """303 to ``url`` (after a form), with the security headers."""
    response = RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
    response.headers.update(SECURITY_HEADERS)
    return response
