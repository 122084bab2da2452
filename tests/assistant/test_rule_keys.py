"""assistant.engine.rule_keys finds the rules Rasa's ``RulePolicy._get_possible_keys`` finds, and the policy
predicts the same with it.

With the trained model: every prefix of test_rasa_states's conversations (our test stories, the training
rules, the hand-made ones with reverts, sessions and restarts), of the training stories, and of the stories
joined into long ones, both ways the policy asks (the last user input as text, as intent), both lookups (the
rules, the loop's unhappy paths). Without it: random rules and conversations over a small vocabulary, with what
rarely occurs in ours (``SHOULD_NOT_BE_SET``, lists, conversation starts, falsy values, keys removed in place).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH, RulePolicy
from rasa.shared.core.constants import SHOULD_NOT_BE_SET
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event

from assistant.engine import rule_keys
from assistant.engine import speedups as rasa_speedups
from tests.assistant.test_rasa_states import (
    STORY_FOLDERS,
    grow,
    hand_made_conversations,
    replacements,  # noqa: F401 - a fixture: the states as the server builds them
    story_conversations,
)

State = dict[str, Any]


@pytest.fixture
def rasas() -> Iterator[None]:
    """Rasa's own ``_get_possible_keys`` during the test, whatever ran before."""
    rule_keys.uninstall()
    yield
    rule_keys.uninstall()


@pytest.fixture(scope="module")
def model() -> Iterator[tuple[RulePolicy, Domain]]:
    """The trained model's rule policy and domain; Rasa's debug logs off, as the server runs them."""
    from rasa.core.agent import Agent

    from assistant.model_store import latest_model
    from assistant.settings import ROOT

    path = latest_model(ROOT / "models")
    if path is None:
        pytest.skip("no trained model")
    agent = Agent.load(str(path))
    nodes = agent.processor.graph_runner._instantiated_nodes.values()
    policy = next(node._component for node in nodes if isinstance(node._component, RulePolicy))
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    yield policy, agent.domain
    structlog.configure(**saved)


def conversations(domain: Domain) -> list[list[Event]]:
    """test_rasa_states's conversations with the training stories, and eight at a time as long conversations."""
    stories = story_conversations(domain, (*STORY_FOLDERS, "nlu_data/stories"))
    joined = [sum(stories[start : start + 8], []) for start in range(0, len(stories), 8)]
    return stories + hand_made_conversations() + joined


@pytest.mark.slow
@pytest.mark.usefixtures("rasas", "replacements")
def test_the_same_keys_as_rasa_on_every_prefix_of_real_conversations(model: tuple[RulePolicy, Domain]) -> None:
    policy, domain = model
    lookups = [policy.lookup[RULES], policy.lookup[RULES_FOR_LOOP_UNHAPPY_PATH]]
    compared, found = 0, [0, 0]
    for n, events in enumerate(conversations(domain)):
        for tracker in grow(domain, f"keys{n}", events):
            for text in (True, False):
                states = policy._prediction_states(tracker, domain, text, rule_only_data=policy._get_rule_only_data())
                for which, lookup in enumerate(lookups):
                    theirs = policy._get_possible_keys(lookup, states)
                    assert rule_keys.possible_keys(lookup, states) == theirs, f"conversation {n}, {len(states)} states"
                    compared += 1
                    found[which] += bool(theirs)
    assert compared > 8000
    assert min(found) > 100  # not only empty sets: rules and unhappy-path rules were found


@pytest.mark.slow
@pytest.mark.usefixtures("rasas", "replacements")
def test_the_same_predictions_with_and_without_it(model: tuple[RulePolicy, Domain]) -> None:
    policy, domain = model
    compared = 0
    for n, events in enumerate(conversations(domain)):
        for tracker in grow(domain, f"predict{n}", events):
            rule_keys.uninstall()
            theirs = [policy._find_action_from_rules(tracker, domain, text) for text in (True, False)]
            theirs_prediction = policy.predict_action_probabilities(tracker, domain)
            rule_keys.install()
            ours = [policy._find_action_from_rules(tracker, domain, text) for text in (True, False)]
            assert ours == theirs, f"conversation {n} after {len(tracker.events)} events"
            assert policy.predict_action_probabilities(tracker, domain) == theirs_prediction
            compared += 1
    assert compared > 2000


VOCABULARY: dict[str, dict[str, list[Any]]] = {
    "prev_action": {"action_name": ["action_listen", "utter_greet", "guide_form"], "action_text": ["xin chào"]},
    "user": {"intent": ["greet", "ask_procedure", ["greet"]], "text": ["tiếp"], "entities": [["option"], []]},
    "active_loop": {"name": ["guide_form", SHOULD_NOT_BE_SET]},
    "slots": {"procedure": [[1.0], [0.0], SHOULD_NOT_BE_SET, 0], "suspended": [[1.0], SHOULD_NOT_BE_SET]},
}


def random_state(rng: random.Random, *, starts: bool) -> State:
    """A state as the featurizer builds it (tuples), a conversation start without a previous action."""
    state: State = {}
    for kind, features in VOCABULARY.items():
        chosen = {f: rng.choice(values) for f, values in features.items() if rng.random() < 0.5}
        if kind == "prev_action" and not starts and not chosen:
            chosen = {"action_name": rng.choice(features["action_name"])}
        if chosen and not (kind == "prev_action" and starts):
            state[kind] = {f: tuple(v) if isinstance(v, list) else v for f, v in chosen.items()}
    return state


def random_conversation(rng: random.Random) -> list[State]:
    return [random_state(rng, starts=turn == 0 and rng.random() < 0.5) for turn in range(rng.randint(0, 6))]


def random_lookup(rng: random.Random, conversations: list[list[State]]) -> dict[str, str]:
    """Rule keys (JSON, lists for tuples): random ones, and the ends of conversations with features dropped."""
    rules = [random_conversation(rng)[-4:] for _ in range(60)]
    for states in conversations[:60]:
        end = [{k: {f: v for f, v in sub.items() if rng.random() < 0.7} for k, sub in s.items()} for s in states[-3:]]
        rules.append([{k: sub for k, sub in s.items() if sub} for s in end])
    return {json.dumps(states, sort_keys=True): "action" for states in rules}


def test_the_same_keys_as_rasa_on_random_rules_and_conversations(rasas: None) -> None:
    rng = random.Random(15)
    rasa = RulePolicy.__new__(RulePolicy)  # its rule checks read nothing of the instance
    compared = found = 0
    for _ in range(40):
        conversations = [random_conversation(rng) for _ in range(100)]
        lookup = random_lookup(rng, conversations)
        for states in conversations:
            theirs = rasa._get_possible_keys(lookup, states)
            assert rule_keys.possible_keys(lookup, states) == theirs, (states, sorted(theirs))
            compared += 1
            found += 1 < len(theirs) < len(lookup)  # more than the rule without states, not every rule
    assert compared == 4000 and found > 2000


def test_keys_removed_in_place_are_not_found(rasas: None) -> None:
    """Rasa's training removes rules from a lookup while it predicts with it: the parsed rules follow."""
    rasa = RulePolicy.__new__(RulePolicy)
    states = [{"prev_action": {"action_name": "action_listen"}, "user": {"intent": "greet"}}]
    lookup = {json.dumps(states, sort_keys=True): "utter_greet", json.dumps(states[-1:] * 2, sort_keys=True): "x"}
    assert rule_keys.possible_keys(lookup, states) == rasa._get_possible_keys(lookup, states) == set(lookup)
    lookup.pop(next(iter(lookup)))
    assert rule_keys.possible_keys(lookup, states) == rasa._get_possible_keys(lookup, states) == set(lookup)
    assert rule_keys.possible_keys(lookup, []) == set(lookup)


def test_installed_with_the_other_speedups(rasas: None) -> None:
    rasa = RulePolicy._get_possible_keys
    rasa_speedups.install()
    try:
        assert rule_keys.installed() and RulePolicy._get_possible_keys is not rasa
        rule_keys.install()
    finally:
        rasa_speedups.uninstall()
    assert not rule_keys.installed() and RulePolicy._get_possible_keys is rasa
