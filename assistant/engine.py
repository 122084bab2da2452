"""ConversationEngine: the only module that talks to Rasa Core.

Channels call :meth:`ConversationEngine.handle` and get :class:`Reply` objects back; they never touch
the Rasa ``Agent`` or trackers. Rasa's endpoints (tracker store, lock store, action server) come from
:class:`~assistant.settings.Settings` here, so there is no ``endpoints.yml``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from assistant.errors import ModelNotReady
from assistant.settings import Settings

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000
"""Longer messages are cut to this many characters before they reach Rasa."""


@dataclass
class Reply:
    """One bot message, channel-neutral."""

    recipient_id: str
    text: str | None = None
    buttons: list[dict[str, str]] = field(default_factory=list)
    custom: dict[str, Any] | None = None

    def as_rest(self) -> dict[str, Any]:
        """The REST channel's JSON shape (Rasa's ``/webhooks/rest/webhook``)."""
        out: dict[str, Any] = {"recipient_id": self.recipient_id}
        if self.text is not None:
            out["text"] = self.text
        if self.buttons:
            out["buttons"] = self.buttons
        if self.custom is not None:
            out["custom"] = self.custom
        return out


TurnHook = Callable[[Any, str], Awaitable[None]]
"""Called after each turn with the conversation's tracker and the channel name."""

PausedCheck = Callable[[str], Awaitable[bool]]
"""Tells whether a conversation is with staff (the bot stays silent)."""


def latest_model(models_dir: Path) -> Path | None:
    """Return the newest ``*.tar.gz`` model in ``models_dir``, or None."""
    models = sorted(models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def tracker_store_config(database_url: str) -> dict[str, Any]:
    """Translate our SQLAlchemy URL into Rasa's SQL tracker store settings."""
    url = make_url(database_url)
    config: dict[str, Any] = {"type": "sql", "dialect": url.drivername, "db": url.database}
    if url.drivername.startswith("sqlite"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return config
    config.update(
        url=url.host or "localhost",  # Rasa passes the endpoint's url as the SQL host
        port=url.port,
        username=url.username,
        password=url.password,
        query=dict(url.query) or None,
    )
    return config


def redis_lock_store_config(redis_url: str) -> dict[str, Any]:
    """Translate ``redis://[:password@]host:port/db`` into Rasa's Redis lock store settings."""
    parts = urlsplit(redis_url)
    return {
        "type": "redis",
        "url": parts.hostname or "localhost",
        "port": parts.port or 6379,
        "db": int(parts.path.strip("/") or 0),
        "password": parts.password,
        "key_prefix": "assistant",
    }


class ConversationEngine:
    """Runs conversations through a Rasa agent loaded in this process."""

    def __init__(
        self, agent: Any, *, after_turn: TurnHook | None = None, is_paused: PausedCheck | None = None
    ) -> None:
        self._agent = agent
        self._after_turn = after_turn
        self._is_paused = is_paused
        self._saved: dict[str, Any] = {}
        if agent is not None and after_turn is not None:
            self._keep_saved_trackers(agent.tracker_store)

    def _keep_saved_trackers(self, store: Any) -> None:
        """Remember the tracker Rasa saves at the end of a turn, so the after-turn hook needs no re-read."""
        save = store.save

        async def save_and_keep(tracker: Any) -> None:
            await save(tracker)
            self._saved[tracker.sender_id] = tracker

        store.save = save_and_keep

    @classmethod
    async def load(
        cls,
        settings: Settings,
        *,
        model_path: Path | None = None,
        after_turn: TurnHook | None = None,
        is_paused: PausedCheck | None = None,
    ) -> ConversationEngine:
        """Load the newest trained model with stores and action endpoint from settings.

        Raises:
            ModelNotReady: no model file, or Rasa could not load it.
        """
        from rasa.core.agent import load_agent
        from rasa.core.utils import AvailableEndpoints
        from rasa.utils.endpoints import EndpointConfig

        from assistant import rasa_speedups

        rasa_speedups.install()
        path = model_path or latest_model(settings.models_dir)
        if path is None or not path.exists():
            raise ModelNotReady(f"no trained model in {settings.models_dir}; run `assistant train`")
        ts = tracker_store_config(settings.database_url)
        lock = redis_lock_store_config(settings.redis_url) if settings.redis_url else None
        endpoints = AvailableEndpoints(
            action=EndpointConfig(url=settings.actions_url),
            tracker_store=EndpointConfig(**ts),
            lock_store=EndpointConfig(**lock) if lock else None,
        )
        agent = await load_agent(model_path=str(path), endpoints=endpoints)
        if not agent.is_ready():
            raise ModelNotReady(f"Rasa could not load the model {path}")
        logger.info(
            "model %s loaded; tracker store %s, lock store %s",
            path.name,
            type(getattr(agent.tracker_store, "_tracker_store", agent.tracker_store)).__name__,
            type(agent.lock_store).__name__,
        )
        return cls(agent, after_turn=after_turn, is_paused=is_paused)

    @property
    def agent(self) -> Any:
        """The Rasa agent (for the staff console's tracker reads)."""
        return self._agent

    def is_ready(self) -> bool:
        """True once a model is loaded."""
        return bool(self._agent and self._agent.is_ready())

    async def handle(
        self, sender_id: str, text: str, *, channel: str = "rest", metadata: dict[str, Any] | None = None
    ) -> list[Reply]:
        """Run one citizen message through the dialogue and return the bot's replies.

        Args:
            sender_id: the conversation id (channel user id).
            text: what the citizen wrote or the payload of the button they pressed.
            channel: the channel's name, stored with handoffs and analytics.
            metadata: channel metadata passed on to Rasa.

        Returns:
            The replies, in order; empty when the conversation is paused for staff.
        """
        from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

        if not self.is_ready():
            raise ModelNotReady("the model is not loaded")
        output = CollectingOutputChannel()
        message = UserMessage(
            text[:MAX_MESSAGE_CHARS],
            output,
            sender_id,
            input_channel=channel,
            metadata=metadata or {},
        )
        if self._is_paused is not None and await self._is_paused(sender_id):
            # With staff: record what the citizen wrote for them, predict nothing, say nothing.
            async with self._agent.lock_store.lock(sender_id):
                await self._agent.processor.log_message(message, should_save_tracker=True)
            self._saved.pop(sender_id, None)  # no after-turn hook here: do not keep it
            return []
        await self._agent.handle_message(message)
        if self._after_turn is not None:
            tracker = self._saved.pop(sender_id, None) or await self._agent.tracker_store.retrieve(sender_id)
            if tracker is not None:
                try:
                    await self._after_turn(tracker, channel)
                except Exception:  # noqa: BLE001 - bookkeeping must never lose the citizen's answer
                    logger.exception("after-turn hook failed for a conversation")
        return replies_of(output.messages, sender_id)

    async def parse(self, text: str) -> dict[str, Any]:
        """Parse one message with the NLU pipeline; always has procedure/procedure_ranking/aspect."""
        if not self.is_ready():
            raise ModelNotReady("the model is not loaded")
        parsed = await self._agent.parse_message(text[:MAX_MESSAGE_CHARS])
        return complete_parse(parsed, text)

    async def tracker(self, sender_id: str) -> Any:
        """The conversation's tracker (read-only use)."""
        return await self._agent.tracker_store.get_or_create_tracker(sender_id)

    async def resume(self, sender_id: str) -> None:
        """Hand a paused conversation back to the bot."""
        from rasa.shared.core.events import ActionExecuted, ConversationResumed

        tracker = await self._agent.tracker_store.get_or_create_tracker(sender_id)
        tracker.update(ConversationResumed())
        # Listening again: the citizen's next message starts a fresh turn, as after any bot turn.
        tracker.update(ActionExecuted("action_listen"))
        await self._agent.tracker_store.save(tracker)


def replies_of(messages: list[dict[str, Any]], sender_id: str) -> list[Reply]:
    """Rasa's collected output as replies, each message's answer metadata on the message itself.

    Rasa sends a message's ``custom`` payload as a message of its own right after the text; it is put back
    on the text it belongs to, so channels that show only text never see an empty bubble.
    """
    replies: list[Reply] = []
    for m in messages:
        custom = m.get("custom")
        if custom is not None and m.get("text") is None and not m.get("buttons") and replies and replies[-1].custom is None:
            replies[-1].custom = custom
            continue
        replies.append(
            Reply(
                recipient_id=m.get("recipient_id", sender_id),
                text=m.get("text"),
                buttons=list(m.get("buttons") or []),
                custom=custom,
            )
        )
    return replies


def complete_parse(parsed: dict[str, Any], text: str) -> dict[str, Any]:
    """Fill the design's parse object fields that Rasa leaves out for some inputs (empty text)."""
    parsed.setdefault("text", text)
    parsed.setdefault("intent", {"name": None, "confidence": 0.0})
    parsed.setdefault("intent_ranking", [])
    parsed.setdefault("entities", [])
    parsed.setdefault("procedure", None)
    parsed.setdefault("procedure_ranking", [])
    parsed.setdefault("aspect", None)
    return parsed
