"""The trained model and real messages, for the tests that compare our one-message paths with Rasa's."""

from __future__ import annotations

from pathlib import Path

import pytest


def model_and_messages() -> tuple[Path, list[str]]:
    """The newest trained model and 600+ real messages: every held-out one and one training example in 20.

    Skips the test when no model was trained.
    """
    from rasa.shared.nlu.constants import TEXT
    from rasa.shared.nlu.training_data.loading import load_data

    from assistant.evaluation import load_examples
    from assistant.model_store import latest_model
    from assistant.settings import ROOT

    path = latest_model(ROOT / "models")
    if path is None:
        pytest.skip("no trained model")
    texts = [e["text"] for e in load_examples(ROOT / "tests" / "data" / "heldout.yml")]
    texts += [m.get(TEXT) for m in load_data(str(ROOT / "nlu_data" / "nlu")).intent_examples[::20]]
    assert len(texts) > 600  # 546 held-out, one training example in 20
    return path, texts
