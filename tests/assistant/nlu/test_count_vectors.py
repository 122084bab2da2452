"""The one-message count vectors are exactly Rasa's CountVectorsFeaturizer.process features."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from typing import Any

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from assistant.nlu import count_vectors
from tests.assistant.nlu.real_messages import model_and_messages

CORPUS = ["thủ tục cấp giấy phép lái xe", "đăng ký khai sinh cho con", "xin chào", "cần 2 bản sao", "gia hạn hộ chiếu"]
TEXTS = [*CORPUS, "", "   ", "😀 ok", "xe xe xe 123 45", "thu tuc cap giay phep", "zzz qqq", "giấy " * 200]
CONFIGS = [{"max_ngram": 2}, {"analyzer": "char_wb", "min_ngram": 2, "max_ngram": 5}]


def _featurizer(**config: Any) -> CountVectorsFeaturizer:
    """A component as Rasa's ``train`` leaves it, its TEXT vectorizer fitted on :data:`CORPUS`."""
    config = {**CountVectorsFeaturizer.get_default_config(), **config}
    context = ExecutionContext(GraphSchema({}), node_name="CountVectorsFeaturizer1")
    component = CountVectorsFeaturizer(config, None, None, context)  # type: ignore[arg-type]
    component.vectorizers = component._create_independent_vocab_vectorizers(config)
    component.vectorizers[TEXT].fit([" ".join(t.split()) for t in CORPUS])
    return component


def _message(text: str, **data: Any) -> Message:
    """A message with whitespace tokens, as a tokenizer leaves it."""
    tokens = [Token(word, index) for index, word in enumerate(text.split())]
    return Message(data={TEXT: text, TOKENS_NAMES[TEXT]: tokens, **data})


def _features(message: Message) -> list[tuple[Any, ...]]:
    """Everything a reader of the features can see, arrays as (dtype, values)."""
    return [
        (
            f.type,
            f.attribute,
            f.origin,
            type(f.features),
            f.features.shape,
            f.features.dtype,
            *((a.dtype.str, a.tolist()) for a in (f.features.row, f.features.col, f.features.data)),
        )
        for f in message.features
    ]


@pytest.fixture()
def rasa_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Rasa's own process; yields a list with the number of messages Rasa's ``_create_features`` saw."""
    count_vectors.uninstall()
    created: list[int] = []
    create = CountVectorsFeaturizer._create_features

    def counted(self: Any, attribute: str, all_tokens: list[list[str]]) -> Any:
        created.append(len(all_tokens))
        return create(self, attribute, all_tokens)

    monkeypatch.setattr(CountVectorsFeaturizer, "_create_features", counted)
    yield created
    count_vectors.uninstall()


def _both(component: CountVectorsFeaturizer, messages: list[Message]) -> tuple[list[Any], list[Any]]:
    """(Rasa's features, ours) for copies of each message processed on its own."""
    theirs = [_features(component.process([copy.deepcopy(m)])[0]) for m in messages]
    count_vectors.install()
    ours = [_features(component.process([copy.deepcopy(m)])[0]) for m in messages]
    count_vectors.uninstall()
    return theirs, ours


@pytest.mark.parametrize("config", CONFIGS)
def test_one_message_features_are_rasas(rasa_path: list[int], config: dict[str, Any]) -> None:
    component = _featurizer(**config)
    messages = [_message(t) for t in TEXTS] + [Message(data={TEXT: "không có token"})]
    theirs, ours = _both(component, messages)
    assert ours == theirs
    assert len(rasa_path) == len(messages) * len(component._attributes)  # Rasa's pass only: ours made none
    assert [] in theirs and any(len(f) == 2 for f in theirs)  # messages without features, and with both


def test_what_the_fast_path_declines_goes_through_rasa(rasa_path: list[int]) -> None:
    component = _featurizer()
    component.vectorizers[INTENT].fit(["greet"])
    labelled = _message("xin chào", **{INTENT: "greet", TOKENS_NAMES[INTENT]: [Token("greet", 0)]})
    binary = _featurizer()
    binary.vectorizers[TEXT].binary = True
    untrained = _featurizer()
    untrained.vectorizers = {}
    for featurizer, messages in [
        (component, [_message("xin chào"), _message("đăng ký")]),  # a batch
        (component, [labelled]),
        (binary, [_message("xe xe")]),
        (untrained, [_message("xe")]),
    ]:
        theirs = _features(featurizer.process([copy.deepcopy(m) for m in messages])[-1])
        count_vectors.install()
        rasa_path.clear()
        ours = _features(featurizer.process([copy.deepcopy(m) for m in messages])[-1])
        count_vectors.uninstall()
        assert ours == theirs and rasa_path  # Rasa's own path both times


def test_install_is_idempotent_and_uninstall_restores_rasas_process() -> None:
    rasas = CountVectorsFeaturizer.process
    count_vectors.install()
    count_vectors.install()
    assert CountVectorsFeaturizer.process is not rasas
    count_vectors.uninstall()
    assert CountVectorsFeaturizer.process is rasas


@pytest.mark.slow
def test_real_messages_get_rasas_features_and_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Held-out and training messages through the trained model: every feature and the whole parse, both ways."""
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage

    from assistant.engine import speedups as rasa_speedups

    path, texts = model_and_messages()
    texts += ["😀😀 👍", "0912345678 số 2", "thu tuc cap giay phep lai xe", "xyzzy qwerty", texts[0] * 40]

    def parse_all(agent: Agent) -> list[Any]:
        return [asyncio.run(agent.parse_message(t)) for t in texts]

    created: list[int] = []
    create = CountVectorsFeaturizer._create_features
    monkeypatch.setattr(
        CountVectorsFeaturizer, "_create_features", lambda s, a, t: created.append(len(t)) or create(s, a, t)
    )
    rasa_speedups.install()  # before loading, as ConversationEngine.load does: the graph takes the fast process
    try:
        fast = Agent.load(str(path))
        ours = parse_all(fast)
        assert not created  # no message went through Rasa's features
        rasa_speedups.uninstall()
        theirs = parse_all(Agent.load(str(path)))
        assert created  # the second model is Rasa's own
    finally:
        rasa_speedups.uninstall()
    assert ours == theirs
    runner = fast.processor.graph_runner
    nodes = {n: v._component for n, v in runner._instantiated_nodes.items()}
    tokenizer = next(n for n, c in nodes.items() if type(c).__name__ == "VietnameseTokenizer")
    featurizers = [c for c in nodes.values() if isinstance(c, CountVectorsFeaturizer)]
    assert len(featurizers) == 2
    texts += ["", "   "]  # no tokens, so no features (a parse would fail in Rasa's intent classifier)
    messages = [runner.run(inputs={"__message__": [UserMessage(t)]}, targets=[tokenizer])[tokenizer][0] for t in texts]
    theirs_features, ours_features = [], []
    for featurizer in featurizers:
        both = _both(featurizer, messages)
        theirs_features.append(both[0])
        ours_features.append(both[1])
    assert ours_features == theirs_features
    assert sum(len(f) for f in ours_features[0]) > 1000
