"""Logging set-up, with ID-card and phone numbers masked in every record.

Citizens paste their CCCD (12 digits), old CMND (9 digits) and phone numbers into chat. Those must not
land in logs: :class:`PIIMaskingFilter` rewrites them as ``091****678`` before any handler sees them.
"""

from __future__ import annotations

import logging
import re

_NUMBER = re.compile(r"(?<!\d)(\+?84|0)?(\d[\d .-]{7,14}\d)(?!\d)")


def mask_pii(text: str) -> str:
    """Mask phone and ID numbers (9–13 digits, spaces or dots allowed) keeping 3 digits each side.

    Example:
        >>> mask_pii("sđt 0912345678, cccd 001203004567")
        'sđt 091****678, cccd 001******567'
    """

    def _mask(match: re.Match[str]) -> str:
        raw = match.group(0)
        digits = re.sub(r"\D", "", raw)
        if not 9 <= len(digits) <= 13:
            return raw
        return digits[:3] + "*" * (len(digits) - 6) + digits[-3:]

    return _NUMBER.sub(_mask, text)


class PIIMaskingFilter(logging.Filter):
    """Masks phone and ID numbers in the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is still logged, unmasked args dropped
            return True
        masked = mask_pii(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_logging(level: str = "INFO") -> None:
    """Configure root logging once: one stream handler with the PII filter; Rasa at INFO at most."""
    root = logging.getLogger()
    if any(isinstance(f, PIIMaskingFilter) for h in root.handlers for f in h.filters):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(PIIMaskingFilter())
    root.handlers = [handler]
    root.setLevel(level)
    # Rasa lowers the root level to WARNING while it loads a model: our loggers keep their own level.
    for name in ("assistant", "actions"):
        logging.getLogger(name).setLevel(level)
    # DEBUG in rasa echoes user text; keep it at INFO or quieter.
    for name in ("rasa", "rasa_sdk", "tensorflow", "absl", "apscheduler", "urllib3", "matplotlib", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLevelName(level)) if name.startswith("rasa") else logging.WARNING)
    try:
        from rasa.utils.log_utils import configure_structlog

        configure_structlog(logging.getLevelName(level) if isinstance(level, str) else level)
    except Exception:  # noqa: BLE001 - structlog set-up is optional
        pass
