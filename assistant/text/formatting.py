"""How numbers and dates are written for Vietnamese readers: pure functions, imported by actions and the console.

Example:
    >>> vnd(150000)
    '150.000 đồng'
    >>> vn_date(date(2026, 12, 31))
    '31/12/2026'
    >>> vn_datetime(datetime(2026, 11, 23, 7, 5, tzinfo=timezone.utc))
    '23/11/2026 14:05'
    >>> vn_decimal(4.5)
    '4,5'
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

__all__ = ["VIETNAM", "thousands", "vn_date", "vn_datetime", "vn_decimal", "vnd"]

#: Asia/Ho_Chi_Minh: UTC+7 all year (no daylight saving time).
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def thousands(number: int) -> str:
    """``1234567`` → ``1.234.567`` (Vietnamese groups thousands with dots)."""
    return f"{number:,}".replace(",", ".")


def vnd(amount: int) -> str:
    """An amount of money: ``100000`` → ``100.000 đồng``; 0 → ``miễn phí``."""
    if amount == 0:
        return "miễn phí"
    return thousands(amount) + " đồng"


def vn_date(value: date | None) -> str:
    """``2026-12-31`` → ``31/12/2026``; None → ``""``."""
    return value.strftime("%d/%m/%Y") if value else ""


def vn_datetime(value: datetime | float | None) -> str:
    """A moment in Vietnam time, ``23/11/2026 14:05``.

    Args:
        value: an aware datetime, a naive one (read as UTC: SQLite drops the zone), a Unix time, or None (``""``).
    """
    if value is None:
        return ""
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, tz=timezone.utc)
    else:
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return moment.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M")


def vn_decimal(value: float, *, digits: int = 1) -> str:
    """A decimal with a comma: ``4.5`` → ``4,5`` (an average rating, a rate)."""
    return f"{value:.{digits}f}".replace(".", ",")
