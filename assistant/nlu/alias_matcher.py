"""Procedure names in a message: a spaCy ``PhraseMatcher`` over every record's name, short name and aliases.

The procedure model (:mod:`assistant.nlu.procedure_models`) gets one feature per procedure from
:meth:`AliasMatcher.features`; the aspect model reads messages with every name masked (:meth:`AliasMatcher.mask`);
:class:`~assistant.nlu.procedure_classifier.ProcedureClassifier` asks whether a message is only a name
(:meth:`AliasMatcher.only_names`: "căn cước ạ") or a follow-up that names a procedure and asks no aspect of its
own (:meth:`AliasMatcher.asks_no_aspect`: "còn đổi bằng lái thì sao"). Messages come folded, with chat
abbreviations expanded (:func:`assistant.text.normalize.expand_abbreviations`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, NamedTuple, Tuple

import yaml
from scipy.sparse import csr_matrix

from assistant.nlu.aspect_cues import cue_groups
from assistant.text.normalize import expand_abbreviations

__all__ = ["FILLERS", "SWITCH_FRAME", "SWITCH_TAIL", "AliasMatcher", "read_aliases"]

# Words that may surround a bare procedure name without making it something else: "căn cước ạ", "ad ơi hộ chiếu?"
FILLERS = frozenset("a ad admin ah ha oi nhe nha voi vay z the sao thi con hoi ve cho em minh toi".split())
# What may surround a procedure's name in a follow-up that asks no aspect of its own, so the aspect asked
# last carries over: "còn đổi bằng lái thì sao", "thế hộ chiếu thì", "không phải, ý em là khai sinh",
# "nhầm, căn cước chứ", "làm tạm trú nữa". A lone "sao"/"thế nào" after the name asks how ("steps").
_FOLLOWUP_PHRASES = ("thi sao", "thi the nao", "thi thi sao", "thi ntn", "y em la", "y minh la", "y toi la", "y la", "khong phai")
_FOLLOWUP_FILLERS = (FILLERS - {"sao"}) | frozenset("nham chu nua ca lam thu tuc viec con vu cai nhi ha ta day ne doi cap xin".split())
SWITCH_FRAME = re.compile(r"^(con|the|vay|the con|vay con|khong phai|nham|a khong|ua)\b|\b(thi sao|thi|chu|thi the nao)( (a|ad|nhi|nhe|ha|vay|z))?$")
SWITCH_TAIL = re.compile(r"\b(thi sao|thi the nao|thi|chu)( (a|ad|nhi|nhe|ha|vay|z))?$")


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


#: Messages whose tokens and name matches are kept per process.
SCANS_KEPT = 4096


class _Scan(NamedTuple):
    """A folded message's tokens and the procedure names found in it."""

    words: Tuple[str, ...]
    punct: Tuple[bool, ...]
    matches: Tuple[Tuple[str, int, int, int], ...]
    """(procedure key, first token, end token, length of the matched text) per name found."""

    def covered(self) -> List[bool]:
        """Per token: inside a procedure's name."""
        inside = [False] * len(self.words)
        for _, start, end, _ in self.matches:
            for i in range(start, end):
                inside[i] = True
        return inside


class AliasMatcher:
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
        # A message is read up to four times per parse (features, mask, name checks): tokenise and match it once.
        self._scan = lru_cache(maxsize=SCANS_KEPT)(self._scan_text)

    def _scan_text(self, text: str) -> _Scan:
        doc = self._nlp.make_doc(text)
        matches = tuple(
            (self._nlp.vocab.strings[match_id], start, end, len(doc[start:end].text))
            for match_id, start, end in self._matcher(doc)
        )
        return _Scan(tuple(t.text for t in doc), tuple(t.is_punct for t in doc), matches)

    def features(self, folded: List[str]) -> csr_matrix:
        rows, cols, values = [], [], []
        for row, text in enumerate(folded):
            for key, start, end, _ in self._scan(text).matches:
                rows.append(row)
                cols.append(self._column[key])
                values.append(float(end - start))
        return csr_matrix((values, (rows, cols)), shape=(len(folded), len(self._column)))

    @property
    def width(self) -> int:
        """How many columns :meth:`features` has (one per procedure)."""
        return len(self._column)

    def feature_row(self, folded: str) -> Dict[int, float]:
        """One message's row of :meth:`features` as column → value."""
        row: Dict[int, float] = {}
        for key, start, end, _ in self._scan(folded).matches:
            column = self._column[key]
            row[column] = row.get(column, 0.0) + float(end - start)
        return row

    def _outside_names(self, folded: str) -> Tuple[List[str], int]:
        """The words of a folded message outside every procedure name, and the longest name's length."""
        scan = self._scan(folded)
        covered = scan.covered()
        longest = max((length for *_, length in scan.matches), default=0)
        rest = [w for w, inside, punct in zip(scan.words, covered, scan.punct, strict=True) if not inside and not punct]
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
        if SWITCH_FRAME.search(folded) and not cue_groups(SWITCH_TAIL.sub("", folded)):
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
            scan = self._scan(text)
            words: List[str] = []
            for word, inside in zip(scan.words, scan.covered(), strict=True):
                if not inside:
                    words.append(word)
                elif not words or words[-1] != placeholder:
                    words.append(placeholder)
            masked.append(" ".join(words))
        return masked
