"""The Redis lock store as the engine installs it: atomic steps off the event loop, one holder at a time,
across processes (here: several stores, each on its own event loop and thread, as app processes are)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest
from rasa.core.lock_store import LockError, RedisLockStore

from assistant.engine import redis_lock
from tests.postgres import redis_database


def new_store(prefix: str) -> RedisLockStore:
    server = urlsplit(redis_database(6))  # skipped without Redis; failed under CI=true
    store = RedisLockStore(host=server.hostname, port=server.port or 6379, db=6, key_prefix=prefix)
    assert redis_lock.lock_off_the_loop(store)
    return store


def test_one_holder_at_a_time_in_one_process() -> None:
    store = new_store(f"t{uuid.uuid4().hex[:6]}")
    assert not redis_lock.lock_off_the_loop(store)  # once
    order: list[str] = []

    async def turn(name: str) -> None:
        async with store.lock("c1", wait_time_in_seconds=0.05):
            order.append(f"{name} in")
            await asyncio.sleep(0.1)
            order.append(f"{name} out")

    async def together() -> None:
        await asyncio.gather(*(turn(name) for name in "abcdef"))

    asyncio.run(together())
    assert len(order) == 12
    assert all(order[i].endswith(" in") and order[i + 1] == order[i].replace(" in", " out") for i in range(0, 12, 2))
    assert store.get_lock("c1") is None  # cleaned up after the last holder


def test_one_holder_at_a_time_across_processes() -> None:
    """Four app processes taking one conversation's lock at once: no ticket lost, no two holders."""
    prefix = f"t{uuid.uuid4().hex[:6]}"
    stores = [new_store(prefix) for _ in range(4)]
    holders: list[int] = []
    overlaps: list[int] = []
    errors: list[BaseException] = []

    def process(index: int) -> None:
        async def turns() -> None:
            for _ in range(5):
                async with stores[index].lock("shared", wait_time_in_seconds=0.01):
                    holders.append(index)
                    if len(holders) > 1:
                        overlaps.append(index)
                    await asyncio.sleep(0.005)
                    holders.remove(index)

        try:
            asyncio.run(turns())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=process, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and overlaps == []
    assert stores[0].get_lock("shared") is None


def test_a_holder_that_died_lets_the_next_in_after_its_lifetime() -> None:
    store = new_store(f"t{uuid.uuid4().hex[:6]}")

    async def scenario() -> float:
        stuck = store.lock("c2", lock_lifetime=0.3)
        await stuck.__aenter__()  # a process that took the lock and died: never given back
        lock = store.get_lock("c2")  # Rasa's own reading of what the script stored
        assert lock is not None and [t.number for t in lock.tickets] == [0]
        started = time.monotonic()
        async with store.lock("c2", wait_time_in_seconds=0.05):
            return time.monotonic() - started

    assert 0.2 < asyncio.run(scenario()) < 3


def test_a_lock_deleted_while_waiting_is_a_lock_error() -> None:
    store = new_store(f"t{uuid.uuid4().hex[:6]}")

    async def scenario() -> None:
        holder = store.lock("c3")
        await holder.__aenter__()
        waiting = asyncio.create_task(_take(store, "c3"))
        await asyncio.sleep(0.1)
        store.delete_lock("c3")  # someone cleared Redis
        with pytest.raises(LockError):
            await waiting

    asyncio.run(scenario())


async def _take(store: RedisLockStore, conversation: str) -> None:
    async with store.lock(conversation, wait_time_in_seconds=0.05):
        pass
