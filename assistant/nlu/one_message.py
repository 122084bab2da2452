"""The procedure and aspect models applied to one message, without building SciPy matrices.

:func:`assistant.nlu.procedure_models.predict` goes through scikit-learn: four TF-IDF ``transform`` calls, the
alias and cue matrices, ``hstack`` and ``predict_proba``, which for one message is mostly the construction and
checking of sparse matrices. Here the same features are computed as (column, value) pairs and multiplied with the
fitted coefficients directly: the same TF-IDF (scikit-learn's analyser, vocabulary, sublinear tf, idf and l2
norm), the same alias and cue columns, the same softmax. Labels and rankings are those of ``predict``; the
probabilities agree to about 1e-12 (summation order). ``tests/assistant/nlu/test_procedure_models.py`` compares
them; anything this module does not handle (binary or one-vs-rest models, other norms) goes through ``predict``.
:func:`softmax` and :func:`multinomial` serve Rasa's intent classifier too (:mod:`assistant.nlu.intent_scoring`),
:func:`term_counts` its count-vector featurizers (:mod:`assistant.nlu.count_vectors`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from assistant.nlu.alias_matcher import AliasMatcher
from assistant.nlu.aspect_cues import cue_row

__all__ = ["Block", "multinomial", "predict_one", "softmax", "term_counts"]

Block = Tuple[int, np.ndarray, np.ndarray]
"""(first column of the block, columns within it, values)."""


def term_counts(vectorizer: Any, text: str) -> Dict[int, int]:
    """Column → count of ``text``'s in-vocabulary terms, as scikit-learn's ``_count_vocab`` counts them.

    The vectorizer's own analyser, built once and kept on it (``transform`` builds it again on every call); the
    counting is ``Counter``'s loop in C. Columns come in the order their terms first occur, as in scikit-learn.
    """
    analyze = vectorizer.__dict__.get("_assistant_analyzer")
    if analyze is None:
        analyze = vectorizer.__dict__["_assistant_analyzer"] = vectorizer.build_analyzer()
    counts: Counter[Optional[int]] = Counter(map(vectorizer.vocabulary_.get, analyze(text)))
    counts.pop(None, None)  # out-of-vocabulary terms
    return counts  # type: ignore[return-value]  # no None key left


def _tfidf(vectorizer: Any, text: str) -> Tuple[np.ndarray, np.ndarray]:
    """``vectorizer.transform([text])``'s one row as (columns, values)."""
    counts = term_counts(vectorizer, text)
    columns = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
    values = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    if not len(values):
        return columns, values
    if vectorizer.sublinear_tf:
        values = np.log(values) + 1.0
    if vectorizer.use_idf:
        values = values * vectorizer.idf_[columns]
    norm = float(np.sqrt(np.dot(values, values)))
    if norm > 0.0:
        values = values / norm
    return columns, values


def _pairs(found: Dict[int, float]) -> Tuple[np.ndarray, np.ndarray]:
    columns = np.fromiter(found.keys(), dtype=np.intp, count=len(found))
    return columns, np.fromiter(found.values(), dtype=np.float64, count=len(found))


def _procedure_blocks(folded: str, state: Dict[str, Any], matcher: AliasMatcher, config: Dict[str, Any]) -> List[Block]:
    words, chars = state["words"], state["chars"]
    alias_columns, alias_values = _pairs(matcher.feature_row(folded))
    return [
        (0, *_tfidf(words, folded)),
        (len(words.vocabulary_), *_tfidf(chars, folded)),
        (len(words.vocabulary_) + len(chars.vocabulary_), alias_columns, alias_values * config.get("alias_weight", 1.0)),
    ]


def _aspect_blocks(folded: str, state: Dict[str, Any], matcher: AliasMatcher, config: Dict[str, Any]) -> List[Block]:
    if "aspect_words" not in state:
        blocks = _procedure_blocks(folded, state, matcher, config)
        width = len(state["words"].vocabulary_) + len(state["chars"].vocabulary_) + matcher.width
    else:
        masked = matcher.mask([folded])[0]
        words, chars = state["aspect_words"], state["aspect_chars"]
        blocks = [(0, *_tfidf(words, masked)), (len(words.vocabulary_), *_tfidf(chars, masked))]
        width = len(words.vocabulary_) + len(chars.vocabulary_)
    if config.get("cue_weight", 0.0):
        cue_columns, cue_values = _pairs(cue_row(folded))
        blocks.append((width, cue_columns, cue_values * config["cue_weight"]))
    return blocks


def _decision(model: Any, blocks: List[Block]) -> np.ndarray:
    scores = np.array(model.intercept_, dtype=np.float64, copy=True)
    for offset, columns, values in blocks:
        if len(columns):
            scores += model.coef_[:, offset + columns] @ values
    return scores


def softmax(scores: np.ndarray) -> np.ndarray:
    """``sklearn.utils.extmath.softmax`` of one row of scores, in place: the same steps, so the same bits."""
    scores -= scores.max()
    np.exp(scores, out=scores)
    scores /= scores.sum()
    return scores


def multinomial(model: Any) -> bool:
    """Whether scikit-learn's ``predict_proba`` is the softmax of the decision (not one-vs-rest)."""
    classes = len(getattr(model, "classes_", ()))
    return classes > 2 and getattr(model, "multi_class", "auto") in ("auto", "multinomial") and model.solver != "liblinear"


def predict_one(
    folded: str, state: Dict[str, Any], matcher: AliasMatcher, config: Dict[str, Any]
) -> Optional[Tuple[np.ndarray, Optional[str]]]:
    """Procedure probabilities (columns: the procedure model's ``classes_``) and aspect of one folded message.

    None when a model is of a kind this module does not score (the caller then uses ``predict``).
    """
    procedure_model = state["procedure_model"]
    aspect_model = state.get("aspect_model")
    if not multinomial(procedure_model) or (aspect_model is not None and len(aspect_model.classes_) < 3):
        return None
    probabilities = softmax(_decision(procedure_model, _procedure_blocks(folded, state, matcher, config)))
    aspect = None
    if aspect_model is not None:
        decision = _decision(aspect_model, _aspect_blocks(folded, state, matcher, config))
        aspect = str(aspect_model.classes_[int(np.argmax(decision))])
    return probabilities, aspect
