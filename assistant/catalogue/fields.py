"""What a procedure record's fields may hold: the 26 keys, codes, identifiers, texts, amounts, URLs, dates, enums.

The models of :mod:`assistant.catalogue.schema` are built from these types. A text must be written as a string
in the YAML (``2025`` or ``yes`` unquoted is refused), a date as ``YYYY-MM-DD``, a URL as an absolute ``https``
address with a host; each refusal names the value, and the loader adds the file and the field path.
"""

import re
from collections.abc import Iterable
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import ConstrainedStr, conint, conlist

__all__ = [
    "CODE_PATTERN",
    "PROCEDURE_KEYS",
    "Amount",
    "CaveatTopic",
    "Code",
    "Confidence",
    "FeeChannel",
    "Identifier",
    "Level",
    "OnlineLevel",
    "RecordDate",
    "ShortText",
    "Text",
    "WebUrl",
    "When",
]

#: The 26 procedures in scope, in a fixed order (records are listed in it). A record's file is ``<key>.yml``.
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
