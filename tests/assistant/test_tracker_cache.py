"""The tracker cache gives what Rasa's SQL tracker store would give, with two processes writing to one database.

Two ``SQLTrackerStore`` instances on one database stand for two app processes (each with its own cache);
the Redis lock that orders their turns in production is not needed to check what each one reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import text
from sqlalchemy.engine import make_url

from assistant.engine.stores import cache_trackers, tracker_store_config
from assistant.engine.tracker_cache import TrackerCache
from assistant.settings import Settings
from tests.postgres import throwaway_database

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [greet]
slots:
  procedure:
    type: text
    mappings: [{type: custom}]
responses:
  utter_greet: [{text: "Xin chào"}]
"""
)


def make_store(database_url: str, *, size: int = 100) -> tuple[SQLTrackerStore, TrackerCache]:
    """A Rasa SQL tracker store for ``database_url`` with the cache the engine installs."""
    config = tracker_store_config(database_url)
    config.pop("type")
    if "url" in config:
        config["host"] = config.pop("url")
    store = SQLTrackerStore(domain=DOMAIN, **config)
    cache = cache_trackers(store, Settings(database_url=database_url, tracker_cache_size=size))
    assert isinstance(cache, TrackerCache)
    return store, cache


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'trackers.db'}"
    else:
        with throwaway_database() as url:
            yield url


@pytest.fixture
def two_processes(database_url: str) -> Iterator[tuple[Any, Any]]:
    first, first_cache = make_store(database_url)
    second, second_cache = make_store(database_url)
    yield first, second
    for store, cache in ((first, first_cache), (second, second_cache)):
        cache.uninstall()
        store.engine.dispose()


def rows(store: SQLTrackerStore, sender_id: str) -> int:
    with store.engine.connect() as connection:
        return connection.execute(text("select count(*) from events where sender_id = :s"), {"s": sender_id}).scalar()


def turn(store: SQLTrackerStore, sender_id: str, said: str) -> Any:
    """One turn as Rasa's processor does it: read, add the turn's events, save."""

    async def run() -> Any:
        tracker = await store.get_or_create_tracker(sender_id, append_action_listen=False)
        tracker.update(UserUttered(said, {"name": "greet", "confidence": 1.0}))
        tracker.update(SlotSet("procedure", said))
        tracker.update(ActionExecuted("utter_greet"))
        tracker.update(BotUttered(f"re: {said}"))
        tracker.update(ActionExecuted("action_listen"))
        await store.save(tracker)
        return tracker

    return asyncio.run(run())


def said(tracker: Any) -> list[str]:
    return [e.text for e in tracker.events if isinstance(e, UserUttered)]


def test_tracker_cache_sees_the_other_process_turns(two_processes: tuple[Any, Any]) -> None:
    a, b = two_processes
    turn(a, "c1", "một")
    turn(a, "c1", "hai")  # a's own tracker, from its cache
    assert said(turn(b, "c1", "ba")) == ["một", "hai", "ba"]  # b reads a's rows
    tracker = turn(a, "c1", "bốn")  # a's cached tracker is stale: read again
    assert said(tracker) == ["một", "hai", "ba", "bốn"]
    assert tracker.get_slot("procedure") == "bốn"
    assert rows(a, "c1") == len(tracker.events) == 4 * 5  # each event stored once


def test_tracker_cache_appends_only_the_new_events(database_url: str) -> None:
    store, cache = make_store(database_url)
    try:
        for n in range(5):
            tracker = turn(store, "c2", f"lần {n}")
            assert rows(store, "c2") == len(tracker.events) == (n + 1) * 5
        assert cache.hits >= 4
        reread = asyncio.run(cache._original_retrieve("c2"))  # Rasa's own read of what was stored
        assert [e.as_dict() for e in reread.events] == [e.as_dict() for e in tracker.events]
    finally:
        cache.uninstall()
        store.engine.dispose()


def test_tracker_cache_on_a_sqlite_without_returning(tmp_path: Path) -> None:
    """SQLite before 3.35 (older Debian and Ubuntu releases) has no INSERT … RETURNING: the mark is asked for."""
    store, cache = make_store(f"sqlite:///{tmp_path / 'old.db'}")
    cache._returning = ""
    try:
        for n in range(3):
            tracker = turn(store, "c11", f"lần {n}")
        assert rows(store, "c11") == len(tracker.events) == 15
        assert cache.hits == 2 and cache.misses == 1
    finally:
        cache.uninstall()
        store.engine.dispose()


def test_tracker_cache_stores_a_long_turn_in_several_inserts(database_url: str) -> None:
    """A save of more rows than one INSERT holds (a desk case's seeded slots, an imported conversation)."""
    store, cache = make_store(database_url)
    try:
        tracker = DialogueStateTracker("c7", DOMAIN.slots)
        tracker.update(ActionExecuted("action_listen"))
        for n in range(260):
            tracker.update(SlotSet("procedure", f"thủ tục {n}"))
        asyncio.run(store.save(tracker))
        assert rows(store, "c7") == 261
        reread = asyncio.run(cache._original_retrieve("c7"))
        assert [e.as_dict() for e in reread.events] == [e.as_dict() for e in tracker.events]
        assert turn(store, "c7", "tiếp").get_slot("procedure") == "tiếp"  # and the next turn goes on from there
        assert rows(store, "c7") == 261 + 5
    finally:
        cache.uninstall()
        store.engine.dispose()


def test_tracker_cache_drops_a_turn_that_failed_before_saving(database_url: str) -> None:
    store, cache = make_store(database_url)
    try:
        turn(store, "c3", "một")
        tracker = asyncio.run(store.retrieve("c3"))
        tracker.update(UserUttered("lỗi giữa chừng"))  # the turn fails: nothing saved
        again = asyncio.run(store.retrieve("c3"))
        assert again is not tracker and said(again) == ["một"]
    finally:
        cache.uninstall()
        store.engine.dispose()


def rasa_read(store: SQLTrackerStore, sender_id: str) -> list[dict[str, Any]]:
    """The conversation's events as Rasa's own ``retrieve`` reads them from the store."""
    return [e.as_dict() for e in asyncio.run(store.retrieve.__self__._original_retrieve(sender_id)).events]


def test_tracker_cache_reads_only_what_the_other_process_appended(two_processes: tuple[Any, Any]) -> None:
    """Round-robin balancing: every other turn was answered by the other process; its rows are applied."""
    a, b = two_processes
    for n in range(6):
        tracker = turn((a, b)[n % 2], "c8", f"lần {n}")
    assert said(tracker) == [f"lần {n}" for n in range(6)]
    for store in (a, b):
        kept = asyncio.run(store.retrieve("c8"))
        assert [e.as_dict() for e in kept.events] == rasa_read(store, "c8")
    first, second = a.retrieve.__self__, b.retrieve.__self__
    assert (first.misses, first.caught_up, first.hits) == (1, 3, 0)  # new; turns 2 and 4 and the read: b wrote last
    assert (second.misses, second.caught_up, second.hits) == (1, 2, 1)  # its first turn; turns 3 and 5; its own


def test_tracker_cache_reads_all_again_when_rows_were_also_deleted(two_processes: tuple[Any, Any]) -> None:
    a, b = two_processes
    turn(a, "c9", "một")
    turn(a, "c9", "hai")
    with b.session_scope() as session:  # a retention job removes the first turn's rows...
        first = [row.id for row in session.query(b.SQLEvent).filter_by(sender_id="c9").order_by(b.SQLEvent.id)][:5]
        session.query(b.SQLEvent).filter(b.SQLEvent.id.in_(first)).delete(synchronize_session=False)
        session.commit()
    turn(b, "c9", "ba")  # ...and the other process answers a turn
    tracker = turn(a, "c9", "bốn")
    assert said(tracker) == ["hai", "ba", "bốn"]
    assert [e.as_dict() for e in tracker.events] == rasa_read(a, "c9")


def test_tracker_cache_reads_the_new_session_the_other_process_started(two_processes: tuple[Any, Any]) -> None:
    a, b = two_processes
    turn(a, "c10", "một")
    tracker = asyncio.run(b.retrieve("c10"))
    for event in (ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")):
        tracker.update(event)
    asyncio.run(b.save(tracker))
    fresh = asyncio.run(a.retrieve("c10"))
    assert said(fresh) == [] and [e.as_dict() for e in fresh.events] == rasa_read(a, "c10")


def test_tracker_cache_sees_a_deletion_by_another_writer(two_processes: tuple[Any, Any]) -> None:
    a, b = two_processes
    turn(a, "c4", "một")
    with b.session_scope() as session:
        session.query(b.SQLEvent).filter_by(sender_id="c4").delete()
        session.commit()
    assert asyncio.run(a.retrieve("c4")) is None


def test_tracker_cache_rereads_a_new_session(tmp_path: Path) -> None:
    store, cache = make_store(f"sqlite:///{tmp_path / 'sessions.db'}")
    try:
        tracker = turn(store, "c5", "một")
        tracker.update(ActionExecuted("action_session_start"))
        tracker.update(SessionStarted())
        tracker.update(ActionExecuted("action_listen"))
        asyncio.run(store.save(tracker))
        assert "c5" not in cache._entries  # not kept: the next read starts at the new session, as Rasa's
        fresh = asyncio.run(store.retrieve("c5"))
        assert said(fresh) == [] and len(fresh.events) < len(tracker.events)
    finally:
        cache.uninstall()
        store.engine.dispose()


def test_tracker_cache_keeps_a_new_conversation_after_its_first_session_starts(tmp_path: Path) -> None:
    """Rasa creates a conversation with ``action_listen``, then starts its first session: still the same one."""
    store, cache = make_store(f"sqlite:///{tmp_path / 'first.db'}")
    try:

        async def first_turn() -> Any:
            tracker = await store.get_or_create_tracker("c6")  # saved with action_listen
            for event in (ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")):
                tracker.update(event)
            tracker.update(UserUttered("xin chào"))
            await store.save(tracker)
            return tracker

        tracker = asyncio.run(first_turn())
        assert "c6" in cache._entries
        assert asyncio.run(store.retrieve("c6")) is tracker  # the second turn needs no read of the store
    finally:
        cache.uninstall()
        store.engine.dispose()


def test_tracker_cache_is_bounded(tmp_path: Path) -> None:
    store, cache = make_store(f"sqlite:///{tmp_path / 'lru.db'}", size=3)
    try:
        for n in range(6):
            turn(store, f"c{n}", "xin chào")
        assert len(cache) == 3 and list(cache._entries) == ["c3", "c4", "c5"]
        assert said(asyncio.run(store.retrieve("c0"))) == ["xin chào"]  # evicted: read from the store
    finally:
        cache.uninstall()
        store.engine.dispose()


def test_cache_trackers_gives_sqlite_a_pooled_wal_engine(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wal.db'}"
    store, cache = make_store(url)
    try:
        with store.engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert make_url(str(store.engine.url)).database == make_url(url).database
    finally:
        cache.uninstall()
        store.engine.dispose()
