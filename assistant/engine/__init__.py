"""ConversationEngine: the one door to Rasa Core.

Channels call :meth:`ConversationEngine.handle` and get :class:`~assistant.replies.Reply` objects back; they
never touch the Rasa ``Agent`` or trackers. Rasa's endpoints (tracker store, lock store, action server) come
from :class:`~assistant.settings.Settings` here (translated by :mod:`assistant.engine.stores`), so there is no
``endpoints.yml``. Everything else that needs Rasa Core goes through this module too: loading a model for
parsing only (:func:`load_nlu_agent`: the CLI, evaluation, bench) and telling a lock-store outage
(:func:`lock_errors`). The two modules that patch Rasa on purpose are installed from here only:
:mod:`assistant.engine.actions` and :mod:`assistant.engine.speedups`.

Custom actions run in this process: Rasa's :class:`~rasa.core.actions.action.RemoteAction` is given no
endpoint, and :func:`~assistant.engine.actions.install_in_process_actions` makes such an action call the
``rasa_sdk`` ActionExecutor directly. Only when ``ASSISTANT_ACTION_ENDPOINT`` is set do actions go to a separate
action server, with ``ASSISTANT_ACTION_TOKEN`` as Rasa's endpoint ``token``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from assistant.engine.actions import install_in_process_actions
from assistant.engine.staff_writes import StaffWrites
from assistant.engine.stores import cache_trackers, delete_events, redis_lock_store_config, tracker_store_config
from assistant.errors import ModelNotReady
from assistant.model_store import latest_model
from assistant.replies import Reply, replies_from, replies_of
from assistant.settings import Settings, get_settings

__all__ = [
    "FORGET_ACTION",
    "MAX_MESSAGE_CHARS",
    "ConversationEngine",
    "ForgetHook",
    "GateCheck",
    "PausedCheck",
    "TurnHook",
    "complete_parse",
    "load_nlu_agent",
    "lock_errors",
]

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000
"""Longer messages are cut to this many characters before they reach Rasa."""

TurnHook = Callable[[Any, str], Awaitable[list[dict[str, Any]] | None]]
"""Called after each turn with the conversation's tracker and the channel name; may return messages to add."""

PausedCheck = Callable[[str], Awaitable[bool]]
"""Tells whether a conversation is with staff (the bot stays silent)."""

GateCheck = Callable[[str, str], Awaitable[Any]]
"""Decides, before Rasa, whether the bot answers a message (:class:`assistant.handoff.Gate`: ``hold``, ``replies``)."""

ForgetHook = Callable[[str], Awaitable[None]]
"""Deletes what our own tables keep about a conversation (hand-offs, feedback, outbox)."""

FORGET_ACTION = "action_delete_my_data"
"""The action after which the conversation and everything kept about it is deleted ("xóa dữ liệu của tôi")."""

_answering: ContextVar[str | None] = ContextVar("answering", default=None)
"""The conversation whose message the bot may answer (its hand-off gate said so) in this task."""


def load_nlu_agent(model: str | Path | None = None) -> Any:
    """Load the newest model (or ``model``) for parsing only: no tracker store, no actions.

    Raises:
        SystemExit: no trained model (run ``assistant train``).
    """
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import skops.io  # noqa: F401 - before Rasa and TensorFlow: see assistant/main.py
    from rasa.core.agent import Agent

    path = Path(model) if model else latest_model(get_settings().models_dir)
    if path is None or not path.exists():
        raise SystemExit("no trained model: run `assistant train` first")
    return Agent.load(str(path))


def lock_errors() -> tuple[type[Exception], ...]:
    """Rasa's errors for a conversation lock that could not be taken (Redis away): an outage, not a bug."""
    from rasa.core.lock_store import LockError

    return (LockError,)


class ConversationEngine(StaffWrites):
    """Runs conversations through a Rasa agent loaded in this process (the desk's writes: :class:`StaffWrites`)."""

    def __init__(
        self,
        agent: Any,
        *,
        after_turn: TurnHook | None = None,
        is_paused: PausedCheck | None = None,
        gate: GateCheck | None = None,
        forget: ForgetHook | None = None,
    ) -> None:
        self._agent = agent
        self._after_turn = after_turn
        self._is_paused = is_paused
        self._gate = gate
        self._forget = forget
        self._saved: dict[str, Any] = {}
        self._tracker_cache: Any = None
        if agent is not None and after_turn is not None:
            self._keep_saved_trackers(agent.tracker_store)
        if getattr(agent, "processor", None) is not None:
            self._follow_handoff_rows(agent.processor)

    @staticmethod
    def _follow_handoff_rows(processor: Any) -> None:
        """One source of truth: a tracker Rasa still has paused is resumed when the hand-off gate let the bot answer.

        The hand-off row decides (see :mod:`assistant.handoff`); Rasa's ``ConversationPaused`` only follows it.
        The resume happens on the tracker Rasa reads for the turn, under the conversation's lock: no extra read.
        """
        get_tracker = processor.get_tracker

        async def get_tracker_following_handoffs(conversation_id: str) -> Any:
            tracker = await get_tracker(conversation_id)
            if tracker is not None and tracker.is_paused() and _answering.get() == conversation_id:
                from rasa.shared.core.events import ActionExecuted, ConversationResumed

                logger.warning("conversation %s was paused with no hand-off open: resumed", conversation_id)
                tracker.update(ConversationResumed())
                tracker.update(ActionExecuted("action_listen"))
            return tracker

        processor.get_tracker = get_tracker_following_handoffs

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
        action_executor: Any = None,
        gate: GateCheck | None = None,
        forget: ForgetHook | None = None,
    ) -> ConversationEngine:
        """Load the newest trained model with stores and action endpoint from settings.

        Args:
            settings: stores and action endpoint.
            model_path: the model; default the newest in ``settings.models_dir``.
            after_turn: called after each turn (hand-off and rating bookkeeping).
            is_paused: tells whether a conversation is with staff.
            gate: decides before Rasa whether the bot answers (hand-offs); replaces ``is_paused``.
            forget: deletes our tables' rows of a conversation whose citizen asked to delete their data.
            action_executor: runs our actions in process (a ``rasa_sdk`` ActionExecutor); ignored when
                ``settings.action_endpoint`` names a separate action server.

        Raises:
            ModelNotReady: no model file, or Rasa could not load it.
        """
        from rasa.core.agent import load_agent
        from rasa.core.utils import AvailableEndpoints
        from rasa.utils.endpoints import EndpointConfig

        from assistant.engine import redis_lock
        from assistant.engine import speedups as rasa_speedups

        rasa_speedups.install()
        path = model_path or latest_model(settings.models_dir)
        if path is None or not path.exists():
            raise ModelNotReady(f"no trained model in {settings.models_dir}; run `assistant train`")
        ts = tracker_store_config(settings.database_url)
        lock = redis_lock_store_config(settings.redis_url) if settings.redis_url else None
        if settings.action_endpoint:
            token = settings.action_token.get_secret_value() if settings.action_token else None
            action = EndpointConfig(url=settings.action_endpoint, token=token)
            install_in_process_actions(None)  # only the apology on failure
        else:
            if action_executor is None:
                raise ModelNotReady("no action executor and no ASSISTANT_ACTION_ENDPOINT: actions could not run")
            install_in_process_actions(action_executor)
            action = None
        endpoints = AvailableEndpoints(
            action=action,
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
        session_minutes = settings.session_expiration_minutes
        domain = agent.processor.domain
        domain.session_config = type(domain.session_config)(session_minutes, carry_over_slots=True)
        engine = cls(agent, after_turn=after_turn, is_paused=is_paused, gate=gate, forget=forget)
        engine._tracker_cache = cache_trackers(agent.tracker_store, settings)
        rasa_speedups.run_graph_in_order(agent.processor.graph_runner)
        rasa_speedups.cache_payload_parses(agent.processor)
        redis_lock.lock_off_the_loop(agent.lock_store)
        return engine

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
        before: list[Reply] = []
        if self._gate is not None:
            gate = await self._gate(sender_id, text[:MAX_MESSAGE_CHARS])
            if gate.hold:
                return await self._hold(message, gate.replies)
            before = replies_from(sender_id, gate.replies)
        elif self._is_paused is not None and await self._is_paused(sender_id):
            return await self._hold(message, [])
        token = _answering.set(sender_id)
        try:
            await self._agent.handle_message(message)
        finally:
            _answering.reset(token)
        after: list[Reply] = []
        forget_now = False
        if self._after_turn is not None:
            tracker = self._saved.pop(sender_id, None) or await self._agent.tracker_store.retrieve(sender_id)
            # decided now: the kept tracker may grow with the conversation's next turn while the hook awaits
            forget_now = tracker is not None and _ran_this_turn(tracker, FORGET_ACTION)
            if tracker is not None:
                try:
                    notices = await self._after_turn(tracker, channel)
                    after = replies_from(sender_id, notices or [])
                except Exception:  # noqa: BLE001 - bookkeeping must never lose the citizen's answer
                    logger.exception("after-turn hook failed for a conversation")
        if forget_now:
            await self.forget(sender_id)
        return before + replies_of(output.messages, sender_id) + after

    async def _hold(self, message: Any, replies: list[dict[str, Any]]) -> list[Reply]:
        """Record the citizen's message (and what we answer instead of the bot) without predicting anything."""
        from rasa.shared.core.events import BotUttered

        sender_id = message.sender_id
        async with self._agent.lock_store.lock(sender_id):
            tracker = await self._agent.processor.log_message(message, should_save_tracker=False)
            for reply in replies:
                tracker.update(BotUttered(reply.get("text"), data={"buttons": reply.get("buttons") or []}))
            await self._agent.tracker_store.save(tracker)
        self._saved.pop(sender_id, None)  # no after-turn hook here: do not keep it
        return replies_from(sender_id, replies)

    async def forget(self, sender_id: str) -> None:
        """Delete the conversation: Rasa's stored events and, through the ``forget`` hook, our rows about it."""
        store = getattr(self._agent.tracker_store, "_tracker_store", self._agent.tracker_store)
        async with self._agent.lock_store.lock(sender_id):
            if hasattr(store, "session_scope"):  # Rasa's SQLTrackerStore
                await asyncio.to_thread(delete_events, store, sender_id)
            elif isinstance(getattr(store, "store", None), dict):  # Rasa's InMemoryTrackerStore
                store.store.pop(sender_id, None)
        self._saved.pop(sender_id, None)
        if self._tracker_cache is not None:
            self._tracker_cache.forget(sender_id)
        if self._forget is not None:
            await self._forget(sender_id)
        logger.info("conversation %s deleted at the citizen's request", sender_id)

    async def parse(self, text: str) -> dict[str, Any]:
        """Parse one message with the NLU pipeline; always has procedure/procedure_ranking/aspect."""
        if not self.is_ready():
            raise ModelNotReady("the model is not loaded")
        parsed = await self._agent.parse_message(text[:MAX_MESSAGE_CHARS])
        return complete_parse(parsed, text)

    async def tracker(self, sender_id: str) -> Any:
        """The conversation's tracker (read-only use)."""
        return await self._agent.tracker_store.get_or_create_tracker(sender_id)

    async def seed(self, sender_id: str, *, slots: dict[str, Any], intro: str, action: str) -> list[Reply]:
        """Open a conversation in a known state (a desk case): ``slots`` set, ``intro`` said, then ``action`` run.

        As in a turn, under the conversation's lock: a Rasa session starts, the action's messages (buttons, answer
        metadata) are the conversation's, then the bot listens, so the next message goes on from there.

        Args:
            sender_id: the conversation, a new one (``web:…``).
            slots: slot name → value (:func:`assistant.desk_cases.seed_slots`).
            intro: the first bot message.
            action: one of our actions (``action_guide_repeat`` shows the step in ``guide_step``).

        Returns:
            The intro, then the action's replies.
        """
        from rasa.core.channels.channel import CollectingOutputChannel
        from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet

        processor, output = self._agent.processor, CollectingOutputChannel()
        async with self._agent.lock_store.lock(sender_id):
            tracker = await processor.fetch_tracker_and_update_session(sender_id, output)
            tracker.update_with_events([*(SlotSet(k, v) for k, v in slots.items()), BotUttered(intro)], processor.domain)
            await processor.save_tracker(tracker)
            tracker = await self._agent.execute_action(sender_id, action, output, None, 1.0)
            tracker.update(ActionExecuted("action_listen"))
            await processor.save_tracker(tracker)
        self._saved.pop(sender_id, None)  # no after-turn hook here: do not keep it
        return [Reply(recipient_id=sender_id, text=intro), *replies_of(output.messages, sender_id)]


def _ran_this_turn(tracker: Any, action_name: str) -> bool:
    """True when ``action_name`` ran after the conversation's latest user message."""
    for event in reversed(list(tracker.events)):
        kind = getattr(event, "type_name", None)
        if kind == "user":
            return False
        if kind == "action" and getattr(event, "action_name", None) == action_name:
            return True
    return False


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
