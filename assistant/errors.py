"""Errors raised by the assistant's own code.

Every error we raise is an ``AssistantError`` so that callers (HTTP routes, actions, the CLI) can catch
ours without catching everything. Chain the cause: ``raise ProcedureNotFound(key) from e``.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base class of the assistant's errors."""


class ProcedureNotFound(AssistantError):
    """No procedure record has the given key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no procedure with key {key!r}")
        self.key = key


class RecordInvalid(AssistantError):
    """One or more procedure records do not match the schema."""


class ModelNotReady(AssistantError):
    """The Rasa model is missing or could not be loaded."""
