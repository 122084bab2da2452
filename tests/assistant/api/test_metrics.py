"""Tests of /metrics (assistant/api/routes/metrics.py) and the counters (assistant/metrics.py)."""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rasa.shared.core.events import ActionExecuted, BotUttered, ConversationPaused, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from assistant.channels.rest import handle_text
from assistant.db.models import Handoff
from assistant.db.session import session_scope
from assistant.main import create_app
from assistant.metrics import counting
from assistant.replies import Reply
from assistant.settings import Settings

TOKEN = "metrics-token-for-tests"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/metrics.db", metrics_token=TOKEN)
    with TestClient(create_app(settings=settings, load_model=False)) as test_client:
        yield test_client


def scrape(client: TestClient) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def value(text: str, name: str, **labels: str) -> float:
    """One sample of the Prometheus text format (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{re.escape(name)}{{{re.escape(wanted)}}} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_metrics_needs_the_token(client: TestClient, headers: dict[str, str]) -> None:
    assert client.get("/metrics", headers=headers).status_code == 403


def test_metrics_without_a_token_only_for_this_machine(tmp_path: Path) -> None:
    app = create_app(settings=Settings(database_url=f"sqlite:///{tmp_path}/m.db"), load_model=False)
    with TestClient(app) as test_client:  # the test client's address is "testclient", not loopback
        assert test_client.get("/metrics").status_code == 403


def test_metrics_counts_waiting_handoffs_from_the_database(client: TestClient) -> None:
    with session_scope(client.app.state.db_engine) as session:
        session.add(Handoff(sender_id="web:1", channel="web", status="open"))
        session.add(Handoff(sender_id="web:2", channel="web", status="closed"))
    text = scrape(client)
    assert value(text, "assistant_handoffs", status="open") == 1
    assert value(text, "assistant_handoffs", status="closed") == 1


class FakeEngine:
    async def handle(self, sender_id: str, text: str, **_: Any) -> list[Reply]:
        return [Reply(recipient_id=sender_id, text="Chào bạn")]


def tracker_of(intent: str, *, paused: bool = False) -> DialogueStateTracker:
    events = [
        UserUttered("tôi muốn gặp cán bộ", intent={"name": intent, "confidence": 0.9}),
        ActionExecuted("action_handoff"),
        BotUttered("Mình chuyển bạn tới cán bộ."),
    ]
    return DialogueStateTracker.from_events("web:1", events + ([ConversationPaused()] if paused else []))


async def test_metrics_counters_move_when_a_citizen_talks(client: TestClient) -> None:
    before = scrape(client)

    async def after_turn(_tracker: Any, _channel: str) -> list[dict[str, Any]]:
        return []

    hook = counting(after_turn)
    await handle_text(FakeEngine(), "web:1", "làm hộ chiếu", channel="web")  # type: ignore[arg-type]
    await hook(tracker_of("ask_procedure"), "web")
    await hook(tracker_of("nlu_fallback"), "web")
    await hook(tracker_of("request_human", paused=True), "zalo")
    after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("assistant_turn_seconds_count", channel="web") == 1
    assert moved("assistant_turns_total", channel="web") == 2
    assert moved("assistant_turns_understood_total", channel="web") == 1
    assert moved("assistant_nlu_fallbacks_total", channel="web") == 1
    assert moved("assistant_handoffs_created_total", channel="zalo") == 1
    assert moved("assistant_handoffs_created_total", channel="web") == 0
