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
