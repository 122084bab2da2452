"""Which procedure a message is about, and which aspect of it: a trainable Rasa component.

Adds three properties to the parse object (see ``shared/design.md``):

- ``procedure``: ``{"key", "confidence"}`` of the best procedure, or ``None`` when the message is not a
  procedure question;
- ``procedure_ranking``: ``[{"key", "confidence"}, ...]`` best first (empty when ``procedure`` is None);
- ``aspect``: ``overview``, ``steps``, ``documents``, ``fee``, ``processing_time``, ``where``,
  ``eligibility`` or ``result``, or ``None``.

Both models are logistic regressions over the whole message, folded and with chat abbreviations
expanded by :mod:`assistant.text.normalize`: word uni/bigrams, character n-grams (which make ``ho chieu``
and ``hộ chiếu`` meet and survive typos), and one feature per procedure fired by a spaCy ``PhraseMatcher``
over the catalogue's names and aliases. Training examples come from ``ask_procedure`` examples whose
intent metadata carries ``procedure`` and ``aspect`` labels, plus every name and alias in
``procedures/*.yml``.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any, Dict, List, Optional, Text, Tuple

import numpy as np
import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from assistant.text.normalize import expand_abbreviations

logger = logging.getLogger(__name__)

PROCEDURE = "procedure"
PROCEDURE_RANKING = "procedure_ranking"
ASPECT = "aspect"
ASPECTS = ("overview", "steps", "documents", "fee", "processing_time", "where", "eligibility", "result")
_MODEL_FILE = "procedure_classifier.pkl"


def _labels(message: Message) -> Tuple[Optional[str], Optional[str]]:
    """The (procedure, aspect) labels a training example carries in its intent metadata."""
    metadata = message.get("metadata") or {}
    intent_meta = metadata.get("intent") or {}
    example_meta = metadata.get("example") or {}
    procedure = example_meta.get(PROCEDURE) or intent_meta.get(PROCEDURE)
    aspect = example_meta.get(ASPECT) or intent_meta.get(ASPECT)
    return procedure, aspect


def read_aliases(directory: Path) -> Dict[str, List[str]]:
    """Read the name, short name and aliases of every record in ``directory``.

    Only the YAML is read (no schema, no database), so this runs inside ``rasa train``.
    """
    aliases: Dict[str, List[str]] = {}
    for path in sorted(directory.glob("*.yml")):
        record = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        names = [record.get("name"), record.get("short_name"), *(record.get("aliases") or [])]
        aliases[path.stem] = [n for n in names if isinstance(n, str) and n.strip()]
    return aliases


class _AliasMatcher:
    """Counts, per procedure, how many of its aliases occur in a folded message (spaCy PhraseMatcher)."""

    def __init__(self, aliases: Dict[str, List[str]], keys: List[str]) -> None:
        import spacy
        from spacy.matcher import PhraseMatcher

        self._nlp = spacy.blank("vi", config={"nlp": {"tokenizer": {"use_pyvi": False}}})
        self._matcher = PhraseMatcher(self._nlp.vocab, attr="LOWER")
        self._column = {key: i for i, key in enumerate(keys)}
        for key, names in aliases.items():
            if key in self._column:
                patterns = {expand_abbreviations(n) for n in names}
                self._matcher.add(key, [self._nlp.make_doc(p) for p in patterns if p])

    def features(self, folded: List[str]) -> csr_matrix:
        rows, cols, values = [], [], []
        for row, text in enumerate(folded):
            doc = self._nlp.make_doc(text)
            for match_id, start, end in self._matcher(doc):
                rows.append(row)
                cols.append(self._column[self._nlp.vocab.strings[match_id]])
                values.append(float(end - start))
        return csr_matrix((values, (rows, cols)), shape=(len(folded), len(self._column)))


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True
)
class ProcedureClassifier(GraphComponent):
    """Adds ``procedure``, ``procedure_ranking`` and ``aspect`` to parsed messages."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """The component's default config."""
        return {
            "procedures_dir": "procedures",
            "intents": ["ask_procedure"],
            "ranking_length": 5,
            "C": 20.0,
            "alias_weight": 1.0,
        }

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        state: Optional[Dict[str, Any]] = None,
    ) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._state = state
        self._matcher: Optional[_AliasMatcher] = None
        if state:
            self._matcher = _AliasMatcher(state["aliases"], list(state["procedure_model"].classes_))

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "ProcedureClassifier":
        """Creates a new untrained component."""
        return cls(config, model_storage, resource)

    def _features(self, folded: List[str], state: Dict[str, Any]) -> csr_matrix:
        assert self._matcher is not None
        return hstack(
            [
                state["words"].transform(folded),
                state["chars"].transform(folded),
                self._matcher.features(folded) * self._config["alias_weight"],
            ]
        ).tocsr()

    def train(self, training_data: TrainingData) -> Resource:
        """Train on labelled ``ask_procedure`` examples and the catalogue's aliases."""
        aliases = read_aliases(Path(self._config["procedures_dir"]))
        texts: List[str] = []
        procedures: List[str] = []
        aspect_texts: List[str] = []
        aspects: List[str] = []
        for message in training_data.intent_examples:
            if message.get(INTENT) not in self._config["intents"]:
                continue
            procedure, aspect = _labels(message)
            folded = expand_abbreviations(message.get(TEXT) or "")
            if procedure:
                texts.append(folded)
                procedures.append(procedure)
            if aspect in ASPECTS:
                aspect_texts.append(folded)
                aspects.append(aspect)
        for key, names in aliases.items():
            for name in names:
                texts.append(expand_abbreviations(name))
                procedures.append(key)
        if len(set(procedures)) < 2:
            logger.warning("ProcedureClassifier: fewer than two labelled procedures; not trained")
            return self._resource
        words = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1)
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)
        words.fit(texts + aspect_texts)
        chars.fit(texts + aspect_texts)
        keys = sorted(set(procedures))
        state: Dict[str, Any] = {"words": words, "chars": chars, "aliases": aliases}
        self._matcher = _AliasMatcher(aliases, keys)
        procedure_model = LogisticRegression(C=self._config["C"], max_iter=3000, class_weight="balanced")
        procedure_model.fit(self._features(texts, state), procedures)
        state["procedure_model"] = procedure_model
        if len(set(aspects)) >= 2:
            aspect_model = LogisticRegression(C=self._config["C"], max_iter=3000, class_weight="balanced")
            aspect_model.fit(self._features(aspect_texts, state), aspects)
            state["aspect_model"] = aspect_model
        self._state = state
        self.persist()
        return self._resource

    def persist(self) -> None:
        """Save the fitted vectorisers and models."""
        with self._model_storage.write_to(self._resource) as directory:
            (directory / _MODEL_FILE).write_bytes(pickle.dumps(self._state))

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "ProcedureClassifier":
        """Load a trained component; an untrained one parses to ``procedure: None``."""
        try:
            with model_storage.read_from(resource) as directory:
                state = pickle.loads((directory / _MODEL_FILE).read_bytes())  # noqa: S301 - our own model file
        except (ValueError, FileNotFoundError):
            logger.warning("ProcedureClassifier: no trained model found; procedures will not be recognised")
            state = None
        return cls(config, model_storage, resource, state)

    def rank(self, text: str) -> Tuple[List[Dict[str, Any]], Optional[str]]:
        """Return the procedure ranking (best first) and the aspect for one message."""
        if not self._state:
            return [], None
        folded = expand_abbreviations(text)
        if not folded.strip():
            return [], None
        features = self._features([folded], self._state)
        model = self._state["procedure_model"]
        probabilities = model.predict_proba(features)[0]
        order = np.argsort(-probabilities)[: self._config["ranking_length"]]
        ranking = [{"key": str(model.classes_[i]), "confidence": float(probabilities[i])} for i in order]
        aspect = None
        if "aspect_model" in self._state:
            aspect = str(self._state["aspect_model"].predict(features)[0])
        return ranking, aspect

    def process(self, messages: List[Message]) -> List[Message]:
        """Add procedure, procedure_ranking and aspect to each message."""
        for message in messages:
            intent = (message.get(INTENT) or {}).get("name")
            ranking: List[Dict[str, Any]] = []
            aspect: Optional[str] = None
            if intent in self._config["intents"]:
                ranking, aspect = self.rank(message.get(TEXT) or "")
            message.set(PROCEDURE, ranking[0] if ranking else None, add_to_output=True)
            message.set(PROCEDURE_RANKING, ranking, add_to_output=True)
            message.set(ASPECT, aspect, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to training data."""
        return training_data
