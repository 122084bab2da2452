"""A storage service away for a while (PostgreSQL, SQLite locked, Redis) is a clean 503, never a 500.

While the database or Redis cannot be reached, a request that needs them is answered 503 with a polite
Vietnamese reason and ``Retry-After`` (platforms and the widget try again), and the outage is logged in one line
without a traceback. Nothing is restarted: SQLAlchemy's pools (``pool_pre_ping``, invalidated on a disconnect)
and redis-py reconnect on the next request once the service is back.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InvalidatePoolError

from assistant.engine import lock_errors

__all__ = ["OUTAGE_TEXT", "install", "outage_errors"]

logger = logging.getLogger(__name__)

OUTAGE_TEXT = "Hệ thống đang tạm gián đoạn kết nối. Bạn vui lòng thử lại sau ít phút."
"""What a citizen (or a platform, or an officer's browser) reads while a storage service is away."""

RETRY_AFTER_SECONDS = 5


def outage_errors() -> tuple[type[Exception], ...]:
    """The exception types that mean "a storage service is away", not a bug."""
    errors: list[type[Exception]] = [DBAPIError, InvalidatePoolError]
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        errors += [RedisConnectionError, RedisTimeoutError]
    except ImportError:  # pragma: no cover - redis comes with Rasa
        pass
    try:
        errors += lock_errors()  # Redis away while taking a conversation's lock
    except ImportError:  # pragma: no cover - rasa is a dependency
        pass
    return tuple(errors)


def install(app: FastAPI) -> None:
    """Answer every outage error of a route with a 503 (see the module docstring)."""

    async def outage(request: Request, exc: Exception) -> JSONResponse:
        logger.error("storage unavailable on %s %s: %s", request.method, request.url.path, _summary(exc))
        return JSONResponse(
            {"detail": OUTAGE_TEXT}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )

    for error in outage_errors():
        app.add_exception_handler(error, outage)


def _summary(exc: BaseException) -> str:
    """The error's type and first line (no statement, no parameters: they may hold what a citizen wrote)."""
    origin = getattr(exc, "orig", None) or exc
    first = str(origin).strip().splitlines()[0] if str(origin).strip() else ""
    return f"{type(exc).__name__}: {first}"[:300]
