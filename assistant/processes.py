"""Safe processes: more than one app process only on PostgreSQL + Redis, with a shared session secret.

Two processes on one SQLite file, or without a shared Redis lock store, corrupt each other's conversations
(each holds its own conversation locks). So:

- ``assistant serve --workers N`` (N > 1) refuses SQLite, a missing ``ASSISTANT_REDIS_URL`` and a missing
  ``ASSISTANT_SESSION_SECRET`` before starting anything (:func:`scale_out_problems`);
- every app process takes :class:`SingleProcessGuard` in its lifespan: without Redis it holds a lock that a
  *second* process on the same database cannot get (an exclusive ``flock`` beside the SQLite file, a session
  advisory lock on PostgreSQL), and that second process stops with a clear message;
- with Redis (several processes allowed) the session secret is required, since each process would otherwise
  sign staff sessions and widget tokens with its own random key.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from assistant.settings import Settings

logger = logging.getLogger(__name__)

#: PostgreSQL advisory lock key of "one app process on this database" (any constant; ASCII of "asst").
ADVISORY_KEY = 0x61737374

SCALE_OUT_HELP = (
    "several processes need ASSISTANT_DATABASE_URL=postgresql://…, ASSISTANT_REDIS_URL=redis://… and "
    "ASSISTANT_SESSION_SECRET (see the README, Scale-out)"
)


class UnsafeProcesses(RuntimeError):
    """Starting this process would let two processes corrupt each other's conversations."""


def is_sqlite(settings: Settings) -> bool:
    """The database is SQLite (a file, or memory)."""
    return make_url(settings.database_url).get_backend_name() == "sqlite"


def scale_out_problems(settings: Settings, *, workers: int) -> list[str]:
    """What forbids running ``workers`` processes with these settings (empty: nothing).

    Example:
        >>> scale_out_problems(Settings(), workers=2)
        ['the database is SQLite (one process only)', 'ASSISTANT_REDIS_URL is unset', ...]
    """
    problems: list[str] = []
    if workers <= 1:
        return problems
    if is_sqlite(settings):
        problems.append("the database is SQLite (one process only)")
    if not settings.redis_url:
        problems.append("ASSISTANT_REDIS_URL is unset (conversation locks would not be shared)")
    if settings.session_secret is None:
        problems.append("ASSISTANT_SESSION_SECRET is unset (each process would sign sessions with its own key)")
    return problems


_held: dict[str, tuple[Any, int]] = {}
"""Locks this process holds, by database: (file or connection, users). Apps in one process share them."""
_held_lock = threading.Lock()


class SingleProcessGuard:
    """Held by each app process for its lifetime (see the module docstring).

    Args:
        settings: the database and Redis settings.
        db_engine: the app's database engine.

    Raises:
        UnsafeProcesses: from :meth:`acquire`, when another process already serves this database without Redis,
            or when Redis is set without a session secret.
    """

    def __init__(self, settings: Settings, db_engine: Engine) -> None:
        self.settings = settings
        self.db_engine = db_engine
        self._key: str | None = None

    def acquire(self) -> None:
        """Take the lock (no-op with Redis, or for an in-memory database)."""
        if self.settings.redis_url:
            if self.settings.session_secret is None:
                raise UnsafeProcesses(
                    "ASSISTANT_REDIS_URL is set (several processes) but ASSISTANT_SESSION_SECRET is not: "
                    + SCALE_OUT_HELP
                )
            return
        url = make_url(self.settings.database_url)
        if url.get_backend_name() == "sqlite" and (not url.database or url.database == ":memory:"):
            return
        key = url.render_as_string(hide_password=True)
        with _held_lock:
            if key in _held:
                handle, users = _held[key]
                _held[key] = (handle, users + 1)
                self._key = key
                return
            handle = self._lock_sqlite(url.database) if url.get_backend_name() == "sqlite" else self._lock_postgres()
            _held[key] = (handle, 1)
            self._key = key

    def release(self) -> None:
        """Give the lock back (at shutdown)."""
        if self._key is None:
            return
        with _held_lock:
            handle, users = _held.pop(self._key)
            if users > 1:
                _held[self._key] = (handle, users - 1)
            else:
                handle.close()
        self._key = None

    def _lock_sqlite(self, database: str) -> Any:
        path = Path(f"{database}.process-lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            handle.close()
            raise UnsafeProcesses(
                f"another process already serves the SQLite database {database}; SQLite allows one process: "
                + SCALE_OUT_HELP
            ) from e
        return handle

    def _lock_postgres(self) -> Any:
        connection = self.db_engine.connect()
        got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}).scalar()
        connection.commit()
        if not got:
            connection.close()
            raise UnsafeProcesses(
                "another process already serves this database without Redis (ASSISTANT_REDIS_URL unset): "
                + SCALE_OUT_HELP
            )
        return connection
