"""``/staff/admin`` (admins only): add, disable and enable officers; read the audit log.

- ``GET /staff/admin``: the accounts and the latest lines of the audit log;
- ``POST /staff/admin/officers`` (``username``, ``password``, ``role``): add an account, or reset its password;
- ``POST /staff/admin/officers/{username}/disable`` and ``.../enable``.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from assistant import audit
from assistant.api.deps import DbEngineDep
from assistant.api.routes.console.auth import AdminDep, CsrfField, SignerDep, csrf_ok
from assistant.api.routes.console.pages import error_page, forbidden, render, see_other
from assistant.errors import AssistantError
from assistant.staff import ROLES, list_staff_users, save_staff_user, set_disabled

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/staff/admin")
ROLE_LABELS = {"officer": "Cán bộ", "admin": "Quản trị viên"}


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def admin_page(request: Request, staff: AdminDep, db_engine: DbEngineDep) -> Response:
    """The accounts and the audit log."""
    context = {
        "users": list_staff_users(db_engine),
        "audit": audit.recent(db_engine),
        "ACTION_LABELS": audit.ACTION_LABELS,
        "ROLE_LABELS": ROLE_LABELS,
        "roles": ROLES,
    }
    return render(request, "admin.html", context, staff=staff)


@router.post("/officers", include_in_schema=False)
async def add_officer(
    request: Request,
    staff: AdminDep,
    signer: SignerDep,
    db_engine: DbEngineDep,
    username: Annotated[str, Form(max_length=150)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    role: Annotated[str, Form(max_length=16)] = "officer",
    csrf: CsrfField = "",
) -> Response:
    """Add an account (or reset its password and role); 422 for a bad name, a short password, an unknown role."""
    if not csrf_ok(signer, staff, csrf):
        return forbidden(request, staff)
    try:
        created = await run_in_threadpool(save_staff_user, db_engine, username, password, role=role)
    except AssistantError as e:
        return error_page(
            request, status.HTTP_422_UNPROCESSABLE_ENTITY, f"Chưa thêm được tài khoản: {e}.", staff=staff, back="/staff/admin"
        )
    detail = f"{username.strip()} ({role}){'' if created else ', đặt lại mật khẩu'}"
    await run_in_threadpool(audit.record, db_engine, staff.username, "officer_added", detail=detail)
    return see_other("/staff/admin")


async def _set_disabled(
    request: Request, staff: AdminDep, signer: SignerDep, db_engine: DbEngineDep, username: str, csrf: str, disabled: bool
) -> Response:
    if not csrf_ok(signer, staff, csrf):
        return forbidden(request, staff)
    if disabled and username == staff.username:
        return error_page(
            request, status.HTTP_409_CONFLICT, "Không thể tự khóa tài khoản của mình.", staff=staff, back="/staff/admin"
        )
    if not await run_in_threadpool(set_disabled, db_engine, username, disabled):
        return error_page(request, status.HTTP_404_NOT_FOUND, "Không có tài khoản này.", staff=staff, back="/staff/admin")
    action = "officer_disabled" if disabled else "officer_enabled"
    await run_in_threadpool(audit.record, db_engine, staff.username, action, detail=username)
    return see_other("/staff/admin")


@router.post("/officers/{username}/disable", include_in_schema=False)
async def disable_officer(
    request: Request, username: str, staff: AdminDep, signer: SignerDep, db_engine: DbEngineDep, csrf: CsrfField = ""
) -> Response:
    """Disable an account: it cannot log in, and its sessions end at their next request."""
    return await _set_disabled(request, staff, signer, db_engine, username, csrf, True)


@router.post("/officers/{username}/enable", include_in_schema=False)
async def enable_officer(
    request: Request, username: str, staff: AdminDep, signer: SignerDep, db_engine: DbEngineDep, csrf: CsrfField = ""
) -> Response:
    """Enable a disabled account again."""
    return await _set_disabled(request, staff, signer, db_engine, username, csrf, False)
