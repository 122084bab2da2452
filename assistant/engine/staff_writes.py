"""What the desk writes into a conversation between the citizen's turns, under the conversation's lock.

An officer's reply (:meth:`~StaffWrites.add_staff_message`), the hand-back to the bot (:meth:`~StaffWrites.hand_back`)
and the notice of a hand-off that timed out (:meth:`~StaffWrites.note`). Mixed into
:class:`~assistant.engine.ConversationEngine`, whose Rasa agent they write through (Rasa's events only; no Rasa Core).
"""

from __future__ import annotations

from typing import Any

__all__ = ["StaffWrites"]


class StaffWrites:
    """The desk's writes into a conversation; ``_agent`` is the engine's Rasa agent."""

    _agent: Any

    async def note(self, sender_id: str, text: str) -> None:
        """Hand the conversation back to the bot with a message to the citizen in it (a hand-off that timed out)."""
        from rasa.shared.core.events import ActionExecuted, BotUttered, ConversationResumed

        async with self._agent.lock_store.lock(sender_id):
            tracker = await self._agent.tracker_store.get_or_create_tracker(sender_id)
            if tracker.is_paused():
                tracker.update(ConversationResumed())
                tracker.update(ActionExecuted("action_listen"))
            tracker.update(BotUttered(text, metadata={"handoff_notice": True}))
            await self._agent.tracker_store.save(tracker)

    async def resume(self, sender_id: str) -> None:
        """Hand a paused conversation back to the bot."""
        from rasa.shared.core.events import ActionExecuted, ConversationResumed

        tracker = await self._agent.tracker_store.get_or_create_tracker(sender_id)
        tracker.update(ConversationResumed())
        # Listening again: the citizen's next message starts a fresh turn, as after any bot turn.
        tracker.update(ActionExecuted("action_listen"))
        await self._agent.tracker_store.save(tracker)

    async def hand_back(self, sender_id: str) -> None:
        """:meth:`resume` under the conversation's lock (an officer hands the conversation back to the bot)."""
        async with self._agent.lock_store.lock(sender_id):
            await self.resume(sender_id)

    async def add_staff_message(self, sender_id: str, text: str, *, metadata: dict[str, Any]) -> float:
        """Write an officer's reply into the conversation as a bot message, under the conversation's lock.

        Args:
            sender_id: the conversation.
            text: the reply.
            metadata: stored with the event (``from_staff``: the officer; ``delivered`` for platform channels).

        Returns:
            The event's timestamp.
        """
        from rasa.shared.core.events import BotUttered

        async with self._agent.lock_store.lock(sender_id):
            tracker = await self._agent.tracker_store.get_or_create_tracker(sender_id)
            event = BotUttered(text, metadata=metadata)
            tracker.update(event)
            await self._agent.tracker_store.save(tracker)
        return float(event.timestamp)
