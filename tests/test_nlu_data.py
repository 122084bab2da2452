"""The NLU data and the held-out set: independent, well-formed, and the model above its floors."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from rasa.shared.nlu.training_data.loading import load_data

from assistant.evaluation import FLOORS, load_examples, parse_all, score
from assistant.text.normalize import fold, strip_diacritics

ROOT = Path(__file__).resolve().parent.parent
HELDOUT = ROOT / "tests" / "data" / "heldout.yml"
KEYS = {p.stem for p in (ROOT / "procedures").glob("*.yml")}
ASPECTS = {"overview", "steps", "documents", "fee", "processing_time", "where", "eligibility", "result"}


def key(text: str) -> str:
    return re.sub(r"[^\w ]", "", fold(text)).strip()


@pytest.fixture(scope="module")
def training() -> list:
    return load_data(str(ROOT / "nlu_data" / "nlu")).intent_examples


@pytest.fixture(scope="module")
def heldout() -> list[dict]:
    return load_examples(HELDOUT)


def test_nlu_data_heldout_shares_no_sentence_with_training(training: list, heldout: list[dict]) -> None:
    trained = {key(m.get("text")) for m in training}
    shared = [e["text"] for e in heldout if key(e["text"]) in trained]
    assert shared == []


def test_nlu_data_training_labels_are_known(training: list) -> None:
    for message in training:
        if message.get("intent") != "ask_procedure":
            continue
        meta = (message.get("metadata") or {}).get("intent") or {}
        assert meta.get("procedure") in KEYS, message.get("text")
        assert meta.get("aspect") in ASPECTS, message.get("text")


def test_nlu_data_every_procedure_is_trained(training: list) -> None:
    trained = {((m.get("metadata") or {}).get("intent") or {}).get("procedure") for m in training}
    assert KEYS <= trained


def test_nlu_data_heldout_composition(heldout: list[dict]) -> None:
    procedure_questions = [e for e in heldout if e["intent"] == "ask_procedure"]
    assert len(heldout) >= 300
    assert {e["procedure"] for e in procedure_questions} == KEYS
    assert {e["aspect"] for e in procedure_questions} == ASPECTS
    informal = [e for e in heldout if e["style"] in {"unaccented", "teencode"}]
    assert len(informal) / len(heldout) >= 0.40
    situations = [e for e in procedure_questions if e["situation"]]
    assert len(situations) / len(procedure_questions) >= 0.25
    for example in heldout:
        if example["intent"] != "ask_procedure":
            assert example["procedure"] is None and example["aspect"] is None


@pytest.mark.slow
def test_nlu_heldout_accuracy_stays_above_floors(heldout: list[dict]) -> None:
    from assistant.cli import load_nlu_agent

    agent = load_nlu_agent()
    loop = asyncio.new_event_loop()
    texts = [e["text"] for e in heldout]
    scores = score(heldout, loop.run_until_complete(parse_all(agent, texts))).summary()
    stripped = score(heldout, loop.run_until_complete(parse_all(agent, [strip_diacritics(t) for t in texts])))
    loop.close()
    scores["stripped_procedure_top1"] = stripped.summary()["procedure_top1"]
    below = {k: round(scores[k], 3) for k, floor in FLOORS.items() if scores[k] < floor}
    assert below == {}, f"below the floors {FLOORS}"
