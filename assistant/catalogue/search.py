"""Find procedures by what citizens type: accent-insensitive, abbreviation-aware, ranked 0..1.

Every name, short name and alias of a record, and the query, become search keys through
:func:`assistant.text.normalize.expand_abbreviations` (folded: lower case, no diacritics, chat shorthand
expanded), so ``hộ chiếu``, ``ho chieu``, ``HC`` and ``Hộ Chiêú`` meet, and ``cccd`` meets
``căn cước công dân``. The score of a record mixes:

- a *lexical* score: BM25 over word unigrams and bigrams of all its names and aliases, normalised by the
  weight of the query's words, so a query whose words are all found scores near 1;
- a *phrase* score: 1 when the query is exactly one of its names or aliases, less when the query lies
  inside a name or alias, or a name or alias lies inside the query (longer matches score higher).

A query that contains a record's code (``1.001456``) puts that record first with score 1.

Example:
    >>> index = SearchIndex(records)
    >>> [hit.key for hit in index.search("lam ho chieu", limit=2)]
    ['ho-chieu', ...]
"""

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

from assistant.catalogue.schema import Procedure
from assistant.text.normalize import expand_abbreviations

__all__ = ["MAX_QUERY_LENGTH", "SearchHit", "SearchIndex", "search_terms", "search_words"]

logger = logging.getLogger(__name__)

#: Longer queries are refused by the API (422); the index truncates them.
MAX_QUERY_LENGTH = 200

_CODE = re.compile(r"(?<![\d.])\d\.\d{6}(?:_\d+)?(?![\d])")
_K1 = 1.2
_B = 0.3
_LEXICAL_WEIGHT = 0.4
_PHRASE_WEIGHT = 0.6


@dataclass(frozen=True)
class SearchHit:
    """One ranked result.

    Attributes:
        key: the procedure key.
        code: its code, or None when not confirmed.
        name: its official name.
        score: relevance in 0..1 (1 = exact code or exact name/alias).
    """

    key: str
    code: str | None
    name: str
    score: float

    def as_dict(self) -> dict[str, Any]:
        """Return the hit as JSON-ready data."""
        return asdict(self)


def search_words(text: str) -> list[str]:
    """Return the search words of ``text``: folded, abbreviations expanded, punctuation dropped.

    Example:
        >>> search_words("Làm CCCD ở đâu?")
        ['lam', 'can', 'cuoc', 'cong', 'dan', 'o', 'dau']
    """
    return expand_abbreviations(text).split()


def search_terms(words: Sequence[str]) -> list[str]:
    """Return the unigrams and bigrams (``"ho chieu"``) of a word list, in order."""
    return [*words, *(f"{a} {b}" for a, b in pairwise(words))]


def _contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    """Tell whether ``needle`` occurs as a contiguous run of words in ``haystack``."""
    n = len(needle)
    return 0 < n <= len(haystack) and any(
        tuple(haystack[i : i + n]) == tuple(needle) for i in range(len(haystack) - n + 1)
    )


@dataclass(frozen=True)
class _Entry:
    procedure: Procedure
    phrases: tuple[tuple[str, ...], ...]
    tf: Counter[str]
    length: int
    codes: frozenset[str]


class SearchIndex:
    """An in-memory index of procedure records (26 records: built in milliseconds)."""

    def __init__(self, procedures: Sequence[Procedure]) -> None:
        """Index the names, short names, aliases and codes of ``procedures``."""
        self._entries: list[_Entry] = []
        df: Counter[str] = Counter()
        for procedure in procedures:
            texts = [procedure.name, procedure.short_name, *procedure.aliases]
            phrases = tuple(dict.fromkeys(tuple(w) for w in map(search_words, texts) if w))
            tf: Counter[str] = Counter()
            for phrase in phrases:
                tf.update(set(search_terms(phrase)))
            self._entries.append(_Entry(procedure, phrases, tf, length=len(phrases), codes=frozenset(procedure.codes)))
            df.update(tf.keys())
        n = len(self._entries)
        self._idf = {term: math.log(1 + (n - count + 0.5) / (count + 0.5)) for term, count in df.items()}
        self._avg_length = sum(e.length for e in self._entries) / n if n else 1.0
        self._max_idf = math.log(1 + (n - 0.5) / 1.5) if n else 1.0

    def search(self, query: str, *, limit: int = 5) -> list[SearchHit]:
        """Rank the records for ``query``, best first.

        Args:
            query: what the citizen typed, with or without diacritics, possibly a code.
            limit: at most this many hits.

        Returns:
            Hits with a score above 0, best first; ties keep the catalogue order.
        """
        query = query[:MAX_QUERY_LENGTH]
        codes = set(_CODE.findall(query))
        words = search_words(_CODE.sub(" ", query))
        terms = list(dict.fromkeys(search_terms(words)))
        # A query scores fully only if it carries as much information as one word found in one record.
        norm = max(sum(self._idf.get(t, 1.0 if " " not in t else 0.0) for t in terms), self._max_idf)
        scored: list[tuple[int, float, int, SearchHit]] = []
        for position, entry in enumerate(self._entries):
            exact_code = 0
            if codes & entry.codes:
                exact_code = 2 if entry.procedure.code in codes else 1
            score = 1.0 if exact_code else self._score(entry, words, terms, norm)
            if score <= 0:
                continue
            p = entry.procedure
            hit = SearchHit(key=p.key, code=p.code, name=p.name, score=round(score, 4))
            scored.append((exact_code, score, -position, hit))
        scored.sort(key=lambda item: item[:3], reverse=True)
        hits = [item[3] for item in scored[: max(limit, 0)]]
        logger.debug("search %r: %s", query, [(h.key, h.score) for h in hits])
        return hits

    def _score(self, entry: _Entry, words: list[str], terms: list[str], norm: float) -> float:
        if not words:
            return 0.0
        length_factor = 1 - _B + _B * entry.length / self._avg_length
        lexical = 0.0
        for term in terms:
            tf = entry.tf.get(term, 0)
            if tf:
                lexical += self._idf[term] * tf * (_K1 + 1) / (tf + _K1 * length_factor)
        lexical = min(1.0, lexical / norm) if norm else 0.0
        return _LEXICAL_WEIGHT * lexical + _PHRASE_WEIGHT * self._phrase(entry, words)

    def _phrase(self, entry: _Entry, words: list[str]) -> float:
        best = 0.0
        query_weight = self._weight(words)
        for phrase in entry.phrases:
            if tuple(words) == phrase:
                return 1.0
            if _contains(phrase, words):
                # The query is part of a name or alias: "can cuoc" in "the can cuoc".
                best = max(best, 0.9 * query_weight / self._weight(phrase))
            elif _contains(words, phrase):
                # A name or alias is part of the query: "ho chieu" in "lam ho chieu o dau".
                best = max(best, 0.85 * self._weight(phrase) / query_weight)
        return best

    def _weight(self, words: Sequence[str]) -> float:
        """The information in a run of words: the sum of their IDF (1 for words no record has)."""
        return sum(self._idf.get(w, 1.0) for w in words) or 1.0
