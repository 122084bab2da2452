"""The one-stop-desk staff console (``/staff``), server-rendered in Vietnamese: one router per resource.

- :mod:`.auth`: log-in (throttled), log-out, the current officer (``StaffDep``), anti-forgery tokens;
- :mod:`.handoffs`: the queue, one hand-off and its transcript, claim, reply, hand back;
- :mod:`.checklist`: the printable personalised checklist;
- :mod:`.cases`: desk cases — a case opened for the citizen at the desk, printed with a QR code for their phone;
- :mod:`.analytics`: counts for managers, and their CSV;
- :mod:`.admin`: admins add, disable and enable officers and read the audit log (:mod:`assistant.audit`);
- :mod:`.pages`: templates (``templates/`` beside this package), filters and security headers.

The logic is in services outside the web layer: :class:`~assistant.handoff.HandoffService` (claims, closing),
:mod:`assistant.desk` (queue reads), :mod:`assistant.desk_cases` (desk cases and their QR codes),
:mod:`assistant.transcripts` (through the ConversationEngine), :mod:`assistant.staff_replies` (delivery through the
channels' own send functions), :mod:`assistant.analytics`. The citizen's side (the web widget's poll for staff
replies, a desk case opened on the phone) is in :mod:`assistant.channels.web`.
"""

from fastapi import APIRouter

from assistant.api.routes.console import admin, analytics, auth, cases, checklist, handoffs
from assistant.api.routes.console.auth import SESSION_COOKIE, SESSION_MAX_AGE, StaffDep, require_staff
from assistant.api.routes.console.pages import MAX_REPLY_CHARS
from assistant.staff_replies import deliver_staff_reply, reply_delivery, send_staff_reply

__all__ = [
    "MAX_REPLY_CHARS",
    "SESSION_COOKIE",
    "SESSION_MAX_AGE",
    "StaffDep",
    "deliver_staff_reply",
    "reply_delivery",
    "require_staff",
    "router",
    "send_staff_reply",
]

router = APIRouter(tags=["staff"])
router.include_router(auth.router)
router.include_router(handoffs.router)
router.include_router(checklist.router)
router.include_router(cases.router)
router.include_router(analytics.router)
router.include_router(admin.router)
