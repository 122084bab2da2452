"""The staff log-in throttle, shared by every process through the ``login_failures`` table.

After ``limit`` failed log-ins from one client address for one user name within ``window`` seconds, further
attempts are refused until the oldest of them leaves the window. The client address is the one uvicorn reports
(``request.client.host``): behind a proxy listed in ``ASSISTANT_FORWARDED_ALLOW_IPS`` it is the citizen's, taken
from ``X-Forwarded-For``, not the proxy's. Every process on the same database sees the same failures.

Example:
    >>> throttle = LoginThrottle(engine)
    >>> if not throttle.blocked("203.0.113.7", "canbo1"):
    ...     throttle.failed("203.0.113.7", "canbo1")
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from assistant.db.models import LoginFailure, utcnow
from assistant.db.session import session_scope

__all__ = ["LoginThrottle"]

logger = logging.getLogger(__name__)

#: Longest stored client address and user name (the table's column widths).
CLIENT_CHARS = 64
USERNAME_CHARS = 150


def _key(client: str, username: str) -> tuple[str, str]:
    return client[:CLIENT_CHARS], username.strip().lower()[:USERNAME_CHARS]


class LoginThrottle:
    """Refuses log-ins for a while after repeated failures from one address for one user name."""

    def __init__(self, engine: Engine, *, limit: int = 5, window: float = 900.0) -> None:
        self._engine = engine
        self._limit = limit
        self._window = timedelta(seconds=window)

    def blocked(self, client: str, username: str) -> bool:
        """Whether ``client`` has failed ``limit`` times for ``username`` within the window."""
        client, username = _key(client, username)
        since = utcnow() - self._window
        with session_scope(self._engine) as session:
            count = session.execute(
                select(func.count())
                .select_from(LoginFailure)
                .where(LoginFailure.client == client, LoginFailure.username == username, LoginFailure.at > since)
            ).scalar_one()
        return int(count) >= self._limit

    def failed(self, client: str, username: str) -> None:
        """Record one failure (and forget failures older than the window, of anyone)."""
        client, username = _key(client, username)
        now = utcnow()
        with session_scope(self._engine) as session:
            session.execute(delete(LoginFailure).where(LoginFailure.at <= now - self._window))
            session.add(LoginFailure(client=client, username=username, at=now))
        logger.info("staff log-in failed for %r from %s", username, client)

    def succeeded(self, client: str, username: str) -> None:
        """Forget the failures of ``client`` for ``username`` after a good log-in."""
        client, username = _key(client, username)
        with session_scope(self._engine) as session:
            session.execute(
                delete(LoginFailure).where(LoginFailure.client == client, LoginFailure.username == username)
            )
