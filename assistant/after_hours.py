"""Out of desk hours a hand-off is a call-back: when the desk is open, and collecting a contact to call back.

In desk hours (``ASSISTANT_DESK_HOURS``, read in Vietnam time) a citizen who asks for a person waits for staff in
the chat. Outside them :class:`~assistant.handoff.HandoffService` records a ``callback`` hand-off and
:func:`collect_step` holds the citizen's next messages for a short exchange: whether they agree to leave a phone
number or an e-mail, then the contact itself, confirmed masked (``091****678``). Declining, or leaving a contact,
ends it: the bot answers again meanwhile, and staff see the request in the queue and call back.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, time
from typing import Any

from assistant.db.models import Handoff, HandoffStatus
from assistant.logs import mask_pii
from assistant.text.formatting import VIETNAM
from assistant.text.normalize import fold

__all__ = [
    "collect_step",
    "consent_question",
    "contact_saved",
    "find_contact",
    "mask_contact",
    "parse_desk_hours",
    "within_desk_hours",
]

logger = logging.getLogger(__name__)

CONSENT_TEXT = (
    "Hiện đang ngoài giờ làm việc của bộ phận một cửa ({hours}). Bạn có đồng ý để lại số điện thoại hoặc email "
    "để cán bộ liên hệ lại trong giờ làm việc không? Thông tin này chỉ dùng để gọi lại cho bạn."
)
CONSENT_BUTTONS = [{"title": "Đồng ý", "payload": "/affirm"}, {"title": "Không, cảm ơn", "payload": "/deny"}]
ASK_CONTACT_TEXT = "Mời bạn nhập số điện thoại hoặc địa chỉ email để cán bộ liên hệ lại."
BAD_CONTACT_TEXT = (
    "Mình chưa nhận ra số điện thoại hay email trong tin nhắn này. Bạn nhập lại giúp mình (ví dụ 0912345678 "
    "hoặc ten@example.com), hoặc bấm “Thôi” nếu không muốn để lại."
)
CANCEL_BUTTON = [{"title": "Thôi", "payload": "/deny"}]
CONTACT_SAVED_TEXT = (
    "Cảm ơn bạn. Cán bộ sẽ liên hệ lại qua {contact} trong giờ làm việc. Trong lúc chờ, trợ lý ảo vẫn hỗ trợ bạn."
)
DECLINED_TEXT = "Vâng ạ. Bạn có thể nhắn “gặp cán bộ” trong giờ làm việc; trong lúc này trợ lý ảo vẫn hỗ trợ bạn."

_YES = {"/affirm", "co", "dong y", "ok", "oke", "vang", "u", "uh", "yes", "duoc", "co a", "dong y a", "vang a"}
_NO = {"/deny", "khong", "ko", "k", "thoi", "no", "khong can", "khong a", "thoi a", "huy"}
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<!\d)(?:\+?84|0)(?:[\s.-]?\d){8,10}(?!\d)")
_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def parse_desk_hours(spec: str) -> list[tuple[set[int], list[tuple[time, time]]]]:
    """Parse ``mon-fri 07:30-11:30,13:30-17:00; sat 07:30-11:30`` into (weekdays, time ranges) groups.

    Raises:
        ValueError: the text is not in that form.
    """
    groups: list[tuple[set[int], list[tuple[time, time]]]] = []
    for part in spec.split(";"):
        part = part.strip().lower()
        if not part:
            continue
        days_text, _, ranges_text = part.partition(" ")
        days: set[int] = set()
        for chunk in days_text.split(","):
            first, _, last = chunk.partition("-")
            if first not in _DAYS or (last and last not in _DAYS):
                raise ValueError(f"desk hours: unknown day in {part!r}")
            a, b = _DAYS.index(first), _DAYS.index(last or first)
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        ranges: list[tuple[time, time]] = []
        for chunk in ranges_text.replace(" ", "").split(","):
            start, _, end = chunk.partition("-")
            try:
                ranges.append((time.fromisoformat(start.zfill(5)), time.fromisoformat(end.zfill(5))))
            except ValueError as e:
                raise ValueError(f"desk hours: bad time range {chunk!r}") from e
        groups.append((days, ranges))
    return groups


def within_desk_hours(spec: str, now: datetime) -> bool:
    """True when ``now`` (any timezone) falls in the desk hours, read in Vietnam time; always True for ``""``."""
    groups = parse_desk_hours(spec)
    if not groups:
        return True
    local = now.astimezone(VIETNAM)
    return any(
        local.weekday() in days and any(start <= local.time() < end for start, end in ranges) for days, ranges in groups
    )


def find_contact(text: str) -> str | None:
    """The first e-mail address or Vietnamese phone number in ``text`` (a phone number without separators)."""
    email = _EMAIL.search(text)
    if email:
        return email.group(0)
    phone = _PHONE.search(text)
    if phone:
        return re.sub(r"[\s.-]", "", phone.group(0))
    return None


def mask_contact(contact: str) -> str:
    """A contact as shown to the citizen and in logs: ``091****678``, ``n***@example.com``."""
    if "@" in contact:
        name, _, domain = contact.partition("@")
        return f"{name[:1]}***@{domain}"
    return mask_pii(contact)


def _answer_of(text: str) -> str | None:
    """``yes``/``no`` for a consent answer (button payload or words), else None."""
    words = fold(text).strip(" .!?")
    if words.startswith("/affirm") or words in _YES:
        return "yes"
    if words.startswith("/deny") or words in _NO:
        return "no"
    return None


def consent_question(hours_text: str) -> dict[str, Any]:
    """The question whether the citizen agrees to leave a contact, with its two buttons."""
    return {"text": CONSENT_TEXT.format(hours=hours_text), "buttons": list(CONSENT_BUTTONS)}


def contact_saved(contact: str) -> dict[str, Any]:
    """The confirmation of a contact left for a call-back, masked."""
    return {"text": CONTACT_SAVED_TEXT.format(contact=mask_contact(contact))}


def _decline(handoff: Handoff) -> list[dict[str, Any]]:
    handoff.callback_state = "declined"
    handoff.status = HandoffStatus.closed.value
    handoff.closed_reason = "declined"
    return [{"text": DECLINED_TEXT}]


def collect_step(handoff: Handoff, text: str, *, hours_text: str) -> list[dict[str, Any]] | None:
    """One step of the out-of-hours call-back: consent, then the contact (``handoff`` is in a session).

    Args:
        handoff: the conversation's active ``callback`` hand-off; its call-back state is updated.
        text: the citizen's message.
        hours_text: the desk hours as told to citizens.

    Returns:
        The messages to answer while the message is held from the bot, or None once the exchange is over
        (contact left or declined): the bot answers meanwhile.
    """
    state = handoff.callback_state
    if state == "consent":
        answer = _answer_of(text)
        if answer == "yes":
            handoff.callback_state = "contact"
            return [{"text": ASK_CONTACT_TEXT, "buttons": list(CANCEL_BUTTON)}]
        if answer == "no":
            return _decline(handoff)
        return [consent_question(hours_text)]
    if state == "contact":
        contact = find_contact(text)
        if contact is not None:
            handoff.callback_state = "done"
            handoff.callback_contact = contact
            logger.info("hand-off %s: call-back contact %s left", handoff.id, mask_contact(contact))
            return [contact_saved(contact)]
        if _answer_of(text) == "no":
            return _decline(handoff)
        return [{"text": BAD_CONTACT_TEXT, "buttons": list(CANCEL_BUTTON)}]
    return None
