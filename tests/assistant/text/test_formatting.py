"""Tests of assistant/text/formatting.py."""

from datetime import date, datetime, timezone

import pytest

from assistant.text.formatting import thousands, vn_date, vn_datetime, vn_decimal, vnd


@pytest.mark.parametrize(("amount", "expected"), [(0, "miễn phí"), (500, "500 đồng"), (1_200_000, "1.200.000 đồng")])
def test_formatting_vnd(amount: int, expected: str) -> None:
    assert vnd(amount) == expected


def test_formatting_thousands_groups_with_dots() -> None:
    assert thousands(1234567) == "1.234.567"


@pytest.mark.parametrize(("value", "expected"), [(date(2026, 1, 5), "05/01/2026"), (None, "")])
def test_formatting_vn_date(value: date | None, expected: str) -> None:
    assert vn_date(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 11, 23, 7, 5, tzinfo=timezone.utc), "23/11/2026 14:05"),
        (datetime(2026, 11, 23, 20, 0), "24/11/2026 03:00"),  # naive: UTC (SQLite)
        (datetime(2026, 11, 23, 7, 5, tzinfo=timezone.utc).timestamp(), "23/11/2026 14:05"),
        (None, ""),
    ],
)
def test_formatting_vn_datetime_in_vietnam_time(value: datetime | float | None, expected: str) -> None:
    assert vn_datetime(value) == expected


def test_formatting_vn_decimal_uses_a_comma() -> None:
    assert vn_decimal(4.26) == "4,3"
    assert vn_decimal(4.5) == "4,5"
    assert vn_decimal(0.875, digits=2) == "0,88"
