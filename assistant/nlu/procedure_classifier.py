"""Which procedure a message is about, and which aspect of it: a trainable Rasa component.

Adds three properties to the parse object (``POST /model/parse`` in the README):

- ``procedure``: ``{"key", "confidence"}`` of the best procedure, or ``None`` when the message is not a
  procedure question;
- ``procedure_ranking``: ``[{"key", "confidence"}, ...]`` best first (empty when ``procedure`` is None);
- ``aspect``: ``overview``, ``steps``, ``documents``, ``fee``, ``processing_time``, ``where``,
  ``eligibility`` or ``result``, or ``None``.

The procedure model is a logistic regression (its probabilities are the ranking's confidences) over
the whole message, folded and with chat abbreviations expanded by :mod:`assistant.text.normalize`: word
uni/bigrams, character n-grams (which make ``ho chieu`` and ``hộ chiếu`` meet and survive typos), and one
feature per procedure fired by a spaCy ``PhraseMatcher`` over the catalogue's names and aliases. The
aspect model is a linear SVM with its own word/character n-grams over the message with every alias
replaced by one placeholder (which procedure it is says nothing about what is asked), plus the
hand-written cue features of :mod:`assistant.nlu.aspect_cues`; it also learns from situation + question
examples composed by :mod:`assistant.nlu.composition`. Training examples come from ``ask_procedure``
examples whose intent metadata carries ``procedure`` and ``aspect`` labels, plus every name and alias in
``procedures/*.yml``.

This module is the Rasa component (training data in, parse properties out, and when a message that another
intent won is a procedure question after all); the models are fitted and applied in
:mod:`assistant.nlu.procedure_models`, procedure names are found by :mod:`assistant.nlu.alias_matcher`.
"""

from __future__ import annotations

import logging
import pickle
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from assistant.nlu.alias_matcher import FILLERS, SWITCH_FRAME, SWITCH_TAIL, AliasMatcher, read_aliases
from assistant.nlu.aspect_cues import cue_groups
from assistant.nlu.one_message import predict_one
from assistant.nlu.procedure_models import fit_state, predict, transposable_coefficients
from assistant.text.normalize import expand_abbreviations

logger = logging.getLogger(__name__)

PROCEDURE = "procedure"
PROCEDURE_RANKING = "procedure_ranking"
ASPECT = "aspect"
ASPECTS = ("overview", "steps", "documents", "fee", "processing_time", "where", "eligibility", "result")
#: The procedure model's class for questions that name or describe no procedure ("cần giấy tờ gì", "cái đó
#: bao nhiêu tiền"): the dialogue answers them for the procedure already being talked about.
NO_PROCEDURE = "_none"
#: The confidence given to the one procedure a switch frame names ("còn X thì sao"), whatever the model said.
SWITCH_CONFIDENCE = 0.9
_MODEL_FILE = "procedure_classifier.pkl"
# Intents a plain aspect cue never turns into a procedure question, and the cues that are plain enough.
_NEVER_OVERRIDDEN = frozenset({"request_human", "restart", "next_step", "previous_step", "repeat_step"})
_PLAIN_ASPECTS = frozenset({"fee", "documents", "processing_time", "where", "result"})
# Steps questions plain enough to be procedure questions even when the intent hesitates ("gồm mấy bước").
_PLAIN_STEPS = re.compile(r"\b(cac|nhung|may|gom|tung) buoc\b|\bquy trinh\b|\btrinh tu\b")


def _labels(message: Message) -> Tuple[Optional[str], Optional[str]]:
    """The (procedure, aspect) labels a training example carries in its intent metadata."""
    metadata = message.get("metadata") or {}
    intent_meta = metadata.get("intent") or {}
    example_meta = metadata.get("example") or {}
    procedure = example_meta.get(PROCEDURE) or intent_meta.get(PROCEDURE)
    aspect = example_meta.get(ASPECT) or intent_meta.get(ASPECT)
    return procedure, aspect


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class ProcedureClassifier(GraphComponent):
    """Adds ``procedure``, ``procedure_ranking`` and ``aspect`` to parsed messages."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """The component's default config."""
        return {
            "procedures_dir": "procedures",
            # intents whose messages get a procedure ranking (the first is what an override turns a message
            # into): "hướng dẫn mình khai báo tạm vắng online" starts the guide of the procedure it names
            "intents": ["ask_procedure", "start_guide"],
            "ranking_length": 5,
            "C": 20.0,
            "alias_weight": 1.0,
            # aspect model: own n-grams over alias-masked text, plus hand-written cues
            "aspect_C": 1.0,
            "aspect_own_vectorizers": True,
            "aspect_word_ngram_range": [1, 3],
            "aspect_char_ngram_range": [2, 5],
            "aspect_balanced": True,
            "cue_weight": 0.25,
            # situation + question examples composed per situation (assistant/nlu/composition.py)
            "compose_per_situation": 2,
            # A message that names a procedure (an alias matches) is a procedure question even when the
            # intent classifier hesitated: "hộ chiếu", "tam tru??", "phạt nguội".
            "override_below": 0.7,
            "override_min_confidence": 0.9,
        }

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        state: Optional[Dict[str, Any]] = None,
    ) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._state = state
        self._matcher: Optional[AliasMatcher] = None
        if state:
            self._matcher = AliasMatcher(state["aliases"], list(state["procedure_model"].classes_))
            for model in ("procedure_model", "aspect_model"):
                transposable_coefficients(state.get(model))

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ProcedureClassifier:
        """Creates a new untrained component."""
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Train on labelled ``ask_procedure`` examples and the catalogue's aliases."""
        aliases = read_aliases(Path(self._config["procedures_dir"]))
        texts: List[str] = []
        procedures: List[str] = []
        aspect_texts: List[str] = []
        aspects: List[str] = []
        aspect_procedures: List[Optional[str]] = []
        for message in training_data.intent_examples:
            if message.get(INTENT) not in self._config["intents"]:
                continue
            procedure, aspect = _labels(message)
            text = message.get(TEXT) or ""
            if procedure or aspect in ASPECTS:
                texts.append(text)
                procedures.append(procedure or NO_PROCEDURE)
            if aspect in ASPECTS:
                aspect_texts.append(text)
                aspects.append(aspect)
                aspect_procedures.append(procedure)
        if len((set(procedures) - {NO_PROCEDURE}) | set(aliases)) < 2:
            logger.warning("ProcedureClassifier: fewer than two labelled procedures; not trained")
            return self._resource
        self._state, self._matcher = fit_state(
            texts, procedures, aspect_texts, aspects, aliases, self._config, aspect_procedures
        )
        self.persist()
        return self._resource

    def persist(self) -> None:
        """Save the fitted vectorisers and models."""
        with self._model_storage.write_to(self._resource) as directory:
            (directory / _MODEL_FILE).write_bytes(pickle.dumps(self._state))

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> ProcedureClassifier:
        """Load a trained component; an untrained one parses to ``procedure: None``."""
        try:
            with model_storage.read_from(resource) as directory:
                state = pickle.loads((directory / _MODEL_FILE).read_bytes())  # noqa: S301 - our own model file
        except (ValueError, FileNotFoundError):
            logger.warning("ProcedureClassifier: no trained model found; procedures will not be recognised")
            state = None
        return cls(config, model_storage, resource, state)

    def rank(self, text: str) -> Tuple[List[Dict[str, Any]], Optional[str]]:
        """Return the procedure ranking (best first) and the aspect for one message.

        The ranking is empty when the message names or describes no procedure (only an aspect: "nộp ở
        đâu", "cái đó mất bao lâu"); the aspect is None when the message asks no aspect, only names a
        procedure ("hộ chiếu", "còn đổi bằng lái thì sao"): the dialogue then keeps the aspect asked last.
        """
        if not self._state:
            return [], None
        folded = expand_abbreviations(text)
        if not folded.strip():
            return [], None
        assert self._matcher is not None
        scored = predict_one(folded, self._state, self._matcher, self._config)
        if scored is None:
            probabilities_all, aspects = predict([folded], self._state, self._matcher, self._config)
            scored = probabilities_all[0], aspects[0]
        probabilities, aspect = scored
        model = self._state["procedure_model"]
        order = [i for i in np.argsort(-probabilities) if model.classes_[i] != NO_PROCEDURE]
        ranking: List[Dict[str, Any]] = [
            {"key": str(model.classes_[i]), "confidence": float(probabilities[i])}
            for i in order[: self._config["ranking_length"]]
        ]
        named = self.names_procedure(text)
        if model.classes_[int(np.argmax(probabilities))] == NO_PROCEDURE and not named:
            ranking = []
        short_or_tailed = len(folded.split()) <= 6 or SWITCH_TAIL.search(folded)  # "vay ngan hang …" is no "vậy …"
        if len(named) == 1 and SWITCH_FRAME.search(folded) and short_or_tailed:
            # "thế còn vneid thì sao": a switch frame is about the one procedure it names
            model_says = next((float(r["confidence"]) for r in ranking if r["key"] == named[0]), 0.0)
            switched = {"key": named[0], "confidence": max(model_says, SWITCH_CONFIDENCE)}
            ranking = [switched] + [r for r in ranking if r["key"] != named[0]][: self._config["ranking_length"] - 1]
        if ranking and self._matcher.asks_no_aspect(folded):
            aspect = None
        return ranking, aspect

    def names_procedure(self, text: str) -> List[str]:
        """The procedures whose name or alias occurs in the message."""
        if not self._matcher or not self._state:
            return []
        row = self._matcher.feature_row(expand_abbreviations(text))
        keys = self._state["procedure_model"].classes_
        return [str(keys[i]) for i in sorted(row) if row[i] > 0 and keys[i] != NO_PROCEDURE]

    def _override(self, message: Message) -> Optional[Tuple[List[Dict[str, Any]], Optional[str]]]:
        """Ranking and aspect when a non-procedure intent should become ``ask_procedure``.

        That is when the intent classifier hesitated and the message names a procedure, or whatever it
        said when the message is only a procedure's name ("căn cước" is not "yes", "mai táng phí" is
        not out of scope).
        """
        intent = message.get(INTENT) or {}
        text = message.get(TEXT) or ""
        hesitant = intent.get("confidence", 0.0) < self._config["override_below"]
        # "Where am I" and "what can you do" are never asked with a procedure's name in them.
        never_with_a_name = intent.get("name") in ("ask_progress", "list_services")
        if not (hesitant or never_with_a_name) and not (
            self._matcher and self._matcher.only_names(expand_abbreviations(text), FILLERS)
        ):
            return None
        named = self.names_procedure(text)
        if not named:
            return self._aspect_only(message) if hesitant else None
        ranking, aspect = self.rank(text)
        if not ranking or ranking[0]["key"] not in named:
            return None
        if ranking[0]["confidence"] < self._config["override_min_confidence"]:
            return None
        self._become_procedure_question(message, ranking[0]["confidence"])
        return ranking, aspect

    def _aspect_only(self, message: Message) -> Optional[Tuple[List[Dict[str, Any]], Optional[str]]]:
        """A hesitant intent on a message that plainly asks a fee, documents, a time or a place of the
        procedure being talked about ("het bao nhieu tien", "nộp ở đâu"): a procedure question after all."""
        intent = message.get(INTENT) or {}
        if intent.get("name") in _NEVER_OVERRIDDEN:
            return None
        folded = expand_abbreviations(message.get(TEXT) or "")
        if not set(cue_groups(folded)) & _PLAIN_ASPECTS and not _PLAIN_STEPS.search(folded):
            return None
        ranking, aspect = self.rank(message.get(TEXT) or "")
        if ranking or aspect is None:
            return None
        self._become_procedure_question(message, intent.get("confidence", 0.0))
        return ranking, aspect

    def _become_procedure_question(self, message: Message, confidence: float) -> None:
        target = self._config["intents"][0]
        others = [r for r in message.get("intent_ranking") or [] if r.get("name") != target]
        message.set(INTENT, {"name": target, "confidence": confidence}, add_to_output=True)
        message.set("intent_ranking", [{"name": target, "confidence": confidence}, *others], add_to_output=True)

    def process(self, messages: List[Message]) -> List[Message]:
        """Add procedure, procedure_ranking and aspect to each message."""
        for message in messages:
            intent = (message.get(INTENT) or {}).get("name")
            ranking: List[Dict[str, Any]] = []
            aspect: Optional[str] = None
            if intent in self._config["intents"]:
                ranking, aspect = self.rank(message.get(TEXT) or "")
            else:
                ranking, aspect = self._override(message) or ([], None)
            message.set(PROCEDURE, ranking[0] if ranking else None, add_to_output=True)
            message.set(PROCEDURE_RANKING, ranking, add_to_output=True)
            message.set(ASPECT, aspect, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to training data."""
        return training_data
