"""Which procedure a message is about, and which aspect of it: a trainable Rasa component.

Adds three properties to the parse object (see ``shared/design.md``):

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
"""

from __future__ import annotations

import logging
import pickle
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

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
from sklearn.svm import LinearSVC

from assistant.nlu.aspect_cues import cue_features, cue_groups
from assistant.nlu.composition import compose
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
# Words that may surround a bare procedure name without making it something else: "căn cước ạ", "ad ơi hộ chiếu?"
_FILLERS = frozenset("a ad admin ah ha oi nhe nha voi vay z the sao thi con hoi ve cho em minh toi".split())
# Intents a plain aspect cue never turns into a procedure question, and the cues that are plain enough.
_NEVER_OVERRIDDEN = frozenset({"request_human", "restart", "next_step", "previous_step", "repeat_step"})
_PLAIN_ASPECTS = frozenset({"fee", "documents", "processing_time", "where", "result"})
# What may surround a procedure's name in a follow-up that asks no aspect of its own, so the aspect asked
# last carries over: "còn đổi bằng lái thì sao", "thế hộ chiếu thì", "không phải, ý em là khai sinh",
# "nhầm, căn cước chứ", "làm tạm trú nữa". A lone "sao"/"thế nào" after the name asks how ("steps").
_FOLLOWUP_PHRASES = ("thi sao", "thi the nao", "thi thi sao", "thi ntn", "y em la", "y minh la", "y toi la", "y la", "khong phai")
_FOLLOWUP_FILLERS = (_FILLERS - {"sao"}) | frozenset("nham chu nua ca lam thu tuc viec con vu cai nhi ha ta day ne doi cap xin".split())
_SWITCH_FRAME = re.compile(r"^(con|the|vay|the con|vay con|khong phai|nham|a khong|ua)\b|\b(thi sao|thi|chu|thi the nao)( (a|ad|nhi|nhe|ha|vay|z))?$")
_SWITCH_TAIL = re.compile(r"\b(thi sao|thi the nao|thi|chu)( (a|ad|nhi|nhe|ha|vay|z))?$")
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

    def _outside_names(self, folded: str) -> Tuple[List[str], int]:
        """The words of a folded message outside every procedure name, and the longest name's length."""
        doc = self._nlp.make_doc(folded)
        covered = [False] * len(doc)
        longest = 0
        for _, start, end in self._matcher(doc):
            longest = max(longest, len(doc[start:end].text))
            for i in range(start, end):
                covered[i] = True
        rest = [t.text for t, inside in zip(doc, covered, strict=True) if not inside and not t.is_punct]
        return rest, longest

    def only_names(self, folded: str, fillers: frozenset = frozenset()) -> bool:
        """Whether the message is nothing but procedure names (and ``fillers``): "căn cước", "mai táng phí ạ".

        Names shorter than four letters ("cc") do not count: alone they are too often something else.
        """
        rest, longest = self._outside_names(folded)
        return longest >= 4 and all(word in fillers for word in rest)

    def asks_no_aspect(self, folded: str) -> bool:
        """Whether the message only names a procedure in a follow-up frame: "còn đổi bằng lái thì sao".

        That is a name with nothing but follow-up words around it, or a switch frame ("còn …", "thế …",
        "không phải, ý em là …", "… thì sao", "… chứ") with no aspect cue at all.
        """
        if _SWITCH_FRAME.search(folded) and not cue_groups(_SWITCH_TAIL.sub("", folded)):
            return True
        rest, longest = self._outside_names(folded)
        if longest < 4:
            return False
        text = " " + " ".join(rest) + " "
        for phrase in _FOLLOWUP_PHRASES:
            text = text.replace(f" {phrase} ", " ")
        return all(word in _FOLLOWUP_FILLERS for word in text.split())

    def mask(self, folded: List[str], placeholder: str = "thutuc") -> List[str]:
        """Replace every alias occurrence by ``placeholder``, leaving the words around it.

        The aspect model reads what is asked *about* the procedure; which procedure it is only adds noise.
        """
        masked = []
        for text in folded:
            doc = self._nlp.make_doc(text)
            covered = [False] * len(doc)
            for _, start, end in self._matcher(doc):
                for i in range(start, end):
                    covered[i] = True
            words: List[str] = []
            for token, inside in zip(doc, covered, strict=True):
                if not inside:
                    words.append(token.text)
                elif not words or words[-1] != placeholder:
                    words.append(placeholder)
            masked.append(" ".join(words))
        return masked


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


def featurize(folded: List[str], state: Dict[str, Any], matcher: _AliasMatcher, config: Dict[str, Any]) -> csr_matrix:
    """The procedure model's features of folded messages: words, characters and alias hits."""
    return hstack(
        [
            state["words"].transform(folded),
            state["chars"].transform(folded),
            matcher.features(folded) * config.get("alias_weight", 1.0),
        ]
    ).tocsr()


def aspect_featurize(
    folded: List[str], state: Dict[str, Any], matcher: _AliasMatcher, config: Dict[str, Any]
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
    matcher: _AliasMatcher,
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
) -> Tuple[Dict[str, Any], _AliasMatcher]:
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
    matcher = _AliasMatcher(aliases, sorted(set(labels)))
    procedure_model = LogisticRegression(C=config["C"], max_iter=3000, class_weight="balanced")
    procedure_model.fit(featurize(folded, state, matcher, config), labels)
    state["procedure_model"] = procedure_model
    fit_aspect(aspect_folded, aspects, state, matcher, config)
    return state, matcher


def predict(
    folded: List[str], state: Dict[str, Any], matcher: _AliasMatcher, config: Dict[str, Any]
) -> Tuple[np.ndarray, List[Optional[str]]]:
    """Procedure probabilities (columns: ``state["procedure_model"].classes_``) and aspects of folded messages."""
    probabilities = state["procedure_model"].predict_proba(featurize(folded, state, matcher, config))
    aspects: List[Optional[str]] = [None] * len(folded)
    if "aspect_model" in state:
        aspects = [str(a) for a in state["aspect_model"].predict(aspect_featurize(folded, state, matcher, config))]
    return probabilities, aspects


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
        self._matcher: Optional[_AliasMatcher] = None
        if state:
            self._matcher = _AliasMatcher(state["aliases"], list(state["procedure_model"].classes_))

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
        probabilities_all, aspects = predict([folded], self._state, self._matcher, self._config)
        probabilities = probabilities_all[0]
        model = self._state["procedure_model"]
        order = [i for i in np.argsort(-probabilities) if model.classes_[i] != NO_PROCEDURE]
        ranking: List[Dict[str, Any]] = [
            {"key": str(model.classes_[i]), "confidence": float(probabilities[i])}
            for i in order[: self._config["ranking_length"]]
        ]
        named = self.names_procedure(text)
        if model.classes_[int(np.argmax(probabilities))] == NO_PROCEDURE and not named:
            ranking = []
        short_or_tailed = len(folded.split()) <= 6 or _SWITCH_TAIL.search(folded)  # "vay ngan hang …" is no "vậy …"
        if len(named) == 1 and _SWITCH_FRAME.search(folded) and short_or_tailed:
            # "thế còn vneid thì sao": a switch frame is about the one procedure it names
            model_says = next((float(r["confidence"]) for r in ranking if r["key"] == named[0]), 0.0)
            switched = {"key": named[0], "confidence": max(model_says, SWITCH_CONFIDENCE)}
            ranking = [switched] + [r for r in ranking if r["key"] != named[0]][: self._config["ranking_length"] - 1]
        aspect = aspects[0]
        if ranking and self._matcher.asks_no_aspect(folded):
            aspect = None
        return ranking, aspect

    def names_procedure(self, text: str) -> List[str]:
        """The procedures whose name or alias occurs in the message."""
        if not self._matcher or not self._state:
            return []
        row = self._matcher.features([expand_abbreviations(text)]).toarray()[0]
        keys = list(self._state["procedure_model"].classes_)
        return [keys[i] for i, value in enumerate(row) if value > 0 and keys[i] != NO_PROCEDURE]

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
            self._matcher and self._matcher.only_names(expand_abbreviations(text), _FILLERS)
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
