"""Plain SQL on a pooled DB-API connection, for the few statements every turn runs.

A turn asks the database a handful of small indexed questions (is this conversation with staff? what is its
latest tracker row?) and appends a few rows. Through SQLAlchemy each costs more CPU than the database's own
work: a statement cache key built from the expression tree, compilation, a result wrapper, for the ORM a
session. Here the SQL is a string written once and run on a connection taken from the engine's pool, so the
pool, its pre-ping, its connect events (SQLite's pragmas) and its limits still apply.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

__all__ = ["parameter_marker", "raw_cursor"]

_MARKERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}
"""The DB-API drivers' positional parameter marker (sqlite3: qmark; psycopg2, pg8000: (py)format)."""


def parameter_marker(engine: Engine) -> str:
    """The positional parameter marker of the engine's driver (``?`` or ``%s``).

    Raises:
        ValueError: a driver with another parameter style (not one we run on).
    """
    marker = _MARKERS.get(engine.dialect.paramstyle)
    if marker is None:
        raise ValueError(f"unsupported DB-API parameter style {engine.dialect.paramstyle!r}")
    return marker


@contextmanager
def raw_cursor(engine: Engine, *, read_only: bool = False) -> Iterator[Any]:
    """A DB-API cursor on a pooled connection; committed when the block succeeds, rolled back otherwise.

    The driver's errors come out as SQLAlchemy's (``DBAPIError`` and its subclasses, as through a session), so
    an outage is told apart from a bug the same way everywhere (:mod:`assistant.outages`: a clean 503); a
    connection the database dropped is invalidated, and the pool connects afresh next time.

    Args:
        read_only: the block only reads. On PostgreSQL it then runs without a transaction (autocommit), which
            saves the ``COMMIT`` round trip; SQLite's driver opens no transaction for reads anyway.
    """
    dbapi_error = engine.dialect.dbapi.Error
    connection = engine.raw_connection()
    driver = connection.dbapi_connection if read_only and engine.dialect.name == "postgresql" else None
    if driver is not None:
        driver.autocommit = True
    try:
        cursor = connection.cursor()
        try:
            yield cursor
        finally:
            _quietly(cursor.close, dbapi_error)
        connection.commit()
    except dbapi_error as e:
        disconnected = engine.dialect.is_disconnect(e, connection.dbapi_connection, None)
        if disconnected:
            connection.invalidate(e)
        else:
            _quietly(connection.rollback, dbapi_error)
        raise DBAPIError.instance(None, None, e, dbapi_error, connection_invalidated=disconnected) from e
    except BaseException:
        _quietly(connection.rollback, dbapi_error)
        raise
    finally:
        if driver is not None and not driver.closed:
            driver.autocommit = False  # as the pool hands connections out
        connection.close()  # back to the pool (a no-op for an invalidated one)


def _quietly(step: Any, dbapi_error: type[Exception]) -> None:
    """Run a clean-up step whose failure must not hide the error being raised (the connection is gone)."""
    try:
        step()
    except dbapi_error:
        pass
