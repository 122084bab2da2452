"""A real ``assistant serve`` process for end-to-end tests (trained model, real database, real HTTP)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from assistant.servers import free_port, launch

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 120.0


class LiveServer:
    """One app process; ``say`` talks to its REST channel."""

    def __init__(
        self, *, database_url: str, redis_url: str | None = None, log: Path, settings: dict[str, str] | None = None
    ) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.log = log
        self.settings = settings or {}  # more ASSISTANT_* variables (a channel's secrets, say)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            ASSISTANT_DATABASE_URL=self.database_url,
            ASSISTANT_PORT=str(self.port),
            PORT=str(self.port),
            RASA_TELEMETRY_ENABLED="false",
            # the desk is open whenever the tests run (out-of-hours hand-offs: tests/assistant/test_handoff.py
            # with a clock of its own); a test may set its own hours in ``settings``
            ASSISTANT_DESK_HOURS="",
        )
        env.update(self.settings)
        if self.redis_url:
            env["ASSISTANT_REDIS_URL"] = self.redis_url
            # several processes: one session secret for all (staff sessions, widget tokens)
            env.setdefault("ASSISTANT_SESSION_SECRET", "scale-out-test-secret-0123456789abcdef")
        else:
            env.pop("ASSISTANT_REDIS_URL", None)
        return env

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the ``assistant`` command with this server's settings."""
        return subprocess.run(
            [sys.executable, "-m", "assistant.cli", *args],
            cwd=ROOT,
            env=self.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def start(self) -> LiveServer:
        self.process, _ = launch(self.port, self.env(), self.log, timeout=START_TIMEOUT)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, timeout=30, **kwargs)

    def say(self, sender: str, message: str) -> list[dict[str, Any]]:
        """Send one message over the REST channel; the bot's replies."""
        response = self.post("/webhooks/rest/webhook", {"sender": sender, "message": message})
        assert response.status_code == 200, response.text
        return response.json()

    @staticmethod
    def texts(replies: list[dict[str, Any]]) -> str:
        return "\n".join(r.get("text") or "" for r in replies)

    @staticmethod
    def buttons(replies: list[dict[str, Any]]) -> list[str]:
        return [b["title"] for r in replies for b in r.get("buttons") or []]

    @staticmethod
    def payload(intent: str, **entities: str) -> str:
        return f"/{intent}{json.dumps(entities, ensure_ascii=False)}" if entities else f"/{intent}"
