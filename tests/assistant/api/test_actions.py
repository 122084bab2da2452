"""Rasa's action endpoint exists only for a separate action server, and then only with the shared token."""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.main import create_app
from assistant.settings import Settings

TOKEN = "action-token-7f3a"
CALL = {
    "next_action": "action_list_services",
    "sender_id": "rest:x",
    "tracker": {"sender_id": "rest:x", "slots": {}, "latest_message": {}, "events": [], "paused": False},
    "domain": {},
    "version": "3.6.21",
}


def client_for(tmp_path: Path, **settings: str) -> TestClient:
    return TestClient(create_app(Settings(database_url=f"sqlite:///{tmp_path}/t.db", **settings), load_model=False))


@pytest.fixture
def action_server(tmp_path: Path) -> Iterator[TestClient]:
    with client_for(tmp_path, action_endpoint="http://127.0.0.1:5055/webhook", action_token=TOKEN) as client:
        yield client


def test_actions_endpoint_absent_when_actions_run_in_process(tmp_path: Path) -> None:
    with client_for(tmp_path) as client:
        assert client.post("/webhook", json=CALL).status_code == 404
        assert client.get("/actions").status_code == 404


def test_actions_separate_server_needs_a_token() -> None:
    with pytest.raises(ValueError, match="ASSISTANT_ACTION_TOKEN"):
        Settings(action_endpoint="http://127.0.0.1:5055/webhook")


@pytest.mark.parametrize("params", [{}, {"token": ""}, {"token": "wrong"}, {"token": TOKEN + "x"}])
def test_actions_anonymous_or_wrong_token_is_401(action_server: TestClient, params: dict[str, str]) -> None:
    assert action_server.post("/webhook", json=CALL, params=params).status_code == 401
    assert action_server.get("/actions", params=params).status_code == 401


def test_actions_with_token_run_like_rasa_sdk(action_server: TestClient, actions_catalogue: object) -> None:
    # the actions read the catalogue of the configured database; the fixture gives them the 26 records
    listed = action_server.get("/actions", params={"token": TOKEN})
    assert {"name": "action_list_services"} in listed.json()
    unknown = action_server.post("/webhook", json=CALL | {"next_action": "action_nope"}, params={"token": TOKEN})
    assert unknown.status_code == 404
    assert action_server.post("/webhook", content=b"not json", params={"token": TOKEN}).status_code == 400
    body = zlib.compress(json.dumps(CALL).encode())
    answer = action_server.post(
        "/webhook", content=body, params={"token": TOKEN}, headers={"Content-Encoding": "deflate"}
    )
    assert answer.status_code == 200
    assert "26." in answer.json()["responses"][0]["text"]


def test_actions_deflate_bomb_is_refused_fast(action_server: TestClient) -> None:
    bomb = zlib.compress(b"\0" * 1_000_000_000, 9)  # under 1 MB, inflates to 1 GB
    started = time.perf_counter()
    response = action_server.post(
        "/webhook", content=bomb, params={"token": TOKEN}, headers={"Content-Encoding": "deflate"}
    )
    assert response.status_code == 413
    assert time.perf_counter() - started < 0.5
