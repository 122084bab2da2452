"""Rasa's Redis lock store, made safe for several processes and kept off the event loop.

Rasa 3.6's ``RedisLockStore`` is synchronous (redis-py) and reads, changes and writes a conversation's lock
in separate calls. :func:`lock_off_the_loop` runs each step on a worker thread and makes each one atomic
(WATCH … MULTI). Installed by :meth:`assistant.engine.ConversationEngine.load`.
"""

from __future__ import annotations

from typing import Any


def lock_off_the_loop(lock_store: Any) -> bool:
    """Make a ``RedisLockStore``'s ``lock`` call Redis from worker threads; False for another lock store.

    Rasa's Redis lock store is synchronous (redis-py): taking a ticket, reading the lock while waiting and
    cleaning up are blocking calls on the event loop, so a slow Redis would stall every conversation. This is
    Rasa 3.6's ``LockStore.lock`` / ``_acquire_lock`` step for step, each step on one worker thread of its own:
    one at a time, as on the event loop, since a step reads, changes and writes the lock (two steps at once
    could both take the same ticket).
    """
    import asyncio
    from collections.abc import AsyncIterator
    from concurrent.futures import ThreadPoolExecutor
    from contextlib import asynccontextmanager
    from functools import partial

    from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore

    if not isinstance(lock_store, RedisLockStore) or "lock" in lock_store.__dict__:
        return False
    redis_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="redis-lock")

    async def in_thread(function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(redis_thread, partial(function, *args))

    async def acquire(conversation_id: str, ticket: int, wait_time_in_seconds: float) -> Any:
        while True:
            lock = await in_thread(lock_store.get_lock, conversation_id)
            if not lock:
                break
            if not lock.is_locked(ticket):
                return lock
            await asyncio.sleep(wait_time_in_seconds)
            await in_thread(lock_store.update_lock, conversation_id)
        raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")

    @asynccontextmanager
    async def lock(
        conversation_id: str, lock_lifetime: float = LOCK_LIFETIME, wait_time_in_seconds: float = 1
    ) -> AsyncIterator[Any]:
        ticket = await in_thread(lock_store.issue_ticket, conversation_id, lock_lifetime)
        try:
            yield await acquire(conversation_id, ticket, wait_time_in_seconds)
        finally:
            await in_thread(lock_store.cleanup, conversation_id, ticket)

    lock_store.lock = lock
    lock_store.issue_ticket = partial(_changed_atomically, lock_store, _issue)
    lock_store.update_lock = partial(_changed_atomically, lock_store, _remove_expired)
    lock_store.cleanup = partial(_changed_atomically, lock_store, _finish)
    return True


def _issue(lock: Any, lock_lifetime: float) -> int:
    return int(lock.issue_ticket(lock_lifetime))


def _remove_expired(lock: Any) -> None:
    lock.remove_expired_tickets()


def _finish(lock: Any, ticket_number: int) -> None:
    lock.remove_ticket_for(ticket_number)


def _changed_atomically(lock_store: Any, change: Any, conversation_id: str, *args: Any) -> Any:
    """Read a conversation's Redis lock, change it and write it back as one step (WATCH … MULTI).

    Rasa's steps read, change and write the lock in separate calls: two processes taking a ticket at once both
    wrote a lock holding only their own, one ticket was lost, and its holder found no lock (LockError, 503). A
    lock left with no ticket is deleted, as Rasa's clean-up does.
    """
    import json

    from rasa.core.lock import TicketLock
    from redis.exceptions import WatchError

    key = lock_store.key_prefix + conversation_id
    with lock_store.red.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                stored = pipe.get(key)
                lock = TicketLock.from_dict(json.loads(stored)) if stored else TicketLock(conversation_id)
                result = change(lock, *args)
                pipe.multi()
                if lock.tickets:
                    pipe.set(key, lock.dumps())
                else:
                    pipe.delete(key)
                pipe.execute()
                return result
            except WatchError:
                continue
