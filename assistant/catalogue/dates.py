"""Vietnam's date: the one "today" by which fees and facts are judged (design: all dates are Vietnam's).

The server's clock may run in UTC; between 17:00 and 24:00 UTC Vietnam is already on the next day, so a fee
that ends on 31/12 must stop being shown at midnight in Hà Nội, not at 07:00.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from assistant.settings import get_settings

__all__ = ["VIETNAM", "vietnam_today"]

#: Asia/Ho_Chi_Minh (UTC+7 all year).
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def vietnam_today(*, now: datetime | None = None) -> date:
    """Return today's date in Vietnam, or ``ASSISTANT_TODAY`` when that setting is given (tests, demos).

    Args:
        now: an aware moment to convert instead of the current time.

    Example:
        >>> from datetime import timezone
        >>> vietnam_today(now=datetime(2026, 12, 31, 18, 0, tzinfo=timezone.utc))  # doctest: +SKIP
        datetime.date(2027, 1, 1)
    """
    if now is None:
        override = get_settings().today
        if override is not None:
            return override
        now = datetime.now(VIETNAM)
    return now.astimezone(VIETNAM).date()
