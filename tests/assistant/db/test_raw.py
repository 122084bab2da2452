"""Plain SQL on pooled connections: committed or rolled back as a block, errors as SQLAlchemy's, a dropped
connection replaced (what the tracker cache and the hand-off check run every turn)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from assistant.db.raw import parameter_marker, raw_cursor
from assistant.db.session import make_engine
from tests.postgres import throwaway_database


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'raw.db'}"
        db = make_engine(url)
        yield db
        db.dispose()
        return
    with throwaway_database() as url:
        db = make_engine(url)
        yield db
        db.dispose()


def count(engine: object) -> int:
    with engine.connect() as connection:  # type: ignore[attr-defined]
        return int(connection.execute(text("SELECT count(*) FROM notes")).scalar())


def test_a_block_is_committed_or_rolled_back_whole(engine: object) -> None:
    mark = parameter_marker(engine)  # type: ignore[arg-type]
    with raw_cursor(engine) as cursor:  # type: ignore[arg-type]
        cursor.execute("CREATE TABLE notes (body VARCHAR(20))")
    with raw_cursor(engine) as cursor:  # type: ignore[arg-type]
        cursor.execute(f"INSERT INTO notes (body) VALUES ({mark}), ({mark})", ("một", "hai"))
    assert count(engine) == 2
    with pytest.raises(DBAPIError), raw_cursor(engine) as cursor:  # type: ignore[arg-type]
        cursor.execute(f"INSERT INTO notes (body) VALUES ({mark})", ("ba",))
        cursor.execute("SELECT no_such_column FROM notes")  # a bug: SQLAlchemy's error, nothing kept
    assert count(engine) == 2
    with pytest.raises(ZeroDivisionError), raw_cursor(engine) as cursor:  # type: ignore[arg-type]
        cursor.execute(f"INSERT INTO notes (body) VALUES ({mark})", ("bốn",))
        _ = 1 / 0  # our own failure in the block: rolled back too
    assert count(engine) == 2


def test_a_read_only_block_leaves_the_connection_as_the_pool_hands_it_out(engine: object) -> None:
    mark = parameter_marker(engine)  # type: ignore[arg-type]
    with raw_cursor(engine) as cursor:  # type: ignore[arg-type]
        cursor.execute("CREATE TABLE notes (body VARCHAR(20))")
        cursor.execute(f"INSERT INTO notes (body) VALUES ({mark})", ("một",))
    for _ in range(3):
        with raw_cursor(engine, read_only=True) as cursor:  # type: ignore[arg-type]
            cursor.execute("SELECT count(*) FROM notes")
            assert cursor.fetchone()[0] == 1
        with pytest.raises(ZeroDivisionError), raw_cursor(engine) as cursor:  # type: ignore[arg-type]
            cursor.execute(f"INSERT INTO notes (body) VALUES ({mark})", ("hai",))
            _ = 1 / 0  # still a transaction after a read-only block: rolled back
        assert count(engine) == 1


def test_a_connection_the_server_dropped_is_replaced() -> None:
    with throwaway_database() as url:
        engine = make_engine(url)
        try:
            with raw_cursor(engine) as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid = cursor.fetchone()[0]
            admin = make_engine(url)  # PostgreSQL restarting, or an admin killing idle sessions
            with admin.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.dispose()
            failed = 0
            for _ in range(2):  # the pool may hand out the dropped connection once: it must not come back
                try:
                    with raw_cursor(engine) as cursor:
                        cursor.execute("SELECT pg_backend_pid()")
                        assert cursor.fetchone()[0] != pid
                except DBAPIError as e:  # an outage-shaped error (503), never the driver's own
                    assert e.connection_invalidated
                    failed += 1
            assert failed <= 1
            with raw_cursor(engine) as cursor:
                cursor.execute("SELECT 1")
                assert cursor.fetchone()[0] == 1
        finally:
            engine.dispose()
