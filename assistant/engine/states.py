"""Rasa's dialogue states without replaying the whole conversation at every prediction.

Rasa 3.6 rebuilds a conversation's history from its first event several times per turn:

- ``DialogueStateTracker.copy()`` (before every action) replays every event into a new tracker;
- ``applied_events()`` (session checks, copies, state building) walks every event again;
- ``Domain.states_for_tracker_history()`` (three times per prediction: the rule policy with text and with
  intents, memoization without rule-only turns) replays the conversation once more and builds a state
  for each action in it.

So a turn costs more the longer the conversation is. This module keeps Rasa's results and removes the
repetition: a copy clones the tracker's current state (slots, loop, latest action and message) instead of
re-deriving it; ``applied_events()`` is remembered per tracker until its events change; and the states are
extended from the last ones built for the same conversation when its applied events start with the same
event objects (a revert or a new session starts again from scratch). Each replacement gives what Rasa's own
function gives (``tests/assistant/test_rasa_states.py`` compares them on every prefix of real conversations);
:func:`install` and :func:`uninstall` switch them.
"""

from __future__ import annotations

import copy
import operator
import threading
from collections import OrderedDict
from dataclasses import dataclass
from itertools import islice
from typing import Any

from rasa.shared.constants import DEFAULT_SENDER_ID
from rasa.shared.core.constants import PREVIOUS_ACTION, USER
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    Restarted,
    SessionStarted,
    UserUtteranceReverted,
)
from rasa.shared.core.trackers import DialogueStateTracker

__all__ = ["install", "installed", "uninstall"]

#: Conversations × ways of asking whose last states are kept: the conversations active in the last minutes
#: (each entry holds a tracker and its states; more would only give the garbage collector more to walk).
KEPT_HISTORIES = 1000

_original: dict[str, Any] = {}


_UNSET_BY_A_REPLAY = {"sender_source": None, "model_id": None, "assistant_id": None}
"""What a tracker rebuilt from its events (Rasa's ``copy()``, ``from_events``) does not carry over."""


def _clone(tracker: DialogueStateTracker, events: list[Any], **fields: Any) -> DialogueStateTracker:
    """A tracker holding ``events``, with ``tracker``'s state and its own copy of what an event may change in
    place (slots, the active loop, the latest action); ``fields`` set before the event list is made."""
    clone = DialogueStateTracker.__new__(DialogueStateTracker)
    clone.__dict__.update(tracker.__dict__)
    clone.__dict__.update(fields)
    clone.events = clone._create_events(events)
    clone.slots = _copy_slots(tracker.slots)
    clone.latest_action = dict(tracker.latest_action) if tracker.latest_action is not None else None
    clone.active_loop = copy.copy(tracker.active_loop)
    return clone


def fast_copy(self: DialogueStateTracker) -> DialogueStateTracker:
    """``DialogueStateTracker.copy()`` without replaying the events.

    Rasa's copy is ``init_copy()`` plus every event applied again, which leaves ``model_id``,
    ``assistant_id`` and ``sender_source`` unset; the clone does the same. Everything an event may change in
    place (the event list, slots, the active loop, the latest action) is copied; events and messages are
    shared, as they are after a replay. The remembered applied events go along: the same event objects.
    """
    return _clone(self, list(self.events), sender_id=self.sender_id or DEFAULT_SENDER_ID, **_UNSET_BY_A_REPLAY)


def _copy_slots(slots: dict[str, Any]) -> dict[str, Any]:
    """Each slot shallow-copied as ``copy.copy`` does (a new object with the same ``__dict__``), without its
    generic ``__reduce_ex__`` round trip: a tracker copy copies every slot of the domain."""
    copies = type(slots)()
    for name, slot in slots.items():
        clone = object.__new__(type(slot))
        clone.__dict__.update(slot.__dict__)
        copies[name] = clone
    return copies


def _state_clone(tracker: DialogueStateTracker) -> DialogueStateTracker:
    """A copy of what a state is made of (slots, latest action and message, loop, follow-up action), without
    the events: building states only applies more events to it (``update``: append, ``apply_to``) and reads
    those fields, and the events applied are never reverts, whose ``apply_to`` would replay the list."""
    clone = _clone(tracker, [])
    clone.__dict__.pop("_assistant_applied", None)
    return clone


def form_trial_tracker(
    current_tracker: DialogueStateTracker, extra_events: list[Any], slots: Any
) -> DialogueStateTracker:
    """``DialogueStateTracker.from_events(sender, current.events_after_latest_restart() + extra, slots)``.

    Rasa builds this trial tracker each time a form validates what the citizen said, by replaying the
    whole conversation; when the conversation was never restarted, the current tracker's state is cloned
    and only ``extra_events`` are applied.
    """
    if current_tracker.idx_after_latest_restart() != 0 or [s.name for s in slots] != list(current_tracker.slots):
        return DialogueStateTracker.from_events(
            current_tracker.sender_id, current_tracker.events_after_latest_restart() + extra_events, slots=slots
        )
    trial = _clone(
        current_tracker, list(current_tracker.events), _max_event_history=None, is_rule_tracker=False, **_UNSET_BY_A_REPLAY
    )
    trial.__dict__.pop("_assistant_applied", None)
    for event in extra_events:
        trial.update(event)
    return trial


_RESETS = (Restarted, SessionStarted, ActionReverted, UserUtteranceReverted)


def _appends_plainly(event: Any, loop_names: frozenset[str]) -> bool:
    """Whether Rasa's ``applied_events`` would simply append ``event`` and change nothing before it."""
    if isinstance(event, _RESETS):
        return False
    if isinstance(event, ActiveLoop):
        return event.name is None or event.name in loop_names  # a new loop's name changes how earlier runs count
    return not (isinstance(event, ActionExecuted) and event.action_name in loop_names)


def remembered_applied_events(self: DialogueStateTracker) -> list[Any]:
    """``applied_events()``, extended with the new events when they only append, else computed again.

    Kept on the tracker with the event count and the first and last event it was computed for.
    """
    events = self.events
    count = len(events)
    kept = self.__dict__.get("_assistant_applied")
    if kept is not None and count and events[0] is kept[1]:
        known, _, last, loop_names, applied = kept
        if known == count and events[-1] is last:
            return list(applied)
        if 0 < known < count and events[known - 1] is last:
            new = list(islice(events, known, count))
            if all(_appends_plainly(event, loop_names) for event in new):
                applied = applied + new
                self.__dict__["_assistant_applied"] = (count, events[0], events[-1], loop_names, applied)
                return list(applied)
    applied = _original["applied_events"](self)
    if count:
        loop_names = frozenset(e.name for e in events if isinstance(e, ActiveLoop) and e.name)
        self.__dict__["_assistant_applied"] = (count, events[0], events[-1], loop_names, applied)
    return list(applied)


@dataclass
class _History:
    """Where building one conversation's states stopped: resume from here when it only grew."""

    applied: list[Any]
    tracker: DialogueStateTracker
    """The prior tracker after every applied event (read, never updated: a resume clones it)."""
    states: list[dict[str, Any]]
    """The states before the final one (which depends on what comes next)."""
    last_ml_action_sub_state: Any
    turn_was_hidden: bool
    domain: Domain
    rule_only_data: Any
    final_state: dict[str, Any] | None = None
    """The active state at the end (the first state of the next call when an action comes next)."""
    result: list[dict[str, Any]] | None = None
    """The states returned for exactly ``applied`` (asked again by the next policy of the same prediction)."""


class _Histories:
    """The last few :class:`_History` per conversation and way of asking, least recently used first out.

    A few, not one: Rasa also asks for the states of trial copies of a tracker (a form's validation, a rule
    check), which branch off the conversation; the conversation's own line must survive them.
    """

    def __init__(self, size: int, per_key: int = 3) -> None:
        self._size = size
        self._per_key = per_key
        self._items: OrderedDict[tuple[Any, ...], list[_History]] = OrderedDict()
        self._lock = threading.Lock()

    def longest_prefix(self, key: tuple[Any, ...], applied: list[Any], domain: Domain, rule_only_data: Any) -> _History | None:
        """The kept history with the most events that ``applied`` starts with."""
        with self._lock:
            histories = self._items.get(key)
            if not histories:
                return None
            self._items.move_to_end(key)
            histories = list(histories)
        usable = [
            h
            for h in histories
            if h.domain is domain and h.rule_only_data is rule_only_data and _starts_with(applied, h.applied)
        ]
        return max(usable, key=lambda h: len(h.applied), default=None)

    def put(self, key: tuple[Any, ...], history: _History) -> None:
        with self._lock:
            # a history the new one extends is superseded by it
            kept = [h for h in self._items.get(key, []) if not _starts_with(history.applied, h.applied)]
            self._items[key] = [*kept[-(self._per_key - 1) :], history]
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_histories = _Histories(KEPT_HISTORIES)


def _starts_with(applied: list[Any], prefix: list[Any]) -> bool:
    return len(prefix) <= len(applied) and all(map(operator.is_, applied, prefix))


def _copy_state(state: dict[str, Any]) -> dict[str, Any]:
    """A state with its own sub-state dicts."""
    return {kind: dict(sub_state) for kind, sub_state in state.items()}


def _copy_states(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """States to hand out: Rasa's featurizers delete keys from the states and from their ``user`` sub-states
    (``_choose_last_user_input``, ``_remove_user_text_if_intent``; nothing else is changed by Rasa 3.6), so
    those are fresh; a ``user`` sub-state shared by two states stays shared, as in Rasa's own list."""
    copies: dict[int, dict[str, Any]] = {}
    out = []
    for state in states:
        new = dict(state)
        user = state.get(USER)
        if user is not None:
            user_copy = copies.get(id(user))
            if user_copy is None:
                user_copy = copies[id(user)] = dict(user)
            new[USER] = user_copy
        out.append(new)
    return out


def incremental_states_for_tracker_history(
    self: Domain,
    tracker: DialogueStateTracker,
    omit_unset_slots: bool = False,
    ignore_rule_only_turns: bool = False,
    rule_only_data: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """``Domain.states_for_tracker_history`` built on from the states of the conversation's last call.

    Same loop as Rasa's (one state per prior tracker before each action and one at the end; rule-only turns
    hidden on request); the part already built for the same event objects is taken from the last call.
    """
    applied = tracker.applied_events()
    if not ignore_rule_only_turns:
        rule_only_data = None  # only read when rule-only turns are ignored
    key = (tracker.sender_id, omit_unset_slots, ignore_rule_only_turns)
    kept = None
    if tracker.sender_id and not tracker.is_rule_tracker:
        kept = _histories.longest_prefix(key, applied, self, rule_only_data)
    if kept is not None and kept.result is not None and len(kept.applied) == len(applied):
        return _copy_states(kept.result)
    known: dict[str, Any] | None = None  # the active state at the point where the last call stopped
    if kept is not None:
        prior = _state_clone(kept.tracker)
        states = list(kept.states)
        last_ml_action_sub_state, turn_was_hidden = kept.last_ml_action_sub_state, kept.turn_was_hidden
        new_events = applied[len(kept.applied) :]
        known = kept.final_state
    else:
        prior = tracker.init_copy()
        states, last_ml_action_sub_state, turn_was_hidden = [], None, False
        new_events = applied

    def add_state(hide_rule_turn: bool) -> dict[str, Any] | None:
        """Rasa's loop body for the prior tracker as it is now; returns the active state it computed."""
        nonlocal last_ml_action_sub_state, turn_was_hidden, known
        if ignore_rule_only_turns:
            if not turn_was_hidden:
                last_ml_action_sub_state = self._get_prev_action_sub_state(prior)
            if not prior.followup_action and not prior.latest_action_name == prior.active_loop_name:
                turn_was_hidden = hide_rule_turn
            if turn_was_hidden:
                known = None
                return None
        if known is not None:
            state, known = _copy_state(known), None
        else:
            state = self.get_active_state(prior, omit_unset_slots=omit_unset_slots)
        active = _copy_state(state)
        if ignore_rule_only_turns:
            self._remove_rule_only_features(state, rule_only_data)
            if states:
                self._substitute_rule_only_user_input(state, states[-1])
            if last_ml_action_sub_state:
                state[PREVIOUS_ACTION] = last_ml_action_sub_state
        states.append(self._clean_state(state))
        return active

    for event in new_events:
        if isinstance(event, ActionExecuted):
            add_state(event.hide_rule_turn)
        known = None  # only the state right where the last call stopped is known
        prior.update(event)
    history = _History(list(applied), prior, list(states), last_ml_action_sub_state, turn_was_hidden, self, rule_only_data)
    history.final_state = add_state(False)
    history.result = list(states)
    if tracker.sender_id and not tracker.is_rule_tracker:
        _histories.put(key, history)
    return _copy_states(states)


def install() -> None:
    """Use the replacements (idempotent)."""
    if _original:
        return
    _original["copy"] = DialogueStateTracker.copy
    _original["applied_events"] = DialogueStateTracker.applied_events
    _original["states_for_tracker_history"] = Domain.states_for_tracker_history
    DialogueStateTracker.copy = fast_copy  # type: ignore[method-assign]
    DialogueStateTracker.applied_events = remembered_applied_events  # type: ignore[method-assign]
    Domain.states_for_tracker_history = incremental_states_for_tracker_history  # type: ignore[method-assign]


def uninstall() -> None:
    """Back to Rasa's own functions (tests)."""
    if not _original:
        return
    DialogueStateTracker.copy = _original.pop("copy")  # type: ignore[method-assign]
    DialogueStateTracker.applied_events = _original.pop("applied_events")  # type: ignore[method-assign]
    Domain.states_for_tracker_history = _original.pop("states_for_tracker_history")  # type: ignore[method-assign]
    _histories.clear()


def installed() -> bool:
    """Whether the replacements are in use."""
    return bool(_original)
