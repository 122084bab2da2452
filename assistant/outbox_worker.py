"""The background worker of each process: what the outbox still owes, and hand-offs that timed out.

Every ``worker_interval_seconds`` it answers accepted Zalo/Messenger events left over (a crash, a restart, the
model still loading), sends again the replies whose next try is due (:mod:`assistant.outbox`), and hands back to
the bot the conversations whose hand-off timed out, telling each citizen so. Every process runs one: the
outbox's rows and the hand-offs change state by conditional UPDATEs, so two workers never do the same job.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import FastAPI

from assistant.handoff import TIMEOUT_TEXT
from assistant.outbox import answer_event, deliver, due_rows, platform_of, queue_replies
from assistant.replies import Reply

__all__ = ["OutboxWorker", "tell_timed_out"]

logger = logging.getLogger(__name__)


class OutboxWorker:
    """Runs every ``worker_interval_seconds`` in each process: due outbox rows, then timed-out hand-offs.

    Args:
        app: the application (its ``db_engine``, ``engine``, ``handoffs`` and ``settings``).
    """

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _loop(self) -> None:
        interval = max(0.05, float(self._app.state.settings.worker_interval_seconds))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - the worker outlives a database outage
                logger.exception("outbox worker round failed")

    async def run_once(self) -> None:
        """Answer accepted events, retry due sends, and hand timed-out conversations back to the bot."""
        app = self._app
        for row_id, direction in due_rows(app.state.db_engine):
            if direction == "in":
                await answer_event(app, row_id)
            else:
                await deliver(app, row_id)
        handoffs = getattr(app.state, "handoffs", None)
        if handoffs is not None:
            await tell_timed_out(app, handoffs.expire_stale())


async def tell_timed_out(app: FastAPI, handoffs: list[Any]) -> None:
    """Tell each citizen whose hand-off timed out that the bot takes over (platform: outbox; web: the transcript)."""
    engine = getattr(app.state, "engine", None)
    for handoff in handoffs:
        try:
            if engine is not None and engine.is_ready():
                await engine.note(handoff.sender_id, TIMEOUT_TEXT)
            if platform_of(handoff.channel) is not None:
                notice = [Reply(recipient_id=handoff.sender_id, text=TIMEOUT_TEXT)]
                await deliver(app, queue_replies(app.state.db_engine, handoff.channel, handoff.sender_id, notice))
        except Exception:  # noqa: BLE001 - one citizen's notice must not stop the others'
            logger.exception("could not tell conversation %s its hand-off timed out", handoff.sender_id)
