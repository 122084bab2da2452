"""Rasa's own checks, made cheaper: the same behaviour at a fraction of the CPU.

Rasa 3.6 checks every action-server response against a JSON schema with ``jsonschema.validate``, which
first re-checks the *schema itself* against the JSON Schema meta-schema and builds a new validator, on
every call. A conversation turn calls the action server two to four times (the answer, the form's
validation, the next question), and profiling a loaded server (py-spy, 20 conversations at once) showed
those checks taking half of all its CPU. :func:`install` keeps the check but builds the validator once.

The same for the subclass scans behind every deserialised event and slot (``all_subclasses``, 9% of a
saturated server's CPU in issue #15's profile): a table of type names, rebuilt when a name is unknown. And the
count-vector featurizers and the intent classifier take a turn's one message without scikit-learn's sparse
matrices (:mod:`assistant.nlu.count_vectors`, :mod:`assistant.nlu.intent_scoring`).
The rule policy's search for applicable rules is :mod:`assistant.engine.rule_keys`'s.

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


@lru_cache(maxsize=1)
def _event_validators() -> dict[str, Any]:
    """One validator per event type: Rasa's event schema with only the ``oneOf`` branch of that type.

    Every branch of Rasa's ``oneOf`` fixes ``event`` to its own constant, so an event whose ``event`` is X
    is valid exactly when it passes the common part and X's branch; checking that one branch instead of
    all 23 gives the same verdict for a fraction of the work.
    """
    from jsonschema.validators import validator_for
    from rasa.shared.utils.schemas.events import EVENT_SCHEMA

    common = {key: value for key, value in EVENT_SCHEMA.items() if key != "oneOf"}
    validators = {}
    for branch in EVENT_SCHEMA["oneOf"]:
        schema = {**common, "allOf": [branch]}
        validators[branch["properties"]["event"]["const"]] = validator_for(schema)(schema)
    return validators


def _surely_valid(result: Any) -> bool:
    """True only when ``result`` is a valid action response (False: let the full check decide and explain)."""
    if not isinstance(result, dict):
        return False
    responses = result.get("responses", [])
    if not isinstance(responses, list) or not all(isinstance(r, dict) for r in responses):
        return False
    events = result.get("events", [])
    if not isinstance(events, list):
        return False
    validators = _event_validators()
    for event in events:
        kind = event.get("event") if isinstance(event, dict) else None
        validator = validators.get(kind) if isinstance(kind, str) else None
        if validator is None or not validator.is_valid(event):
            return False
    return True


def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:  # noqa: ARG001 - a method
    """``RemoteAction._validate_action_result`` with reused validators; same verdicts, same errors, same message."""
    from jsonschema.exceptions import best_match
    from rasa.shared.constants import DOCS_BASE_URL

    if _surely_valid(result):
        return True
    error = best_match(_response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        ". Failed to validate Action server response from API, make sure your response from the Action "
        f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
    )
    raise error


_original_resolvers: dict[type, Any] = {}


def _resolver_by_type_name(base: type, original: Any) -> Any:
    """``base.resolve_by_type`` through a table of type names instead of a subclass scan on every call.

    Rasa's ``Event.resolve_by_type`` and ``Slot.resolve_by_type`` walk every subclass (``all_subclasses``, with
    an ``inspect.isabstract`` per class) for each event they deserialise. The table maps a type name to the
    first class the same scan would find; an unknown name rebuilds it (a subclass defined since) and falls
    back to Rasa's own method (old names, class paths of custom slots, the errors).
    """
    from rasa.shared.utils.common import all_subclasses

    table: dict[str, Any] = {}

    def build() -> None:
        fresh: dict[str, Any] = {}
        for cls in all_subclasses(base):
            name = getattr(cls, "type_name", None)
            if isinstance(name, str):
                fresh.setdefault(name, cls)
        table.clear()
        table.update(fresh)

    def resolve_by_type(type_name: str, *args: Any, **kwargs: Any) -> Any:
        found = table.get(type_name)
        if found is None:
            build()
            found = table.get(type_name)
        return found if found is not None else original(type_name, *args, **kwargs)

    return resolve_by_type


_original_form_trial: list[Any] = []
_original_intent_load: list[Any] = []


def _install_transposable_intent_model() -> None:
    """Rasa's intent classifier scores with a contiguous ``coef_.T`` (see ``transposable_coefficients``)."""
    from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier

    from assistant.nlu.procedure_models import transposable_coefficients

    if _original_intent_load:
        return
    load = LogisticRegressionClassifier.__dict__["load"].__func__
    _original_intent_load.append(LogisticRegressionClassifier.__dict__["load"])

    def load_transposable(cls: Any, *args: Any, **kwargs: Any) -> Any:
        component = load(cls, *args, **kwargs)
        transposable_coefficients(getattr(component, "clf", None))
        return component

    LogisticRegressionClassifier.load = classmethod(load_transposable)  # type: ignore[method-assign,assignment]


def _install_form_trial() -> None:
    """A form's trial tracker (built on every validation) cloned from the current one, not replayed."""
    from rasa.core.actions.forms import FormAction
    from rasa.shared.core.constants import REQUESTED_SLOT
    from rasa.shared.core.events import ActionExecuted, SlotSet

    from assistant.engine.states import form_trial_tracker

    if _original_form_trial:
        return
    _original_form_trial.append(FormAction._temporary_tracker)

    def _temporary_tracker(self: Any, current_tracker: Any, additional_events: list[Any], domain: Any) -> Any:
        requested = SlotSet(REQUESTED_SLOT, self.get_slot_to_fill(current_tracker))  # as Rasa's own
        return form_trial_tracker(
            current_tracker, [requested, ActionExecuted(self.name()), *additional_events], domain.slots
        )

    FormAction._temporary_tracker = _temporary_tracker  # type: ignore[method-assign]


def install() -> None:
    """Replace Rasa's per-call schema check and subclass scans by cached ones, its tracker replays by
    :mod:`assistant.engine.states`, its one-message featurizing and intent scoring and its rule search by
    :mod:`assistant.engine.rule_keys` (idempotent)."""
    global _original
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.events import Event
    from rasa.shared.core.slots import Slot

    from assistant.engine import rule_keys
    from assistant.engine import states as rasa_states
    from assistant.nlu import count_vectors, intent_scoring

    rasa_states.install()
    rule_keys.install()
    _install_form_trial()
    _install_transposable_intent_model()
    count_vectors.install()
    intent_scoring.install()
    if _original is None:
        _original = RemoteAction._validate_action_result
        RemoteAction._validate_action_result = _validate_action_result
        logger.debug("action-server responses are validated with a cached JSON-schema validator")
    for base in (Event, Slot):
        if base not in _original_resolvers:
            _original_resolvers[base] = base.__dict__["resolve_by_type"]
            base.resolve_by_type = staticmethod(_resolver_by_type_name(base, base.resolve_by_type))


def uninstall() -> None:
    """Put Rasa's own check, lookups, tracker replays and rule search back."""
    global _original
    from rasa.core.actions.action import RemoteAction

    from assistant.engine import rule_keys
    from assistant.engine import states as rasa_states
    from assistant.nlu import count_vectors, intent_scoring

    rasa_states.uninstall()
    count_vectors.uninstall()
    intent_scoring.uninstall()
    rule_keys.uninstall()
    if _original_intent_load:
        from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier

        LogisticRegressionClassifier.load = _original_intent_load.pop()  # type: ignore[method-assign]
    if _original_form_trial:
        from rasa.core.actions.forms import FormAction

        FormAction._temporary_tracker = _original_form_trial.pop()  # type: ignore[method-assign]

    if _original is not None:
        RemoteAction._validate_action_result = _original
        _original = None
    for base, original in _original_resolvers.items():
        setattr(base, "resolve_by_type", original)  # noqa: B010 - mypy does not know the attribute on `type`
    _original_resolvers.clear()


class SequentialGraphRun:
    """``DaskGraphRunner.run`` without dask: the same nodes, called in dependency order, plan kept per targets.

    Rasa runs NLU parsing and every policy prediction through ``dask.get``, which builds a dask graph, orders
    it and runs it on a synchronous executor, on every call (about 9% of a saturated server's event loop).
    The graph never changes once the model is loaded, so the order of the nodes each target needs is worked
    out once; each call then only passes outputs along. Nodes, hooks, inputs and results are Rasa's own.
    """

    def __init__(self, runner: Any) -> None:
        self._runner = runner
        self._plans: dict[tuple[str, ...], list[tuple[str, Any, tuple[str, ...]]]] = {}

    def plan(self, targets: tuple[str, ...]) -> list[tuple[str, Any, tuple[str, ...]]]:
        """The nodes ``targets`` need, dependencies first, each with the names of its inputs."""
        schema = self._runner._graph_schema.minimal_graph_schema(list(targets))
        nodes = self._runner._instantiated_nodes
        order: list[tuple[str, Any, tuple[str, ...]]] = []
        placed: set[str] = set()

        def place(name: str, path: tuple[str, ...] = ()) -> None:
            if name in placed or name not in schema.nodes:
                return  # done, or a run input such as ``__message__``
            if name in path:
                raise ValueError(f"cycle in the model's graph at {name!r}")
            needs = tuple(schema.nodes[name].needs.values())
            for need in needs:
                place(need, (*path, name))
            placed.add(name)
            order.append((name, nodes[name], needs))

        for target in targets:
            place(target)
        return order

    def __call__(self, inputs: dict[str, Any] | None = None, targets: list[str] | None = None) -> dict[str, Any]:
        from rasa.engine.exceptions import GraphRunError

        run_targets = tuple(targets if targets else self._runner._graph_schema.target_names)
        plan = self._plans.get(run_targets)
        if plan is None:
            plan = self._plans[run_targets] = self.plan(run_targets)
        values: dict[str, Any] = {name: (name, value) for name, value in (inputs or {}).items()}
        try:
            for name, node, needs in plan:
                values[name] = node(*(values[need] for need in needs))
        except RuntimeError as e:
            raise GraphRunError("Error running runner.") from e
        return dict(values[target] for target in run_targets)


def run_graph_in_order(runner: Any) -> bool:
    """Give a loaded model's ``DaskGraphRunner`` the :class:`SequentialGraphRun`; False for another runner."""
    from rasa.engine.runner.dask import DaskGraphRunner

    if not isinstance(runner, DaskGraphRunner) or isinstance(runner.__dict__.get("run"), SequentialGraphRun):
        return False
    runner.run = SequentialGraphRun(runner)
    return True


class PayloadParseCache:
    """``MessageProcessor.parse_message`` remembering the parse of button payloads (``/intent{...}``).

    A button's payload is a fixed string the bot itself offered, and the NLU graph's output for one text is
    constant per model (our components and Rasa's read the message only, not the conversation): the parse
    is kept in a bounded LRU and a copy handed out, so a walkthrough's button presses skip the NLU pipeline.
    Typed text is always parsed.
    """

    def __init__(self, processor: Any, *, size: int = 512) -> None:
        from collections import OrderedDict

        self._parse = processor.parse_message
        self._size = size
        self._kept: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.hits = 0

    async def __call__(self, message: Any, tracker: Any = None, only_output_properties: bool = True) -> dict[str, Any]:
        import copy

        text = message.text
        cacheable = (
            isinstance(text, str) and text.startswith("/") and only_output_properties and not message.parse_data
        )
        if cacheable and text in self._kept:
            self._kept.move_to_end(text)
            self.hits += 1
            return copy.deepcopy(self._kept[text])
        parsed = await self._parse(message, tracker, only_output_properties)
        if cacheable:
            self._kept[text] = copy.deepcopy(parsed)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return parsed


def cache_payload_parses(processor: Any, *, size: int = 512) -> PayloadParseCache:
    """Install :class:`PayloadParseCache` on a loaded model's processor (idempotent)."""
    current = processor.__dict__.get("parse_message")
    if isinstance(current, PayloadParseCache):
        return current
    cache = PayloadParseCache(processor, size=size)
    processor.parse_message = cache
    return cache
