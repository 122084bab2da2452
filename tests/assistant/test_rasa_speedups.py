"""The cached action-response check accepts and rejects exactly what Rasa's own check does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

from assistant import rasa_speedups

GOOD = [
    {"events": [{"event": "slot", "name": "procedure", "value": "ho-chieu"}], "responses": [{"text": "Xin chào"}]},
    {"events": [], "responses": []},
    {},
]
BAD = [
    {"events": [{"name": "procedure"}]},  # an event without its type
    {"events": "slot"},
    {"events": [{"event": "slot", "timestamp": "yesterday"}]},
]


@pytest.fixture()
def action() -> Iterator[RemoteAction]:
    yield RemoteAction("action_answer_procedure", None)
    rasa_speedups.uninstall()


@pytest.mark.parametrize("response", GOOD)
def test_valid_responses_pass_both_checks(action: RemoteAction, response: dict) -> None:
    assert action._validate_action_result(response)
    rasa_speedups.install()
    assert action._validate_action_result(response)


@pytest.mark.parametrize("response", BAD)
def test_invalid_responses_fail_both_checks_with_rasas_hint(action: RemoteAction, response: dict) -> None:
    with pytest.raises(ValidationError) as theirs:
        action._validate_action_result(response)
    rasa_speedups.install()
    with pytest.raises(ValidationError) as ours:
        action._validate_action_result(response)
    assert ours.value.message == theirs.value.message
    assert "Failed to validate Action server response" in ours.value.message


def test_install_is_idempotent_and_uninstall_restores_rasa(action: RemoteAction) -> None:
    original = RemoteAction._validate_action_result
    rasa_speedups.install()
    rasa_speedups.install()
    assert RemoteAction._validate_action_result is not original
    rasa_speedups.uninstall()
    assert RemoteAction._validate_action_result is original
