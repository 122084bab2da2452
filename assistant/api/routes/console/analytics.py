"""``GET /staff/analytics``: hand-offs by status and procedure, ratings, the most asked procedures; ``.csv`` too."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from assistant.analytics import analytics_csv, desk_analytics
from assistant.api.deps import CatalogueDep, DbEngineDep
from assistant.api.routes.console.auth import StaffDep
from assistant.api.routes.console.pages import SECURITY_HEADERS, render
from assistant.desk import procedure_label

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/staff")


@router.get("/analytics", response_class=HTMLResponse, include_in_schema=False)
def analytics(request: Request, staff: StaffDep, catalogue: CatalogueDep, db_engine: DbEngineDep) -> Response:
    """Counts of hand-offs, ratings and the most asked procedures."""
    data = desk_analytics(db_engine)
    keys = (
        {row[0] for row in data["per_procedure"]}
        | {row[0] for row in data["ratings"]}
        | {row[0] for row in data["asked"]}
    )
    labels = {key: procedure_label(catalogue, key) for key in keys}
    return render(request, "analytics.html", {**data, "labels": labels}, staff=staff)


@router.get("/analytics.csv", include_in_schema=False)
async def analytics_download(staff: StaffDep, catalogue: CatalogueDep, db_engine: DbEngineDep) -> Response:
    """The same numbers as a CSV file for a spreadsheet (UTF-8 with a byte-order mark, which Excel needs)."""
    data = await run_in_threadpool(desk_analytics, db_engine)
    logger.info("staff %s downloaded the analytics", staff.username)
    body = "\ufeff" + analytics_csv(data, lambda key: procedure_label(catalogue, key))
    headers = {**SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="thong-ke.csv"'}
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
