"""A throw-away PostgreSQL database on the machine's server, for tests that must run on PostgreSQL for real."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

#: Any database of the server (used to create and drop the throw-away ones).
ADMIN_URL = os.environ.get("ASSISTANT_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")


@contextmanager
def throwaway_database() -> Iterator[str]:
    """Create an empty database, yield its URL, drop it afterwards; skip the test when no server answers."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"assistant_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # noqa: BLE001 - any reason the server cannot be used
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {ADMIN_URL}: {e}")
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
