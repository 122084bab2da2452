"""Bounded input on every route (assistant/limits.py): size, compressed bodies, JSON depth."""

from __future__ import annotations

import gzip
import json
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.limits import json_depth_exceeds
from assistant.main import create_app
from assistant.settings import Settings
from tests.assistant.channels.fakes import FakeEngine

ROUTES = ["/webhooks/rest/webhook", "/model/parse", "/staff/login", "/api/procedures", "/health", "/nowhere"]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/t.db", max_body_bytes=100_000, max_json_depth=32)
    with TestClient(create_app(settings, load_model=False)) as test_client:
        test_client.app.state.engine = FakeEngine([])
        yield test_client


@pytest.mark.parametrize("path", ROUTES)
def test_limits_oversized_body_is_413_on_every_route(client: TestClient, path: str) -> None:
    response = client.post(path, content=b"a" * 100_001, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"detail": "Yêu cầu quá lớn."}


def test_limits_chunked_body_without_length_is_cut_at_the_limit(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(50):
            yield b"x" * 10_000

    assert client.post("/webhooks/rest/webhook", content=chunks()).status_code == 413


@pytest.mark.parametrize("encoding", ["deflate", "gzip"])
def test_limits_compression_bomb_is_refused_in_milliseconds(client: TestClient, encoding: str) -> None:
    plain = b"[" + b" " * 500_000_000 + b"]"
    bomb = zlib.compress(plain, 9) if encoding == "deflate" else gzip.compress(plain, 9)
    started = time.perf_counter()
    response = client.post("/webhooks/rest/webhook", content=bomb, headers={"Content-Encoding": encoding})
    assert response.status_code == 413
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("encoding", ["deflate", "gzip"])
def test_limits_compressed_body_within_limit_is_answered(client: TestClient, encoding: str) -> None:
    plain = json.dumps({"sender": "z", "message": "làm hộ chiếu"}).encode()
    body = zlib.compress(plain) if encoding == "deflate" else gzip.compress(plain)
    response = client.post(
        "/webhooks/rest/webhook",
        content=body,
        headers={"Content-Encoding": encoding, "content-type": "application/json"},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("encoding", "status"), [("br", 415), ("deflate", 400)])
def test_limits_unknown_encoding_or_corrupt_stream_is_4xx(client: TestClient, encoding: str, status: int) -> None:
    response = client.post("/webhooks/rest/webhook", content=b"\x00garbage", headers={"Content-Encoding": encoding})
    assert response.status_code == status


def test_limits_deeply_nested_json_is_400_not_500(client: TestClient) -> None:
    nested = b'{"sender": "z", "message": "hi", "metadata": {"a": ' + b"[" * 20_000 + b"]" * 20_000 + b"}}"
    response = client.post("/webhooks/rest/webhook", content=nested, headers={"content-type": "application/json"})
    assert response.status_code == 400


def test_limits_ordinary_nesting_passes(client: TestClient) -> None:
    body = {"sender": "z", "message": "hi", "metadata": {"a": [[[{"b": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}]]]}}
    assert client.post("/webhooks/rest/webhook", json=body).status_code == 200


@pytest.mark.parametrize(
    ("body", "deeper"),
    [(b"[]", False), (b"[" * 33 + b"]" * 33, True), (b'["' + b"[" * 40 + b'"]', False), (b'["\\"' + b"[" * 40, False)],
)
def test_limits_json_depth_ignores_brackets_in_strings(body: bytes, deeper: bool) -> None:
    assert json_depth_exceeds(body, 32) is deeper


def test_limits_depth_check_is_linear_on_hostile_strings() -> None:
    started = time.perf_counter()
    json_depth_exceeds(b'"' + b'\\"' * 500_000 + b"[" * 40, 32)
    json_depth_exceeds(b'["' * 300_000, 32)
    assert time.perf_counter() - started < 0.5
