"""A Rasa tokenizer for Vietnamese: underthesea word segmentation with exact offsets.

Vietnamese writes a space between syllables, not between words (``hộ chiếu`` is one word), so Rasa's
whitespace tokenizer cuts words apart. This tokenizer segments the *normalised* message with
``underthesea.word_tokenize`` and maps every word back to its exact span in the message as the citizen
wrote it (NFD, old tone placement, extra spaces included), so ``text[t.start:t.end] == t.text`` and
entities stay aligned. The normalised, diacritics-free, abbreviation-expanded form goes in
``token.lemma``, which Rasa's featurizers use, so ``hộ chiếu``, ``hộ chiêú`` and ``ho chieu`` meet.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.training_data.message import Message

from assistant.text.normalize import expand_words, normalize_with_offsets, strip_diacritics

logger = logging.getLogger(__name__)

_PUNCTUATION = re.compile(r"^[^\w]+$", re.UNICODE)
_FALLBACK_WORDS = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def _segment(text: str) -> List[str]:
    """Segment normalised text into words; a regex split if underthesea fails on odd input."""
    if not text:
        return []
    try:
        from underthesea import word_tokenize  # imported lazily: it loads a CRF model

        return list(word_tokenize(text))
    except Exception:  # noqa: BLE001 - any failure of the segmenter must not lose the message
        logger.warning("underthesea could not segment a message; falling back to a regex split")
        return _FALLBACK_WORDS.findall(text)


def vietnamese_tokens(text: str) -> List[Token]:
    """Tokenise ``text`` into words with exact offsets into ``text`` and folded lemmas.

    Args:
        text: the message exactly as received.

    Returns:
        Word tokens, punctuation dropped. ``token.text`` is the original slice, ``token.lemma`` the
        folded form with multi-syllable words joined by ``_`` and chat abbreviations expanded.

    Example:
        >>> [t.lemma for t in vietnamese_tokens("Làm hộ chiêú hết bn tiền?")]
        ['lam', 'ho_chieu', 'het', 'bao_nhieu', 'tien']
    """
    normalized = normalize_with_offsets(text)
    norm = normalized.text
    spans: List[tuple] = []
    cursor = 0
    for word in _segment(norm):
        pieces = word.split()
        if not pieces:
            continue
        first = norm.find(pieces[0], cursor)
        if first < 0:
            # The segmenter changed the text; keep what we can align, split the rest by regex.
            spans.extend(
                (m.start() + cursor, m.end() + cursor)
                for m in _FALLBACK_WORDS.finditer(norm[cursor:])
            )
            cursor = len(norm)
            break
        end = first + len(pieces[0])
        for piece in pieces[1:]:
            nxt = norm.find(piece, end)
            if nxt < 0 or norm[end:nxt].strip():
                break
            end = nxt + len(piece)
        spans.append((first, end))
        cursor = end
    words_only = [(s, e) for s, e in spans if not _PUNCTUATION.match(norm[s:e])]
    if not words_only and norm:
        # Emoji or punctuation only: one token for the whole message, so that featurizers and
        # classifiers always see a message with at least one token.
        words_only = [(0, len(norm))]
    spans = words_only
    words = [norm[s:e].lower() for s, e in spans]
    expanded = expand_words([" ".join(w.split()) for w in words])
    tokens = []
    for (start, end), lemma in zip(spans, expanded, strict=True):
        orig_start, orig_end = normalized.span(start, end)
        token = Token(text[orig_start:orig_end], orig_start, end=orig_end)
        token.lemma = "_".join(strip_diacritics(lemma).split())
        tokens.append(token)
    return tokens


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False
)
class VietnameseTokenizer(Tokenizer):
    """Tokenizer for Vietnamese messages (underthesea segmentation, exact offsets, folded lemmas)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Returns the component's default config."""
        return {
            "intent_tokenization_flag": False,
            "intent_split_symbol": "_",
            "token_pattern": None,
            "prefix_separator_symbol": None,
        }

    @staticmethod
    def supported_languages() -> Optional[List[Text]]:
        """Vietnamese only."""
        return ["vi"]

    @staticmethod
    def required_packages() -> List[Text]:
        """underthesea does the segmentation."""
        return ["underthesea"]

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> VietnameseTokenizer:
        """Creates a new component (see parent class for full docstring)."""
        return cls(config)

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        """Tokenise one attribute of a message (see :func:`vietnamese_tokens`)."""
        text = message.get(attribute) or ""
        return self._apply_token_pattern(vietnamese_tokens(text))
