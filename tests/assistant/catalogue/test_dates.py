"""Tests of assistant/catalogue/dates.py: "today" is Vietnam's date, not the server's."""

from datetime import date, datetime, timezone

import pytest

from assistant.catalogue import dates
from assistant.settings import Settings


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        (datetime(2026, 12, 31, 16, 59, tzinfo=timezone.utc), date(2026, 12, 31)),
        (datetime(2026, 12, 31, 17, 0, tzinfo=timezone.utc), date(2027, 1, 1)),  # midnight in Hà Nội
        (datetime(2027, 2, 28, 23, 0, tzinfo=timezone.utc), date(2027, 3, 1)),
    ],
)
def test_dates_vietnam_today_is_vietnams_date(utc: datetime, expected: date) -> None:
    assert dates.vietnam_today(now=utc) == expected


def test_dates_vietnam_today_honours_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dates, "get_settings", lambda: Settings(today="2027-03-02"))
    assert dates.vietnam_today() == date(2027, 3, 2)
    monkeypatch.setattr(dates, "get_settings", lambda: Settings(today=""))
    assert dates.vietnam_today() == datetime.now(dates.VIETNAM).date()
