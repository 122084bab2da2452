"""What a citizen already said about their situation, read as answers to a record's interview questions.

"mat cccd roi lam lai the nao" answers the căn cước question "trường hợp nào?" with ``lost``; "làm hộ chiếu
cho con 5 tuổi" answers "cho ai?" with ``child``. The phrases live in ``nlu_data/situations.yml`` (procedure
key → question id → option id → phrases, optionally an age range; ``default:`` names the option to assume
in answers by aspect when the citizen said nothing, e.g. that a passport is for the citizen themself; the
top-level ``ignore:`` lists phrases that only look like a situation, "mất bao nhiêu tiền"). Matching is on whole words; a phrase
written with diacritics is compared with diacritics when the message has them ("mất" is not "mặt"), and
folded when the message has none ("mat cccd").

Example:
    >>> cues = SituationCues.from_file(Path("nlu_data/situations.yml"))
    >>> cues.answers("the-can-cuoc", "mat cccd roi lam lai the nao")
    {'situation': 'lost'}
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from assistant.text.normalize import expand_abbreviations, expand_words, fold, normalize_text

__all__ = ["OptionCues", "SituationCues", "age_in"]

#: Messages whose answers are kept per process (a few MB at most): earlier turns are read again every turn.
ANSWERS_CACHED = 8192
_AGE = re.compile(r"\b(\d{1,3})\s*(tuoi|t)\b")
_MONTHS = re.compile(r"\b(\d{1,2})\s*(thang|th)\s*tuoi\b|\b(\d{1,2})\s*thang\b(?!\s*\d)")


def age_in(folded: str) -> int | None:
    """The age in years a folded message states ("con 5 tuổi" → 5, "bé 18 tháng tuổi" → 1), or None."""
    match = _AGE.search(folded)
    if match:
        return int(match.group(1))
    match = _MONTHS.search(folded)
    if match and "tuoi" in folded:
        return int(match.group(1) or match.group(3)) // 12
    return None


def _has_diacritics(text: str) -> bool:
    return fold(text) != text.lower()


@dataclass(frozen=True)
class OptionCues:
    """The phrases (both spellings) and age range that mean one option."""

    phrases: tuple[tuple[str, str], ...]
    """(lower-case text with diacritics, folded text) per phrase."""
    age_below: int | None = None
    age_from: int | None = None
    _marked: tuple[bool, ...] = field(init=False, repr=False, compare=False)
    """Per phrase: written with diacritics (then a message with diacritics compares it accented)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_marked", tuple(_has_diacritics(accented) for accented, _ in self.phrases))

    def longest_hit(self, text: str, folded: str, *, marked: bool) -> int:
        """Length of the longest phrase found in the message (0 when none).

        ``marked``: the message was written with diacritics (then accented phrases compare accented).
        """
        spaced_text, spaced_folded = f" {text} ", f" {folded} "
        best = 0
        for (accented, plain), accented_marked in zip(self.phrases, self._marked, strict=True):
            hit = f" {accented} " in spaced_text if marked and accented_marked else f" {plain} " in spaced_folded
            if hit:
                best = max(best, len(plain))
        return best

    def fits_age(self, age: int) -> bool | None:
        """Whether an age fits the option's range; None when the option has no range."""
        if self.age_below is None and self.age_from is None:
            return None
        return (self.age_below is None or age < self.age_below) and (self.age_from is None or age >= self.age_from)


def _words(text: str) -> str:
    """Lower case, canonical spelling, chat abbreviations expanded ("ko" → "không"), punctuation as spaces."""
    return " ".join(expand_words(re.sub(r"[^\w]+", " ", normalize_text(text).lower()).split()))


class SituationCues:
    """Situation phrases per procedure, question and option."""

    def __init__(
        self,
        cues: Mapping[str, Mapping[str, Mapping[str, OptionCues]]],
        defaults: Mapping[str, Mapping[str, str]] | None = None,
        ignore: Iterable[str] = (),
    ) -> None:
        self._cues = cues
        self._defaults = defaults or {}
        self._ignore = [(_words(p), expand_abbreviations(p)) for p in ignore]
        # Each turn re-reads the conversation's earlier messages (actions/context.py): read each message once.
        self._answers = lru_cache(maxsize=ANSWERS_CACHED)(self._read_answers)

    @classmethod
    def from_file(cls, path: Path) -> SituationCues:
        """Read ``nlu_data/situations.yml``."""
        data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls.from_data(data)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> SituationCues:
        """Build from the YAML's data (a mapping as described in the module docstring)."""
        cues: dict[str, dict[str, dict[str, OptionCues]]] = {}
        defaults: dict[str, dict[str, str]] = {}
        for key, questions in data.items():
            if key == "ignore":
                continue
            for question_id, options in (questions or {}).items():
                for option_id, spec in (options or {}).items():
                    if option_id == "default":
                        defaults.setdefault(key, {})[question_id] = str(spec)
                        continue
                    phrases = spec.get("phrases", []) if isinstance(spec, Mapping) else spec
                    extra = spec if isinstance(spec, Mapping) else {}
                    cues.setdefault(key, {}).setdefault(question_id, {})[option_id] = OptionCues(
                        phrases=tuple((_words(p), expand_abbreviations(p)) for p in phrases),
                        age_below=extra.get("age_below"),
                        age_from=extra.get("age_from"),
                    )
        return cls(cues, defaults, data.get("ignore") or ())

    def options(self) -> Iterable[tuple[str, str, str]]:
        """Every (procedure key, question id, option id) that has cues or is a default."""
        for key, questions in self._cues.items():
            for question_id, options in questions.items():
                for option_id in options:
                    yield key, question_id, option_id
        for key, chosen in self._defaults.items():
            for question_id, option_id in chosen.items():
                yield key, question_id, option_id

    def defaults(self, key: str) -> dict[str, str]:
        """What to assume for procedure ``key`` when the citizen said nothing: question id → option id."""
        return dict(self._defaults.get(key, {}))

    def answers(self, key: str, message: str) -> dict[str, str]:
        """The answers a message gives to procedure ``key``'s questions: question id → option id."""
        return dict(self._answers(key, message))

    def _read_answers(self, key: str, message: str) -> dict[str, str]:
        text, folded = f" {_words(message)} ", f" {expand_abbreviations(message)} "
        for accented, plain in self._ignore:
            text, folded = text.replace(f" {accented} ", " "), folded.replace(f" {plain} ", " ")
        text, folded = text.strip(), folded.strip()
        if not folded:
            return {}
        age = age_in(folded)
        found: dict[str, str] = {}
        for question_id, options in self._cues.get(key, {}).items():
            choice = self._choose(options, text, folded, age, marked=_has_diacritics(message))
            if choice is not None:
                found[question_id] = choice
        return found

    @staticmethod
    def _choose(
        options: Mapping[str, OptionCues], text: str, folded: str, age: int | None, *, marked: bool
    ) -> str | None:
        if age is not None:
            by_age = [option_id for option_id, cues in options.items() if cues.fits_age(age)]
            if len(by_age) == 1:
                return by_age[0]
        hits = {option_id: cues.longest_hit(text, folded, marked=marked) for option_id, cues in options.items()}
        best = max(hits.values(), default=0)
        winners = [option_id for option_id, length in hits.items() if length == best]
        return winners[0] if best and len(winners) == 1 else None
