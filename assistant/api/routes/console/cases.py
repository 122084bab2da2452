"""Desk cases: the officer opens a case for the citizen in front of them and prints it with a QR code.

- ``POST /staff/cases`` (form: ``procedure``, ``<question id>=<option id>``…, ``csrf``): opens a case for the
  checklist on screen, writes it in the audit log, then 303 to its page.
- ``GET /staff/cases/{id}``: the printable checklist of the case with its QR code, the address it encodes written
  under it, and until when it is valid.

The work is in :mod:`assistant.desk_cases`; the citizen's side is ``POST /webhooks/web/cases`` (the widget).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from assistant import audit
from assistant.api.deps import CatalogueDep, DbEngineDep, SettingsDep
from assistant.api.routes.console.auth import SignerDep, StaffDep, csrf_ok
from assistant.api.routes.console.checklist import answers_from_query, checklist_context
from assistant.api.routes.console.pages import error_page, forbidden, render, see_other
from assistant.db.models import utcnow
from assistant.desk import procedure_or_none
from assistant.desk_cases import case_key, case_link, create_case, expires_of, get_case, qr_svg, sign_case
from assistant.settings import Settings
from assistant.text.formatting import vn_datetime

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/staff")


def public_page(settings: Settings, request: Request) -> str:
    """The page with the widget that the QR code opens: ``ASSISTANT_PUBLIC_URL``, else this server's demo page."""
    return settings.public_url or str(request.base_url)


@router.post("/cases", include_in_schema=False)
async def open_case(
    request: Request,
    staff: StaffDep,
    signer: SignerDep,
    catalogue: CatalogueDep,
    db_engine: DbEngineDep,
    settings: SettingsDep,
) -> Response:
    """Open a desk case for the procedure and answers of the checklist on screen."""
    form = await request.form()
    if not csrf_ok(signer, staff, str(form.get("csrf") or "")):
        return forbidden(request, staff)
    procedure = procedure_or_none(catalogue, str(form.get("procedure") or ""))
    if procedure is None:
        return error_page(
            request, status.HTTP_404_NOT_FOUND, "Không có thủ tục này trong danh mục.", staff=staff, back="/staff/checklist"
        )
    case = await run_in_threadpool(
        partial(
            create_case,
            db_engine,
            procedure=procedure,
            answers=answers_from_query(procedure, form),
            officer=staff.username,
            valid_for=timedelta(days=settings.desk_case_days),
        )
    )
    chosen = ", ".join(f"{q}={o}" for q, o in case.answers.items())
    detail = f"hồ sơ {case.id}: {procedure.key}" + (f" ({chosen})" if chosen else "")
    await run_in_threadpool(partial(audit.record, db_engine, staff.username, "desk_case", detail=detail))
    logger.info("desk case %s opened by %s for %s", case.id, staff.username, procedure.key)
    return see_other(f"/staff/cases/{case.id}")


@router.get("/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
async def case_page(
    request: Request, case_id: int, staff: StaffDep, catalogue: CatalogueDep, db_engine: DbEngineDep, settings: SettingsDep
) -> Response:
    """The case's printable checklist with its QR code."""
    case = await run_in_threadpool(get_case, db_engine, case_id)
    procedure = procedure_or_none(catalogue, case.procedure_key) if case else None
    if case is None or procedure is None:
        return error_page(
            request, status.HTTP_404_NOT_FOUND, "Không có hồ sơ này.", staff=staff, back="/staff/checklist"
        )
    expires_at = expires_of(case)
    link = case_link(public_page(settings, request), sign_case(case_key(settings), case.id, expires_at))
    context: dict[str, Any] = checklist_context(catalogue, procedure, case.answers)
    context["case"] = {
        "id": case.id,
        "officer": case.officer,
        "url": link,
        "qr": Markup(qr_svg(link)),  # noqa: S704 - segno's SVG of our own URL
        "expires": vn_datetime(expires_at),
        "expired": expires_at <= utcnow(),
        "random_key": settings.session_secret is None,
    }
    return render(request, "checklist.html", context, staff=staff)
