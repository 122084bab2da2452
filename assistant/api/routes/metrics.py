"""``GET /metrics``: Prometheus text format (:mod:`assistant.metrics`), for the operator's scraper.

With ``ASSISTANT_METRICS_TOKEN`` set, the scraper sends ``Authorization: Bearer <token>``; without it, only
clients on this machine (127.0.0.1, ::1) may read it, e.g. a Prometheus agent beside the app. Anything else: 403.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, HTTPException, Request, Response, status

from assistant.api.deps import SettingsDep
from assistant.metrics import CONTENT_TYPE

__all__ = ["router"]

router = APIRouter(tags=["operations"])
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, settings: SettingsDep) -> Response:
    """The app's counters in the Prometheus text format."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    if token:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Cần mã truy cập.")
    elif (request.client.host if request.client else "") not in LOOPBACK:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Chỉ đọc được từ máy chủ này, hoặc đặt ASSISTANT_METRICS_TOKEN.")
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE)
