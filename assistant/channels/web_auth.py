"""The web widget's conversation token and the CORS policy of the widget's routes.

A widget conversation is ``web:<32 hex digits>`` (128 random bits). The server gives the widget a token for it,
``<32 hex digits>.<HMAC-SHA256 signature, base64url>``; every widget call carries it in an
``Authorization: Bearer`` header (never in a URL, so it stays out of access logs). A client can only reach a
``web:`` conversation the server opened for it: a bare id, another channel's id or a forged token is refused.

The signing key is derived from ``ASSISTANT_SESSION_SECRET`` (:func:`derived_key`, which also keys the desk cases'
QR codes, :mod:`assistant.desk_cases`); when that is unset it is random per process, so tokens stop working when
the process restarts (the widget then starts a new conversation) and are not shared between processes (set the
secret when several processes run).

Portals embed the widget from another origin: :class:`WidgetCors` answers CORS (preflights included, no
credentials) on the widget's routes only (``/webhooks/web/…``), for the origins in ``ASSISTANT_ALLOWED_ORIGINS``
and for the assistant's own origin (the demo page). A request from any other origin is refused (403).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
from urllib.parse import urlsplit

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.settings import Settings

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "web:"
#: The routes the widget calls; CORS is answered on these and nowhere else.
WIDGET_ROUTES_PREFIX = "/webhooks/web/"
_TOKEN = re.compile(r"([0-9a-f]{32})\.([A-Za-z0-9_-]{43})")
_KEY_LABEL = b"assistant web widget conversation token v1"
_process_key: bytes | None = None
_process_key_lock = threading.Lock()


def derived_key(settings: Settings, label: bytes) -> bytes:
    """A signing key for one purpose (``label``): derived from the session secret, else from a random key of this process.

    Each purpose has its own key, so a token made for one (a conversation) is never accepted for another (a desk case).
    """
    global _process_key
    if settings.session_secret is not None:
        secret = settings.session_secret.get_secret_value().encode("utf-8")
    else:
        with _process_key_lock:
            if _process_key is None:
                _process_key = secrets.token_bytes(32)
                logger.warning(
                    "ASSISTANT_SESSION_SECRET is not set: widget conversation tokens and desk-case QR codes use a random "
                    "key of this process (a restart starts new conversations and voids printed codes; several processes "
                    "need the secret)"
                )
            secret = _process_key
    return hmac.new(secret, label, hashlib.sha256).digest()


def token_key(settings: Settings) -> bytes:
    """The key that signs conversation tokens (:func:`derived_key`)."""
    return derived_key(settings, _KEY_LABEL)


def _signature(key: bytes, conversation_hex: str) -> str:
    digest = hmac.new(key, (CHANNEL_PREFIX + conversation_hex).encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def new_conversation(key: bytes) -> tuple[str, str]:
    """Open a widget conversation.

    Returns:
        ``(conversation_id, token)``, e.g. ``("web:3f2a…", "3f2a….Qm9…")``.
    """
    conversation_hex = secrets.token_hex(16)
    return CHANNEL_PREFIX + conversation_hex, f"{conversation_hex}.{_signature(key, conversation_hex)}"


def conversation_of_token(key: bytes, token: str | None) -> str | None:
    """The ``web:`` conversation a token opens, or None for a missing, malformed or forged token."""
    if not token:
        return None
    match = _TOKEN.fullmatch(token.strip())
    if match is None:
        return None
    conversation_hex, signature = match.groups()
    if not hmac.compare_digest(signature, _signature(key, conversation_hex)):
        return None
    return CHANNEL_PREFIX + conversation_hex


class WidgetCors:
    """CORS for the widget's routes only; other origins than the allowed ones and our own are refused (403).

    Args:
        app: the ASGI app.
        allowed_origins: portal origins (``https://dichvucong.example.gov.vn``), or ``["*"]`` for any.
    """

    def __init__(self, app: ASGIApp, *, allowed_origins: list[str]) -> None:
        self.app = app
        self.allowed = set(allowed_origins)
        self.any_origin = "*" in self.allowed
        self.cors = CORSMiddleware(
            app,
            allow_origins=["*"] if self.any_origin else sorted(self.allowed),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
            max_age=600,
        )

    def _origin_ok(self, origin: str, host: str) -> bool:
        origin = origin.lower().rstrip("/")
        if self.any_origin or origin in self.allowed:
            return True
        return bool(host) and urlsplit(origin).netloc == host.lower()  # the demo page: our own origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(WIDGET_ROUTES_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        origin = headers.get("origin")
        if origin is not None and not self._origin_ok(origin, headers.get("host", "")):
            logger.info("widget call from an origin not allowed: %s", origin[:100])
            body = json.dumps({"detail": "Nguồn gốc (origin) này chưa được phép nhúng trợ lý ảo."}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 403,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.cors(scope, receive, send)
