"""Zalo OA token renewal (assistant/channels/zalo_token.py) against a fake Zalo OAuth + OA API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from fastapi.testclient import TestClient

from assistant.channels.zalo_token import RENEW_BEFORE, ZaloTokens
from assistant.db.migrate import upgrade
from assistant.db.session import make_engine
from assistant.main import create_app
from assistant.settings import Settings
from tests.assistant.channels.fakes import FakeEngine

APP_ID = "4305567891234"
OA_SECRET = "oa-secret-xyz"
APP_SECRET = "app-secret-for-oauth"
USER = "2468458835296117922"


class FakeZalo:
    """Zalo's OAuth server and OA API: single-use refresh tokens, access tokens refused with -216 once expired."""

    def __init__(self, *, access: str = "a0", refresh: str = "r0", lifetime: int = 90000, delay: float = 0.0) -> None:
        self.valid_access = {access}
        self.valid_refresh = {refresh}
        self.lifetime = lifetime
        self.delay = delay
        self.renewals = 0
        self.oauth_calls: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.refused: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/v4/oa/access_token":
                    answer = fake.oauth(parse_qs(raw.decode()), dict(self.headers))
                else:
                    answer = fake.message(json.loads(raw), self.headers.get("access_token", ""))
                data = json.dumps(answer).encode()
                self.send_response(200)  # Zalo answers its errors with HTTP 200 and an error code
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.lock = threading.Lock()

    def oauth(self, form: dict[str, list[str]], headers: dict[str, str]) -> dict[str, Any]:
        time.sleep(self.delay)
        with self.lock:
            refresh = form.get("refresh_token", [""])[0]
            self.oauth_calls.append({"refresh_token": refresh, "form": form, "secret_key": headers.get("secret_key")})
            ok = (
                headers.get("secret_key") == APP_SECRET
                and form.get("app_id") == [APP_ID]
                and form.get("grant_type") == ["refresh_token"]
                and refresh in self.valid_refresh
            )
            if not ok:
                return {"error": -14014, "error_name": "Invalid refresh token", "error_description": "invalid"}
            self.valid_refresh.discard(refresh)  # single use
            self.renewals += 1
            access, new_refresh = f"a{self.renewals}", f"r{self.renewals}"
            self.valid_access = {access}  # the old access token stops working
            self.valid_refresh.add(new_refresh)
            return {"access_token": access, "refresh_token": new_refresh, "expires_in": str(self.lifetime)}

    def message(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        with self.lock:
            if token not in self.valid_access:
                self.refused.append(token)
                return {"error": -216, "message": "Access token is invalid"}
            self.sent.append({"token": token, "body": body})
            return {"error": 0, "message": "Success", "data": {"message_id": "m"}}

    def __enter__(self) -> FakeZalo:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def zalo_settings(tmp_path: Path, fake: FakeZalo, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path}/t.db",
        "zalo_app_id": APP_ID,
        "zalo_oa_secret": OA_SECRET,
        "zalo_access_token": "a0",
        "zalo_refresh_token": "r0",
        "zalo_app_secret": APP_SECRET,
        "zalo_api_base": fake.url,
        "zalo_oauth_base": fake.url,
    }
    values.update(overrides)
    return Settings(**values)


def citizen_writes(client: TestClient, text: str, msg_id: str) -> None:
    body = {
        "app_id": APP_ID,
        "event_name": "user_send_text",
        "sender": {"id": USER},
        "recipient": {"id": "388613280878808645"},
        "message": {"msg_id": msg_id, "text": text},
        "timestamp": "1700000000000",
    }
    raw = json.dumps(body, ensure_ascii=False).encode()
    mac = hashlib.sha256(APP_ID.encode() + raw + b"1700000000000" + OA_SECRET.encode()).hexdigest()
    response = client.post(
        "/webhooks/zalo/webhook", content=raw, headers={"X-ZEvent-Signature": f"mac={mac}", "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text


def answered(fake: FakeZalo, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Wait until the fake has accepted ``count`` messages (replies are sent after the 200)."""
    deadline = time.monotonic() + timeout
    while len(fake.sent) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return fake.sent


def running_app(settings: Settings) -> TestClient:
    return TestClient(create_app(settings, load_model=False))


@pytest.fixture
def fake() -> Iterator[FakeZalo]:
    with FakeZalo() as server:
        yield server


def test_zalo_token_expired_is_renewed_citizen_answered_and_restart_uses_rotated_pair(
    tmp_path: Path, fake: FakeZalo
) -> None:
    fake.valid_access = set()  # the configured access token "a0" has expired
    settings = zalo_settings(tmp_path, fake)
    with running_app(settings) as client:
        client.app.state.engine = FakeEngine([])
        citizen_writes(client, "làm hộ chiếu", "m1")
        [first] = answered(fake, 1)
    assert first["token"] == "a1" and first["body"]["recipient"] == {"user_id": USER}
    assert [c["refresh_token"] for c in fake.oauth_calls] == ["r0"]
    assert fake.oauth_calls[0]["secret_key"] == APP_SECRET

    # restart with the same environment (the seed pair a0/r0): the stored, rotated pair is used
    with running_app(settings) as client:
        client.app.state.engine = FakeEngine([])
        citizen_writes(client, "cần giấy tờ gì", "m2")
        assert answered(fake, 2)[-1]["token"] == "a1"
        assert len(fake.oauth_calls) == 1
        fake.valid_access = set()  # a1 expires too: the next renewal spends r1, never r0 again
        citizen_writes(client, "lệ phí bao nhiêu", "m3")
        assert answered(fake, 3)[-1]["token"] == "a2"
    assert [c["refresh_token"] for c in fake.oauth_calls] == ["r0", "r1"]


def test_zalo_token_new_seed_in_the_environment_replaces_the_stored_pair(tmp_path: Path, fake: FakeZalo) -> None:
    fake.valid_access = set()
    with running_app(zalo_settings(tmp_path, fake)) as client:
        client.app.state.engine = FakeEngine([])
        citizen_writes(client, "xin chào", "m1")
        answered(fake, 1)
    fake.valid_access, fake.valid_refresh = {"b0"}, {"s0"}  # the operator authorised the OA again
    with running_app(zalo_settings(tmp_path, fake, zalo_access_token="b0", zalo_refresh_token="s0")) as client:
        client.app.state.engine = FakeEngine([])
        citizen_writes(client, "xin chào", "m2")
        assert answered(fake, 2)[-1]["token"] == "b0"


def database(tmp_path: Path) -> Any:
    engine = make_engine(f"sqlite:///{tmp_path}/t.db")
    upgrade(engine)
    return engine


async def test_zalo_token_renewed_before_it_expires(tmp_path: Path) -> None:
    with FakeZalo(lifetime=int(RENEW_BEFORE.total_seconds()) - 60) as fake:
        tokens = ZaloTokens(zalo_settings(tmp_path, fake), database(tmp_path))
        await tokens.load()
        await tokens.renew_if_due()  # expiry unknown (a seed): waits for Zalo to say so
        assert fake.oauth_calls == []
        assert await tokens.renew() == "a1"  # expires within the hour
        await tokens.renew_if_due()
        assert tokens.access_token() == "a2" and fake.refused == []
        fake.lifetime = 90000
        await tokens.renew_if_due()  # a2 expires within the hour too: renewed; a3 lives 25 h
        await tokens.renew_if_due()
    assert [c["refresh_token"] for c in fake.oauth_calls] == ["r0", "r1", "r2"]


async def test_zalo_token_one_refresher_at_a_time_across_processes(tmp_path: Path) -> None:
    with FakeZalo(delay=0.3) as fake:
        settings = zalo_settings(tmp_path, fake)
        engine = database(tmp_path)
        first, second = ZaloTokens(settings, engine), ZaloTokens(settings, make_engine(settings.database_url))
        await first.load()
        await second.load()
        renewed = await asyncio.gather(first.renew(spent="a0"), second.renew(spent="a0"))
    assert renewed == ["a1", "a1"]
    assert [c["refresh_token"] for c in fake.oauth_calls] == ["r0"]


def test_zalo_token_refused_refresh_is_never_sent_again_and_health_says_so(tmp_path: Path, fake: FakeZalo) -> None:
    fake.valid_access, fake.valid_refresh = set(), set()  # the refresh token was spent elsewhere
    with running_app(zalo_settings(tmp_path, fake)) as client:
        client.app.state.engine = FakeEngine([])
        assert "channels" not in client.get("/health").json()
        citizen_writes(client, "xin chào", "m1")
        citizen_writes(client, "alo", "m2")
        deadline = time.monotonic() + 5
        while len(fake.refused) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        health = client.get("/health").json()
    assert fake.sent == []
    assert [c["refresh_token"] for c in fake.oauth_calls] == ["r0"]
    assert "refused the refresh token" in health["channels"]["zalo"]
    assert "r0" not in json.dumps(health)


def test_zalo_token_without_renewal_settings_health_reports_expiry(tmp_path: Path, fake: FakeZalo) -> None:
    fake.valid_access = set()
    settings = zalo_settings(tmp_path, fake, zalo_refresh_token=None, zalo_app_secret=None)
    with running_app(settings) as client:
        client.app.state.engine = FakeEngine([])
        citizen_writes(client, "xin chào", "m1")
        deadline = time.monotonic() + 5
        while "channels" not in client.get("/health").json() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "ASSISTANT_ZALO_REFRESH_TOKEN" in client.get("/health").json()["channels"]["zalo"]
    assert fake.oauth_calls == []
