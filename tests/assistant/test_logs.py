"""assistant/logs.py: ID-card and phone numbers never reach the logs unmasked."""

import logging

import pytest

from assistant.logs import PIIMaskingFilter, mask_pii


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0912345678", "091****678"),
        ("sđt 0912 345 678 nhé", "sđt 091****678 nhé"),
        ("cccd 001203004567", "cccd 001******567"),
        ("cmnd 123456789", "cmnd 123***789"),
        ("+84912345678", "849*****678"),
        ("phí 100000 đồng", "phí 100000 đồng"),
        ("ngày 31/12/2026", "ngày 31/12/2026"),
    ],
)
def test_logs_mask_pii(raw: str, expected: str) -> None:
    assert mask_pii(raw) == expected


def test_logs_filter_masks_formatted_record(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.pii")
    handler_filter = PIIMaskingFilter()
    logger.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="tests.pii"):
            logger.info("citizen wrote %s", "số của em 0987654321")
    finally:
        logger.removeFilter(handler_filter)
    assert "0987654321" not in caplog.text
    assert "098****321" in caplog.text


def test_logs_filter_masks_uvicorn_access_records_keeping_their_arguments() -> None:
    """uvicorn's access formatter unpacks the record's five arguments: they stay five, the query decoded and masked."""
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/procedures?q=cccd%20001203004567+s%C4%91t+0912345678", "1.1", 200), None,
    )
    assert PIIMaskingFilter().filter(record)
    assert record.args == ("127.0.0.1:5000", "GET", "/api/procedures?q=cccd 001******567 sđt 091****678", "1.1", 200)
    assert "001203004567" not in record.getMessage()
