"""Database engine and sessions (SQLAlchemy 1.4, 2.0-style ``future=True``).

One engine per process, made in the app's lifespan (never at import) and kept on ``app.state.db_engine``.
The default is an SQLite file under ``var/`` in WAL mode; PostgreSQL works with the same code.

Example:
    >>> engine = make_engine("sqlite:///var/assistant.db")
    >>> with session_scope(engine) as session:
    ...     session.add(Feedback(sender_id="u1", channel="web", rating=5))
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, create_engine, make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool, StaticPool

__all__ = ["get_detached", "is_sqlite_memory", "make_engine", "session_scope"]

Row = TypeVar("Row")

logger = logging.getLogger(__name__)


def is_sqlite_memory(url: URL) -> bool:
    """Tell whether ``url`` names an in-memory SQLite database."""
    database = url.database or ""
    return url.get_backend_name() == "sqlite" and (
        database in ("", ":memory:") or "mode=memory" in database or url.query.get("mode") == "memory"
    )


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """Create an engine for ``url``.

    For SQLite files the parent folder is created, the connection may be used from several threads (the
    app runs sync work in a thread pool) and are pooled, and the journal is WAL so that readers do not block
    the writer.
    In-memory SQLite uses one shared connection, so every session sees the same database.

    Args:
        url: an SQLAlchemy URL, e.g. ``sqlite:///var/assistant.db`` or ``postgresql://localhost/assistant``.
        echo: log every SQL statement (debugging only).

    Returns:
        The engine (``future=True``).
    """
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"future": True, "echo": echo}
    if parsed.get_backend_name() != "sqlite":
        kwargs["pool_pre_ping"] = True
        return create_engine(parsed, **kwargs)

    kwargs["connect_args"] = {"check_same_thread": False}
    memory = is_sqlite_memory(parsed)
    if memory:
        kwargs["poolclass"] = StaticPool
    else:  # SQLAlchemy 1.4 would open (and, closing the last one, checkpoint) the file for every session
        kwargs["poolclass"] = QueuePool
        if parsed.database and not parsed.database.startswith("file:"):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, **kwargs)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=5000")
        finally:
            cursor.close()

    logger.debug("SQLite engine for %s", parsed.database or ":memory:")
    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """Open a session that commits when the block ends and rolls back if it raises.

    Objects stay usable after the commit (``expire_on_commit=False``), so results can be returned.

    Args:
        engine: from :func:`make_engine`.

    Yields:
        The session.
    """
    session = Session(engine, future=True, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_detached(engine: Engine, model: type[Row], key: Any) -> Row | None:
    """One row of ``model`` by its primary key, detached from its session (usable after it closes), or None."""
    with session_scope(engine) as session:
        row = session.get(model, key)
        if row is not None:
            session.expunge(row)
        return row
