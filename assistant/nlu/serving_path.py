"""A Rasa NLU component's ``process`` with a fast path for the one message of a serving turn (issue #15).

Rasa calls ``process`` with a list of messages: many during training and evaluation, one per conversation turn
when serving. :class:`OneMessagePath` keeps Rasa's method for lists and for whatever the fast path declines,
and is installed on the component class before a model is loaded (Rasa's graph takes the method at load).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, List

from rasa.shared.nlu.training_data.message import Message

__all__ = ["OneMessagePath"]


class OneMessagePath:
    """``component.process`` made ``one(component, message)`` for a single message, Rasa's own otherwise.

    Args:
        component: the Rasa component class.
        one: handles the message in place and returns True, or returns False to leave it to Rasa.
    """

    def __init__(self, component: type, one: Callable[[Any, Message], bool]) -> None:
        self._component = component
        rasa_process = component.process  # type: ignore[attr-defined]
        self.rasa_process = rasa_process

        def process(self: Any, messages: List[Message]) -> List[Message]:
            if len(messages) == 1 and one(self, messages[0]):
                return messages
            return rasa_process(self, messages)

        process.__doc__ = f"Rasa's ``process``, a serving turn's single message through ``{one.__name__}``."
        self.process = process

    def install(self) -> None:
        """Use the fast path for models loaded from now on (idempotent)."""
        self._component.process = self.process  # type: ignore[attr-defined]

    def uninstall(self) -> None:
        """Put Rasa's own ``process`` back (for models loaded from now on)."""
        if self._component.__dict__.get("process") is self.process:
            self._component.process = self.rasa_process  # type: ignore[attr-defined]
