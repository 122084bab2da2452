"""Fakes shared by the channel tests: the remote platform as a real HTTP server on loopback, and an engine."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from assistant.replies import Reply

Answer = Callable[[int], dict[str, Any]]


def graph_answer(recipient: str) -> Callable[[int], dict[str, Any]]:
    """How Meta's Send API answers a fake platform's status: the sent message's id, or a Graph error."""

    def answer(status: int) -> dict[str, Any]:
        if status == 200:
            return {"recipient_id": recipient, "message_id": "m_sent"}
        return {"error": {"message": "(#10) outside the allowed window", "type": "OAuthException", "code": 10}}

    return answer


class FakePlatform:
    """A real HTTP server on 127.0.0.1 that records every POST; ``status`` sets its answer's status.

    Args:
        answer: the JSON body the platform answers, given the status.
        prefix: a path prefix to append to the base URL (a Graph API version, say).
    """

    def __init__(self, *, answer: Answer, prefix: str = "") -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.answer = answer
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                parts = urlsplit(self.path)
                platform.requests.append(
                    {
                        "path": parts.path,
                        "query": parse_qs(parts.query),
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "json": json.loads(self.rfile.read(length) or b"null"),
                    }
                )
                data = json.dumps(platform.answer(platform.status)).encode()
                self.send_response(platform.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{prefix}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakePlatform:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeEngine:
    """Stands in for ConversationEngine: records calls, answers with one reply carrying ``buttons``."""

    def __init__(self, buttons: list[dict[str, str]]) -> None:
        self.calls: list[dict[str, Any]] = []
        self.buttons = buttons

    def is_ready(self) -> bool:
        return True

    async def handle(
        self, sender_id: str, text: str, *, channel: str = "rest", metadata: dict[str, Any] | None = None
    ) -> list[Reply]:
        self.calls.append({"sender_id": sender_id, "text": text, "channel": channel, "metadata": metadata})
        return [Reply(recipient_id=sender_id, text="Bạn muốn làm thủ tục nào?", buttons=list(self.buttons))]
