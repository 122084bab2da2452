"""Logging set-up, with ID-card and phone numbers masked in every record.

Citizens paste their CCCD (12 digits), old CMND (9 digits) and phone numbers into chat. Those must not
land in logs: :class:`PIIMaskingFilter` rewrites them as ``091****678`` before any handler sees them.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

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


def _mask_arg(value: object) -> object:
    """A string argument masked; a URL-encoded one (an access log's path and query) read decoded first."""
    if not isinstance(value, str):
        return value
    decoded = unquote_plus(value) if ("%" in value or "+" in value) else value
    masked = mask_pii(decoded)
    return masked if masked != decoded else value


class PIIMaskingFilter(logging.Filter):
    """Masks phone and ID numbers in the formatted message of every record.

    uvicorn's access records keep their tuple of arguments (its formatter unpacks them): those are masked one by
    one, the request's path and query string decoded first (``?q=cccd%20001203004567`` hides no number).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.name.startswith("uvicorn"):
            record.args = tuple(_mask_arg(a) for a in record.args)
            return True
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
    # uvicorn's own handlers (its access log carries the query string: a search typed with a phone number)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        for own in logging.getLogger(name).handlers:
            if not any(isinstance(f, PIIMaskingFilter) for f in own.filters):
                own.addFilter(PIIMaskingFilter())
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
