"""Tests of assistant/db/session.py."""

from pathlib import Path

import pytest
from sqlalchemy import text

from assistant.db.session import make_engine, session_scope


def test_session_memory_database_is_shared_between_sessions() -> None:
    engine = make_engine("sqlite://")
    with session_scope(engine) as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
        session.execute(text("INSERT INTO t VALUES (1)"))
    with session_scope(engine) as session:
        assert session.execute(text("SELECT x FROM t")).scalar_one() == 1


def test_session_scope_rolls_back_on_error() -> None:
    engine = make_engine("sqlite://")
    with session_scope(engine) as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("boom")
    with session_scope(engine) as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == 0


def test_session_sqlite_file_creates_parent_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "x.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert path.parent.is_dir()
    engine.dispose()
