"""Scale-out for real: two app processes sharing PostgreSQL (tracker store and our tables) and Redis (lock store).

A citizen's walkthrough started on one process continues on the other, and two messages of the same
conversation sent to both processes at once are both recorded, in order, under the Redis lock.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.live import LiveServer
from tests.postgres import POSTGRES_URL, unavailable

pytestmark = pytest.mark.slow
POSTGRES = POSTGRES_URL
REDIS = "redis://127.0.0.1:6379/3"
STEP = re.compile(r"Bước (\d+)/(\d+):")


def reachable() -> str | None:
    """Why PostgreSQL or Redis cannot be used here, or None."""
    try:
        with create_engine(POSTGRES).connect() as connection:
            connection.execute(text("select 1"))
    except Exception as e:  # noqa: BLE001
        return f"PostgreSQL not reachable: {e}"
    try:
        import redis

        redis.Redis.from_url(REDIS).ping()
    except Exception as e:  # noqa: BLE001
        return f"Redis not reachable: {e}"
    return None


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    why = reachable()
    if why:
        unavailable(why)
    name = f"assistant_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(scope="module")
def servers(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    folder = tmp_path_factory.mktemp("scale")
    first = LiveServer(database_url=database, redis_url=REDIS, log=folder / "a.log")
    loaded = first.cli("procedures", "load")
    assert loaded.returncode == 0, loaded.stderr
    first.start()
    second = LiveServer(database_url=database, redis_url=REDIS, log=folder / "b.log").start()
    yield first, second
    first.stop()
    second.stop()


def test_walkthrough_moves_between_processes(servers: tuple[LiveServer, LiveServer]) -> None:
    a, b = servers
    for server in servers:
        log = server.log.read_text(errors="replace")
        assert "tracker store SQLTrackerStore, lock store RedisLockStore" in log
    sender = f"scale-{uuid.uuid4().hex[:6]}"
    a.say(sender, "tôi muốn đăng ký tạm trú")
    a.say(sender, a.payload("start_guide", procedure="dang-ky-tam-tru"))
    b.say(sender, b.payload("choose_option", option="yes"))  # has a VNeID level-2 account
    replies = a.say(sender, "gia hạn tạm trú")  # typed answer, matched to the option
    first_step = [int(n) for n in STEP.findall(LiveServer.texts(replies))[-1]]
    assert first_step[0] == 1
    nxt = a.say(sender, "tiếp")
    assert STEP.findall(LiveServer.texts(nxt)) == [("2", str(first_step[1]))]
    back = b.say(sender, "quay lại")
    assert STEP.findall(LiveServer.texts(back)) == [("1", str(first_step[1]))]


def test_simultaneous_messages_of_one_conversation_are_both_kept(
    servers: tuple[LiveServer, LiveServer], database: str
) -> None:
    a, b = servers
    sender = f"lock-{uuid.uuid4().hex[:6]}"
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(a.say, sender, "xin chào"), pool.submit(b.say, sender, "cảm ơn nhé")]
        results = [f.result() for f in futures]
    assert all(results), "both messages answered"
    engine = create_engine(database)
    with engine.connect() as connection:
        users = connection.execute(
            text("select count(*) from events where sender_id = :s and type_name = 'user'"), {"s": f"rest:{sender}"}
        ).scalar()
    engine.dispose()
    assert users == 2
