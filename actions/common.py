"""What every action shares: the catalogue, the buttons, and how a procedure's facts are written.

Rendering rules (the fact sheet's "How to use these facts"; the record format: docs/procedure-record.md):
- a confirmed fact is stated; an unconfirmed one carries "thông tin tham khảo, vui lòng kiểm tra lại";
- dates decide on Vietnam's today (:func:`today`): a fee whose ``valid_to`` has passed is never stated, the fee
  that took over is shown instead, or, when none did, a caution and the portal;
- caveats tagged with the aspect (and unconfirmed "không cần mang" documents) go in one line under the answer;
- every procedure answer ends with the source, the date the source was checked and the link to do it online.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from functools import lru_cache
from typing import Any, Dict, List, Optional, Set

from rasa_sdk import Tracker

from assistant.catalogue.answers import applies
from assistant.catalogue.dates import vietnam_today
from assistant.catalogue.schema import AppliedFee, Procedure
from assistant.catalogue.service import Catalogue
from assistant.errors import ProcedureNotFound
from assistant.settings import get_settings
from assistant.text.formatting import vn_date, vnd

logger = logging.getLogger(__name__)

UNCONFIRMED = "(thông tin tham khảo, vui lòng kiểm tra lại)"
PORTAL = "https://dichvucong.gov.vn"

BUTTON_HUMAN = {"title": "Gặp cán bộ", "payload": "/request_human"}
BUTTON_NEXT = {"title": "Tiếp theo", "payload": "/next_step"}
BUTTON_BACK = {"title": "Quay lại", "payload": "/previous_step"}
BUTTON_REPEAT = {"title": "Nhắc lại", "payload": "/repeat_step"}
BUTTON_SERVICES = {"title": "Xem các dịch vụ", "payload": "/list_services"}

ASPECT_TITLES = {
    "documents": "Xem giấy tờ cần chuẩn bị",
    "fee": "Lệ phí",
    "processing_time": "Thời gian giải quyết",
    "where": "Làm ở đâu",
    "result": "Nhận kết quả",
    "eligibility": "Ai được làm",
}


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The procedure catalogue, read once per process from the configured database."""
    from assistant.db.session import make_engine

    return Catalogue.from_db(make_engine(get_settings().database_url))


def get_procedure(key: Optional[str]) -> Optional[Procedure]:
    """The record for ``key``, or None when the key is empty or unknown."""
    if not key:
        return None
    try:
        return catalogue().get(key)
    except ProcedureNotFound:
        logger.warning("unknown procedure key %s", key)
        return None


def today() -> date:
    """Vietnam's date today (Asia/Ho_Chi_Minh, or ``ASSISTANT_TODAY``): the one place tests patch."""
    return vietnam_today()


def payload(intent: str, **entities: Any) -> str:
    """A button payload that bypasses NLU: ``/intent{"key": "value"}``."""
    import json

    if not entities:
        return f"/{intent}"
    return f"/{intent}{json.dumps(entities, ensure_ascii=False)}"


def caution(confidence: Any) -> str:
    """The caution to append to an unconfirmed fact ('' for a confirmed one)."""
    return "" if str(getattr(confidence, "value", confidence)) == "ok" else f" {UNCONFIRMED}"


def source_line(procedure: Procedure) -> str:
    """The footer every procedure answer ends with: source, the date it was checked, link to do it online."""
    title = procedure.sources[0].title
    for stop in (":", " ("):
        title = title.split(stop, 1)[0]
    return (
        f"Nguồn: {title.strip()} (nguồn được kiểm tra ngày {vn_date(procedure.verified_on)}). "
        f"Làm online: {procedure.portal_url}"
    )


def with_source(text: str, procedure: Procedure) -> str:
    """``text`` followed by the procedure's source footer, in the same chat bubble."""
    return f"{text}\n—\n{source_line(procedure)}"


def channel_label(channel: Any) -> str:
    value = str(getattr(channel, "value", channel))
    return {"online": "nộp online", "in_person": "nộp trực tiếp", "any": "trực tiếp hoặc online"}.get(value, value)


def fee_line(applied: AppliedFee) -> str:
    """One fee as a bullet, honest about dates and confirmation: an expired figure is never shown."""
    fee = applied.fee
    label = f"{fee.label}, áp dụng từ {vn_date(fee.valid_from)}" if applied.upcoming and fee.valid_from else fee.label
    if applied.expired and fee.valid_to:
        return (
            f"• {label}: mức cũ chỉ áp dụng đến {vn_date(fee.valid_to)}; "
            f"mức hiện hành chưa được xác nhận, vui lòng xem trên cổng {PORTAL}"
        )
    if fee.amount is None:
        basis = f" (căn cứ {fee.legal_basis})" if fee.legal_basis else ""
        return f"• {label}: chưa có mức phí được xác nhận{basis}, vui lòng xem trên cổng {PORTAL}"
    line = f"• {label}: {vnd(fee.amount)} ({channel_label(fee.channel)})"
    if fee.valid_to:
        line += f", áp dụng đến {vn_date(fee.valid_to)}"
    if fee.legal_basis:
        line += f"; căn cứ {fee.legal_basis}"
    return line + caution(fee.confidence)


def fee_lines(procedure: Procedure, answers: Dict[str, str]) -> List[str]:
    """Every fee line that applies to the citizen's answers on Vietnam's today.

    A fee that has ended is replaced by its successor (shown on its own line); one that ended without a
    successor is shown as a caution. Fees starting later are shown with their start date.
    """
    return [fee_line(f) for f in procedure.fees_for(answers, today=today()) if not f.superseded]


#: Which caveat topics an answer on an aspect shows (default: the aspect itself).
CAVEAT_TOPICS: Dict[str, Set[str]] = {
    "overview": {"overview", "fee", "processing_time"},
    "steps": {"steps", "code"},
    "where": {"where", "code"},
}


def caveat_line(procedure: Procedure, aspect: str, answers: Dict[str, str]) -> str:
    """The one short line of caveats under an answer on ``aspect`` ('' when none matters).

    It holds the record's caveats tagged with the aspect (``caveats[].about``, see docs/procedure-record.md)
    and, under the documents answer, names the "không cần mang" documents that are not confirmed.
    """
    topics = CAVEAT_TOPICS.get(aspect, {aspect})
    day = today()
    parts = [
        c.text
        for c in procedure.caveats
        if any(t.value in topics for t in c.about)
        and (c.valid_to is None or c.valid_to >= day)
        and applies(c.when, answers)
    ]
    if aspect == "documents":
        unsure = [d.name for d in procedure.documents_for(answers).not_needed if caution(d.confidence)]
        if unsure:
            parts.append(f"Việc không cần mang {', '.join(unsure)} chưa được xác nhận {UNCONFIRMED}.")
    return f"⚠️ Lưu ý: {' '.join(parts)}" if parts else ""


def answers_of(tracker: Tracker) -> Dict[str, str]:
    """The citizen's answers to the current guide's questions."""
    answers = tracker.get_slot("guide_answers")
    return dict(answers) if isinstance(answers, dict) else {}


def how_to_submit(procedure: Procedure, answers: Optional[Dict[str, str]] = None) -> str:
    """Online (fully or partly) and in person: what "làm online được không", "có phải lên công an không" ask.

    For a procedure done online only in part, the steps of the citizen's case that are done in person
    (their titles say "đến": "Đến thu nhận sinh trắc", "Cả hai cùng đến ký") are named.
    """
    online = "toàn trình (làm hết trên mạng)" if procedure.online.value == "full" else "một phần (có bước phải đến trực tiếp)"
    text = (
        f"Nộp online {online} trên Cổng Dịch vụ công quốc gia hoặc ứng dụng VNeID; "
        "nộp trực tiếp được tại bất kỳ Trung tâm phục vụ hành chính công cấp xã nào trong tỉnh."
    )
    in_person = [s for s in procedure.steps_for(answers or {}) if re.search(r"(^|\s)đến(\s|$)", s.title.lower())]
    if procedure.online.value != "full" and in_person:
        text += " Phải đến trực tiếp: " + "; ".join(f"{s.title.lower()} ({s.text})" for s in in_person)
    return text


def render_aspect(procedure: Procedure, aspect: str, answers: Dict[str, str]) -> str:
    """The answer to one aspect of a procedure with its caveat line (:func:`caveat_line`), without the footer."""
    text = _aspect_text(procedure, aspect, answers)
    line = caveat_line(procedure, aspect, answers)
    return f"{text}\n{line}" if line else text


def _aspect_text(procedure: Procedure, aspect: str, answers: Dict[str, str]) -> str:
    """The answer to one aspect of a procedure, without caveats or the source footer."""
    name = procedure.name
    if aspect == "fee":
        return f"Lệ phí – {name}:\n" + "\n".join(fee_lines(procedure, answers))
    if aspect == "documents":
        split = procedure.documents_for(answers)
        lines = [f"Giấy tờ cần chuẩn bị – {name}:"]
        lines += [
            f"• {d.name}" + (f" – {d.note}" if d.note else "") + caution(d.confidence) for d in split.needed
        ]
        if split.not_needed:
            lines.append("Bạn KHÔNG cần mang/nộp:")
            lines += [f"• {d.name} – {d.reason}" for d in split.not_needed]
        return "\n".join(lines)
    if aspect == "processing_time":
        fact = procedure.processing_time
        return f"Thời gian giải quyết – {name}: {fact.text}{caution(fact.confidence)}"
    if aspect == "where":
        return f"Nơi giải quyết – {name}: {procedure.agency}.\n{how_to_submit(procedure, answers)}"
    if aspect == "result":
        fact = procedure.result
        return f"Kết quả – {name}: {fact.text}{caution(fact.confidence)}"
    if aspect == "eligibility":
        if procedure.eligibility is None:
            text = (
                f"Điều kiện – {name}: mình chưa có thông tin được xác nhận về đối tượng/điều kiện. "
                f"Bạn xem chi tiết trên cổng: {procedure.portal_url}\n{how_to_submit(procedure, answers)}"
            )
            first = next(iter(procedure.steps_for(answers)), None)
            if answers and first is not None and first.when:  # what the citizen's own case starts with
                text += f"\nTrong trường hợp của bạn: {first.title} – {first.text}{caution(first.confidence)}"
            return text
        fact = procedure.eligibility
        return f"Ai được làm – {name}: {fact.text}{caution(fact.confidence)}\n{how_to_submit(procedure, answers)}"
    if aspect == "steps":
        steps = procedure.steps_for(answers)
        lines = [f"Các bước làm online – {name} ({len(steps)} bước):"]
        lines += [f"{i}. {s.title}" for i, s in enumerate(steps, 1)]
        lines.append("Bấm “Hướng dẫn làm online từng bước” để mình dẫn bạn làm từng bước một.")
        return "\n".join(lines)
    # overview
    online = "làm online toàn trình" if procedure.online.value == "full" else "làm online một phần"
    fees = fee_lines(procedure, answers)
    if len(fees) == 1:
        fee_text = " " + fees[0].removeprefix("• ")
    elif fees:
        fee_text = "\n" + "\n".join("  – " + line.removeprefix("• ") for line in fees)
    else:
        fee_text = " chưa có thông tin"
    return (
        f"{name} ({online}).\n"
        f"• Cơ quan giải quyết: {procedure.agency}\n"
        f"• Thời gian: {procedure.processing_time.text}{caution(procedure.processing_time.confidence)}\n"
        f"• Lệ phí:{fee_text}"
    )


def next_move_buttons(procedure: Procedure, *, shown: str) -> List[Dict[str, str]]:
    """Buttons after an answer: documents (unless just shown), the step-by-step guide, a person."""
    buttons = []
    if shown != "documents":
        buttons.append({"title": ASPECT_TITLES["documents"], "payload": payload("ask_procedure", procedure=procedure.key, aspect="documents")})
    elif shown != "fee":
        buttons.append({"title": ASPECT_TITLES["fee"], "payload": payload("ask_procedure", procedure=procedure.key, aspect="fee")})
    buttons.append({"title": "Hướng dẫn làm online từng bước", "payload": payload("start_guide", procedure=procedure.key)})
    buttons.append(BUTTON_HUMAN)
    return buttons


def entity(tracker: Tracker, name: str) -> Optional[str]:
    """The latest message's entity value, if any."""
    value = next(tracker.get_latest_entity_values(name), None)
    return str(value) if value is not None else None
