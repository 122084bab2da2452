"""Our custom actions run in this process: Rasa's ``RemoteAction`` calls the ``rasa_sdk`` ActionExecutor directly.

Rasa builds a :class:`~rasa.core.actions.action.RemoteAction` for every custom action (and every form's validation
action) and, with no action endpoint, would refuse to run it. :func:`install_in_process_actions` replaces its
``run`` so that such an action goes to the executor in process: no HTTP, no JSON encoding of the call. When
``ASSISTANT_ACTION_ENDPOINT`` names a separate action server, Rasa's own ``run`` calls it as usual. Either way an
action that fails gives the citizen an apology and the hand-off button, never an empty reply.

Like :mod:`assistant.engine.speedups`, this module patches Rasa on purpose and is installed only by
:meth:`assistant.engine.ConversationEngine.load`; nothing else calls it (tests undo it with
:func:`uninstall_in_process_actions`).
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["ACTION_FAILED_TEXT", "HANDOFF_BUTTON", "install_in_process_actions", "uninstall_in_process_actions"]

logger = logging.getLogger(__name__)

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
