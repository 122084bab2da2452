"""The procedure record schema: the one definition of what ``procedures/<key>.yml`` may contain.

``docs/procedure-record.md`` explains the fields; this module enforces them. Structure and types come from
pydantic (v1) models; checks that span fields (``when`` conditions naming real questions and options, a
reason for every document that is not needed, ...) run in a root validator of :class:`Procedure`; checks
that span records (prerequisites exist, codes are unique) run in :func:`load_directory`.

Every error names the file and the field path, so that whoever edits the YAML can fix it at once::

    procedures/ho-chieu.yml: fees.0.valid_to: invalid date '2026-02-30': day is out of range for month

Example:
    >>> record = load_record_file(Path("procedures/ho-chieu.yml"))
    >>> [d.name for d in record.documents_for({"situation": "lost"}).needed]
    ['Tờ khai đề nghị cấp hộ chiếu (mẫu TK01, TT 31/2023/TT-BCA)', ...]
"""

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConstrainedStr,
    Extra,
    Field,
    StrictBool,
    ValidationError,
    conint,
    conlist,
    root_validator,
    validator,
)

from assistant.errors import RecordInvalid

__all__ = [
    "CODE_PATTERN",
    "PROCEDURE_KEYS",
    "Answers",
    "AppliedFee",
    "Caveat",
    "CaveatTopic",
    "Confidence",
    "Document",
    "DocumentSplit",
    "Fee",
    "FeeChannel",
    "Level",
    "OnlineLevel",
    "Option",
    "OtherCode",
    "Procedure",
    "Problem",
    "Question",
    "RecordDate",
    "ReplacedAct",
    "Source",
    "Step",
    "TextFact",
    "applies",
    "check_dates",
    "check_records",
    "load_directory",
    "load_record_file",
    "parse_record",
]

logger = logging.getLogger(__name__)

#: The 26 procedures in scope, in the order of procedure-facts.md (Scope). A record's file is ``<key>.yml``.
PROCEDURE_KEYS: tuple[str, ...] = (
    "tai-khoan-vneid-muc-2",
    "the-can-cuoc",
    "xac-nhan-so-cmnd",
    "dang-ky-thuong-tru",
    "dang-ky-tam-tru",
    "khai-bao-tam-vang",
    "thong-bao-luu-tru",
    "dang-ky-xe",
    "nop-phat-giao-thong",
    "ho-chieu",
    "dang-ky-con-dau",
    "dang-ky-khai-sinh",
    "dang-ky-khai-tu",
    "dang-ky-ket-hon",
    "xac-nhan-tinh-trang-hon-nhan",
    "lien-thong-khai-sinh",
    "lien-thong-khai-tu",
    "ly-lich-tu-phap",
    "gia-han-bhyt-ho-gia-dinh",
    "dang-ky-thue-ca-nhan",
    "dang-ky-bien-dong-dat-dai",
    "doi-gplx",
    "dang-ky-thi-thpt",
    "tro-cap-that-nghiep",
    "cap-dien-moi",
    "thay-doi-chu-the-hop-dong-dien",
)

#: A mã TTHC: ``1.001456``, or with a local variant suffix ``3.000001_3``.
CODE_PATTERN = re.compile(r"^\d\.\d{6}(_\d+)?$")
_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
#: A VND figure in running text: ``100.000 đồng``, ``15.000đ``.
_MONEY = re.compile(r"\b\d{1,3}(?:[.,]\d{3})+\s*(?:đồng|đ\b|VND|vnđ)", re.IGNORECASE)

#: The citizen's answers to a record's questions: question id → option id (or several option ids).
Answers = Mapping[str, str | Sequence[str]]


class Level(str, Enum):
    """Which level of government handles the procedure."""

    commune = "commune"
    province = "province"
    central = "central"


class OnlineLevel(str, Enum):
    """How much of the procedure can be done online: ``full`` (toàn trình) or ``partial`` (một phần)."""

    full = "full"
    partial = "partial"


class FeeChannel(str, Enum):
    """Which filing channel a fee applies to."""

    online = "online"
    in_person = "in_person"
    any = "any"


class Confidence(str, Enum):
    """How sure we are of a fact: ``ok`` is stated, ``unconfirmed`` is shown with a caution."""

    ok = "ok"
    unconfirmed = "unconfirmed"


if TYPE_CHECKING:  # what the constrained types below validate to
    Text = str
    ShortText = str
    Identifier = str
    Code = str
    Amount = int
    When = dict[str, list[str]]
else:

    class Text(ConstrainedStr):
        """A non-empty string written as a string in the YAML (``2025`` or ``yes`` unquoted is refused)."""

        strict = True
        strip_whitespace = True
        min_length = 1

    class ShortText(Text):
        """A label for a button: at most 30 characters."""

        max_length = 30

    class Identifier(Text):
        """A ``snake_case`` identifier (question and option ids)."""

        regex = _SNAKE_CASE

    class Code(Text):
        """A mã TTHC such as ``"1.001456"``, quoted in the YAML so that zeros are kept."""

        regex = CODE_PATTERN

    #: VND, an integer written as a number: 0 = free.
    Amount = conint(strict=True, ge=0)
    #: question id → option ids for which an item applies.
    When = dict[Identifier, conlist(Identifier, min_items=1)]


class WebUrl(str):
    """An absolute ``https`` URL with a host, kept as a plain string (a citizen must be able to open it safely)."""

    @classmethod
    def __get_validators__(cls) -> Iterable[Any]:
        yield cls.validate

    @classmethod
    def validate(cls, value: Any) -> "WebUrl":
        """Check that ``value`` is a well-formed web address.

        Raises:
            TypeError: when it is not a string.
            ValueError: when it is not an absolute https URL with a host.
        """
        if not isinstance(value, str):
            raise TypeError("URL must be a string")
        url = value.strip()
        if not url or any(ch.isspace() for ch in url):
            raise ValueError("invalid URL: empty or contains spaces")
        try:
            parts = urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError for a malformed port
        except ValueError as e:
            raise ValueError(f"invalid URL: {e}") from e
        if parts.scheme != "https":
            raise ValueError("invalid URL: must start with https://")
        if not host or not ("." in host or host == "localhost") or host.startswith(".") or host.endswith("."):
            raise ValueError("invalid URL: no valid host")
        return cls(url)


class RecordDate(date):
    """A calendar date written ``YYYY-MM-DD`` (unquoted in the YAML). Validates to a plain ``date``."""

    @classmethod
    def __get_validators__(cls) -> Iterable[Any]:
        yield cls.validate

    @classmethod
    def validate(cls, value: Any) -> date:
        """Accept a ``date`` or an ISO ``YYYY-MM-DD`` string (as stored in JSON).

        Raises:
            ValueError: for anything else, including impossible days such as ``2026-02-30``.
        """
        if isinstance(value, datetime):
            raise TypeError("invalid date: give a day (YYYY-MM-DD), not a time")
        if isinstance(value, date):
            return value
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            try:
                return date.fromisoformat(value.strip())
            except ValueError as e:
                raise ValueError(f"invalid date {value!r}: {e}") from e
        raise ValueError(f"invalid date {value!r} (use YYYY-MM-DD)")


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
        _raise_on_duplicates([o.id for o in options], what="option id")
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


class CaveatTopic(str, Enum):
    """What a caveat is about: an aspect of the answer, or ``code`` (the procedure code and its link)."""

    overview = "overview"
    steps = "steps"
    documents = "documents"
    fee = "fee"
    processing_time = "processing_time"
    where = "where"
    eligibility = "eligibility"
    result = "result"
    code = "code"


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


class Problem(NamedTuple):
    """One finding of :func:`check_dates`: an ``error`` fails validation, a ``warning`` is only reported."""

    level: str
    message: str


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
        _raise_on_duplicates([q.id for q in questions], what="question id")
        return questions

    @root_validator(skip_on_failure=True)
    def _consistent(cls, values: dict[str, Any]) -> dict[str, Any]:
        problems = list(_cross_field_problems(values))
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
        for case in _cases(self.questions, fee.when):
            for channel in channels:
                if not any(o.channel in (FeeChannel.any, channel) and applies(o.when, case) for o in others):
                    return False
        return True

    def to_json_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready data (dates as ISO strings, enums as their values)."""
        return _json_ready(self.dict())


def applies(when: Mapping[str, Sequence[str]] | None, answers: Answers) -> bool:
    """Tell whether an item with condition ``when`` applies to ``answers``.

    Every question named in ``when`` must have been answered with one of its listed options. A question
    the citizen has not answered rules nothing out (we would rather show an item than hide one needed).

    Args:
        when: question id → option ids, or None for an item that always applies.
        answers: question id → chosen option id, or several ids.

    Returns:
        True when the item applies.

    Example:
        >>> applies({"situation": ["lost"]}, {"situation": "lost"})
        True
        >>> applies({"situation": ["lost"]}, {"situation": "first"})
        False
    """
    if not when:
        return True
    for question_id, option_ids in when.items():
        answer = answers.get(question_id)
        if answer is None:
            continue
        chosen = {str(a) for a in answer} if isinstance(answer, list | tuple | set) else {str(answer)}
        if not chosen & set(option_ids):
            return False
    return True


def _valid_on(fee: Fee, day: date) -> bool:
    return (fee.valid_from is None or fee.valid_from <= day) and (fee.valid_to is None or fee.valid_to >= day)


def _cases(questions: Sequence[Question], when: Mapping[str, Sequence[str]] | None) -> list[dict[str, str]]:
    """Every full set of answers (one option per question) for which an item with ``when`` applies."""
    cases: list[dict[str, str]] = [{}]
    for question in questions:
        allowed = (when or {}).get(question.id)
        options = [o.id for o in question.options if allowed is None or o.id in allowed]
        cases = [{**case, question.id: option} for case in cases for option in options]
    return cases


def _months_before(day: date, months: int) -> date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


def _names_replaced(text: str, replaced: ReplacedAct) -> bool:
    """A legal-basis text cites a replaced act as current: it names the act and not its replacement."""
    return replaced.act in text and replaced.by not in text


#: How old a record's newest source may be before validation warns.
STALE_AFTER_MONTHS = 6
#: Warn this many days before a fee ends without a successor.
ENDING_SOON_DAYS = 31


def check_dates(record: Procedure, *, today: date, source: str | None = None) -> list[Problem]:
    """Check what depends on the day: fees that ended, acts that were replaced, sources grown old.

    Errors: a fee whose validity ended with no successor (:meth:`Procedure.has_successor`); a current fee
    or a ``legal_basis`` entry citing an act that ``replaced_acts`` marks as replaced (from ``since``).
    Warnings: the newest source (``sources[].accessed`` or ``verified_on``) is older than 6 months; a fee
    ends within a month with no successor.

    Args:
        record: a validated record.
        today: the day to judge on (Vietnam's date; tests pass the day they need).
        source: how to name the record in messages (default ``procedures/<key>.yml``).

    Returns:
        The problems, errors first.
    """
    name = source or f"procedures/{record.key}.yml"
    errors: list[Problem] = []
    warnings: list[Problem] = []
    replaced = [r for r in record.replaced_acts if r.since is None or r.since <= today]
    for i, fee in enumerate(record.fees):
        if fee.valid_to is not None and not record.has_successor(fee):
            if fee.valid_to < today:
                errors.append(Problem("error", (
                    f"{name}: fees.{i}: {fee.label!r} ended on {fee.valid_to.isoformat()} and no fee takes over "
                    "(add the fee that applies from the day after, amount null if not confirmed)"
                )))
            elif fee.valid_to <= today + timedelta(days=ENDING_SOON_DAYS):
                warnings.append(Problem("warning", (
                    f"{name}: fees.{i}: {fee.label!r} ends on {fee.valid_to.isoformat()} and no fee takes over"
                )))
        if fee.legal_basis and not (fee.valid_to is not None and fee.valid_to < today):
            for act in replaced:
                if _names_replaced(fee.legal_basis, act):
                    errors.append(Problem("error", (
                        f"{name}: fees.{i}.legal_basis: {act.act} is replaced by {act.by} (replaced_acts); "
                        "end the fee (valid_to) or cite the new act"
                    )))
    for i, basis in enumerate(record.legal_basis):
        for act in replaced:
            if _names_replaced(basis, act):
                errors.append(Problem("error", (
                    f"{name}: legal_basis.{i}: {act.act} is replaced by {act.by} (replaced_acts); cite the new act"
                )))
    newest = max([s.accessed for s in record.sources if s.accessed] + [record.verified_on])
    if newest < _months_before(today, STALE_AFTER_MONTHS):
        warnings.append(Problem("warning", (
            f"{name}: sources: newest source checked on {newest.isoformat()}, more than "
            f"{STALE_AFTER_MONTHS} months ago; re-check the facts against the official pages"
        )))
    return errors + warnings


def _raise_on_duplicates(ids: list[str], *, what: str) -> None:
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)


def _cross_field_problems(values: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """Yield (field path, message) for inconsistencies between fields of one record."""
    options = {q.id: {o.id for o in q.options} for q in values["questions"]}
    for section in ("steps", "documents", "fees", "caveats"):
        for i, item in enumerate(values[section]):
            for question_id, option_ids in (item.when or {}).items():
                path = f"{section}.{i}.when.{question_id}"
                if question_id not in options:
                    yield path, f"unknown question id {question_id!r}"
                    continue
                for option_id in option_ids:
                    if option_id not in options[question_id]:
                        yield path, f"unknown option id {option_id!r} of question {question_id!r}"
    for i, doc in enumerate(values["documents"]):
        if doc.not_needed and doc.reason is None:
            yield f"documents.{i}.reason", "required when not_needed is true"
        if not doc.not_needed and doc.reason is not None:
            yield f"documents.{i}.reason", "only for documents with not_needed: true (use note)"
    key = values["key"]
    seen: set[str] = set()
    for i, prerequisite in enumerate(values["prerequisites"]):
        if prerequisite == key:
            yield f"prerequisites.{i}", "a procedure cannot be its own prerequisite"
        if prerequisite in seen:
            yield f"prerequisites.{i}", f"duplicate prerequisite {prerequisite!r}"
        seen.add(prerequisite)
    if values["code"] is None and not any(CaveatTopic.code in c.about for c in values["caveats"]):
        yield "caveats", "a record without code needs a caveat with about: [code] saying why (and how to find the procedure)"
    for i, step in enumerate(values["steps"]):
        if _MONEY.search(step.text):
            yield f"steps.{i}.text", "no fee figures in step texts: fees go in `fees` (with their validity dates)"
    codes = ([values["code"]] if values["code"] else []) + [c.code for c in values["other_codes"]]
    for i, other in enumerate(values["other_codes"]):
        if codes.count(other.code) > 1:
            yield f"other_codes.{i}.code", f"code {other.code!r} appears twice in this record"


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


def _format_errors(source: str, error: ValidationError) -> list[str]:
    """Turn a pydantic error into lines ``<source>: <field.path>: <message>``.

    Problems found by :meth:`Procedure._consistent` come as one ``__root__`` error whose message has one
    ``<field.path>: <message>`` line per problem; those paths are joined to the error's location.
    """
    lines = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        message = item["msg"]
        if item["type"] == "type_error.str":
            message += " (quote the value in the YAML)"
        elif item["type"] == "value_error.extra":
            message = "unknown field (see docs/procedure-record.md)"
        elif item["type"] == "value_error.missing":
            message = "field required"
        if loc and loc[-1] == "__root__":
            parents = loc[:-1]
            for line in message.splitlines():
                path, _, text = line.partition(": ")
                lines.append(f"{source}: {'.'.join([*parents, path])}: {text}")
        else:
            lines.append(f"{source}: {'.'.join(loc)}: {message}")
    return lines


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML safe loader for records.

    It refuses a mapping with the same key twice (PyYAML would keep the last one silently), and it
    leaves dates as text so that :class:`RecordDate` reports an impossible day with its field path.
    """


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


def _construct_timestamp(loader: _UniqueKeyLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def _display(path: Path) -> str:
    """Name a file as ``procedures/ho-chieu.yml`` (its folder and name), short enough for messages."""
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def parse_record(data: Any, *, source: str = "<record>") -> Procedure:
    """Validate already-parsed data (a mapping) as a procedure record.

    Args:
        data: the record, e.g. the YAML document or ``ProcedureRow.data``.
        source: how to name the record in error messages.

    Returns:
        The validated record.

    Raises:
        RecordInvalid: listing every problem as ``<source>: <field path>: <message>``.
    """
    if not isinstance(data, Mapping):
        raise RecordInvalid(f"{source}: the record must be a YAML mapping (key: value), not {type(data).__name__}")
    try:
        return Procedure.parse_obj(data)
    except ValidationError as e:
        raise RecordInvalid("\n".join(_format_errors(source, e))) from e


def load_record_file(path: Path) -> Procedure:
    """Read and validate one record file; its name must be ``<key>.yml``.

    Args:
        path: the YAML file.

    Returns:
        The validated record.

    Raises:
        RecordInvalid: naming the file and the field path of every problem, e.g.
            ``procedures/ho-chieu.yml: fees.0.valid_to: invalid date '2026-02-30': ...``.
    """
    source = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RecordInvalid(f"{source}: cannot read the file: {e}") from e
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as e:
        raise RecordInvalid(f"{source}: invalid YAML: {' '.join(str(e).split())}") from e
    record = parse_record(data, source=source)
    if record.key != path.stem:
        raise RecordInvalid(f"{source}: key: {record.key!r} does not match the file name (expected {path.stem!r})")
    return record


def check_records(
    records: Sequence[Procedure], *, folder: str = "procedures", present: Iterable[str] = ()
) -> list[str]:
    """Check what spans records: prerequisites have a record, codes are unique.

    Args:
        records: validated records.
        folder: the folder name used in messages.
        present: keys of other files in the folder (e.g. invalid ones), which count as existing.

    Returns:
        One message per problem (empty when all is well).
    """
    problems: list[str] = []
    keys = {r.key for r in records} | set(present)
    code_owner: dict[str, str] = {}
    for record in records:
        source = f"{folder}/{record.key}.yml"
        for i, prerequisite in enumerate(record.prerequisites):
            if prerequisite not in keys:
                problems.append(f"{source}: prerequisites.{i}: no record for {prerequisite!r}")
        if record.code is None:
            continue
        owner = code_owner.setdefault(record.code, record.key)
        if owner != record.key:
            problems.append(f"{source}: code: {record.code!r} is already the code of {owner}")
    return problems


def load_directory(path: Path) -> list[Procedure]:
    """Read and validate every ``*.yml`` record of a folder, then the checks across records.

    Args:
        path: the folder, usually ``procedures/``.

    Returns:
        The records, in the order of :data:`PROCEDURE_KEYS`.

    Raises:
        RecordInvalid: listing the problems of all files at once, one per line.
    """
    if not path.is_dir():
        raise RecordInvalid(f"{path}: not a folder")
    errors: list[str] = []
    records: list[Procedure] = []
    for stray in sorted(path.glob("*.yaml")):
        errors.append(f"{_display(stray)}: record files end in .yml")
    files = sorted(path.glob("*.yml"))
    for file in files:
        try:
            records.append(load_record_file(file))
        except RecordInvalid as e:
            errors.extend(str(e).splitlines())
    errors.extend(check_records(records, folder=path.name, present=(f.stem for f in files)))
    if errors:
        raise RecordInvalid("\n".join(errors))
    logger.debug("validated %s procedure records in %s", len(records), path)
    return sorted(records, key=lambda r: PROCEDURE_KEYS.index(r.key))
