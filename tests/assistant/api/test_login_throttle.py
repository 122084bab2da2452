"""The staff log-in throttle is shared by every process and keyed by the client behind a trusted proxy;
the session cookie is Secure when the proxy says the page was served over https.

These run the app behind a real uvicorn (``proxy_headers`` with ``ASSISTANT_FORWARDED_ALLOW_IPS``, as
``assistant serve`` does) or as two app instances on one PostgreSQL database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from assistant.db.migrate import upgrade
from assistant.db.models import LoginFailure
from assistant.db.session import make_engine, session_scope
from assistant.main import create_app
from assistant.servers import free_port
from assistant.settings import Settings
from assistant.staff import add_staff_user
from tests.postgres import throwaway_database
from tests.staff_login import staff_login

USERNAME = "canbo1"
PASSWORD = "mat-khau-an-toan"
WRONG = {"username": USERNAME, "password": "sai-mat-khau"}
RIGHT = {"username": USERNAME, "password": PASSWORD}


def prepared(url: str) -> str:
    """Migrate ``url`` and add the staff user."""
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    add_staff_user(url, USERNAME, PASSWORD)
    return url


@contextmanager
def served(app: FastAPI, *, forwarded_allow_ips: str) -> Iterator[str]:
    """Serve ``app`` with uvicorn on loopback, proxy headers as ``assistant serve`` sets them; yield its URL."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def login(url: str, data: dict[str, str], **headers: str) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=30, follow_redirects=False) as client:
        return staff_login(client, data["username"], data["password"], **headers)


def failures(url: str) -> list[tuple[str, str]]:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            return [tuple(row) for row in session.execute(select(LoginFailure.client, LoginFailure.username))]
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return prepared(f"sqlite:///{tmp_path}/throttle.db")


def test_login_throttle_keyed_by_the_client_a_trusted_proxy_names(sqlite_url: str) -> None:
    app = create_app(settings=Settings(database_url=sqlite_url, forwarded_allow_ips="127.0.0.1"), load_model=False)
    with served(app, forwarded_allow_ips="127.0.0.1") as url:
        for _ in range(5):
            assert login(url, WRONG, **{"X-Forwarded-For": "203.0.113.7"}).status_code == 401
        assert login(url, RIGHT, **{"X-Forwarded-For": "203.0.113.7"}).status_code == 429
        # another citizen behind the same proxy is not locked out by the first one's failures
        assert login(url, RIGHT, **{"X-Forwarded-For": "198.51.100.2"}).status_code == 303
    assert set(failures(sqlite_url)) == {("203.0.113.7", USERNAME)}


def test_login_throttle_ignores_forwarded_for_from_an_untrusted_peer(sqlite_url: str) -> None:
    app = create_app(settings=Settings(database_url=sqlite_url, forwarded_allow_ips="10.9.8.7"), load_model=False)
    with served(app, forwarded_allow_ips="10.9.8.7") as url:
        for n in range(5):  # a client cannot escape the throttle by making up a new address each time
            assert login(url, WRONG, **{"X-Forwarded-For": f"203.0.113.{n}"}).status_code == 401
        assert login(url, RIGHT, **{"X-Forwarded-For": "203.0.113.99"}).status_code == 429
    assert set(failures(sqlite_url)) == {("127.0.0.1", USERNAME)}


@pytest.mark.parametrize(("proto", "secure"), [("https", True), ("http", False)])
def test_login_cookie_secure_when_a_trusted_proxy_says_https(sqlite_url: str, proto: str, secure: bool) -> None:
    app = create_app(settings=Settings(database_url=sqlite_url), load_model=False)
    with served(app, forwarded_allow_ips="127.0.0.1") as url:
        response = login(url, RIGHT, **{"X-Forwarded-Proto": proto, "X-Forwarded-For": "203.0.113.7"})
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert ("; secure" in cookie) is secure, cookie


def test_login_throttle_shared_by_a_second_app_on_the_same_postgresql() -> None:
    with throwaway_database() as url:
        prepared(url)
        common: dict[str, Any] = {
            "database_url": url,
            "redis_url": "redis://127.0.0.1:6379/5",  # several processes: Redis and one session secret
            "session_secret": "throttle-test-secret-0123456789abcdef",
        }
        first = create_app(settings=Settings(**common), load_model=False)
        second = create_app(settings=Settings(**common), load_model=False)
        with TestClient(first, follow_redirects=False) as a, TestClient(second, follow_redirects=False) as b:
            for _ in range(3):
                assert staff_login(a, **WRONG).status_code == 401
            for _ in range(2):
                assert staff_login(b, **WRONG).status_code == 401
            assert staff_login(a, **RIGHT).status_code == 429
            assert staff_login(b, **RIGHT).status_code == 429
        assert len(failures(url)) == 5
