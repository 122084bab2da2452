"""Rasa's own checks, made cheaper: the same behaviour at a fraction of the CPU.

Rasa 3.6 checks every action-server response against a JSON schema with ``jsonschema.validate``, which
first re-checks the *schema itself* against the JSON Schema meta-schema and builds a new validator, on
every call. A conversation turn calls the action server two to four times (the answer, the form's
validation, the next question), and profiling a loaded server (py-spy, 20 conversations at once) showed
those checks taking half of all its CPU. :func:`install` keeps the check but builds the validator once.

Installed by :meth:`assistant.engine.ConversationEngine.load`; undone by :func:`uninstall` (tests).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

logger = logging.getLogger(__name__)

_original: Any = None


@lru_cache(maxsize=1)
def _response_validator() -> Any:
    """A validator for Rasa's action-server response format, with the schema checked once."""
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:  # noqa: ARG001 - a method
    """``RemoteAction._validate_action_result`` with a reused validator; same errors, same message."""
    from jsonschema.exceptions import best_match
    from rasa.shared.constants import DOCS_BASE_URL

    error = best_match(_response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        ". Failed to validate Action server response from API, make sure your response from the Action "
        f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
    )
    raise error


def install() -> None:
    """Replace Rasa's per-call schema check by the cached one (idempotent)."""
    global _original
    from rasa.core.actions.action import RemoteAction

    if _original is None:
        _original = RemoteAction._validate_action_result
        RemoteAction._validate_action_result = _validate_action_result
        logger.debug("action-server responses are validated with a cached JSON-schema validator")


def uninstall() -> None:
    """Put Rasa's own check back."""
    global _original
    from rasa.core.actions.action import RemoteAction

    if _original is not None:
        RemoteAction._validate_action_result = _original
        _original = None
