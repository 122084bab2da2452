"""Bounded input on every route: body size, compressed bodies inflated with a cap, JSON nesting depth.

:class:`BodyLimitMiddleware` reads the request body before any route sees it:

- more than ``max_bytes`` (declared or actually sent) → 413, without reading the rest;
- ``Content-Encoding: gzip`` or ``deflate`` → inflated here, and only up to ``max_bytes``: a "deflate bomb"
  (1 MB that inflates to 1 GB) is refused with 413 after inflating ``max_bytes``, in milliseconds; the route
  then sees the plain body without the header. Any other encoding → 415; a corrupt stream → 400;
- a JSON body nested deeper than ``max_depth`` → 400 (Python's parser would otherwise recurse until it fails).

Example:
    >>> app.add_middleware(BodyLimitMiddleware, max_bytes=1_000_000, max_depth=32)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOO_LARGE = "Yêu cầu quá lớn."
BAD_ENCODING = "Kiểu nén của yêu cầu không được hỗ trợ."
INVALID = "Yêu cầu không hợp lệ."

#: A JSON string (skipped whole) or a bracket: what the depth check looks at. The closing quote is optional
#: so that a match never fails once started (no backtracking: linear time on any input).
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]+|\\.)*"?|[\[\]{}]', re.DOTALL)


class RequestRefused(Exception):
    """The body breaks a limit; carries the HTTP status and the citizen-readable reason."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def json_depth_exceeds(body: bytes, max_depth: int) -> bool:
    """True when brackets in ``body`` (outside strings) nest deeper than ``max_depth``.

    Example:
        >>> json_depth_exceeds(b'{"a": [[1]], "b": "[[[["}', 3)
        False
        >>> json_depth_exceeds(b"[" * 100 + b"]" * 100, 32)
        True
    """
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return False
    depth = 0
    for match in _JSON_TOKENS.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def inflate(body: bytes, encoding: str, max_bytes: int) -> bytes:
    """Inflate a ``gzip`` or ``deflate`` (zlib) body, producing at most ``max_bytes``.

    Raises:
        RequestRefused: 413 when it would inflate beyond ``max_bytes``, 400 for a corrupt stream,
            415 for another encoding.
    """
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise RequestRefused(415, BAD_ENCODING)
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # zlib or gzip header, detected
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as e:
        raise RequestRefused(400, INVALID) from e
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise RequestRefused(413, TOO_LARGE)
    return out


class BodyLimitMiddleware:
    """ASGI middleware applying the limits above to every HTTP request.

    Args:
        app: the wrapped application.
        max_bytes: the largest body, sent or inflated.
        max_depth: the deepest JSON nesting.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(scope, receive)
        except RequestRefused as refused:
            await _refuse(send, refused)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, scope: Scope, receive: Receive) -> bytes:
        """The whole body within the limits; the scope's headers are fixed up after inflating."""
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        declared = _header(headers, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            raise RequestRefused(413 if declared.isdigit() else 400, TOO_LARGE if declared.isdigit() else INVALID)
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise RequestRefused(413, TOO_LARGE)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        encoding = (_header(headers, b"content-encoding") or "identity").strip().lower()
        if encoding != "identity" and body:
            body = inflate(body, encoding, self.max_bytes)
            headers = [(k, v) for k, v in headers if k.lower() not in (b"content-encoding", b"content-length")]
            headers.append((b"content-length", str(len(body)).encode()))
            scope["headers"] = headers
        if body.lstrip()[:1] in (b"{", b"[") or b"json" in (_header(headers, b"content-type") or "").encode():
            if json_depth_exceeds(body, self.max_depth):
                raise RequestRefused(400, INVALID)
        return body


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _refuse(send: Send, refused: RequestRefused) -> None:
    payload = json.dumps({"detail": refused.detail}, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": refused.status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
