"""Rasa's intent classifier applied to one message without building SciPy matrices (issue #15).

For the one message of a conversation turn, Rasa's ``LogisticRegressionClassifier.process`` spends most of its
time on sparse-matrix bookkeeping: ``Message.get_sparse_features`` copies and ``hstack``-s the two
CountVectorsFeaturizers' sentence rows, ``_create_X`` wraps the result in more ``csr_matrix``/``hstack``/``vstack``
steps, and scikit-learn checks it again, all before one small product and a softmax (about 9% of a saturated
server's CPU in issue #15's profile, 7% in ``_create_X``). Here the same row is read as (column, value) pairs
straight from the message's features, multiplied with the coefficients in the order SciPy's product adds them up
and passed through :func:`assistant.nlu.one_message.softmax`: the probabilities are scikit-learn's, bit for bit,
and the intent and ranking are set as Rasa's ``process`` sets them (about 0.9 ms → 70 µs a message). Batches
(training, evaluation), dense features, one-vs-rest or binary models and anything else unusual keep Rasa's own
``process``. :func:`install` is called by ``assistant.engine.speedups.install``;
``tests/assistant/nlu/test_intent_scoring.py`` compares both.
"""

from __future__ import annotations

from typing import Any, List, Optional

import numpy as np
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.utils.tensorflow.constants import RANKING_LENGTH

from assistant.nlu.one_message import Block, multinomial, softmax
from assistant.nlu.serving_path import OneMessagePath

__all__ = ["install", "one_message_probabilities", "uninstall"]


def _sentence_blocks(message: Message, width: int) -> Optional[List[Block]]:
    """The message's TEXT sentence row as blocks, in the order Rasa concatenates them (its features' order).

    None, for Rasa's path to decide, unless the row is exactly what Rasa's ``_create_X`` would hand scikit-learn
    without any change: sparse features only, one row each, columns strictly ascending (no duplicates for a CSR
    conversion to sum or reorder), finite values, as many columns in all as the model has.
    """
    blocks: List[Block] = []
    offset = 0
    for features in message.features:
        if features.attribute != TEXT or features.type != FEATURE_TYPE_SENTENCE:
            continue
        if not features.is_sparse():
            return None
        row = features.features.tocoo(copy=False)
        if row.shape[0] != 1 or np.any(np.diff(row.col) <= 0) or not np.all(np.isfinite(row.data)):
            return None
        blocks.append((offset, row.col, row.data))
        offset += row.shape[1]
    return blocks if blocks and offset == width else None


def _decision(classifier: Any, blocks: List[Block]) -> np.ndarray:
    """``x · coef_.T + intercept_``, the products added one column after the other and the intercept last.

    That is the order of SciPy's sparse row × dense product in scikit-learn's ``decision_function``, so the scores
    are the same to the last bit, and ties in the ranking fall as they fall in Rasa's. (A matrix-vector product
    would be a few microseconds faster but round differently.)
    """
    columns = np.concatenate([offset + block_columns for offset, block_columns, _ in blocks])
    values = np.concatenate([block_values for _, _, block_values in blocks]).astype(np.float64)
    products = classifier.coef_.T.take(columns, axis=0)
    products *= values[:, None]
    return np.add.reduce(products, axis=0) + classifier.intercept_


def one_message_probabilities(classifier: Any, message: Message) -> Optional[np.ndarray]:
    """``classifier.predict_proba`` of Rasa's feature row for ``message`` (columns: ``classifier.classes_``).

    None when the model is not a fitted multinomial one or the row is not a plain sparse one.
    """
    if not multinomial(classifier):
        return None
    blocks = _sentence_blocks(message, classifier.coef_.shape[1])
    return None if blocks is None else softmax(_decision(classifier, blocks))


def _set_intent(component: LogisticRegressionClassifier, message: Message, probabilities: np.ndarray) -> None:
    """What Rasa's ``process`` does with one row of probabilities: the intent and the (cut) ranking."""
    intents = component.clf.classes_
    ranking = [{"name": name, "confidence": value} for name, value in zip(intents, probabilities, strict=True)]
    ranking = sorted(ranking, key=lambda entry: -entry["confidence"])
    intent = ranking[0]
    if component.config[RANKING_LENGTH] > 0:
        ranking = ranking[: component.config[RANKING_LENGTH]]
    message.set(INTENT, intent, add_to_output=True)
    message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)


def _score_one(component: LogisticRegressionClassifier, message: Message) -> bool:
    """Set the intent and ranking of a turn's message; False (Rasa's ``process`` decides) when declined."""
    probabilities = one_message_probabilities(component.clf, message)
    if probabilities is None:
        return False
    _set_intent(component, message, probabilities)
    return True


_PATH = OneMessagePath(LogisticRegressionClassifier, _score_one)
install = _PATH.install
uninstall = _PATH.uninstall
