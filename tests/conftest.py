"""Shared fixtures (one conftest for the whole suite; sections by area)."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from assistant.catalogue.service import Catalogue
from assistant.db.migrate import upgrade
from assistant.db.session import make_engine

# --- catalogue: procedure records and the database ------------------------------------------------

#: Small valid records (6 of the 26 keys) used by catalogue, search and API tests.
RECORDS_DIR = Path(__file__).parent / "data" / "records"


@pytest.fixture
def records_dir() -> Path:
    """The folder of fixture records (read-only: copy it with ``records_copy`` to change files)."""
    return RECORDS_DIR


@pytest.fixture
def records_copy(tmp_path: Path) -> Path:
    """A writable copy of the fixture records, in a folder named ``procedures``."""
    target = tmp_path / "procedures"
    shutil.copytree(RECORDS_DIR, target)
    return target


@pytest.fixture(scope="session")
def fixture_catalogue() -> Catalogue:
    """A catalogue of the fixture records."""
    return Catalogue.from_directory(RECORDS_DIR)


@pytest.fixture
def migrated_engine() -> Iterator[Engine]:
    """An in-memory SQLite database with our tables (Alembic head)."""
    engine = make_engine("sqlite://")
    upgrade(engine)
    yield engine
    engine.dispose()


# --- actions: trackers and the real catalogue ------------------------------------------------------

from typing import Any  # noqa: E402

from rasa_sdk import Tracker  # noqa: E402
from rasa_sdk.executor import CollectingDispatcher  # noqa: E402

PROCEDURES_DIR = Path(__file__).resolve().parent.parent / "procedures"


@pytest.fixture(scope="session")
def real_catalogue() -> Catalogue:
    """The 26 real records, read from procedures/."""
    return Catalogue.from_directory(PROCEDURES_DIR)


@pytest.fixture
def actions_catalogue(real_catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch) -> Catalogue:
    """Make the actions read the real records without a database."""
    import sys

    import actions.common
    import actions.conversation
    import actions.guide
    import actions.interview
    import actions.procedures  # noqa: F401 - imported so that their catalogue() is patched too

    # every actions module that imported catalogue() by name reads the same records
    original = actions.common.catalogue
    for name, module in list(sys.modules.items()):
        if (name == "actions" or name.startswith("actions.")) and getattr(module, "catalogue", None) is original:
            monkeypatch.setattr(module, "catalogue", lambda: real_catalogue)
    return real_catalogue


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


@pytest.fixture
def tracker_from() -> Any:
    """Build a rasa_sdk Tracker from slots and the latest message, as the action server receives it."""

    def build(
        slots: dict[str, Any] | None = None,
        *,
        text: str = "",
        intent: str = "ask_procedure",
        entities: list[dict[str, Any]] | None = None,
        parse: dict[str, Any] | None = None,
        paused: bool = False,
        active_loop: dict[str, Any] | None = None,
    ) -> Tracker:
        latest = {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": entities or []}
        latest.update(parse or {})
        return Tracker(
            sender_id="citizen-1",
            slots=slots or {},
            latest_message=latest,
            events=[],
            paused=paused,
            followup_action=None,
            active_loop=active_loop or {},
            latest_action_name="action_listen",
        )

    return build


# --- the day: no test depends on the calendar -------------------------------------------------------

from datetime import date  # noqa: E402

#: The day tests run on unless they ask for another. "Today" for the code under test is never the calendar's.
TODAY = date(2026, 12, 7)
#: Both sides of each date switch in the records: the TT 64/2025 reductions end on 31/12/2026, the
#: TT 117/2026 waiver on 28/02/2027 (then the base rates apply again).
SWITCH_DAYS = (date(2026, 12, 31), date(2027, 1, 1), date(2027, 1, 2), date(2027, 2, 28), date(2027, 3, 1), date(2027, 3, 2))


@pytest.fixture(autouse=True)
def today(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> date:
    """Vietnam's "today" as the code under test sees it: :data:`TODAY`, or the day a test asks for.

    It patches ``actions.common.today`` (the one place answers take the date from) and the catalogue
    service's default day (the printed checklist). A test chooses the
    day with ``@pytest.mark.parametrize("today", [date(2027, 1, 2)], indirect=True)``; code that takes
    the day as a parameter (``check_dates``, ``validate``, ``fees_for``) gets this fixture's value.
    """
    import actions.common

    day: date = getattr(request, "param", TODAY)
    monkeypatch.setattr(actions.common, "today", lambda: day)
    # the staff console's printed checklist judges fees through the catalogue service
    monkeypatch.setattr("assistant.catalogue.service.vietnam_today", lambda **_: day)
    return day


# --- Rasa's SQL tracker store: conversations stored as the running app stores them --------------------

#: The slots the stored test conversations set (Rasa logs an error for a slot its domain lacks).
RASA_TEST_DOMAIN = """
version: "3.1"
slots:
  procedure: {type: text, mappings: [{type: custom}]}
  guide_procedure: {type: text, mappings: [{type: custom}]}
"""


@pytest.fixture
def save_in_rasa() -> Iterator[Any]:
    """Store a conversation's events in Rasa's ``events`` table through Rasa's own SQL tracker store.

    The store is made from the database URL as the app makes it (``tracker_store_config``, then Rasa's
    ``TrackerStore.create``, as ``load_agent`` does): the real table, columns and rows, on SQLite or PostgreSQL.
    Call ``save_in_rasa(database_url, sender_id, [UserUttered(...), ...])``; a later call adds to the conversation.
    """
    import asyncio

    from rasa.core.tracker_store import TrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.utils.endpoints import EndpointConfig

    from assistant.engine import tracker_store_config

    domain = Domain.from_yaml(RASA_TEST_DOMAIN)
    stores: dict[str, Any] = {}

    def save(database_url: str, sender_id: str, events: list[Any]) -> None:
        if database_url not in stores:
            stores[database_url] = TrackerStore.create(EndpointConfig(**tracker_store_config(database_url)), domain)
        store = stores[database_url]

        async def add() -> None:
            tracker = await store.retrieve(sender_id) or DialogueStateTracker(sender_id, domain.slots)
            for event in events:
                tracker.update(event)
            await store.save(tracker)

        asyncio.run(add())

    yield save
    for store in stores.values():
        store.engine.dispose()
