"""ConversationEngine: the only module that talks to Rasa Core.

Channels call :meth:`ConversationEngine.handle` and get :class:`Reply` objects back; they never touch
the Rasa ``Agent`` or trackers. Rasa's endpoints (tracker store, lock store, action server) come from
:class:`~assistant.settings.Settings` here, so there is no ``endpoints.yml``.

Custom actions run in this process: Rasa's :class:`~rasa.core.actions.action.RemoteAction` is given no
endpoint, and :func:`install_in_process_actions` makes such an action call the ``rasa_sdk`` ActionExecutor
directly (no HTTP, no JSON encoding of the call). Only when ``ASSISTANT_ACTION_ENDPOINT`` is set do actions
go to a separate action server, with ``ASSISTANT_ACTION_TOKEN`` as Rasa's endpoint ``token``. Either way an
action that fails gives the citizen an apology and the hand-off button, never an empty reply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
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

ACTION_FAILED_TEXT = (
    "Xin lỗi, trợ lý gặp sự cố khi trả lời câu này. Bạn thử hỏi lại theo cách khác, "
    "hoặc bấm “Gặp cán bộ” để cán bộ một cửa hỗ trợ bạn."
)
"""What the citizen reads when one of our actions fails (instead of an empty reply)."""

HANDOFF_BUTTON = {"title": "Gặp cán bộ", "payload": "/request_human"}
"""The hand-off offer sent with :data:`ACTION_FAILED_TEXT`."""

_executor: Any = None
"""The rasa_sdk ActionExecutor that endpoint-less custom actions run on (see :func:`install_in_process_actions`)."""

_original_remote_run: Any = None


def install_in_process_actions(executor: Any) -> None:
    """Run Rasa's custom actions that have no action endpoint through ``executor``, in this process.

    Rasa builds a ``RemoteAction`` for every custom action (and every form's validation action); with no
    endpoint it would refuse to run. Installed once per process (idempotent; the last executor wins), it
    also turns an action failure on either path into :data:`ACTION_FAILED_TEXT` with the hand-off button.

    Args:
        executor: a ``rasa_sdk.executor.ActionExecutor`` with our actions registered; None when actions
            run on a separate action server.
    """
    global _executor, _original_remote_run
    from rasa.core.actions.action import RemoteAction

    _executor = executor
    if _original_remote_run is None:
        _original_remote_run = RemoteAction.run
        RemoteAction.run = _run_remote_action


def uninstall_in_process_actions() -> None:
    """Put Rasa's own ``RemoteAction.run`` back (tests)."""
    global _executor, _original_remote_run
    from rasa.core.actions.action import RemoteAction

    if _original_remote_run is not None:
        RemoteAction.run = _original_remote_run
        _original_remote_run = None
    _executor = None


async def _run_remote_action(self: Any, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> list[Any]:
    """``RemoteAction.run``: in process without an endpoint; a failure becomes an apology with a hand-off offer."""
    from rasa.core.actions.action import ActionExecutionRejection, create_bot_utterance

    try:
        if self.action_endpoint is None and _executor is not None:
            return await _run_in_process(self, output_channel, nlg, tracker, domain)
        return list(await _original_remote_run(self, output_channel, nlg, tracker, domain))
    except ActionExecutionRejection:
        raise  # a form's validation refusing: Rasa predicts another action, as with an action server
    except Exception:  # noqa: BLE001 - the citizen gets an answer whatever went wrong in our action
        logger.exception("action %s failed in conversation %s", self.name(), tracker.sender_id)
        return [create_bot_utterance({"text": ACTION_FAILED_TEXT, "buttons": [dict(HANDOFF_BUTTON)]})]


_domain_dicts: dict[int, tuple[Any, dict[str, Any]]] = {}


def _domain_dict(domain: Any) -> dict[str, Any]:
    """``domain.as_dict()`` made once per domain (Rasa would rebuild it on every action call)."""
    cached = _domain_dicts.get(id(domain))
    if cached is None or cached[0] is not domain:
        _domain_dicts.clear()
        cached = _domain_dicts[id(domain)] = (domain, domain.as_dict())
    return cached[1]


async def _run_in_process(self: Any, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> list[Any]:
    """Run one custom action on the executor: Rasa's action-server call and answer, without HTTP."""
    import rasa
    from rasa.core.actions.action import ActionExecutionRejection
    from rasa.shared.core import events
    from rasa.shared.core.trackers import EventVerbosity
    from rasa_sdk.interfaces import ActionExecutionRejection as SdkRejection
    from rasa_sdk.interfaces import ActionNotFoundException

    call = {
        "next_action": self.name(),
        "sender_id": tracker.sender_id,
        "tracker": tracker.current_state(EventVerbosity.ALL),
        "domain": _domain_dict(domain),
        "version": rasa.__version__,
    }
    try:
        response = await _executor.run(call) or {}
    except SdkRejection as e:
        raise ActionExecutionRejection(e.action_name, e.message) from e
    except ActionNotFoundException as e:
        raise RuntimeError(f"custom action {e.action_name!r} is not registered") from e
    self._validate_action_result(response)
    bot_messages = await self._utter_responses(response.get("responses", []), output_channel, nlg, tracker)
    return list(bot_messages) + list(events.deserialise_events(response.get("events", [])))


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


def cache_trackers(tracker_store: Any, settings: Settings) -> Any:
    """Put a :class:`~assistant.tracker_cache.TrackerCache` on Rasa's SQL tracker store; None for other stores.

    On SQLite the store also gets our engine (:func:`assistant.db.session.make_engine`: WAL journal,
    ``synchronous=NORMAL``, pooled connections) instead of Rasa's (a new connection and an fsync per turn).
    """
    from assistant.tracker_cache import TrackerCache

    store = getattr(tracker_store, "_tracker_store", tracker_store)
    if not hasattr(store, "session_scope") or settings.tracker_cache_size < 0:
        return None
    if store.engine.url.get_backend_name() == "sqlite":
        from sqlalchemy.orm import sessionmaker

        from assistant.db.session import make_engine

        rasa_engine, store.engine = store.engine, make_engine(settings.database_url)
        store.sessionmaker = sessionmaker(bind=store.engine)
        rasa_engine.dispose()
    return TrackerCache(store, size=settings.tracker_cache_size).install()


def _delete_events(store: Any, sender_id: str) -> None:
    """Delete a conversation's rows from Rasa's SQL tracker store (on a worker thread)."""
    with store.session_scope() as session:
        session.query(store.SQLEvent).filter_by(sender_id=sender_id).delete()
        session.commit()


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

        from assistant import rasa_speedups

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
        rasa_speedups.lock_off_the_loop(agent.lock_store)
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
            before = _replies(sender_id, gate.replies)
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
                    after = _replies(sender_id, notices or [])
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
        return _replies(sender_id, replies)

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

    async def forget(self, sender_id: str) -> None:
        """Delete the conversation: Rasa's stored events and, through the ``forget`` hook, our rows about it."""
        store = getattr(self._agent.tracker_store, "_tracker_store", self._agent.tracker_store)
        async with self._agent.lock_store.lock(sender_id):
            if hasattr(store, "session_scope"):  # Rasa's SQLTrackerStore
                await asyncio.to_thread(_delete_events, store, sender_id)
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


def _replies(sender_id: str, messages: list[dict[str, Any]]) -> list[Reply]:
    """Our own messages (``{"text", "buttons"?}``) as replies."""
    return [Reply(recipient_id=sender_id, text=m.get("text"), buttons=list(m.get("buttons") or [])) for m in messages]


def _ran_this_turn(tracker: Any, action_name: str) -> bool:
    """True when ``action_name`` ran after the conversation's latest user message."""
    for event in reversed(list(tracker.events)):
        kind = getattr(event, "type_name", None)
        if kind == "user":
            return False
        if kind == "action" and getattr(event, "action_name", None) == action_name:
            return True
    return False


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
