"""Tests of assistant/channels/rest.py: the REST channel only ever reaches ``rest:`` conversations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.main import create_app
from assistant.settings import Settings
from tests.assistant.channels.fakes import FakeEngine


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine([])


@pytest.fixture
def client(tmp_path: Path, engine: FakeEngine) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=f"sqlite:///{tmp_path}/t.db"), load_model=False)) as test_client:
        test_client.app.state.engine = engine
        yield test_client


@pytest.mark.parametrize(
    "sender", ["citizen-1", "zalo:2468458835296117922", "messenger:6543210987654321", "web:" + "a" * 32, "rest:x"]
)
def test_rest_sender_is_namespaced_and_cannot_name_another_channel(
    client: TestClient, engine: FakeEngine, sender: str
) -> None:
    replies = client.post("/webhooks/rest/webhook", json={"sender": sender, "message": "làm hộ chiếu"}).json()
    assert [c["sender_id"] for c in engine.calls] == [f"rest:{sender}"]
    assert {r["recipient_id"] for r in replies} == {sender}
