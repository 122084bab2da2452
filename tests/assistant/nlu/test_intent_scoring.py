"""The one-message intent scoring gives exactly what Rasa's LogisticRegressionClassifier.process gives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import scipy.sparse
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message

from assistant.nlu import intent_scoring
from tests.assistant.nlu.real_messages import model_and_messages

WIDTHS = (30, 50)  # two featurizers' sentence rows, as the two CountVectorsFeaturizers of nlu_data/config.yml
INTENTS = ["affirm", "ask_procedure", "deny", "greet"]


def _message(rng: np.random.Generator, *, empty: bool = False) -> Message:
    """A message with the features our pipeline gives: per featurizer a sequence and a one-row COO sentence row."""
    message = Message(data={TEXT: "x"})
    for index, width in enumerate(WIDTHS):
        counts = rng.integers(0, 3, (1, width)) * (rng.random((1, width)) < 0.2) * (not empty)
        origin = f"CountVectorsFeaturizer{index + 1}"
        sequence = scipy.sparse.coo_matrix(np.vstack([counts, counts]))
        message.add_features(Features(sequence, FEATURE_TYPE_SEQUENCE, TEXT, origin))
        message.add_features(Features(scipy.sparse.csr_matrix(counts).tocoo(), FEATURE_TYPE_SENTENCE, TEXT, origin))
    return message


def _classifier(messages: list[Message], intents: list[str], **options: Any) -> Any:
    """A Rasa classifier component fitted on ``messages`` the way its ``train`` fits it (without persisting)."""
    component = LogisticRegressionClassifier({"C": 10}, "intent", None, None)
    component.clf.set_params(**options)
    labels = [intents[i % len(intents)] for i in range(len(messages))]
    component.clf.fit(component._create_X(messages), labels)
    return component


def _result(message: Message) -> tuple[Any, Any]:
    return message.get("intent"), message.get("intent_ranking")


@pytest.fixture()
def rasa_path() -> Iterator[None]:
    intent_scoring.uninstall()
    yield
    intent_scoring.uninstall()


def _count_matrices(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the batches Rasa's ``_create_X`` builds a matrix for, from now on."""
    built: list[int] = []
    create_x = LogisticRegressionClassifier._create_X

    def counted(self: Any, messages: list[Message]) -> Any:
        built.append(len(messages))
        return create_x(self, messages)

    monkeypatch.setattr(LogisticRegressionClassifier, "_create_X", counted)
    return built


def _both(component: Any, messages: list[Message]) -> tuple[list[Any], list[Any]]:
    """(Rasa's results, ours) for each message processed on its own."""
    theirs = [_result(component.process([m])[0]) for m in messages]
    intent_scoring.install()
    ours = [_result(component.process([m])[0]) for m in messages]
    intent_scoring.uninstall()
    return theirs, ours


def test_one_message_probabilities_are_scikit_learns_to_the_bit(rasa_path: None) -> None:
    rng = np.random.default_rng(15)
    messages = [_message(rng) for _ in range(60)] + [_message(rng, empty=True)]
    component = _classifier(messages[:40], INTENTS)
    for message in messages:
        ours = intent_scoring.one_message_probabilities(component.clf, message)
        assert ours is not None
        assert np.array_equal(ours, component.clf.predict_proba(component._create_X([message]))[0])
    theirs, ours = _both(component, messages)
    assert ours == theirs


def test_what_the_fast_path_declines_goes_through_rasa(rasa_path: None) -> None:
    rng = np.random.default_rng(16)
    messages = [_message(rng) for _ in range(20)]
    dense = _message(rng)
    dense.add_features(Features(np.ones((1, 3)), FEATURE_TYPE_SENTENCE, TEXT, "dense"))
    component = _classifier(messages, INTENTS)
    assert intent_scoring.one_message_probabilities(component.clf, dense) is None
    unsorted = _message(rng)
    row = unsorted.features[1].features
    unsorted.features[1].features = scipy.sparse.coo_matrix((row.data[::-1], (row.row, row.col[::-1])), shape=row.shape)
    assert intent_scoring.one_message_probabilities(component.clf, unsorted) is None
    assert intent_scoring.one_message_probabilities(component.clf, Message(data={TEXT: "x"})) is None
    for options, intents in [({}, INTENTS[:2]), ({"multi_class": "ovr"}, INTENTS)]:  # binary, one-vs-rest
        other = _classifier(messages, intents, **options)
        assert intent_scoring.one_message_probabilities(other.clf, messages[0]) is None
        theirs, ours = _both(other, messages[:5])
        assert ours == theirs
    narrower = _classifier(messages, INTENTS)
    narrower.clf.coef_ = narrower.clf.coef_[:, :-1]  # a row wider than the model: scikit-learn's error, not ours
    assert intent_scoring.one_message_probabilities(narrower.clf, messages[0]) is None


def test_batches_keep_rasas_path_and_uninstall_restores_it(rasa_path: None, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(17)
    messages = [_message(rng) for _ in range(10)]
    component = _classifier(messages, INTENTS)
    rasas = LogisticRegressionClassifier.process
    built = _count_matrices(monkeypatch)
    intent_scoring.install()
    intent_scoring.install()
    component.process(messages[:1])
    component.process(messages)
    assert built == [10]  # the single message skipped the matrices, the batch did not
    intent_scoring.uninstall()
    assert LogisticRegressionClassifier.process is rasas


@pytest.mark.slow
def test_real_messages_get_rasas_intents_and_rankings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A few hundred held-out and training messages through the trained model's pipeline, scored both ways."""
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage

    from assistant.engine import speedups as rasa_speedups

    path, texts = model_and_messages()
    fast: list[bool] = []
    probabilities = intent_scoring.one_message_probabilities

    def counted(classifier: Any, message: Message) -> Any:
        scored = probabilities(classifier, message)
        fast.append(scored is not None)
        return scored

    monkeypatch.setattr(intent_scoring, "one_message_probabilities", counted)
    built = _count_matrices(monkeypatch)
    rasa_speedups.install()  # before loading, as ConversationEngine.load does: the graph takes the fast process
    try:
        runner = Agent.load(str(path)).processor.graph_runner
        node = next(
            n for n, v in runner._instantiated_nodes.items() if isinstance(v._component, LogisticRegressionClassifier)
        )
        messages = [runner.run(inputs={"__message__": [UserMessage(t)]}, targets=[node])[node][0] for t in texts]
        ours = [_result(m) for m in messages]
        assert fast == [True] * len(texts) and not built  # every message scored without a matrix
        intent_scoring.uninstall()
        classifier = runner._instantiated_nodes[node]._component
        theirs = [_result(classifier.process([m])[0]) for m in messages]
        assert built == [1] * len(texts) and len(fast) == len(texts)  # Rasa's own path, not through ours
    finally:
        rasa_speedups.uninstall()
    for text, (our_intent, our_ranking), (their_intent, their_ranking) in zip(texts, ours, theirs, strict=True):
        assert [r["name"] for r in our_ranking] == [r["name"] for r in their_ranking], text
        assert our_intent["name"] == their_intent["name"], text
        assert abs(our_intent["confidence"] - their_intent["confidence"]) <= 1e-9, text
        for our, their in zip(our_ranking, their_ranking, strict=True):
            assert abs(our["confidence"] - their["confidence"]) <= 1e-9, text
