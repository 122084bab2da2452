"""``GET /staff/analytics``: hand-offs by status and procedure, ratings, the most asked procedures; ``.csv`` too.

Four charts, drawn on the server as inline SVG (assistant/charts.py): questions per procedure, the understood rate,
walkthroughs finished and ratings, the last three over the last :data:`~assistant.analytics.CHART_DAYS` days.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from assistant.analytics import analytics_csv, desk_analytics
from assistant.api.deps import CatalogueDep, DbEngineDep
from assistant.api.routes.console.auth import StaffDep
from assistant.api.routes.console.pages import SECURITY_HEADERS, render
from assistant.charts import bar_chart, column_chart
from assistant.desk import procedure_label

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/staff")


def charts(data: dict[str, Any], labels: dict[Any, str]) -> dict[str, Markup]:
    """The analytics page's four charts from :func:`desk_analytics`'s numbers."""
    days = data["days"]

    def day(row: dict[str, Any]) -> str:
        return f"{row['day']:%d/%m}"

    return {
        "asked": bar_chart(
            "asked", "Số câu hỏi theo thủ tục", [(labels.get(key) or key, float(n)) for key, n, _ in data["asked"][:10]]
        ),
        "understood": column_chart(
            "understood",
            "Tỉ lệ câu hỏi hiểu được theo ngày (%)",
            [(day(r), 100 * r["understood"] / r["messages"] if r["messages"] else None) for r in days],
            top=100,
            show=lambda v: f"{v:.0f}%",
        ),
        "guides": column_chart(
            "guides", "Số lượt hướng dẫn từng bước đã xong theo ngày", [(day(r), float(r["guides_finished"])) for r in days]
        ),
        "ratings": column_chart(
            "ratings",
            "Điểm đánh giá trung bình theo ngày (1–5)",
            [(day(r), r["rating_sum"] / r["ratings"] if r["ratings"] else None) for r in days],
            top=5,
            show=lambda v: f"{v:.1f}".replace(".", ","),
        ),
    }


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
    return render(request, "analytics.html", {**data, "labels": labels, "charts": charts(data, labels)}, staff=staff)


@router.get("/analytics.csv", include_in_schema=False)
async def analytics_download(staff: StaffDep, catalogue: CatalogueDep, db_engine: DbEngineDep) -> Response:
    """The same numbers as a CSV file for a spreadsheet (UTF-8 with a byte-order mark, which Excel needs)."""
    data = await run_in_threadpool(desk_analytics, db_engine)
    logger.info("staff %s downloaded the analytics", staff.username)
    body = "\ufeff" + analytics_csv(data, lambda key: procedure_label(catalogue, key))
    headers = {**SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="thong-ke.csv"'}
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
