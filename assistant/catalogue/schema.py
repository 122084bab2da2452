"""The procedure record schema: the one definition of what ``procedures/<key>.yml`` may contain.

``docs/procedure-record.md`` explains the fields; this module enforces them. Structure and types come from
pydantic (v1) models over the field types of :mod:`assistant.catalogue.fields`; checks that span fields (``when``
conditions naming real questions and options, a reason for every document that is not needed, ...) run in a
root validator of :class:`Procedure` (the rules: :mod:`assistant.catalogue.consistency`).

Beside it: reading record files, with errors naming the file and the field path
(:mod:`assistant.catalogue.record_files`); checks on a day and across records (:mod:`assistant.catalogue.checks`);
which items apply to a citizen's answers (:mod:`assistant.catalogue.answers`).
"""

from datetime import date, timedelta
from enum import Enum
from typing import Any, NamedTuple

from pydantic import BaseModel, Extra, Field, StrictBool, root_validator, validator

from assistant.catalogue.answers import Answers, answer_cases, applies
from assistant.catalogue.consistency import cross_field_problems, raise_on_duplicates
from assistant.catalogue.fields import (
    PROCEDURE_KEYS,
    Amount,
    CaveatTopic,
    Code,
    Confidence,
    FeeChannel,
    Identifier,
    Level,
    OnlineLevel,
    RecordDate,
    ShortText,
    Text,
    WebUrl,
    When,
)

__all__ = [
    "AppliedFee",
    "Caveat",
    "Document",
    "DocumentSplit",
    "Fee",
    "Option",
    "OtherCode",
    "Procedure",
    "Question",
    "ReplacedAct",
    "Source",
    "Step",
    "TextFact",
]


class _Model(BaseModel):
    """Base of all record models: unknown fields are errors (they are usually typos)."""

    class Config:
        extra = Extra.forbid
        allow_mutation = False
        anystr_strip_whitespace = True


class OtherCode(_Model):
    """Another code of the same procedure (another level or variant)."""

    code: Code
    note: Text | None = None


class Option(_Model):
    """One answer to a question."""

    id: Identifier
    label: Text


class Question(_Model):
    """A short question that personalises the guide (``Bạn làm hộ chiếu lần đầu hay cấp lại?``)."""

    id: Identifier
    question: Text
    options: list[Option] = Field(..., min_items=2)

    @validator("options")
    def _unique_option_ids(cls, options: list[Option]) -> list[Option]:
        raise_on_duplicates([o.id for o in options], what="option id")
        return options


class Step(_Model):
    """One step of the online process."""

    title: Text
    text: Text
    when: When | None = None
    confidence: Confidence


class Document(_Model):
    """A document of the dossier, or one the citizen must *not* be asked for (``not_needed``)."""

    name: Text
    note: Text | None = None
    not_needed: StrictBool = False
    reason: Text | None = None
    when: When | None = None
    confidence: Confidence


class Fee(_Model):
    """A fee (lệ phí/phí) with its legal basis and validity period. ``amount`` is VND; null = not confirmed."""

    label: Text
    amount: Amount | None = Field(...)
    channel: FeeChannel
    legal_basis: Text | None = None
    valid_from: RecordDate | None = None
    valid_to: RecordDate | None = None
    when: When | None = None
    confidence: Confidence

    @validator("legal_basis", always=True)
    def _figure_needs_basis(cls, value: str | None, values: dict[str, Any]) -> str | None:
        if value is None and values.get("amount"):
            raise ValueError("required when amount is above 0")
        return value

    @validator("valid_to")
    def _period_in_order(cls, value: date | None, values: dict[str, Any]) -> date | None:
        start = values.get("valid_from")
        if value is not None and start is not None and value < start:
            raise ValueError(f"before valid_from ({start.isoformat()})")
        return value


class TextFact(_Model):
    """A fact given as text (processing time, result, eligibility)."""

    text: Text
    confidence: Confidence


class Source(_Model):
    """Where the facts come from."""

    url: WebUrl
    title: Text
    accessed: RecordDate | None = None


#: A caveat shown in chat (one with ``about``) stays within one short line.
CAVEAT_LINE_MAX = 220


class Caveat(_Model):
    """Something unconfirmed, missing or local about the record.

    A caveat with ``about`` is shown in chat, in one short line under the answers on those aspects, until
    ``valid_to`` (when set) has passed, and only to citizens whose answers it applies to (``when``, as for
    steps); one without ``about`` is kept for staff and the API only. In the YAML a plain string is a
    caveat without ``about``.
    """

    text: Text
    about: list[CaveatTopic] = []
    valid_to: RecordDate | None = None
    when: When | None = None

    @validator("about")
    def _short_when_shown(cls, about: list[CaveatTopic], values: dict[str, Any]) -> list[CaveatTopic]:
        text = values.get("text")
        if about and text is not None and len(text) > CAVEAT_LINE_MAX:
            raise ValueError(f"a caveat shown in chat is at most {CAVEAT_LINE_MAX} characters (shorten text)")
        return about


class ReplacedAct(_Model):
    """A legal act that the record knows to be replaced: it may no longer be cited as a current basis."""

    act: Text
    by: Text
    since: RecordDate | None = None


class DocumentSplit(NamedTuple):
    """Documents for a set of answers: what to prepare and what not to be asked for (with a reason)."""

    needed: list[Document]
    not_needed: list[Document]


class AppliedFee(_Model):
    """A fee that applies to the citizen's answers, with its state on a given day.

    Attributes:
        fee: the fee as recorded.
        expired: ``valid_to`` has passed: never shown as current.
        upcoming: ``valid_from`` is still ahead.
        superseded: expired, and another fee of the record takes over from the day after (its
            successor): show the successor instead. Expired without a successor: show a caution.
    """

    fee: Fee
    expired: bool
    upcoming: bool
    superseded: bool = False


class Procedure(_Model):
    """One procedure record (``procedures/<key>.yml``); see ``docs/procedure-record.md``."""

    key: Text
    code: Code | None = Field(...)
    code_as_of: RecordDate | None = None
    code_act: Text | None = None
    other_codes: list[OtherCode] = []
    name: Text
    short_name: ShortText
    aliases: list[Text] = []
    agency: Text
    level: Level
    online: OnlineLevel
    portal_url: WebUrl
    requires_vneid: StrictBool = False
    prerequisites: list[Text] = []
    questions: list[Question] = Field([], max_items=3)
    steps: list[Step] = Field(..., min_items=3)
    documents: list[Document] = Field(..., min_items=1)
    fees: list[Fee] = Field(..., min_items=1)
    processing_time: TextFact
    result: TextFact
    eligibility: TextFact | None = None
    legal_basis: list[Text] = Field(..., min_items=1)
    sources: list[Source] = Field(..., min_items=1)
    verified_on: RecordDate
    replaced_acts: list[ReplacedAct] = []
    caveats: list[Caveat] = []

    @validator("caveats", pre=True)
    def _plain_caveats(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"text": item} if isinstance(item, str) else item for item in value]
        return value

    @validator("key")
    def _known_key(cls, value: str) -> str:
        if value not in PROCEDURE_KEYS:
            raise ValueError(f"{value!r} is not one of the 26 procedure keys")
        return value

    @validator("code_as_of", always=True)
    def _code_is_dated(cls, value: date | None, values: dict[str, Any]) -> date | None:
        if value is None and values.get("code") is not None:
            raise ValueError("required when code is set")
        return value

    @validator("prerequisites", each_item=True)
    def _prerequisite_is_key(cls, value: str) -> str:
        if value not in PROCEDURE_KEYS:
            raise ValueError(f"unknown procedure key {value!r}")
        return value

    @validator("questions")
    def _unique_question_ids(cls, questions: list[Question]) -> list[Question]:
        raise_on_duplicates([q.id for q in questions], what="question id")
        return questions

    @root_validator(skip_on_failure=True)
    def _consistent(cls, values: dict[str, Any]) -> dict[str, Any]:
        problems = list(cross_field_problems(values))
        if problems:
            # One line per problem, each starting with its field path; see _format_errors.
            raise ValueError("\n".join(f"{path}: {message}" for path, message in problems))
        return values

    # --- helpers for the assistant ------------------------------------------------------------------

    @property
    def codes(self) -> list[str]:
        """The main code (if any) followed by the other codes."""
        return ([self.code] if self.code else []) + [c.code for c in self.other_codes]

    def steps_for(self, answers: Answers) -> list[Step]:
        """Return the steps that apply to ``answers``, in order.

        Args:
            answers: question id → chosen option id(s); unanswered questions rule nothing out.
        """
        return [s for s in self.steps if applies(s.when, answers)]

    def documents_for(self, answers: Answers) -> DocumentSplit:
        """Return the documents that apply to ``answers``, split into needed and not needed.

        Args:
            answers: question id → chosen option id(s); unanswered questions rule nothing out.
        """
        docs = [d for d in self.documents if applies(d.when, answers)]
        return DocumentSplit(
            needed=[d for d in docs if not d.not_needed],
            not_needed=[d for d in docs if d.not_needed],
        )

    def fees_for(self, answers: Answers, *, today: date) -> list[AppliedFee]:
        """Return the fees that apply to ``answers``, each marked expired or upcoming on ``today``.

        Args:
            answers: question id → chosen option id(s); unanswered questions rule nothing out.
            today: the day to judge validity on.
        """
        applied = []
        for fee in self.fees:
            if not applies(fee.when, answers):
                continue
            expired = fee.valid_to is not None and fee.valid_to < today
            applied.append(
                AppliedFee(
                    fee=fee,
                    expired=expired,
                    upcoming=fee.valid_from is not None and fee.valid_from > today,
                    superseded=expired and self.has_successor(fee),
                )
            )
        return applied

    def has_successor(self, fee: Fee) -> bool:
        """Tell whether other fees take over when ``fee`` ends (False for a fee without ``valid_to``).

        On the day after ``fee.valid_to``, every situation and channel in which ``fee`` applied must be
        covered by another fee of the record valid that day (one fee or several together). A successor's
        amount may be null (rate not confirmed): the assistant then shows the caution, not the old figure.
        """
        if fee.valid_to is None:
            return False
        day_after = fee.valid_to + timedelta(days=1)
        others = [f for f in self.fees if f is not fee and _valid_on(f, day_after)]
        channels = [FeeChannel.online, FeeChannel.in_person] if fee.channel is FeeChannel.any else [fee.channel]
        for case in answer_cases(self.questions, fee.when):
            for channel in channels:
                if not any(o.channel in (FeeChannel.any, channel) and applies(o.when, case) for o in others):
                    return False
        return True

    def to_json_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready data (dates as ISO strings, enums as their values)."""
        return _json_ready(self.dict())


def _valid_on(fee: Fee, day: date) -> bool:
    return (fee.valid_from is None or fee.valid_from <= day) and (fee.valid_to is None or fee.valid_to >= day)


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    return value


