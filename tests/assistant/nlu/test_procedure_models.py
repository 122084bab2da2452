"""The procedure and aspect models: fitted on a small set, applied as the component applies them."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from assistant.nlu.alias_matcher import AliasMatcher
from assistant.nlu.one_message import predict_one
from assistant.nlu.procedure_models import featurize, fit_state, predict, transposable_coefficients

TEXTS = [
    "làm hộ chiếu hết bao nhiêu tiền",
    "cấp lại căn cước",
    "hộ chiếu cần giấy tờ gì",
    "mất cccd làm lại ở đâu",
    "đăng ký khai sinh cho con bao lâu",
    "khai sinh nộp ở đâu",
]
PROCEDURES = ["ho-chieu", "the-can-cuoc", "ho-chieu", "the-can-cuoc", "dang-ky-khai-sinh", "dang-ky-khai-sinh"]
ASPECTS = ["fee", "steps", "documents", "where", "processing_time", "where"]
ALIASES = {"ho-chieu": ["hộ chiếu"], "the-can-cuoc": ["căn cước", "cccd"], "dang-ky-khai-sinh": ["khai sinh"]}
CONFIG = {"C": 10.0, "aspect_own_vectorizers": True, "cue_weight": 0.25}


def test_transposable_coefficients_keep_every_score_and_stop_the_copy() -> None:
    state, matcher = fit_state(TEXTS, PROCEDURES, TEXTS, ASPECTS, ALIASES, CONFIG)
    messages = ["ho chieu bao nhieu tien", "căn cước làm ở đâu", "giấy tờ gì"]
    before, aspects_before = predict(messages, state, matcher, CONFIG)
    model: LogisticRegression = state["procedure_model"]
    assert not model.coef_.T.flags.c_contiguous  # as scikit-learn leaves it: SciPy copies it per message
    for name in ("procedure_model", "aspect_model"):
        transposable_coefficients(state[name])
        assert state[name].coef_.T.flags.c_contiguous
    after, aspects_after = predict(messages, state, matcher, CONFIG)
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-12)
    assert aspects_after == aspects_before
    assert featurize(messages, state, matcher, CONFIG).shape[1] == model.coef_.shape[1]


def test_transposable_coefficients_leave_other_objects_alone() -> None:
    transposable_coefficients(None)
    transposable_coefficients(AliasMatcher(ALIASES, sorted(ALIASES)))


def test_one_message_scoring_is_predict_without_matrices() -> None:
    """predict_one gives predict's probabilities and aspect, for named, unnamed, typo'd and empty messages."""
    state, matcher = fit_state(TEXTS, PROCEDURES, TEXTS, ASPECTS, ALIASES, CONFIG)
    for model in ("procedure_model", "aspect_model"):
        transposable_coefficients(state[model])
    messages = ["ho chieu bao nhieu tien", "căn cước làm ở đâu", "giấy tờ gì", "khai snh bao lau", "zzz", ""]
    probabilities, aspects = predict(messages, state, matcher, CONFIG)
    for index, message in enumerate(messages):
        scored = predict_one(message, state, matcher, CONFIG)
        assert scored is not None
        np.testing.assert_allclose(scored[0], probabilities[index], rtol=0, atol=1e-12)
        assert scored[1] == aspects[index]


def test_one_message_scoring_declines_what_it_does_not_compute() -> None:
    """A two-procedure model's probabilities are not a softmax: predict does it."""
    two = {key: ALIASES[key] for key in ("ho-chieu", "the-can-cuoc")}
    state, matcher = fit_state(TEXTS[:4], PROCEDURES[:4], TEXTS[:4], ASPECTS[:4], two, CONFIG)
    assert predict_one("hộ chiếu", state, matcher, CONFIG) is None
