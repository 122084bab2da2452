"""Rasa's rule lookup, testing only the rules that can still match, and only as far back as they reach.

To find the rules that apply to a conversation, Rasa 3.6's ``RulePolicy._get_possible_keys`` filters every
rule key of a lookup (a JSON list of the states the rule needs, parsed again for each check) against every
state of the conversation, last state first, to the conversation's start: twice per prediction (with the
user's text, then with the intent) and once more with the loop's unhappy-path rules while a form is active.
The work grows with the length of the conversation × the number of rules (5% of a saturated server's CPU in
issue #15's profile), although ``_is_rule_applicable`` keeps every rule at the turns it does not reach back
to. At a turn it reaches, a rule's state applies when both it and the conversation's state start a
conversation (no previous action), or neither does and each feature the rule sets is the conversation's
(a ``SHOULD_NOT_BE_SET`` one: absent, empty or also ``SHOULD_NOT_BE_SET`` there; a list: equal as a tuple).

:func:`possible_keys` gives the same set of keys with proportional work: each lookup's keys are parsed once
into those conditions (kept while the lookup holds the same keys); the last state takes its candidates from
an index by the previous action and the intent each rule requires; earlier states are checked only as far
back as the longest remaining rule reaches, and only while some key is left.
``tests/assistant/test_rule_keys.py`` compares both on every prefix of real conversations, as well as the
policy's predictions with and without it; :func:`install` and :func:`uninstall` switch it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rasa.core.policies.rule_policy import RulePolicy
from rasa.shared.core.constants import PREVIOUS_ACTION, SHOULD_NOT_BE_SET, USER
from rasa.shared.nlu.constants import ACTION_NAME, INTENT

__all__ = ["install", "installed", "possible_keys", "uninstall"]

State = dict[str, Any]
#: One feature a rule's state sets: (kind of sub-state, feature, value, True: must equal it / False: must be unset).
Condition = tuple[str, str, Any, bool]
#: The last state's index: (previous action, intent) each rule requires, None where it requires no plain string.
IndexKey = tuple[str | None, str | None]

#: Compiled lookups kept (a model has two; a new model or a training run brings new ones).
KEPT_LOOKUPS = 16

_original: dict[str, Any] = {}


def _condition(kind: str, feature: str, value: Any) -> Condition | None:
    """What ``RulePolicy._does_rule_match_state`` asks of this feature; None for a value it does not check."""
    if isinstance(value, list):
        value = tuple(value)  # JSON turned the state's tuples into lists
    if value == SHOULD_NOT_BE_SET:
        return (kind, feature, value, False)
    if value:
        return (kind, feature, value, True)
    return None


@dataclass(frozen=True)
class _RuleState:
    """One state of a rule, as conditions on the conversation's state at the same turn."""

    starts: bool
    """No previous action: the state that starts a conversation."""
    conditions: tuple[Condition, ...]

    @classmethod
    def parse(cls, state: State) -> _RuleState:
        found = (_condition(kind, feature, value) for kind, sub in state.items() for feature, value in sub.items())
        return cls(not state.get(PREVIOUS_ACTION), tuple(c for c in found if c is not None))

    def required(self, kind: str, feature: str) -> str | None:
        """The plain string this state requires ``kind``'s ``feature`` to be, if it requires one."""
        for c_kind, c_feature, value, must_equal in self.conditions:
            if c_kind == kind and c_feature == feature and must_equal and type(value) is str:
                return value
        return None

    def matches(self, state: State) -> bool:
        """``RulePolicy._is_rule_applicable`` at a turn the rule reaches back to."""
        if not state.get(PREVIOUS_ACTION):
            return self.starts
        if self.starts:
            return False
        for kind, feature, value, must_equal in self.conditions:
            found = state.get(kind, {}).get(feature)
            if must_equal:
                if found != value:
                    return False
            elif found and found != SHOULD_NOT_BE_SET:
                return False
        return True


@dataclass(frozen=True)
class _Rule:
    """A rule of a lookup: its key, and its states as conditions."""

    key: str
    states: tuple[_RuleState, ...]
    """The rule's states, last one first (as the turns are counted)."""

    def applies(self, turn: int, state: State) -> bool:
        """``RulePolicy._is_rule_applicable``: a turn the rule does not reach back to keeps it."""
        return turn >= len(self.states) or self.states[turn].matches(state)


def _plain(value: Any) -> bool:
    """Whether ``value`` can be looked up in the index: absent, or a plain string (equal only to itself)."""
    return value is None or type(value) is str


@dataclass(frozen=True)
class _Lookup:
    """A lookup's rules, grouped by what their last state needs."""

    keys: frozenset[str]
    always: tuple[_Rule, ...]
    """Rules without states (kept at every turn)."""
    starting: tuple[_Rule, ...]
    """Rules whose last state starts a conversation."""
    continuing: tuple[_Rule, ...]
    """The others, also in ``index``."""
    index: dict[IndexKey, list[_Rule]]

    @classmethod
    def parse(cls, keys: Iterable[str]) -> _Lookup:
        rules = [_Rule(key, tuple(_RuleState.parse(s) for s in reversed(json.loads(key)))) for key in keys]
        continuing = tuple(rule for rule in rules if rule.states and not rule.states[0].starts)
        index: dict[IndexKey, list[_Rule]] = {}
        for rule in continuing:
            last = rule.states[0]
            required = (last.required(PREVIOUS_ACTION, ACTION_NAME), last.required(USER, INTENT))
            index.setdefault(required, []).append(rule)
        return cls(
            frozenset(rule.key for rule in rules),
            tuple(rule for rule in rules if not rule.states),
            tuple(rule for rule in rules if rule.states and rule.states[0].starts),
            continuing,
            index,
        )

    def candidates(self, last: State) -> list[_Rule]:
        """The rules that may apply to the conversation's last state: a superset of those that do.

        A rule requiring a previous action (or intent) X is left out when the state's is absent or another
        plain string: Rasa's check fails on ``found != X``.
        """
        previous = last.get(PREVIOUS_ACTION)
        if not previous:
            return [*self.always, *self.starting]
        action = previous.get(ACTION_NAME)
        intent = last.get(USER, {}).get(INTENT)
        if not (_plain(action) and _plain(intent)):
            return [*self.always, *self.continuing]
        found = list(self.always)
        for key in dict.fromkeys([(action, intent), (action, None), (None, intent), (None, None)]):
            found += self.index.get(key, ())
        return found


_lookups: dict[int, tuple[dict[str, Any], _Lookup]] = {}


def _parsed(lookup: dict[str, Any]) -> _Lookup:
    """The lookup's rules, parsed once while it holds the same keys (Rasa's training removes some in place)."""
    kept = _lookups.get(id(lookup))
    if kept is not None and kept[0] is lookup and lookup.keys() == kept[1].keys:
        return kept[1]
    parsed = _Lookup.parse(lookup)
    if len(_lookups) >= KEPT_LOOKUPS:
        _lookups.clear()
    _lookups[id(lookup)] = (lookup, parsed)  # the lookup is held: its id is not reused while kept
    return parsed


def possible_keys(lookup: dict[str, Any], states: list[State]) -> set[str]:
    """``RulePolicy._get_possible_keys``: the keys of ``lookup`` whose rules apply to ``states``."""
    if not states:
        return set(lookup)
    last = states[-1]
    rules = [rule for rule in _parsed(lookup).candidates(last) if rule.applies(0, last)]
    reach = min(len(states), max((len(rule.states) for rule in rules), default=0))
    for turn in range(1, reach):
        rules = [rule for rule in rules if rule.applies(turn, states[-1 - turn])]
        if not rules:
            break
    return {rule.key for rule in rules}


def _get_possible_keys(self: RulePolicy, lookup: dict[str, Any], states: list[State]) -> set[str]:  # noqa: ARG001
    """The method Rasa calls, as :func:`possible_keys` (the policy's own rule checks read nothing of it)."""
    return possible_keys(lookup, states)


def install() -> None:
    """Use :func:`possible_keys` for ``RulePolicy._get_possible_keys`` (idempotent)."""
    if not _original:
        _original["_get_possible_keys"] = RulePolicy._get_possible_keys
        RulePolicy._get_possible_keys = _get_possible_keys  # type: ignore[method-assign]


def uninstall() -> None:
    """Back to Rasa's own (tests)."""
    if _original:
        RulePolicy._get_possible_keys = _original.pop("_get_possible_keys")  # type: ignore[method-assign]
    _lookups.clear()


def installed() -> bool:
    """Whether :func:`possible_keys` is in use."""
    return bool(_original)
