"""Rasa's Redis lock store, made safe for several processes and kept off the event loop.

Rasa 3.6's ``RedisLockStore`` is synchronous (redis-py): taking a ticket, reading the lock while waiting and
cleaning up are blocking calls on the event loop, so a slow Redis would stall every conversation. And each
step reads, changes and writes the lock in separate calls: two processes taking a ticket at once both wrote a
lock holding only their own, one ticket was lost, and its holder found no lock (``LockError``, 503).

:func:`lock_off_the_loop` keeps Rasa's ticket lock (the same JSON under the same key, the same rules: tickets
served in order, expired ones dropped, a lock with no ticket deleted) and runs each step as one Lua script:
atomic, one round trip, on a worker thread. A turn that finds the lock free takes it in one call and gives it
back in another (Rasa's steps took seven round trips). Installed by
:meth:`assistant.engine.ConversationEngine.load`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

__all__ = ["lock_off_the_loop"]

_TICKETS = """
local function kept_tickets(now)
  local stored = redis.call('GET', KEYS[1])
  if not stored then return nil end
  local tickets = {}
  for _, text in ipairs(cjson.decode(stored)['tickets']) do
    local ticket = cjson.decode(text)
    if ticket['expires'] >= now then table.insert(tickets, ticket) end
  end
  return tickets
end
local function save(tickets)
  if #tickets == 0 then redis.call('DEL', KEYS[1]) return end
  local texts = {}
  for i, ticket in ipairs(tickets) do
    texts[i] = cjson.encode({number = ticket['number'], expires = ticket['expires']})
  end
  redis.call('SET', KEYS[1], cjson.encode({conversation_id = ARGV[1], tickets = texts}))
end
"""
"""Rasa's ``TicketLock`` in Lua: a ticket expires when ``now > expires``; a lock without tickets is deleted."""

_TAKE = (
    _TICKETS
    + """
local now = tonumber(ARGV[2])
local tickets = kept_tickets(now) or {}
local number = 0
if #tickets > 0 then number = tickets[#tickets]['number'] + 1 end
table.insert(tickets, {number = number, expires = now + tonumber(ARGV[3])})
save(tickets)
return {number, tickets[1]['number']}
"""
)
"""Issue the next ticket; returns it and the ticket now served (equal: the lock is ours)."""

_SERVING = (
    _TICKETS
    + """
local tickets = kept_tickets(tonumber(ARGV[2]))
if tickets == nil then return -1 end
save(tickets)
if #tickets == 0 then return 0 end
return tickets[1]['number']
"""
)
"""Drop expired tickets; returns the ticket now served (Rasa's ``now_serving``: 0 when none), -1 with no lock."""

_FINISH = (
    _TICKETS
    + """
local tickets = kept_tickets(tonumber(ARGV[2]))
if tickets == nil then return 0 end
for i, ticket in ipairs(tickets) do
  if ticket['number'] == tonumber(ARGV[3]) then table.remove(tickets, i) break end
end
save(tickets)
return 0
"""
)
"""Give a ticket back (and drop expired ones)."""


def lock_off_the_loop(lock_store: Any) -> bool:
    """Give a ``RedisLockStore`` the atomic, asynchronous ``lock`` above; False for another lock store."""
    from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore

    if not isinstance(lock_store, RedisLockStore) or "lock" in lock_store.__dict__:
        return False
    scripts = _Scripts(lock_store.red)

    @asynccontextmanager
    async def lock(
        conversation_id: str, lock_lifetime: float = LOCK_LIFETIME, wait_time_in_seconds: float = 1
    ) -> AsyncIterator[None]:
        key = lock_store.key_prefix + conversation_id
        ticket, serving = await scripts.run(_TAKE, key, conversation_id, time.time(), lock_lifetime)
        try:
            while serving != ticket:  # Rasa's wait: look again every wait_time_in_seconds
                await asyncio.sleep(wait_time_in_seconds)
                serving = await scripts.run(_SERVING, key, conversation_id, time.time())
                if serving == -1:
                    raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
            yield None
        finally:
            await scripts.run(_FINISH, key, conversation_id, time.time(), ticket)

    lock_store.lock = lock
    return True


class _Scripts:
    """The lock's Lua scripts (EVALSHA, loaded on first use) on Rasa's own client, called from one worker thread:
    redis-py's asyncio client spent more CPU per call than the thread hand-over (issue #15's profile)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._scripts: dict[str, Any] = {}
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="redis-lock")

    async def run(self, source: str, key: str, *args: Any) -> Any:
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self._client.register_script(source)
        call = partial(script, keys=[key], args=list(args))
        return await asyncio.get_running_loop().run_in_executor(self._thread, call)
