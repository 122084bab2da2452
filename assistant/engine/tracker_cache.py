"""Recent conversation trackers kept in memory, checked against the SQL store before each use (issue #15).

Rasa's ``SQLTrackerStore`` reads *and deserialises* every event of a conversation's session on every turn,
counts them again on every save, and does both with blocking SQL on the event loop (on SQLite through a
fresh connection and an fsync per commit). :class:`TrackerCache`, installed on the store by
:class:`~assistant.engine.ConversationEngine`, makes a turn's store work proportional to the turn:

- **retrieve**: the tracker saved by the previous turn is reused when it is *clean* (no event was added to
  it since it was saved, e.g. by a turn that failed half-way) and *current*: one indexed query, the
  conversation's row count and ``max(id)``, still equals the *mark* this process last wrote or read.
  When another process only appended rows since (a second app process behind the Redis lock answered the
  turns in between: round-robin balancing makes that every other turn), only those rows are read and
  applied to the kept tracker, as Rasa's replay would apply them; a deletion, a retention job or a new
  session makes the tracker be read again from the store, the way Rasa does.
- **save**: only the events added since the tracker was read or saved are inserted (one multi-row ``INSERT``
  whose ``RETURNING`` gives the new mark); Rasa's count query is used only for a tracker this cache did not
  hand out.
- every SQL call runs on a worker thread (one for SQLite, whose writes are serial anyway; a few for
  PostgreSQL), never on the event loop. The per-turn statements (the mark, the rows another process appended,
  the insert) are SQL strings run on the pooled DB-API connection (:mod:`assistant.db.raw`): building,
  caching and compiling SQLAlchemy statements cost more CPU than the SQL itself (6% of a saturated server).
- a tracker whose session expired during the turn (a ``SessionStarted`` after earlier events) is not kept:
  the next turn reads the new session from the store, so trackers stay as short as Rasa's.

The cache is a bounded LRU (``ASSISTANT_TRACKER_CACHE_SIZE`` conversations). It is correct with several
processes because every use is checked against the store, under the conversation's lock.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from assistant.db.raw import parameter_marker, raw_cursor

logger = logging.getLogger(__name__)

_COLUMNS = ("sender_id", "type_name", "timestamp", "intent_name", "action_name", "data")
"""The ``events`` columns Rasa's ``SQLTrackerStore.save`` writes (``id`` is the database's)."""

_ROWS_PER_INSERT = 100
"""Rows in one multi-row ``INSERT`` (600 parameters: under SQLite's old limit of 999)."""


Mark = tuple[int, "int | None"]
"""A conversation's row count and ``max(id)`` in the store: rows are only ever appended or deleted, so an
unchanged mark means unchanged rows, and a mark that grew by exactly the rows after the old ``max(id)``
means those rows were appended and nothing else changed."""


@dataclass
class _Entry:
    tracker: Any
    saved: int
    """How many of ``tracker.events`` are in the store."""
    mark: Mark
    """The conversation's :data:`Mark` when the tracker was last read or saved."""


class TrackerCache:
    """Wraps one Rasa ``SQLTrackerStore`` instance (its ``retrieve`` and ``save``) with a checked LRU of trackers."""

    def __init__(self, store: Any, *, size: int = 1000, threads: int | None = None) -> None:
        self._store = store
        self._size = max(0, size)
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        sqlite = store.engine.url.get_backend_name() == "sqlite"
        self._pool = ThreadPoolExecutor(max_workers=threads or (1 if sqlite else 4), thread_name_prefix="tracker-sql")
        marker = parameter_marker(store.engine)
        table = store.SQLEvent.__tablename__
        self._mark_sql = f"SELECT count(*), max(id) FROM {table} WHERE sender_id = {marker}"
        self._after_sql = f"SELECT id, data FROM {table} WHERE sender_id = {marker} AND id > {marker} ORDER BY id"
        self._insert_sql = f"INSERT INTO {table} ({', '.join(_COLUMNS)}) VALUES "
        dbapi = store.engine.dialect.dbapi
        old_sqlite = getattr(dbapi, "sqlite_version_info", (3, 35)) < (3, 35)  # RETURNING came in SQLite 3.35
        self._returning = "" if old_sqlite else " RETURNING id"
        self._row_sql = "(" + ", ".join([marker] * len(_COLUMNS)) + ")"
        self._original_retrieve = store.retrieve
        self._original_save = store.save
        self.hits = 0
        self.caught_up = 0
        self.misses = 0

    def install(self) -> TrackerCache:
        """Replace the store's ``retrieve`` and ``save`` by the cached, off-the-loop ones."""
        self._store.retrieve = self.retrieve
        self._store.save = self.save
        return self

    def uninstall(self) -> None:
        """Put the store's own methods back and stop the worker threads."""
        self._store.retrieve = self._original_retrieve
        self._store.save = self._original_save
        self._entries.clear()
        self._pool.shutdown(wait=False)

    def forget(self, sender_id: str) -> None:
        """Drop one conversation (it was deleted)."""
        self._entries.pop(sender_id, None)

    def __len__(self) -> int:
        return len(self._entries)

    async def _run(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, partial(function, *args))

    async def retrieve(self, sender_id: str) -> Any:
        """The conversation's tracker for its latest session (Rasa's ``retrieve``), from memory when current."""
        entry = self._entries.get(sender_id)
        if entry is not None and _clean(entry):
            mark, appended = await self._run(self._changes, sender_id, entry.mark)
            if mark == entry.mark:
                self._entries.move_to_end(sender_id)
                self.hits += 1
                return entry.tracker
            if appended is not None and self._apply(entry, appended, mark):
                self._entries.move_to_end(sender_id)
                self.caught_up += 1
                return entry.tracker
        self.misses += 1
        self._entries.pop(sender_id, None)
        rows, mark = await self._run(self._read, sender_id)
        if not rows or not self._store.domain:
            return None
        from rasa.shared.core.trackers import DialogueStateTracker

        tracker = DialogueStateTracker.from_dict(sender_id, rows, self._store.domain.slots)
        self._keep(sender_id, _Entry(tracker, len(tracker.events), mark))
        return tracker

    def _apply(self, entry: _Entry, appended: list[dict[str, Any]], mark: Mark) -> bool:
        """Apply the events another writer appended to the kept tracker; False when a new session began."""
        from rasa.shared.core.events import deserialise_events

        if any(row.get("event") == "session_started" for row in appended):
            return False  # Rasa's read starts at the latest session: read it
        for event in deserialise_events(appended):
            entry.tracker.update(event)
        entry.saved, entry.mark = len(entry.tracker.events), mark
        return True

    async def save(self, tracker: Any) -> None:
        """Append the tracker's new events to the store (Rasa's ``save``), off the event loop."""
        if self._store.event_broker is not None:  # Rasa streams the difference to the broker: keep its way
            self._entries.pop(tracker.sender_id, None)
            await self._original_save(tracker)
            return
        sender_id = tracker.sender_id
        events = list(tracker.events)
        entry = self._entries.get(sender_id)
        known = entry if entry is not None and entry.tracker is tracker and entry.saved <= len(events) else None
        start, mark = await self._run(
            self._append, sender_id, events, known.saved if known else None, known.mark if known else None
        )
        if _new_session_after(events, start):  # read the new session from the store next time
            self._entries.pop(sender_id, None)
            return
        self._keep(sender_id, _Entry(tracker, len(events), mark))

    def _keep(self, sender_id: str, entry: _Entry) -> None:
        if self._size == 0:
            return
        self._entries[sender_id] = entry
        self._entries.move_to_end(sender_id)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    # --- on the worker threads -------------------------------------------------------------------------

    def _mark(self, cursor: Any, sender_id: str) -> Mark:
        cursor.execute(self._mark_sql, (sender_id,))
        count, last_id = cursor.fetchone()
        return int(count), last_id

    def _changes(self, sender_id: str, known: Mark) -> tuple[Mark, list[dict[str, Any]] | None]:
        """The conversation's mark now and, when rows were only appended since ``known``, those rows' events."""
        with raw_cursor(self._store.engine, read_only=True) as cursor:
            mark = self._mark(cursor, sender_id)
            if mark == known or known[1] is None or mark[1] is None or mark[0] <= known[0]:
                return mark, None
            cursor.execute(self._after_sql, (sender_id, known[1]))
            rows = cursor.fetchall()
        if known[0] + len(rows) != mark[0] or not rows or rows[-1][0] != mark[1]:
            return mark, None  # something else changed too (or changed again meanwhile): read it all
        return mark, [json.loads(data) for _, data in rows]

    def _read(self, sender_id: str) -> tuple[list[dict[str, Any]], Mark]:
        """The session's events as dicts, and the conversation's mark read before them.

        A row written in between makes the next turn's check differ, so that turn reads the store again.
        """
        with raw_cursor(self._store.engine, read_only=True) as cursor:
            mark = self._mark(cursor, sender_id)
        if mark[1] is None:  # a new conversation: no need for Rasa's session query
            return [], mark
        event = self._store.SQLEvent
        with self._store.session_scope() as session:
            query = self._store._event_query(session, sender_id, fetch_events_from_all_sessions=False)
            data = [row.data for row in query.with_entities(event.data)]
        return [json.loads(d) for d in data], mark

    def _append(self, sender_id: str, events: list[Any], saved: int | None, known: Mark | None) -> tuple[int, Mark]:
        """Insert ``events[saved:]``; with ``saved`` unknown (or the store changed since), Rasa's count decides.

        Returns:
            How many of ``events`` were in the store already, and the conversation's new mark.
        """
        with raw_cursor(self._store.engine) as cursor:
            current = self._mark(cursor, sender_id)
            if current[1] is None:
                saved = 0  # nothing stored yet (a new conversation, or deleted since)
            elif saved is None or current != known:
                saved = self._count(sender_id)  # another writer since, or a tracker we did not hand out
            rows = [_row(sender_id, e) for e in events[saved:]]
            last_id = current[1]
            for first in range(0, len(rows), _ROWS_PER_INSERT):
                chunk = rows[first : first + _ROWS_PER_INSERT]
                sql = self._insert_sql + ", ".join([self._row_sql] * len(chunk)) + self._returning
                cursor.execute(sql, [value for row in chunk for value in row])
                if self._returning:
                    last_id = max([last_id or 0, *(row[0] for row in cursor.fetchall())])
            if rows and not self._returning:
                return saved, self._mark(cursor, sender_id)
        # under the conversation's lock nothing else adds rows: the new mark without asking again
        return saved, (current[0] + len(rows), last_id)

    def _count(self, sender_id: str) -> int:
        """How many of the conversation's latest-session events are stored (Rasa's own count query)."""
        with self._store.session_scope() as session:
            return int(self._store._event_query(session, sender_id, fetch_events_from_all_sessions=False).count())


def _new_session_after(events: list[Any], start: int) -> bool:
    """True when one of ``events[start:]`` starts a session after events of an earlier one (the session expired).

    A new conversation's first session (``action_session_start`` then ``session_started``, after at most the
    ``action_listen`` the store created it with) does not count: only a session after something the citizen said.
    """
    for index in range(max(start, 0), len(events)):
        if getattr(events[index], "type_name", None) == "session_started":
            return any(getattr(e, "type_name", None) == "user" for e in events[:index])
    return False


def _clean(entry: _Entry) -> bool:
    """True when no event was added to the tracker since it was saved or read (a failed turn leaves some)."""
    return len(entry.tracker.events) == entry.saved


def _row(sender_id: str, event: Any) -> tuple[Any, ...]:
    """Rasa's ``events`` row for one event (as ``SQLTrackerStore.save`` writes it), in :data:`_COLUMNS` order."""
    data = event.as_dict()
    return (
        sender_id,
        event.type_name,
        data.get("timestamp"),
        (data.get("parse_data") or {}).get("intent", {}).get("name"),
        data.get("name"),
        json.dumps(data),
    )
