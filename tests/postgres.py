"""The test suite's services: one setting for each server (PostgreSQL, Redis), and skips that CI turns into failures.

``ASSISTANT_TEST_POSTGRES_URL`` (default ``postgresql://root@127.0.0.1:5432/test``) is the one setting every
PostgreSQL test reads; ``ASSISTANT_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379``) the Redis one, each test
naming its own database number (:func:`redis_database`). Under ``CI=true`` a PostgreSQL, Redis or browser test
that cannot run fails instead of being skipped (:func:`unavailable`), so CI never passes by running less.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest

from assistant.bench_loads import throwaway_postgres

#: Any database of the server (used to create and drop the throw-away ones); the one PostgreSQL setting.
POSTGRES_URL = os.environ.get("ASSISTANT_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")
#: The Redis server, without a database number; the one Redis setting.
REDIS_URL = os.environ.get("ASSISTANT_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")


def in_ci() -> bool:
    """True when the suite runs in CI (``CI=true``, as ``.ci/run`` and most CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def unavailable(why: str) -> NoReturn:
    """Skip a test whose service (PostgreSQL, Redis, chromium) is missing; under ``CI=true`` fail it instead."""
    if in_ci():
        pytest.fail(f"{why} — CI=true: a service test may not be skipped", pytrace=False)
    pytest.skip(why)


@contextmanager
def throwaway_database() -> Iterator[str]:
    """Create an empty database, yield its URL, drop it afterwards; skip (fail in CI) when no server answers."""

    def no_server(error: Exception) -> None:
        unavailable(f"PostgreSQL not reachable at {POSTGRES_URL}: {error}")

    with throwaway_postgres(POSTGRES_URL, prefix="assistant_test", on_unavailable=no_server) as url:
        assert url is not None
        yield url


def redis_database(number: int) -> str:
    """The URL of database ``number`` of the test Redis server; skip (fail in CI) when the server does not answer.

    Tests keep to their own database number and to keys of their own (a random part in each), and delete them.
    """
    import redis

    url = f"{REDIS_URL}/{number}"
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as e:  # noqa: BLE001 - any reason the server cannot be used
        unavailable(f"Redis not reachable at {url}: {e}")
    finally:
        client.close()
    return url
