"""Desk cases: the officer opens a case for the citizen at the desk; its QR code opens it on the citizen's phone.

A desk case (table ``desk_cases``) is what the officer chose on the checklist page: a procedure and the citizen's
answers to its questions (one option each), who opened it and until when its code is valid
(``ASSISTANT_DESK_CASE_DAYS``, 7 days). It holds no personal data.

The printed checklist carries a QR code of ``<page>?hoso=<code>`` (the page: ``ASSISTANT_PUBLIC_URL``, else this
server's demo page). The code is ``<case id>.<expiry, Unix time>.<HMAC-SHA256, base64url>``, signed with a key
derived from ``ASSISTANT_SESSION_SECRET`` for this purpose only (:func:`assistant.channels.web_auth.derived_key`):
it names the case, never a conversation.

The widget on that page sends the code to ``POST /webhooks/web/cases``, which opens a fresh web conversation
at step 1 of the steps that apply to the case (:func:`seed_slots`, :meth:`ConversationEngine.seed`). Each scan on
another phone (or after the widget forgot its conversation) opens a conversation of its own, so a code that
someone else scans never shows what the citizen wrote.

Example:
    >>> case = create_case(db, procedure=card, answers={"situation": "lost"}, officer="canbo1")  # doctest: +SKIP
    >>> case_link("https://dichvucong.tinh.gov.vn/tro-ly", sign_case(key, case.id, case.expires_at))  # doctest: +SKIP
    'https://dichvucong.tinh.gov.vn/tro-ly?hoso=12.1797571200.Qm9…'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import segno
from sqlalchemy.engine import Engine

from assistant.catalogue.schema import Procedure
from assistant.channels.web_auth import derived_key
from assistant.db.models import DeskCase, utcnow
from assistant.db.session import get_detached, session_scope
from assistant.errors import AssistantError
from assistant.settings import Settings

__all__ = [
    "CASE_PARAM",
    "FIRST_STEP_ACTION",
    "CaseCodeExpired",
    "CaseCodeInvalid",
    "CaseCodeRefused",
    "case_key",
    "case_link",
    "create_case",
    "expires_of",
    "get_case",
    "intro_text",
    "qr_svg",
    "read_case_code",
    "seed_slots",
    "sign_case",
    "valid_answers",
]

#: The query parameter of the page address that carries a desk case's code (the widget reads it).
CASE_PARAM = "hoso"
#: The action that shows the walkthrough's current step (``guide_step``) with its buttons: a seeded case's first reply.
FIRST_STEP_ACTION = "action_guide_repeat"
_KEY_LABEL = b"assistant desk case code v1"
_CODE = re.compile(r"([1-9][0-9]{0,11})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})")


class CaseCodeRefused(AssistantError):
    """A desk case's code that opens nothing."""


class CaseCodeInvalid(CaseCodeRefused):
    """A code that is malformed, cut short or forged."""


class CaseCodeExpired(CaseCodeRefused):
    """A genuine code past its expiry."""

    def __init__(self, expires_at: datetime) -> None:
        super().__init__(f"desk case code expired at {expires_at.isoformat()}")
        self.expires_at = expires_at


def case_key(settings: Settings) -> bytes:
    """The key that signs desk cases' codes (its own, derived from the session secret)."""
    return derived_key(settings, _KEY_LABEL)


def _signature(key: bytes, case_id: int, expires: int) -> str:
    digest = hmac.new(key, f"desk-case:{case_id}.{expires}".encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _aware(moment: datetime) -> datetime:
    """A datetime read back from SQLite is naive UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def sign_case(key: bytes, case_id: int, expires_at: datetime) -> str:
    """The code of case ``case_id``, valid until ``expires_at`` (whole seconds).

    Returns:
        ``<case id>.<expiry, Unix time>.<signature>``, e.g. ``12.1797571200.Qm9…``.
    """
    expires = int(_aware(expires_at).timestamp())
    return f"{case_id}.{expires}.{_signature(key, case_id, expires)}"


def read_case_code(key: bytes, code: str | None, *, now: float | None = None) -> int:
    """The case a code opens.

    Args:
        key: :func:`case_key`.
        code: what followed ``?hoso=`` in the scanned address.
        now: the current Unix time (tests).

    Raises:
        CaseCodeInvalid: a missing, malformed or forged code.
        CaseCodeExpired: a genuine code past its expiry.
    """
    match = _CODE.fullmatch((code or "").strip())
    if match is None:
        raise CaseCodeInvalid("not a desk case code")
    case_id, expires = int(match.group(1)), int(match.group(2))
    if not hmac.compare_digest(match.group(3), _signature(key, case_id, expires)):
        raise CaseCodeInvalid("desk case code with a wrong signature")
    if (now if now is not None else time.time()) >= expires:
        raise CaseCodeExpired(datetime.fromtimestamp(expires, tz=timezone.utc))
    return case_id


def case_link(page: str, code: str) -> str:
    """``page`` with ``?hoso=<code>`` added to its query (its other parameters and fragment kept)."""
    parts = urlsplit(page)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != CASE_PARAM]
    return urlunsplit(parts._replace(query=urlencode([*query, (CASE_PARAM, code)])))


def qr_svg(url: str) -> str:
    """The QR code of ``url`` as an inline ``<svg class="qr">`` (a viewBox, no size: CSS sizes it).

    Error correction level M (15% of the code may be smudged or folded); the quiet zone of 4 modules is inside.
    """
    code = segno.make(url, error="m", micro=False)
    return str(code.svg_inline(omitsize=True, border=4, svgclass="qr", lineclass=None, title="Mã QR mở hồ sơ trên trợ lý ảo"))


def valid_answers(procedure: Procedure, answers: Mapping[str, Any]) -> dict[str, str]:
    """The answers to ``procedure``'s questions that name one of its options; others are dropped.

    A question answered with several options (or none) counts as unanswered: it rules no step out.
    """
    kept: dict[str, str] = {}
    for question in procedure.questions:
        value = answers.get(question.id)
        if isinstance(value, str) and value in {o.id for o in question.options}:
            kept[question.id] = value
    return kept


def create_case(
    db_engine: Engine,
    *,
    procedure: Procedure,
    answers: Mapping[str, Any],
    officer: str,
    valid_for: timedelta = timedelta(days=7),
    now: datetime | None = None,
) -> DeskCase:
    """Open a desk case (its answers checked against the procedure's questions); the row, detached."""
    created = now or utcnow()
    case = DeskCase(
        procedure_key=procedure.key,
        answers=valid_answers(procedure, answers),
        officer=officer,
        created_at=created,
        expires_at=(created + valid_for).replace(microsecond=0),
    )
    with session_scope(db_engine) as session:
        session.add(case)
        session.flush()
        session.expunge(case)
    return case


def get_case(db_engine: Engine, case_id: int) -> DeskCase | None:
    """One desk case, detached from its session, or None."""
    return get_detached(db_engine, DeskCase, case_id)


def expires_of(case: DeskCase) -> datetime:
    """The case's expiry as an aware datetime (SQLite gives it back naive)."""
    return _aware(case.expires_at)


def seed_slots(procedure: Procedure, answers: Mapping[str, str]) -> dict[str, Any]:
    """The slots of a conversation walking through ``procedure`` for ``answers``, at its first step.

    The same slots the guide sets after its questions (actions/guide.py): the interview is already answered,
    ``guide_step`` 0 is step 1 of the steps that apply, and the answers are what the conversation knows of the
    citizen's situation (so a fee question later is answered for their case).
    """
    chosen = dict(valid_answers(procedure, answers))
    return {
        "procedure": procedure.key,
        "aspect": "steps",
        "guide_procedure": procedure.key,
        "guide_answers": chosen,
        "known_answers": {procedure.key: dict(chosen)},
        "guide_step": 0,
    }


def intro_text(procedure: Procedure, answers: Mapping[str, str]) -> str:
    """What the citizen reads first on the phone: the case the officer opened, then the walkthrough begins."""
    labels = [o.label for q in procedure.questions for o in q.options if answers.get(q.id) == o.id]
    case = f", trường hợp: {'; '.join(labels)}" if labels else ""
    return (
        f"Cán bộ một cửa đã lập hồ sơ “{procedure.name}” cho bạn{case}. "
        "Mình hướng dẫn bạn làm tiếp online tại nhà, từng bước; xong bước nào bạn bấm “Tiếp theo”."
    )
