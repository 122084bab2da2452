"""Rasa's count-vector featurizers applied to one message without scikit-learn's ``transform`` (issue #15).

For each message Rasa's ``CountVectorsFeaturizer.process`` calls ``CountVectorizer.transform`` twice per
attribute: on the token list (the sequence features, a row per token) and on the joined tokens (the sentence
features). Each call builds the analyser again, counts, builds a CSR matrix, checks and sorts it, and Rasa turns
it into COO; for the few tokens of a serving turn that bookkeeping is most of the work (about 7.5% of a
saturated server's CPU in issue #15's profile, for our two featurizers). Here a turn's single message is counted
with the vectorizer's own analyser and vocabulary (:func:`assistant.nlu.one_message.term_counts`, the analyser
kept on the vectorizer) and the ``coo_matrix`` is built at once: per row the columns ascending, one entry per
term, the vectorizer's dtype and SciPy's index dtype: the very row, column and data arrays, shapes and dtypes
``transform`` + ``sort_indices`` + ``tocoo`` give. The features are added by Rasa's ``add_features_to_message``
(same order, same origin), and a message without tokens gets none, as in Rasa. Batches (training, evaluation),
a shared vocabulary, binary counts, a vectorizer that is not a plain fitted ``CountVectorizer`` and tokens on
attributes other than TEXT keep Rasa's own ``process``. :func:`install` is called by
``assistant.engine.speedups.install``; ``tests/assistant/nlu/test_count_vectors.py`` compares both.
"""

from __future__ import annotations

from typing import Any, List, Optional

import numpy as np
import scipy.sparse
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from sklearn.feature_extraction.text import CountVectorizer

from assistant.nlu.one_message import term_counts
from assistant.nlu.serving_path import OneMessagePath

__all__ = ["count_matrix", "install", "uninstall"]


def count_matrix(vectorizer: Any, documents: List[str]) -> scipy.sparse.coo_matrix:
    """``vectorizer.transform(documents)``, indices sorted, as COO: what Rasa's ``_create_features`` keeps.

    For a plain fitted, non-binary ``CountVectorizer`` (see :func:`_plain`): scikit-learn's CSR has int32
    indices, which the COO conversion keeps for matrices this size, and data of ``vectorizer.dtype``.
    """
    rows: List[int] = []
    columns: List[int] = []
    counts: List[int] = []
    for row, document in enumerate(documents):
        found = term_counts(vectorizer, document)
        ascending = sorted(found)
        rows.extend([row] * len(ascending))
        columns.extend(ascending)
        counts.extend(map(found.__getitem__, ascending))
    return scipy.sparse.coo_matrix(
        (np.array(counts, dtype=vectorizer.dtype), (np.array(rows, dtype=np.int32), np.array(columns, dtype=np.int32))),
        shape=(len(documents), len(vectorizer.vocabulary_)),
        dtype=vectorizer.dtype,
    )


def _plain(vectorizer: Any) -> bool:
    """Whether ``transform`` is exactly counting with the analyser: a fitted, non-binary ``CountVectorizer``
    (not a subclass such as ``TfidfVectorizer``) with a non-empty vocabulary (otherwise ``transform`` raises)."""
    return (
        type(vectorizer) is CountVectorizer and not vectorizer.binary and bool(vectorizer.__dict__.get("vocabulary_"))
    )


def _text_tokens(component: CountVectorsFeaturizer, message: Message) -> Optional[List[str]]:
    """TEXT's tokens as Rasa's ``process`` featurizes them (digits, case, OOV token: Rasa's own steps).

    None when another attribute has tokens too (a training example, say): that message is Rasa's to do.
    """
    tokens: List[str] = []
    for attribute in component._attributes:
        processed = component._get_processed_message_tokens_by_attribute(message, attribute)
        if attribute == TEXT:
            tokens = processed
        elif processed:
            return None
    return tokens


def _featurize_one(component: CountVectorsFeaturizer, message: Message) -> bool:
    """Add Rasa's features for ``message`` to it; False (nothing done) for what Rasa's ``process`` should do."""
    if component.vectorizers is None or component.use_shared_vocab:
        return False
    tokens = _text_tokens(component, message)
    if tokens is None:
        return False
    if not tokens:
        return True  # Rasa's ``_create_features`` gives (None, None): no features
    vectorizer = component.vectorizers.get(TEXT)
    if not _plain(vectorizer):
        return False
    sequence = count_matrix(vectorizer, tokens)
    sentence = count_matrix(vectorizer, [" ".join(tokens)])
    component.add_features_to_message(sequence, sentence, TEXT, message)
    return True


_PATH = OneMessagePath(CountVectorsFeaturizer, _featurize_one)
install = _PATH.install
uninstall = _PATH.uninstall
