"""assistant/analytics.py reads Rasa's ``events`` table as Rasa's SQL tracker store writes it, on SQLite and PostgreSQL.

The conversations are stored through Rasa's own store (the ``save_in_rasa`` fixture), made from the database URL
as the app makes it, in the database that holds our tables (migrated): the schema and rows are Rasa's, not a copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from sqlalchemy.engine import Engine

from assistant.analytics import asked_procedures, daily_activity, desk_analytics
from assistant.db.migrate import upgrade
from assistant.db.models import Feedback
from assistant.db.session import make_engine, session_scope
from assistant.text.formatting import VIETNAM
from tests.conftest import TODAY
from tests.postgres import throwaway_database

#: Nine in the morning of TODAY, Vietnam time: when the stored conversations happened.
MORNING = datetime(TODAY.year, TODAY.month, TODAY.day, 9, 0, tzinfo=VIETNAM).timestamp()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """(URL, engine) of a database with our tables, as the app's lifespan leaves it."""

    def migrated(url: str) -> Iterator[tuple[str, Engine]]:
        engine = make_engine(url)
        upgrade(engine)
        yield url, engine
        engine.dispose()

    if request.param == "sqlite":
        yield from migrated(f"sqlite:///{tmp_path / 'assistant.db'}")
    else:
        with throwaway_database() as url:
            yield from migrated(url)


def asked(procedure: str | None, intent: str = "ask_procedure") -> dict[str, Any]:
    """The parse data the engine stores with a user message (``procedure`` as the classifier adds it)."""
    return {
        "intent": {"name": intent, "confidence": 0.9},
        "procedure": {"key": procedure, "confidence": 0.9} if procedure else None,
    }


def test_analytics_read_rasas_own_events(database: tuple[str, Engine], save_in_rasa: Any) -> None:
    url, engine = database
    result = {"procedure": "ho-chieu", "aspect": "result", "step": None, "steps": None}
    save_in_rasa(
        url,
        "zalo:2468458835296117922",
        [
            ActionExecuted("action_listen", timestamp=MORNING),
            UserUttered("lam ho chieu het bao nhieu tien", parse_data=asked("ho-chieu"), timestamp=MORNING + 1),
            BotUttered("Lệ phí cấp hộ chiếu ...", timestamp=MORNING + 2),
            SlotSet("guide_procedure", "ho-chieu", timestamp=MORNING + 3),
            BotUttered("Kết quả: ...", data={"custom": result}, timestamp=MORNING + 4),
        ],
    )
    save_in_rasa(
        url,
        "web:citizen-2",
        [
            UserUttered("mất cccd", parse_data=asked("the-can-cuoc"), timestamp=MORNING + 10),
            UserUttered("còn hộ chiếu thì sao", parse_data=asked("ho-chieu"), timestamp=MORNING + 11),
            UserUttered("asdfgh", parse_data=asked(None, "nlu_fallback"), timestamp=MORNING + 12),
        ],
    )
    with session_scope(engine) as session:
        session.add(Feedback(sender_id="zalo:2468458835296117922", channel="zalo", procedure_key="ho-chieu", rating=4))

    assert asked_procedures(engine) == ([("ho-chieu", 2, 2), ("the-can-cuoc", 1, 1)], 4)
    day = daily_activity(engine, today=TODAY)[-1]
    assert day["day"] == TODAY
    assert {k: day[k] for k in ("messages", "understood", "guides_started", "guides_finished")} == {
        "messages": 4,
        "understood": 3,
        "guides_started": 1,
        "guides_finished": 1,
    }
    report = desk_analytics(engine)
    assert report["asked"][0] == ("ho-chieu", 2, 2) and report["events_read"] == 4
    assert (report["ratings_total"], report["ratings_average"]) == (1, 4.0)
