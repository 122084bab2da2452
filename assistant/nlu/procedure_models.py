"""The two models of :class:`~assistant.nlu.procedure_classifier.ProcedureClassifier`, fitted and applied.

The procedure model is a logistic regression over word uni/bigrams, character n-grams and one alias-hit feature
per procedure (:class:`~assistant.nlu.alias_matcher.AliasMatcher`); its probabilities are the ranking's
confidences. The aspect model is a linear SVM over its own n-grams of the alias-masked message plus the cue
features of :mod:`assistant.nlu.aspect_cues`, and learns from situation + question examples composed by
:mod:`assistant.nlu.composition` too. What is fitted lives in one picklable ``state`` dict (the component's
model file); the matcher is rebuilt from ``state["aliases"]`` on load.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from assistant.nlu.alias_matcher import AliasMatcher
from assistant.nlu.aspect_cues import cue_features
from assistant.nlu.composition import compose
from assistant.text.normalize import expand_abbreviations

__all__ = ["aspect_featurize", "featurize", "fit_aspect", "fit_state", "predict", "transposable_coefficients"]


def transposable_coefficients(model: Any) -> None:
    """Store a fitted linear model's ``coef_`` column-major, so that ``coef_.T`` is contiguous.

    scikit-learn scores a sparse message as ``X @ coef_.T``; SciPy wants that right-hand side contiguous and,
    for row-major ``coef_``, copies the whole matrix (classes × tens of thousands of features) on every call:
    a quarter of a millisecond each time, several times per message. Labels and rankings are the same (on
    1,402 held-out, dev and conversation messages one confidence moved in its 12th decimal).
    """
    coef = getattr(model, "coef_", None)
    if isinstance(coef, np.ndarray) and not coef.flags.f_contiguous:
        model.coef_ = np.asfortranarray(coef)


def _vectorizers(config: Dict[str, Any]) -> Dict[str, Any]:
    """Fresh (unfitted) TF-IDF vectorisers for the word and character views."""
    return {
        "words": TfidfVectorizer(
            analyzer="word",
            ngram_range=tuple(config.get("word_ngram_range", (1, 2))),
            sublinear_tf=True,
            min_df=1,
        ),
        "chars": TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=tuple(config.get("char_ngram_range", (2, 5))),
            sublinear_tf=True,
            min_df=2,
        ),
    }


def featurize(folded: List[str], state: Dict[str, Any], matcher: AliasMatcher, config: Dict[str, Any]) -> csr_matrix:
    """The procedure model's features of folded messages: words, characters and alias hits."""
    return hstack(
        [
            state["words"].transform(folded),
            state["chars"].transform(folded),
            matcher.features(folded) * config.get("alias_weight", 1.0),
        ]
    ).tocsr()


def aspect_featurize(
    folded: List[str], state: Dict[str, Any], matcher: AliasMatcher, config: Dict[str, Any]
) -> csr_matrix:
    """The aspect model's features of folded messages: its own n-grams over alias-masked text plus cues."""
    if "aspect_words" not in state:
        parts = [featurize(folded, state, matcher, config)]
    else:
        masked = matcher.mask(folded)
        parts = [state["aspect_words"].transform(masked), state["aspect_chars"].transform(masked)]
    if config.get("cue_weight", 0.0):
        parts.append(cue_features(folded) * config["cue_weight"])
    return hstack(parts).tocsr()


def fit_aspect(
    aspect_folded: List[str],
    aspects: List[str],
    state: Dict[str, Any],
    matcher: AliasMatcher,
    config: Dict[str, Any],
) -> None:
    """Fit the aspect model (and, unless it shares the procedure's, its vectorisers) into ``state``."""
    if len(set(aspects)) < 2:
        return
    if config.get("aspect_own_vectorizers", False):
        masked = matcher.mask(aspect_folded)
        own = _vectorizers(
            {
                "word_ngram_range": config.get("aspect_word_ngram_range", (1, 3)),
                "char_ngram_range": config.get("aspect_char_ngram_range", (2, 5)),
            }
        )
        state["aspect_words"] = own["words"].fit(masked)
        state["aspect_chars"] = own["chars"].fit(masked)
    # A linear SVM: the aspect needs a label, not a probability, and on the development set
    # (tests/data/dev.yml) it separated the aspects better than a logistic regression (96% vs 94-95%).
    aspect_model = LinearSVC(
        C=config.get("aspect_C", 1.0),
        max_iter=20000,
        random_state=0,
        class_weight="balanced" if config.get("aspect_balanced", True) else None,
    )
    aspect_model.fit(aspect_featurize(aspect_folded, state, matcher, config), list(aspects))
    state["aspect_model"] = aspect_model


def fit_state(
    texts: List[str],
    procedures: List[str],
    aspect_texts: List[str],
    aspects: List[str],
    aliases: Dict[str, List[str]],
    config: Dict[str, Any],
    aspect_procedures: Optional[List[Optional[str]]] = None,
) -> Tuple[Dict[str, Any], AliasMatcher]:
    """Fit the vectorisers, the procedure model and the aspect model.

    Args:
        texts: procedure-labelled messages as written.
        procedures: their procedure keys.
        aspect_texts: aspect-labelled messages as written.
        aspects: their aspects.
        aliases: names and aliases per procedure key (added as procedure examples).
        config: the component's config.
        aspect_procedures: the procedure of each aspect-labelled message, for composed situation +
            question examples (:mod:`assistant.nlu.composition`); none are composed without it.

    Returns:
        The picklable state and the alias matcher built for it.
    """
    folded = [expand_abbreviations(t) for t in texts]
    labels = list(procedures)
    for key, names in aliases.items():
        for name in names:
            folded.append(expand_abbreviations(name))
            labels.append(key)
    aspect_texts, aspects = list(aspect_texts), list(aspects)
    if aspect_procedures and config.get("compose_per_situation", 0):
        composed, composed_aspects = compose(aspect_texts, aspects, aspect_procedures, config["compose_per_situation"])
        aspect_texts += composed
        aspects += composed_aspects
    aspect_folded = [expand_abbreviations(t) for t in aspect_texts]
    state: Dict[str, Any] = {"aliases": aliases, **_vectorizers(config)}
    state["words"].fit(folded + aspect_folded)
    state["chars"].fit(folded + aspect_folded)
    matcher = AliasMatcher(aliases, sorted(set(labels)))
    procedure_model = LogisticRegression(C=config["C"], max_iter=3000, class_weight="balanced")
    procedure_model.fit(featurize(folded, state, matcher, config), labels)
    state["procedure_model"] = procedure_model
    fit_aspect(aspect_folded, aspects, state, matcher, config)
    return state, matcher


def predict(
    folded: List[str], state: Dict[str, Any], matcher: AliasMatcher, config: Dict[str, Any]
) -> Tuple[np.ndarray, List[Optional[str]]]:
    """Procedure probabilities (columns: ``state["procedure_model"].classes_``) and aspects of folded messages."""
    probabilities = state["procedure_model"].predict_proba(featurize(folded, state, matcher, config))
    aspects: List[Optional[str]] = [None] * len(folded)
    if "aspect_model" in state:
        aspects = [str(a) for a in state["aspect_model"].predict(aspect_featurize(folded, state, matcher, config))]
    return probabilities, aspects
